"""The gRPC channel of one connection: options, TLS, lazy creation and reset after a failure."""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple, Union

import grpc

from .._proto import cluster_pb2_grpc, e6driver_query_pb2_grpc, e6x_engine_pb2_grpc
from . import answers

# The official client's defaults (spec §1.2), plus fast reconnects so a restarted server is found again quickly.
DEFAULT_OPTIONS: Dict[str, Any] = {
    "keepalive_time_ms": 30000,
    "keepalive_timeout_ms": 900000,
    "keepalive_permit_without_calls": 1,
    "http2.max_pings_without_data": 0,
    "http2.min_time_between_pings_ms": 15000,
    "http2.min_ping_interval_without_data_ms": 15000,
    "max_receive_message_length": -1,
    "max_send_message_length": -1,
    "initial_reconnect_backoff_ms": 100,
    "min_reconnect_backoff_ms": 100,
    "max_reconnect_backoff_ms": 1000,
}
# Options the official client reads itself instead of passing to gRPC (seconds).
CLIENT_OPTIONS = ("grpc_prepare_timeout", "grpc_auto_resume_timeout_seconds")
# Option names accepted without the ``grpc.`` prefix (the official client's URL spelling): gRPC core channel
# arguments a client sets, so a typo in a URL is an error instead of a silently ignored channel option.
KNOWN_CHANNEL_OPTIONS = frozenset(DEFAULT_OPTIONS) | frozenset(CLIENT_OPTIONS) | frozenset((
    "keepalive_time_ms", "keepalive_timeout_ms", "keepalive_permit_without_calls", "http2.max_pings_without_data",
    "http2.min_time_between_pings_ms", "http2.min_ping_interval_without_data_ms", "http2.max_frame_size",
    "http2.lookahead_bytes", "http2.bdp_probe", "max_receive_message_length", "max_send_message_length",
    "max_metadata_size", "initial_reconnect_backoff_ms", "min_reconnect_backoff_ms", "max_reconnect_backoff_ms",
    "enable_retries", "per_rpc_retry_buffer_size", "service_config", "lb_policy_name", "primary_user_agent",
    "secondary_user_agent", "ssl_target_name_override", "default_authority", "enable_http_proxy",
    "dns_enable_srv_queries", "use_local_subchannel_pool", "max_connection_idle_ms",
))


def split_options(grpc_options: Optional[Dict[str, Any]]) -> Tuple[List[Tuple[str, Any]], Dict[str, Any]]:
    """gRPC channel options (``grpc.``-prefixed) and the client-side settings found among ``grpc_options``."""
    merged = dict(DEFAULT_OPTIONS)
    client: Dict[str, Any] = {}
    for key, value in (grpc_options or {}).items():
        if key in CLIENT_OPTIONS:
            client[key] = value
            continue
        merged[key[5:] if key.startswith("grpc.") else key] = value
    return [(f"grpc.{key}", value) for key, value in merged.items()], client


# Texts gRPC puts in UNAVAILABLE details when the TLS handshake, not the network, failed: retrying cannot help.
_TLS_REJECTED = ("handshake failed", "certificate_verify_failed", "certificate verify failed",
                 "wrong_version_number", "ssl_error_ssl")


def tls_rejection(exc: grpc.RpcError, secure: bool) -> Optional[Exception]:
    """An OperationalError saying the TLS handshake failed (e.g. the server's certificate was rejected), for
    an UNAVAILABLE ``exc`` on a ``secure`` channel that failed that way; else None (retry as usual)."""
    from ..errors import OperationalError

    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = (exc.details() if callable(getattr(exc, "details", None)) else "") or ""
    if not secure or code != grpc.StatusCode.UNAVAILABLE or not any(m in details.lower() for m in _TLS_REJECTED):
        return None
    what = ("the server's certificate was rejected (not signed by the trusted CA given as ssl_cert, or the "
            "system's CAs)" if "certificate" in details.lower() else "the TLS handshake failed")
    return OperationalError(f"TLS: {what}: {details}")


def pem_bytes(value: Union[None, str, bytes]) -> Optional[bytes]:
    """PEM given as bytes, PEM text or a file path (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode("ascii")
    with open(value, "rb") as handle:
        return handle.read()


#: A client certificate for mutual TLS: (certificate chain, private key), each PEM bytes, text or a path.
ClientCertificate = Tuple[Union[str, bytes], Union[str, bytes]]


def channel_credentials(ssl_cert: Union[None, str, bytes],
                        client_certificate: Optional[ClientCertificate] = None) -> grpc.ChannelCredentials:
    """TLS credentials: trust ``ssl_cert`` (None: the system's CAs) and, for mutual TLS, present
    ``client_certificate``."""
    chain, key = client_certificate if client_certificate is not None else (None, None)
    return grpc.ssl_channel_credentials(root_certificates=pem_bytes(ssl_cert), private_key=pem_bytes(key),
                                        certificate_chain=pem_bytes(chain))


class Transport:
    """Owns the channel and its stubs; ``reset()`` drops the channel so the next call builds a fresh one."""

    def __init__(self, host: str, port: int, secure: bool = False, ssl_cert: Union[None, str, bytes] = None,
                 options: Optional[List[Tuple[str, Any]]] = None,
                 client_certificate: Optional[ClientCertificate] = None):
        self.target = f"{host}:{port}"
        self.secure = secure
        self.ssl_cert = ssl_cert
        self.client_certificate = client_certificate
        self.options = options or []
        self._lock = threading.Lock()
        self._channel: Optional[grpc.Channel] = None
        self._engine: Any = None
        self._cluster: Any = None
        self._run: Any = None

    def _open(self) -> None:
        if self.secure:
            credentials = channel_credentials(self.ssl_cert, self.client_certificate)
            self._channel = grpc.secure_channel(self.target, credentials, options=self.options)
        else:
            self._channel = grpc.insecure_channel(self.target, options=self.options)
        self._engine = answers.engine_stub(e6x_engine_pb2_grpc.QueryEngineServiceStub(self._channel), self._channel)
        self._cluster = cluster_pb2_grpc.ClusterServiceStub(self._channel)
        self._run = answers.run_stub(e6driver_query_pb2_grpc.QueryRunServiceStub(self._channel), self._channel)

    @property
    def engine(self) -> Any:
        with self._lock:
            if self._channel is None:
                self._open()
            return self._engine

    @property
    def cluster(self) -> Any:
        with self._lock:
            if self._channel is None:
                self._open()
            return self._cluster

    def stub(self, service: str) -> Any:
        """The stub of ``service``: "engine", "cluster" or "run" (the local engine's QueryRunService)."""
        with self._lock:
            if self._channel is None:
                self._open()
            return self._engine if service == "engine" else self._run if service == "run" else self._cluster

    @property
    def channel(self) -> grpc.Channel:
        """The channel (opened if needed), for stubs of services other than the engine's."""
        with self._lock:
            if self._channel is None:
                self._open()
            return self._channel

    @property
    def is_open(self) -> bool:
        return self._channel is not None

    def reset(self) -> None:
        with self._lock:
            channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    close = reset
