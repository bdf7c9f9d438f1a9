"""The bulk-insert RPC of the local engine: ``IngestService.Append`` (protos/e6driver_ingest.proto).

The client streams Arrow IPC payloads (each at most a bounded size, made lazily by the caller's iterator) and
the engine appends them to one table in ONE transaction on this session's own connection (the session's open
transaction when it has one). Whether the engine offers it is asked once per session with the other
capabilities (:func:`e6driver.protocol.capabilities.capabilities`); an e6data cluster does not, and the driver
keeps its multi-row INSERTs there (``e6driver/bulk.py`` decides).

Session rules, as on the query path: a session the engine forgot is authenticated again and the call made once
more, unless a transaction was open on it (then the transaction is lost, and said so).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional, Sequence

import grpc

from .. import errors
from .._proto import e6driver_ingest_pb2 as ingest_pb, e6driver_ingest_pb2_grpc
from ..errors import Error
from .session import ACCESS_DENIED, TRANSACTION_LOST, Session
from .capabilities import capabilities


def available(session: Session) -> bool:
    """Whether the engine appends Arrow batches for this session (asked once per session)."""
    return bool(capabilities(session).get("ingest"))


def _requests(session_id: str, table: Sequence[str], columns: Sequence[str], payloads: Callable[[], Iterator[bytes]],
              catalog: Optional[str], schema: Optional[str]) -> Iterator[ingest_pb.AppendRequest]:
    """The call's messages: the first names the target; each carries one payload."""
    first = True
    for payload in payloads():
        if first:
            yield ingest_pb.AppendRequest(session_id=session_id, catalog=catalog or "", schema=schema or "",
                                          table=list(table), columns=list(columns), arrow_ipc=payload)
            first = False
        else:
            yield ingest_pb.AppendRequest(arrow_ipc=payload)
    if first:  # no payload at all: still name the target (appends nothing)
        yield ingest_pb.AppendRequest(session_id=session_id, catalog=catalog or "", schema=schema or "",
                                      table=list(table), columns=list(columns))


def _retry_or_raise(session: Any, exc: Error, renewed: bool) -> bool:
    """After a failed append: True to authenticate again and retry once (the engine forgot the session and no
    transaction was open on it), else raise (a lost transaction is said so)."""
    forgotten = exc.grpc_code == "INTERNAL" and ACCESS_DENIED in str(exc)
    if session.in_transaction and (forgotten or TRANSACTION_LOST in str(exc)):
        session.forget()
        raise session.lose_transaction(f"the engine no longer knows its session ({exc})") from exc
    if forgotten and not renewed and session.keeps_session:
        session.forget()
        return True
    raise exc


def append(session: Session, table: Sequence[str], columns: Sequence[str], payloads: Callable[[], Iterator[bytes]],
           catalog: Optional[str], schema: Optional[str]) -> int:
    """Append the rows of ``payloads()`` (Arrow IPC streams) to ``table`` (its name parts as written); returns
    the rows appended. Nothing is appended when any payload fails."""
    def on_error(exc: grpc.RpcError) -> Error:
        return errors.from_rpc_error(exc, "IngestService.Append")

    renewed = False
    while True:
        session_id = session.session_id()
        try:
            response = session.call_service(
                e6driver_ingest_pb2_grpc.IngestServiceStub,
                lambda stub, metadata: stub.Append(_requests(session_id, table, columns, payloads, catalog, schema),
                                                   metadata=metadata,
                                                   timeout=session.timeout(session.query_deadline())),
                on_error)
            return int(response.rows)
        except Error as exc:
            renewed = _retry_or_raise(session, exc, renewed)


async def aappend(session: Any, table: Sequence[str], columns: Sequence[str],
                  payloads: Callable[[], Iterator[bytes]], catalog: Optional[str], schema: Optional[str]) -> int:
    """:func:`append` for an asyncio session (the payloads are made as gRPC sends them)."""
    renewed = False
    while True:
        session_id = await session.session_id()
        metadata = await session.service_metadata()
        try:
            response = await session.transport.stub("ingest").Append(
                _requests(session_id, table, columns, payloads, catalog, schema), metadata=metadata,
                timeout=session.timeout(session.query_deadline()))
            return int(response.rows)
        except grpc.RpcError as rpc_error:
            exc = errors.from_rpc_error(rpc_error, "IngestService.Append")
        renewed = _retry_or_raise(session, exc, renewed)
