"""One query on the server: prepare → execute → metadata → result batches; status, explain, cancel, clear.

A query is released on the server exactly once (``clearOrCancelQuery``), so the server never leaks it and a
pending blue-green switch is never held back by an abandoned query. Its calls send the colour it was prepared
under. ``query_timeout`` is applied and interpreted here: when the query's deadline has passed, the error says
so (and the server has cancelled the query). The sequencing lives in :class:`QueryPlans`; :class:`ServerQuery`
runs it blocking, ``aio.AsyncServerQuery`` with asyncio.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Optional

from .._proto import e6driver_query_pb2 as run_pb, e6x_engine_pb2 as pb
from ..errors import Error, OperationalError
from . import answers, local_transfer
from .capabilities import capabilities
from .plan import Plan
from .result_metadata import ResultMetadata, parse_result_metadata
from .session import QueryHandle, Session, SessionRules
from .releaser import RELEASE_FLUSH_SECONDS, RELEASER
from .stream import Batch, ChunkStream

log = logging.getLogger(__name__)

# How long QueryRunService may wait for the first chunk before it answers with the query id alone (the caller
# then waits in getResultMetadata): a long statement's id is known early, so it can be cancelled.
RUN_WAIT_MS = 200


class QueryPlans:
    """The state of a query the server knows and the plans of its calls."""

    def __init__(self, session: Any, handle: QueryHandle, deadline: Optional[float] = None):
        self.session = session
        self.handle = handle
        self.deadline = deadline
        self.metadata: Optional[ResultMetadata] = None
        self.first_batch: Optional[Batch] = None  # fetched with execute when the server had the result ready
        self.owned = False  # started (and so released) by this process
        self.released = False

    @property
    def query_id(self) -> str:
        return self.handle.query_id

    @staticmethod
    def prepare_plan(session: SessionRules, sql: str, catalog: Optional[str], schema: Optional[str],
                     deadline: Optional[float]) -> Plan:
        """Prepare ``sql`` as new work; returns the handle, registered with the blue-green state."""
        schema = schema or ""
        try:
            if catalog:
                response, colour = yield from session.call_plan(
                    "prepareStatementV2", lambda sid: pb.PrepareStatementV2Request(
                        sessionId=sid, schema=schema, catalog=catalog, queryString=sql),
                    timeout=session.prepare_timeout, deadline=deadline, with_colour=True)
            else:
                response, colour = yield from session.call_plan(
                    "prepareStatement", lambda sid: pb.PrepareStatementRequest(
                        sessionId=sid, schema=schema, queryString=sql), deadline=deadline, with_colour=True)
        except Error as exc:
            raise _timed_out(exc, session, deadline) from None
        handle = QueryHandle(response.queryId, response.engineIP, colour)
        session.colours.query_started(handle.query_id, colour)
        return handle

    @staticmethod
    def run_plan(session: SessionRules, sql: str, catalog: Optional[str], schema: Optional[str],
                 deadline: Optional[float]) -> Plan:
        """QueryRunService.Run (an engine that reports ``run``): prepare, execute, and the result metadata and
        first chunks when ready, in one call; returns the handle, registered with the blue-green state, and the
        response."""
        try:
            response, colour = yield from session.call_plan(
                "Run", lambda sid: run_pb.RunRequest(session_id=sid, catalog=catalog or "", schema=schema or "",
                                                     query_string=sql, wait_ms=RUN_WAIT_MS),
                deadline=deadline, with_colour=True, service="run", runs=True)
        except Error as exc:
            raise _timed_out(exc, session, deadline) from None
        handle = QueryHandle(response.query_id, response.engine_ip, colour)
        session.colours.query_started(handle.query_id, colour)
        return handle, response

    def open_plan(self, v2: bool) -> Plan:
        """Execute the prepared query and read its result metadata (and maybe the first chunks)."""
        if v2:
            yield from self._call_plan("executeStatementV2", pb.ExecuteStatementV2Request, bounded=True)
        else:
            yield from self._call_plan("executeStatement", pb.ExecuteStatementRequest, bounded=True)
        yield from self.opened_plan()

    def opened_plan(self, run: Any = None) -> Plan:
        """The result metadata of an executed query: from QueryRunService's answer ``run`` when it has it, else
        asked. A result the server has counted (the metadata row count is known, so every chunk is encoded) is
        fetched at once: a small query needs no later fetch."""
        if run is not None and run.ready:
            self.metadata = metadata = parse_result_metadata(run.result_metadata)
        else:
            metadata = yield from self.metadata_plan()
        if not metadata.columns:
            self.first_batch = ([], True)  # no result set: nothing to fetch
        elif metadata.row_count >= 0:
            if run is not None and run.ready:
                self.first_batch = (list(run.batches), run.end_of_stream)
            else:
                self.first_batch = yield from self.fetch_plan()

    def _call_plan(self, rpc: str, request: Any, timeout: Optional[float] = None, bounded: bool = False) -> Plan:
        """One per-query RPC; ``bounded`` calls (execute, metadata, batches) must end by the query's deadline,
        control calls (status, cancel, release) must work after it."""
        handle = self.handle
        deadline = self.deadline if bounded else None
        try:
            return (yield from self.session.call_plan(rpc, lambda sid: request(
                sessionId=sid, queryId=handle.query_id, engineIP=handle.engine_ip),
                query=handle, deadline=deadline, timeout=timeout))
        except Error as exc:
            raise _timed_out(exc, self.session, deadline) from None

    def metadata_plan(self) -> Plan:
        response = yield from self._call_plan("getResultMetadata", pb.GetResultMetadataRequest, bounded=True)
        self.metadata = parse_result_metadata(response.resultMetaData)
        return self.metadata

    def fetch_plan(self) -> Plan:
        """The next chunks and whether the result ended after them: one getNextResultBatchV2 call (every chunk
        the server has ready, and the end, in one answer) when the server has it, else one getNextResultBatch
        (one chunk; empty bytes at the end). Whether it has it is learnt once per session."""
        session = self.session
        if session.batch_v2 is not False:
            try:
                response = yield from self._call_plan("getNextResultBatchV2", pb.GetNextResultBatchRequest,
                                                      bounded=True)
            except Error as exc:
                if exc.grpc_code != "UNIMPLEMENTED":
                    raise
                session.batch_v2 = False
            else:
                session.batch_v2 = True
                return list(response.resultBatches), response.endOfStream
        data = (yield from self._call_plan("getNextResultBatch", pb.GetNextResultBatchRequest,
                                           bounded=True)).resultBatch
        return ([data], False) if data else ([], True)

    def fetch_arrow_plan(self) -> Plan:
        """The next part of the result for a columnar reader (QueryRunService.FetchArrow): Arrow batches checked
        against the result's columns, or Thrift chunks; and whether the result ended after them."""
        from .. import columnar  # needs pyarrow: only columnar readers come here

        handle = self.handle
        try:
            answer = yield from self.session.call_plan(
                "FetchArrow", lambda sid: answers.arrow_request(sid, handle.query_id), query=handle,
                deadline=self.deadline, service="run")
        except Error as exc:
            raise _timed_out(exc, self.session, self.deadline) from None
        ipc, chunks, ended, _ = answer.fields()
        assert self.metadata is not None
        pieces = list(chunks)  # an answer's chunks come before its Arrow rows
        if ipc is not None:
            pieces += columnar.ipc_batches(ipc, self.metadata.columns)
        return pieces, ended

    def status_plan(self) -> Plan:
        return (yield from self._call_plan("status", pb.StatusRequest))

    def explain_plan(self) -> Plan:
        return (yield from self._call_plan("explain", pb.ExplainRequest)).explain

    def explain_analyze_plan(self) -> Plan:
        response = yield from self._call_plan("explainAnalyze", pb.ExplainAnalyzeRequest)
        return dict(is_cached=response.isCached, parsing_time=response.parsingTime,
                    queuing_time=response.queueingTime, planner=response.explainAnalyze)

    def cancel_plan(self) -> Plan:
        """Stop the query on the server. A query this process started stays open (for blue-green) until it is
        released; an attached one is finished here."""
        yield from self._call_plan("cancelQuery", pb.CancelQueryRequest)
        if not self.owned:
            self.session.colours.query_finished(self.query_id)

    def clear_plan(self, timeout: Optional[float] = None) -> Plan:
        """The official client's ``clear`` RPC (frees the result of a finished query)."""
        yield from self._call_plan("clear", pb.ClearRequest, timeout=timeout)
        self.session.colours.query_finished(self.query_id)

    def release_plan(self, swallow: bool, timeout: Optional[float]) -> Plan:
        """``clearOrCancelQuery``; errors are logged unless ``swallow`` is False."""
        try:
            yield from self._call_plan("clearOrCancelQuery", pb.ClearOrCancelQueryRequest, timeout=timeout)
        except Error as exc:
            if not swallow:
                raise
            log.debug("releasing query %s failed: %s", self.query_id, exc)
        finally:
            self.session.colours.query_finished(self.query_id)


class ServerQuery(QueryPlans):
    """A query the server knows; build one with :meth:`start` (new work) or :meth:`attach` (a known id)."""

    def __init__(self, session: Session, handle: QueryHandle, deadline: Optional[float] = None):
        super().__init__(session, handle, deadline)
        self._stream: Optional[ChunkStream] = None

    @classmethod
    def start(cls, session: Session, sql: str, catalog: Optional[str], schema: Optional[str],
              deadline: Optional[float] = None, prefetch: int = 2,
              on_prepared: Optional[Callable[["ServerQuery"], None]] = None) -> "ServerQuery":
        """Prepare and execute ``sql`` and read its result metadata. A failure after prepare releases the query
        before the error is raised (``error.replayable`` tells whether running it again is safe).
        ``on_prepared(query)`` runs as soon as the server has assigned the id, before execution (so another
        thread or connection can cancel a long query)."""
        run = None
        if capabilities(session).get("run"):
            handle, run = session.run(cls.run_plan(session, sql, catalog, schema, deadline))
        else:
            handle = session.run(cls.prepare_plan(session, sql, catalog, schema, deadline))
        query = cls(session, handle, deadline)
        query.owned = True
        try:
            if on_prepared is not None:
                on_prepared(query)
            session.run(query.opened_plan(run) if run is not None else query.open_plan(bool(catalog)))
            query._stream = ChunkStream(query._fetch_batch, prefetch, query.first_batch)
        except BaseException:
            query.release()
            raise
        return query

    @classmethod
    def attach(cls, session: Session, query_id: str, engine_ip: str = "") -> "ServerQuery":
        """A query started elsewhere (e.g. by another cursor), addressed by id with the colour it runs under;
        the releases this session queued before are sent first (a query closed just before is gone)."""
        RELEASER.flush(session, RELEASE_FLUSH_SECONDS)
        return cls(session, QueryHandle(query_id, engine_ip, session.colours.colour_of(query_id)))

    def _fetch_batch(self) -> Batch:
        return self.session.run(self.fetch_plan())

    def _fetch_arrow(self) -> Batch:
        return self.session.run(self.fetch_arrow_plan())

    def prefer_arrow(self) -> None:
        """A columnar reader takes the rest: fetch it as Arrow when the engine offers that (rows still come as
        Thrift chunks when a result cannot travel as Arrow unchanged; pieces fetched before stay chunks)."""
        stream = self._stream
        if stream is not None and not stream.ended and self.metadata is not None \
                and capabilities(self.session).get("arrow_results"):
            if self.session.same_host_arrow is None:
                self.session.same_host_arrow = local_transfer.socket_name(self.session)
            stream.use(self._fetch_arrow)

    def next_chunk(self) -> Optional[Any]:
        """The next chunk's bytes (or, after :meth:`prefer_arrow`, maybe an Arrow batch), or None at the end of
        the result (or once released)."""
        if self._stream is None:
            return None
        return self._stream.next_chunk()

    def headers(self) -> list:
        """The gRPC metadata this query's calls carry (routing, its colour, authorisation)."""
        return self.session.metadata(self.handle.colour, self.handle.engine_ip)

    def refresh_metadata(self) -> ResultMetadata:
        """Ask the server for the result metadata again (row count, columns)."""
        return self.session.run(self.metadata_plan())

    def status(self) -> Any:
        return self.session.run(self.status_plan())

    def explain(self) -> str:
        return self.session.run(self.explain_plan())

    def explain_analyze(self) -> Dict[str, Any]:
        return self.session.run(self.explain_analyze_plan())

    def cancel(self) -> None:
        self.stop_fetching()
        self.session.run(self.cancel_plan())

    def stop_fetching(self) -> None:
        if self._stream is not None:
            self._stream.close(wait=0)

    def clear(self, timeout: Optional[float] = None) -> None:
        self.session.run(self.clear_plan(timeout))

    def release(self, swallow: bool = True, timeout: Optional[float] = 10.0) -> None:
        """Free the query on the server once; a closed session releases nothing remotely. A query whose result
        was read to its end (finished on the server) is released without waiting (``releaser.py``) unless the
        caller wants its errors (``swallow`` False)."""
        if self.released:
            return
        self.released = True
        stream = self._stream
        if swallow and stream is not None and stream.ended and not self.session.closed and \
                RELEASER.submit(self.session, lambda: self._release_now(swallow, timeout)):
            self.session.colours.query_finished(self.query_id)  # at once: a pending switch applies now
            return
        self._release_now(swallow, timeout)

    def _release_now(self, swallow: bool, timeout: Optional[float]) -> None:
        self.stop_fetching()
        if self.session.closed:
            return
        try:
            self.session.run(self.release_plan(swallow, timeout))
        finally:
            if self._stream is not None:
                self._stream.close(wait=5.0)


def _timed_out(exc: Error, session: Any, deadline: Optional[float]) -> Error:
    """A deadline error past the query's own deadline is ``query_timeout`` (the server cancelled the query)."""
    if exc.grpc_code == "DEADLINE_EXCEEDED" and deadline is not None and time.monotonic() >= deadline:
        return OperationalError(f"query exceeded query_timeout={session.query_timeout:g} s and was cancelled",
                                grpc_code=exc.grpc_code, query_id=exc.query_id)
    return exc
