"""Bearer authentication: a static access_token and the OAuth client-credentials flow against a small token
endpoint this test starts on loopback (the local engine accepts a user's token as a bearer token)."""
from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

import pytest

from e6driver import AuthenticationError, InterfaceError

CLIENT_ID, CLIENT_SECRET = "reporting-app", "s3cret/with:odd chars"
TOKEN = "alice-token"  # the engine maps it to user alice


class TokenEndpoint:
    """Answers each POST with the next token of ``tokens`` (the last one repeats)."""

    def __init__(self) -> None:
        self.tokens: List[str] = [TOKEN]
        self.expires_in: Any = 3600
        self.requests: List[Dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                basic = self.headers.get("Authorization", "")
                if basic.startswith("Basic "):
                    user, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
                    form.setdefault("client_id", urllib.parse.unquote(user))
                    form.setdefault("client_secret", urllib.parse.unquote(secret))
                endpoint.requests.append(form)
                if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != \
                        ("client_credentials", CLIENT_ID, CLIENT_SECRET):
                    self.send_response(401)
                    self.end_headers()
                    self.wfile.write(b'{"error": "invalid_client", "secret": "do not show"}')
                    return
                token = endpoint.tokens[min(len(endpoint.requests) - 1, len(endpoint.tokens) - 1)]
                body = json.dumps({"access_token": token, "token_type": "Bearer",
                                   "expires_in": endpoint.expires_in}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    server = TokenEndpoint()
    yield server
    server.close()


def _oauth(connect, endpoint, **options):
    return connect(username=None, password=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                   token_url=endpoint.url, **options)


def _one(conn) -> Any:
    cur = conn.cursor()
    cur.execute("SELECT current_user IS NOT NULL, 41 + 1")
    return cur.fetchall()


def test_static_access_token(connect):
    conn = connect(username=None, password=None, access_token=TOKEN)
    assert _one(conn) == [(True, 42)]


def test_client_credentials_token_is_fetched_once_and_cached(connect, endpoint):
    conn = _oauth(connect, endpoint, oauth_scope="sql:read")
    assert _one(conn) == [(True, 42)]
    assert _one(conn) == [(True, 42)]
    assert len(endpoint.requests) == 1
    assert endpoint.requests[0]["scope"] == "sql:read"


def test_client_secret_in_the_body_with_post(connect, endpoint):
    conn = _oauth(connect, endpoint, client_auth_method="post")
    assert _one(conn) == [(True, 42)]
    assert endpoint.requests[0]["client_secret"] == CLIENT_SECRET


def test_token_close_to_expiry_is_refreshed_before_use(connect, endpoint):
    endpoint.expires_in = 5  # inside the refresh margin: never reused
    conn = _oauth(connect, endpoint)
    _one(conn)
    first = len(endpoint.requests)
    _one(conn)
    assert len(endpoint.requests) > first


def test_rejected_token_is_refreshed_once_and_the_call_retried(connect, endpoint):
    endpoint.tokens = ["revoked-token", TOKEN]
    conn = _oauth(connect, endpoint)
    assert _one(conn) == [(True, 42)]
    assert len(endpoint.requests) == 2


def test_a_token_the_server_keeps_rejecting_is_an_authentication_error(connect, endpoint):
    endpoint.tokens = ["revoked-token"]
    conn = _oauth(connect, endpoint)
    with pytest.raises(AuthenticationError):
        _one(conn)
    assert len(endpoint.requests) == 2  # one refresh, no loop


def test_wrong_client_secret_says_so_without_leaking(connect, endpoint):
    conn = connect(username=None, password=None, client_id=CLIENT_ID, client_secret="wrong",
                   token_url=endpoint.url)
    with pytest.raises(AuthenticationError, match="refused client 'reporting-app'") as caught:
        _one(conn)
    assert "wrong" not in str(caught.value) and "do not show" not in str(caught.value)


def test_unreachable_token_endpoint(connect, endpoint):
    url = endpoint.url
    endpoint.close()
    conn = connect(username=None, password=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url=url)
    with pytest.raises(AuthenticationError, match="unreachable"):
        _one(conn)


@pytest.mark.parametrize("options, message", [
    ({"client_auth_method": "jwt"}, "client_auth_method"),
    ({"token_url": "file:///etc/passwd"}, "http"),
    ({"client_secret": None}, "required"),
])
def test_bad_oauth_arguments(connect, endpoint, options, message):
    arguments = dict(username=None, password=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                     token_url=endpoint.url)
    arguments.update(options)
    with pytest.raises(InterfaceError, match=message):
        connect(**arguments)



def test_asyncio_connection_fetches_the_token_off_the_event_loop(server, endpoint, monkeypatch):
    import asyncio
    import threading

    from e6driver import aio
    from e6driver.protocol.bearer import ClientCredentials

    fetching_threads = []
    original = ClientCredentials._fetch

    def recording(self):
        fetching_threads.append(threading.get_ident())
        return original(self)

    monkeypatch.setattr(ClientCredentials, "_fetch", recording)
    host, port = server.address.rsplit(":", 1)

    async def main():
        async with aio.connect(host=host, port=int(port), client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                               token_url=endpoint.url) as conn:
            cur = conn.cursor()
            await cur.execute("SELECT 42")
            return await cur.fetchall(), threading.get_ident()

    rows, loop_thread = asyncio.run(main())
    assert rows == [(42,)]
    assert len(fetching_threads) == 1 and fetching_threads[0] != loop_thread
