"""One query on the server: prepare → execute → metadata → result batches; status, explain, cancel, clear.

A :class:`ServerQuery` is released on the server exactly once (``clearOrCancelQuery``), so the server never
leaks it and a pending blue-green switch is never held back by an abandoned query. Its calls send the colour it
was prepared under. ``query_timeout`` is applied and interpreted here: when the query's deadline has passed, the
error says so (and the server has cancelled the query).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional

from .._proto import e6x_engine_pb2 as pb
from ..errors import Error, OperationalError
from .result_metadata import ResultMetadata, parse_result_metadata
from .session import QueryHandle, Session
from .stream import ChunkStream

log = logging.getLogger(__name__)


class ServerQuery:
    """A query the server knows; build one with :meth:`start` (new work) or :meth:`attach` (a known id)."""

    def __init__(self, session: Session, handle: QueryHandle, deadline: Optional[float] = None):
        self.session = session
        self.handle = handle
        self.deadline = deadline
        self.metadata: Optional[ResultMetadata] = None
        self._stream: Optional[ChunkStream] = None
        self.owned = False  # started (and so released) by this process
        self.released = False

    @property
    def query_id(self) -> str:
        return self.handle.query_id

    # ------------------------------------------------------------------ construction
    @classmethod
    def start(cls, session: Session, sql: str, catalog: Optional[str], schema: Optional[str],
              deadline: Optional[float] = None, prefetch: int = 2) -> "ServerQuery":
        """Prepare and execute ``sql`` and read its result metadata. A failure after prepare releases the query
        before the error is raised (``error.replayable`` tells whether running it again is safe)."""
        query = cls._prepare(session, sql, catalog, schema, deadline)
        try:
            query._execute(bool(catalog))
            query.refresh_metadata()
            query._stream = ChunkStream(query._fetch_batch, prefetch)
        except BaseException:
            query.release()
            raise
        return query

    @classmethod
    def attach(cls, session: Session, query_id: str, engine_ip: str = "") -> "ServerQuery":
        """A query started elsewhere (e.g. by another cursor), addressed by id with the colour it runs under."""
        return cls(session, QueryHandle(query_id, engine_ip, session.colours.colour_of(query_id)))

    @classmethod
    def _prepare(cls, session: Session, sql: str, catalog: Optional[str], schema: Optional[str],
                 deadline: Optional[float]) -> "ServerQuery":
        schema = schema or ""
        try:
            if catalog:
                response, colour = session.call("prepareStatementV2", lambda sid: pb.PrepareStatementV2Request(
                    sessionId=sid, schema=schema, catalog=catalog, queryString=sql),
                    timeout=session.prepare_timeout, deadline=deadline, with_colour=True)
            else:
                response, colour = session.call("prepareStatement", lambda sid: pb.PrepareStatementRequest(
                    sessionId=sid, schema=schema, queryString=sql), deadline=deadline, with_colour=True)
        except Error as exc:
            raise _timed_out(exc, session, deadline) from None
        handle = QueryHandle(response.queryId, response.engineIP, colour)
        session.colours.query_started(handle.query_id, colour)
        query = cls(session, handle, deadline)
        query.owned = True
        return query

    def _execute(self, v2: bool) -> None:
        if v2:
            self._call("executeStatementV2", pb.ExecuteStatementV2Request, bounded=True)
        else:
            self._call("executeStatement", pb.ExecuteStatementRequest, bounded=True)

    # ------------------------------------------------------------------ calls
    def _call(self, rpc: str, request: Any, timeout: Optional[float] = None, bounded: bool = False) -> Any:
        """One per-query RPC; ``bounded`` calls (execute, metadata, batches) must end by the query's deadline,
        control calls (status, cancel, release) must work after it."""
        handle = self.handle
        deadline = self.deadline if bounded else None
        try:
            return self.session.call(rpc, lambda sid: request(
                sessionId=sid, queryId=handle.query_id, engineIP=handle.engine_ip),
                query=handle, deadline=deadline, timeout=timeout)
        except Error as exc:
            raise _timed_out(exc, self.session, deadline) from None

    def _fetch_batch(self) -> bytes:
        """One getNextResultBatch call (run by the prefetch thread); empty bytes at the end of the result."""
        return self._call("getNextResultBatch", pb.GetNextResultBatchRequest, bounded=True).resultBatch

    def next_chunk(self) -> Optional[bytes]:
        """The next chunk's bytes, or None at the end of the result (or once released)."""
        if self._stream is None:
            return None
        return self._stream.next_chunk()

    def headers(self) -> list:
        """The gRPC metadata this query's calls carry (routing, its colour, authorisation)."""
        return self.session.metadata(self.handle.colour, self.handle.engine_ip)

    def refresh_metadata(self) -> ResultMetadata:
        """Ask the server for the result metadata again (row count, columns)."""
        self.metadata = parse_result_metadata(
            self._call("getResultMetadata", pb.GetResultMetadataRequest, bounded=True).resultMetaData)
        return self.metadata

    def status(self) -> Any:
        return self._call("status", pb.StatusRequest)

    def explain(self) -> str:
        return self._call("explain", pb.ExplainRequest).explain

    def explain_analyze(self) -> Dict[str, Any]:
        response = self._call("explainAnalyze", pb.ExplainAnalyzeRequest)
        return dict(is_cached=response.isCached, parsing_time=response.parsingTime,
                    queuing_time=response.queueingTime, planner=response.explainAnalyze)

    def cancel(self) -> None:
        """Stop the query on the server. A query this process started stays open (for blue-green) until it is
        released; an attached one is finished here."""
        self.stop_fetching()
        self._call("cancelQuery", pb.CancelQueryRequest)
        if not self.owned:
            self.session.colours.query_finished(self.query_id)

    def stop_fetching(self) -> None:
        if self._stream is not None:
            self._stream.close(wait=0)

    def clear(self, timeout: Optional[float] = None) -> None:
        """The official client's ``clear`` RPC (frees the result of a finished query)."""
        self._call("clear", pb.ClearRequest, timeout=timeout)
        self.session.colours.query_finished(self.query_id)

    def release(self, swallow: bool = True, timeout: Optional[float] = 10.0) -> None:
        """Free the query on the server (``clearOrCancelQuery``) once; errors are logged unless ``swallow`` is
        False. A closed session releases nothing remotely."""
        if self.released:
            return
        self.released = True
        self.stop_fetching()
        if self.session.closed:
            return
        try:
            self._call("clearOrCancelQuery", pb.ClearOrCancelQueryRequest, timeout=timeout)
        except Error as exc:
            if not swallow:
                raise
            log.debug("releasing query %s failed: %s", self.query_id, exc)
        finally:
            self.session.colours.query_finished(self.query_id)
            if self._stream is not None:
                self._stream.close(wait=5.0)


def _timed_out(exc: Error, session: Session, deadline: Optional[float]) -> Error:
    """A deadline error past the query's own deadline is ``query_timeout`` (the server cancelled the query)."""
    if exc.grpc_code == "DEADLINE_EXCEEDED" and deadline is not None and time.monotonic() >= deadline:
        return OperationalError(f"query exceeded query_timeout={session.query_timeout:g} s and was cancelled",
                                grpc_code=exc.grpc_code, query_id=exc.query_id)
    return exc
