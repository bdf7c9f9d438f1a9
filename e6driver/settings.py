"""The official client's connection arguments turned into what a protocol session needs — one place for the
blocking ``Connection`` and the asyncio ``AsyncConnection`` — and the defaults taken from the environment."""
from __future__ import annotations

import math
import operator
import os
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple, Type, Union

from .errors import Error, InterfaceError, ProgrammingError
from .protocol.bearer import ClientCredentials, StaticToken
from .protocol.transport import ClientCertificate, split_options


def bearer_for(username: Optional[str], password: Optional[str], access_token: Optional[str],
               client_id: Optional[str], client_secret: Optional[str], token_url: Optional[str],
               oauth_scope: Optional[str], client_auth_method: str) -> Union[None, StaticToken, ClientCredentials]:
    """How calls authenticate: None for a user/password session, else the bearer token's source."""
    if client_id or client_secret or token_url:
        return ClientCredentials(token_url or "", client_id or "", client_secret or "", oauth_scope,
                                 client_auth_method)
    if access_token:
        return StaticToken(access_token)
    if username is None or password is None:
        raise InterfaceError("username and password, access_token, or client_id/client_secret/token_url "
                             "are required")
    return None


def session_arguments(host: str, port: int, username: Optional[str], password: Optional[str],
                      bearer: Union[None, StaticToken, ClientCredentials], cluster_name: Optional[str],
                      secure: bool, ssl_cert: Union[None, str, bytes], auto_resume: bool,
                      grpc_options: Optional[Dict[str, Any]], connect_timeout: float,
                      rpc_timeout: Optional[float], query_timeout: Optional[float],
                      auto_resume_timeout: Optional[float], ssl_client_cert: Union[None, str, bytes] = None,
                      ssl_client_key: Union[None, str, bytes] = None) -> Dict[str, Any]:
    """Keyword arguments of a :class:`~e6driver.protocol.session.SessionRules` front-end."""
    options, client_settings = split_options(grpc_options)
    connect_timeout = seconds_argument("connect_timeout", connect_timeout, optional=False)
    rpc_timeout = seconds_argument("rpc_timeout", rpc_timeout)
    query_timeout = seconds_argument("query_timeout", query_timeout)
    return dict(
        host=host, port=int(port), username=username or "", password=password or "", bearer=bearer,
        cluster_name=cluster_name.lower() if cluster_name else None, secure=secure, ssl_cert=ssl_cert,
        channel_options=options, auto_resume=auto_resume, connect_timeout=connect_timeout,
        rpc_timeout=rpc_timeout, query_timeout=query_timeout,
        auto_resume_timeout=seconds_argument("auto_resume_timeout", auto_resume_timeout) or seconds_argument(
            "grpc_auto_resume_timeout_seconds", client_settings.get("grpc_auto_resume_timeout_seconds", 300),
            optional=False),
        prepare_timeout=seconds_argument("grpc_prepare_timeout", client_settings.get("grpc_prepare_timeout", 600),
                                         optional=False),
        client_certificate=client_certificate(secure, ssl_client_cert, ssl_client_key))


def seconds_argument(name: str, value: Any, optional: bool = True) -> Optional[float]:
    """A timeout: seconds > 0, or None for no limit where allowed. Refused at connect: 0 or less would fail (or,
    for query_timeout, silently not limit) every later call."""
    if value is None and optional:
        return None
    try:
        seconds = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 < seconds < math.inf:
        allowed = "a positive number of seconds" + (" or None" if optional else "")
        raise InterfaceError(f"{name} must be {allowed}, not {value!r}")
    return seconds


def arraysize_argument(value: Any, error: Type[Error] = InterfaceError) -> int:
    """``arraysize``: a whole number of rows, at least 1 (fetchmany() of 0 rows returns [] with rows pending).
    ``error``: InterfaceError for connect()'s argument, ProgrammingError for a cursor's."""
    try:
        rows = operator.index(value) if not isinstance(value, bool) else 0
    except TypeError:
        rows = 0
    if rows < 1:
        raise error(f"arraysize must be a whole number of rows, at least 1, not {value!r}")
    return rows


def prefetch_argument(value: Any) -> int:
    """``prefetch``: how many chunks are fetched ahead, a whole number, 0 (none) or more."""
    try:
        chunks = operator.index(value) if not isinstance(value, bool) else -1
    except TypeError:
        chunks = -1
    if chunks < 0:
        raise InterfaceError(f"prefetch must be a whole number of chunks, 0 (no prefetch) or more, not {value!r}")
    return chunks


def _set_arraysize(cursor: Any, value: Any) -> None:
    cursor._arraysize = arraysize_argument(value, ProgrammingError)


# Both cursors' ``arraysize`` (the blocking and the asyncio one): validated on every assignment.
CURSOR_ARRAYSIZE = property(lambda cursor: cursor._arraysize, _set_arraysize,
                            doc="How many rows ``fetchmany()`` returns without an argument.")


def client_certificate(secure: bool, cert: Union[None, str, bytes],
                       key: Union[None, str, bytes]) -> Optional[ClientCertificate]:
    """The (certificate chain, private key) presented for mutual TLS, or None; both or neither, and only with
    ``secure=True``."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise InterfaceError("mutual TLS needs both ssl_client_cert and ssl_client_key")
    if not secure:
        raise InterfaceError("ssl_client_cert/ssl_client_key need secure=True")
    return (cert, key)


ENV_FILE_VARIABLE = "E6DRIVER_ENV_FILE"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 80


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    username: Optional[str]
    password: Optional[str]
    access_token: Optional[str]


def connection_target(host: Optional[str], port: Optional[int], username: Optional[str], password: Optional[str],
                      access_token: Optional[str], client_id: Optional[str], client_secret: Optional[str],
                      token_url: Optional[str], oauth_scope: Optional[str], client_auth_method: str
                      ) -> Tuple["Endpoint", Union[None, StaticToken, ClientCredentials]]:
    """Where a connection goes and how it authenticates (blocking and asyncio connections alike): the
    arguments, else ``E6DRIVER_*`` / ``.env`` (:func:`endpoint`), and the bearer source (:func:`bearer_for`)."""
    found = endpoint(host, port, username, password, access_token,
                     other_credentials=any(v is not None for v in (client_id, client_secret, token_url)))
    return found, bearer_for(found.username, found.password, found.access_token, client_id, client_secret,
                             token_url, oauth_scope, client_auth_method)


def read_env_file(path: str) -> Dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (blank lines, ``#`` comments and ``export`` allowed; values may
    be quoted). Only the ``E6DRIVER_*`` keys are kept."""
    found: Dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export "):].lstrip()
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                if line.startswith("E6DRIVER_"):  # other tools' lines are theirs to judge
                    raise InterfaceError(f"{os.path.basename(path)} line {number}: expected KEY=VALUE")
                continue
            key, value = key.strip(), value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            if key.startswith("E6DRIVER_"):
                found[key] = value
    return found


def environment(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The ``E6DRIVER_*`` settings: the process environment over the ``.env`` file (``$E6DRIVER_ENV_FILE``, else
    ``./.env`` when it exists)."""
    environ = os.environ if environ is None else environ
    path = environ.get(ENV_FILE_VARIABLE)
    if path and not os.path.isfile(path):
        raise InterfaceError(f"{ENV_FILE_VARIABLE} names a file that does not exist: {path}")
    path = path or (".env" if os.path.isfile(".env") else None)
    merged = read_env_file(path) if path else {}
    merged.update({k: v for k, v in environ.items() if k.startswith("E6DRIVER_")})
    return merged


def endpoint(host: Optional[str], port: Optional[int], username: Optional[str], password: Optional[str],
             access_token: Optional[str], other_credentials: bool = False,
             environ: Optional[Mapping[str, str]] = None) -> Endpoint:
    """Host, port and credentials: the arguments, else ``E6DRIVER_HOST``, ``E6DRIVER_PORT``, ``E6DRIVER_USER``,
    ``E6DRIVER_PASSWORD``, ``E6DRIVER_ACCESS_TOKEN`` (see :func:`environment`). Credentials come from there only
    when the call names none (``other_credentials``: OAuth arguments were given), except a password for a user
    given alone."""
    given = other_credentials or any(v is not None for v in (username, password, access_token))
    if host and port is not None and given and not (username is not None and password is None):
        return Endpoint(host, int(port), username, password, access_token)  # nothing to look up
    env = environment(environ)
    port_text = env.get("E6DRIVER_PORT")
    if port is None and port_text is not None:
        if not port_text.isdigit():
            raise InterfaceError(f"E6DRIVER_PORT must be a port number, not {port_text!r}")
        port = int(port_text)
    if not given:
        username, access_token = env.get("E6DRIVER_USER"), env.get("E6DRIVER_ACCESS_TOKEN")
        password = env.get("E6DRIVER_PASSWORD")
        if access_token and username is None:
            password = None  # a token alone: no half user/password pair
    elif username is not None and password is None and access_token is None:
        password = env.get("E6DRIVER_PASSWORD")
    return Endpoint(host or env.get("E6DRIVER_HOST") or DEFAULT_HOST,
                    DEFAULT_PORT if port is None else int(port), username, password, access_token)
