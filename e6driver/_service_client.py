"""Calls to the engine's own gRPC services (object stores, datasets) on a connection's channel."""
from __future__ import annotations

import time
from typing import Any, Callable

import grpc

from . import errors
from ._proto import e6driver_stores_pb2 as st_pb

_RETRY_CODES = ("UNAVAILABLE",)


def rpc_error(exc: BaseException, rpc: str, not_found: type = errors.ObjectNotFoundError) -> errors.Error:
    """The driver error for a failed call; NOT_FOUND becomes ``not_found`` (what the service stores)."""
    if errors.grpc_code_name(exc) == "NOT_FOUND":
        return errors.from_rpc_error(exc, rpc, cls=not_found)
    return errors.from_rpc_error(exc, rpc)


class ServiceClient:
    """Authenticates like the connection (user + password, else its session or bearer token) and maps
    errors to the driver's; an unreachable server is retried until the connection's ``connect_timeout``."""

    not_found_error: type = errors.ObjectNotFoundError

    def __init__(self, connection: Any, stub_class: Callable[[grpc.Channel], Any]) -> None:
        self._conn = connection
        self._stub_class = stub_class

    def _auth(self) -> st_pb.Auth:
        conn = self._conn
        if conn._username or conn._password:
            return st_pb.Auth(user=conn._username, password=conn._password)
        return st_pb.Auth(session_id=conn._session())

    def _stub(self) -> Any:
        self._conn._check_open()
        return self._stub_class(self._conn._transport.channel)

    def _invoke(self, rpc: str, call: Callable[[Any, list], Any]) -> Any:
        """Run ``call(stub, metadata)`` under the rules of the class doc."""
        deadline = time.monotonic() + self._conn.connect_timeout
        attempt = 0
        while True:
            try:
                return call(self._stub(), self._conn._metadata(None))
            except grpc.RpcError as exc:
                if errors.grpc_code_name(exc) in _RETRY_CODES and time.monotonic() < deadline:
                    attempt += 1
                    time.sleep(min(1.0, 0.05 * 2 ** min(attempt, 5)))
                    continue
                raise self._error(exc, rpc) from None

    def _error(self, exc: grpc.RpcError, rpc: str) -> errors.Error:
        return rpc_error(exc, rpc, self.not_found_error)
