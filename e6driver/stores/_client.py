"""What every store client shares: authentication and error mapping for calls to the engine's own services."""
from __future__ import annotations

from typing import Any, Callable

import grpc

from .. import errors
from .._proto import e6driver_stores_pb2 as st_pb
from ..protocol import Session


def rpc_error(exc: BaseException, rpc: str, not_found: type = errors.ObjectNotFoundError) -> errors.Error:
    """The driver error for a failed call; NOT_FOUND becomes ``not_found`` (what the service stores)."""
    if errors.grpc_code_name(exc) == "NOT_FOUND":
        return errors.from_rpc_error(exc, rpc, cls=not_found)
    return errors.from_rpc_error(exc, rpc)


class ServiceClient:
    """Authenticates like the connection (user + password, else its session or bearer token) and maps
    errors to the driver's; an unreachable server is retried by the session until its ``connect_timeout``."""

    not_found_error: type = errors.ObjectNotFoundError

    def __init__(self, session: Session, stub_class: Callable[[grpc.Channel], Any]) -> None:
        self._session = session
        self._stub_class = stub_class

    def _auth(self) -> st_pb.Auth:
        return st_pb.Auth(**self._session.store_credentials())

    def _invoke(self, rpc: str, call: Callable[[Any, list], Any]) -> Any:
        """Run ``call(stub, metadata)`` under the rules of the class doc."""
        return self._session.call_service(self._stub_class, call, lambda exc: self._error(exc, rpc))

    def _error(self, exc: grpc.RpcError, rpc: str) -> errors.Error:
        return rpc_error(exc, rpc, self.not_found_error)
