"""What the engine offers beyond the e6data protocol: ``AdminService.GetCapabilities`` (protos/e6driver_admin.proto,
our own service), asked once per session. An e6data cluster does not have that service and answers UNIMPLEMENTED;
any answer other than a transient one counts as "nothing beyond the protocol", so the driver then keeps to the
e6data calls (no transactions, multi-row INSERTs, four calls per query)."""
from __future__ import annotations

import logging
from typing import Any, Dict

import grpc

from .. import errors
from .._proto import e6driver_admin_pb2 as admin_pb, e6driver_admin_pb2_grpc
from ..errors import Error

log = logging.getLogger(__name__)

_TRANSIENT = ("UNAVAILABLE", "DEADLINE_EXCEEDED")


def capabilities(session: Any) -> Dict[str, Any]:
    """What the engine offers beyond the e6data protocol (asked once per session; {} when it cannot say)."""
    if session.capabilities is None:
        def on_error(exc: grpc.RpcError) -> Error:
            return errors.from_rpc_error(exc, "GetCapabilities")

        try:
            response = session.call_service(
                e6driver_admin_pb2_grpc.AdminServiceStub,
                lambda stub, metadata: stub.GetCapabilities(admin_pb.GetCapabilitiesRequest(), metadata=metadata,
                                                            timeout=session.timeout(None, 10.0)),
                on_error)
            session.capabilities = _from_response(response)
        except Error as exc:
            if exc.grpc_code in _TRANSIENT:
                raise
            _none(session, exc.grpc_code)
    return session.capabilities


async def acapabilities(session: Any) -> Dict[str, Any]:
    """:func:`capabilities` for an asyncio session; an unreachable engine is asked again on the next call
    (the query's own call then waits for it, as the e6data calls do)."""
    if session.capabilities is None:
        try:
            metadata = await session.service_metadata()
            response = await session.transport.stub("admin").GetCapabilities(
                admin_pb.GetCapabilitiesRequest(), metadata=metadata, timeout=session.timeout(None, 10.0))
        except grpc.RpcError as exc:
            code = errors.grpc_code_name(exc)
            if code in _TRANSIENT:
                return {}
            _none(session, code)
        else:
            session.capabilities = _from_response(response)
    return session.capabilities


def _from_response(response: Any) -> Dict[str, Any]:
    return {"transactions": response.transactions, "savepoints": response.savepoints, "ingest": response.ingest,
            "run": response.run, "arrow_results": response.arrow_results,
            "local_transfer": response.local_transfer}


def _none(session: Any, code: str) -> None:
    log.info("engine %s reports no capabilities (%s): no transactions, bulk ingest or one-call queries",
             session.endpoint, code)
    session.capabilities = {}
