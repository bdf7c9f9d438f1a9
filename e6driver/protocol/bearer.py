"""Bearer tokens for calls without a password session: a static ``access_token``, or the OAuth 2.0
client-credentials flow (``client_id``/``client_secret``/``token_url``), fetched on first use, cached, refreshed
shortly before it expires and again when the server rejects it (``UNAUTHENTICATED``).

Error texts never contain the secret, the token, or the token endpoint's response body.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional

from ..errors import AuthenticationError, InterfaceError

log = logging.getLogger(__name__)

REFRESH_MARGIN = 30.0  # seconds before expiry when a cached token is replaced
DEFAULT_LIFETIME = 300.0  # seconds, when the endpoint does not say (no ``expires_in``)
MAX_RESPONSE_BYTES = 64 * 1024
AUTH_METHODS = ("basic", "post")  # client credentials in an HTTP Basic header, or in the form body


class StaticToken:
    """A token given by the caller; it cannot be renewed."""

    def __init__(self, token: str):
        self._token = token

    def token(self) -> str:
        return self._token

    def rejected(self, token: str) -> bool:
        """The server refused ``token``; True if a different one is now available."""
        return False


class ClientCredentials:
    """OAuth 2.0 client-credentials grant (RFC 6749 §4.4); thread-safe, one fetch at a time."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: Optional[str] = None,
                 auth_method: str = "basic", timeout: float = 10.0):
        if auth_method not in AUTH_METHODS:
            raise InterfaceError(f"client_auth_method must be one of {', '.join(AUTH_METHODS)}, not {auth_method!r}")
        if not (token_url and client_id and client_secret):
            raise InterfaceError("client_id, client_secret and token_url are all required for OAuth")
        if urllib.parse.urlsplit(token_url).scheme not in ("http", "https"):
            raise InterfaceError("token_url must be an http(s) URL")
        self.token_url, self.client_id, self.scope = token_url, client_id, scope
        self._secret, self._auth_method, self._timeout = client_secret, auth_method, timeout
        self._lock = threading.Lock()
        self._token: Optional[str] = None
        self._expires = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires - REFRESH_MARGIN:
                self._token, lifetime = self._fetch()
                self._expires = time.monotonic() + lifetime
            return self._token

    def rejected(self, token: str) -> bool:
        with self._lock:
            if self._token == token:
                log.info("the server rejected the OAuth token; fetching a new one")
                self._token = None
        return True

    def _fetch(self) -> "tuple[str, float]":
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if self._auth_method == "basic":
            pair = f"{urllib.parse.quote(self.client_id, safe='')}:{urllib.parse.quote(self._secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        else:
            form.update(client_id=self.client_id, client_secret=self._secret)
        request = urllib.request.Request(self.token_url, data=urllib.parse.urlencode(form).encode(),
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise AuthenticationError(f"the OAuth token endpoint refused client {self.client_id!r} "
                                      f"(HTTP {exc.code})") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AuthenticationError(f"the OAuth token endpoint is unreachable: {type(exc).__name__}") from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise AuthenticationError("the OAuth token endpoint's answer is too large")
        try:
            answer = json.loads(body.decode("utf-8"))
            token = answer["access_token"]
            lifetime = float(answer.get("expires_in", DEFAULT_LIFETIME))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise AuthenticationError("the OAuth token endpoint did not answer with an access_token") from None
        if not isinstance(token, str) or not token:
            raise AuthenticationError("the OAuth token endpoint did not answer with an access_token")
        log.debug("fetched an OAuth token for client %r, valid %.0f s", self.client_id, lifetime)
        return token, max(lifetime, 0.0)
