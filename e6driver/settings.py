"""The official client's connection arguments turned into what a protocol session needs — one place for the
blocking ``Connection`` and the asyncio ``AsyncConnection``."""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

from .errors import InterfaceError
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
    return dict(
        host=host, port=int(port), username=username or "", password=password or "", bearer=bearer,
        cluster_name=cluster_name.lower() if cluster_name else None, secure=secure, ssl_cert=ssl_cert,
        channel_options=options, auto_resume=auto_resume, connect_timeout=connect_timeout,
        rpc_timeout=rpc_timeout, query_timeout=query_timeout,
        auto_resume_timeout=float(auto_resume_timeout if auto_resume_timeout is not None
                                  else client_settings.get("grpc_auto_resume_timeout_seconds", 300)),
        prepare_timeout=float(client_settings.get("grpc_prepare_timeout", 600)),
        client_certificate=client_certificate(secure, ssl_client_cert, ssl_client_key))


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
