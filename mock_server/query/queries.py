"""Query registry: ids, owners, a producer thread per query and a bounded queue of encoded chunks.

The producer executes the statement and reads its Arrow batches ahead of the client, at most ``queue_size``
pieces ahead, so a huge result never sits in memory. The first piece is encoded into a Thrift chunk at once (a
small result's answer, and an encoding error surfaces before the metadata); the others are encoded by the fetch
that takes them, so that a columnar reader gets the Arrow batches themselves when the result can be served so
(:meth:`Query.next_arrow`, :mod:`mock_server.query.arrow_results`). Fetches block until a piece or the end is
available; the end is empty bytes, forever after.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

import pyarrow as pa

from mock_server import errors
from mock_server.limits import DEFAULT_LIMITS, Limits, check_open_queries, exceeded
from mock_server.query.arrow_results import Serialized, arrow_schema
from mock_server.query.encode import column_types, encode_chunk
from mock_server.query.engine import Engine, Statement
from mock_server.query.metadata import build_metadata

log = logging.getLogger(__name__)

_END = object()
_POLL = 0.1

Item = Union[bytes, pa.RecordBatch, pa.Table, Serialized]
"""A queued piece of the result: a Thrift chunk, Arrow batches, or (once read as Arrow) their IPC messages."""


class Query:
    """One prepared/running/finished query and its result stream."""

    def __init__(self, query_id: str, user: str, session_id: str, sql: str, statement: Statement,
                 parse_ms: float, zone: str, queue_size: int, strategy: str = "") -> None:
        self.id = query_id
        self.user = user
        self.session_id = session_id
        self.strategy = strategy  # blue-green colour the query was prepared under
        self.sql = sql
        self.statement = statement
        self.zone = zone
        self.parse_ms = parse_ms
        self.created = time.monotonic()
        self.last_used = self.created
        self._active_calls = 0
        self._cond = threading.Condition()
        # Room for the first chunk and the end marker at least: execute() never waits for the client.
        self._chunks: "queue.Queue[object]" = queue.Queue(maxsize=max(2, queue_size))
        self._executed = False
        self._columns: Optional[list] = None
        self._schema: Optional[pa.Schema] = None  # the result's Arrow schema, once executed
        self._served: Optional[pa.Schema] = None  # the schema Arrow readers get, once asked (None: Thrift only)
        self._served_known = False
        self._arrow_reader = False  # a fetch asked for Arrow: the producer writes IPC messages ahead
        self._rows = 0
        self._row_count = -1  # statement row count (DML/DDL) once known
        self._done = False  # execution finished (successfully or not)
        self._first_ready = False  # the first chunk is queued: getResultMetadata answers
        self._complete = False  # every row is counted (the last chunk is encoded)
        self._error: Optional[errors.EngineError] = None
        self._cancelled = False
        self._cleared = False
        self._exhausted = False
        self._execute_at: Optional[float] = None
        self._started_at: Optional[float] = None
        self._finished_at: Optional[float] = None
        self._waited = 0.0  # seconds the producer spent waiting for the client to take pieces
        self._waiting_since: Optional[float] = None
        self._overrun: Optional[errors.EngineError] = None  # stopped by max_query_seconds

    # ------------------------------------------------------------------ bookkeeping

    @contextmanager
    def in_use(self) -> Iterator["Query"]:
        with self._cond:
            self._active_calls += 1
            self.last_used = time.monotonic()
        try:
            yield self
        finally:
            with self._cond:
                self._active_calls -= 1
                self.last_used = time.monotonic()

    def busy_for(self, now: float) -> float:
        """Seconds the statement has been executing: since it started, less the time its producer waited for
        the client (a slow reader of a big result is not charged for it)."""
        with self._cond:
            if self._started_at is None or self._done:
                return 0.0
            waiting = now - self._waiting_since if self._waiting_since is not None else 0.0
            return now - self._started_at - self._waited - waiting

    def stop_overrun(self, error: errors.EngineError) -> None:
        """Stop a statement that ran past max_query_seconds; its reader gets ``error`` (idempotent: the sweeper
        calls it again until the producer has stopped)."""
        with self._cond:
            if self._done or self._cancelled:
                return
            self._overrun = self._overrun or error
        self.statement.interrupt()

    def idle_for(self, now: float) -> float:
        with self._cond:
            return 0.0 if self._active_calls else now - self.last_used

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._done

    @property
    def holding(self) -> bool:
        """Running, or with chunks not yet delivered: what the open-query limit counts (a result read to its
        end only waits for its clear)."""
        with self._cond:
            return not (self._done and (self._exhausted or not self._columns or self._cleared))

    # ------------------------------------------------------------------ execution

    def execute(self) -> None:
        """Start the producer on a worker thread (idempotent); getResultMetadata waits for its first chunk."""
        with self._cond:
            if self._cancelled:
                raise errors.query_cancelled(self.id)
            if self._executed:
                return
            self._executed = True
            self._execute_at = time.monotonic()
        _WORKERS.submit(self._produce)

    def _produce(self) -> None:
        with self._cond:
            self._started_at = time.monotonic()
        try:
            result = self.statement.run()
            columns = column_types(result.schema, self.zone) if result.schema is not None else []
            with self._cond:
                self._columns = columns
                self._schema = result.schema
                self._row_count = result.row_count
                self._cond.notify_all()
            batches = result.batches
            more = getattr(batches, "more", None)  # whether a chunk follows, cheaply (chunking.Chunks)
            batch = _next_rows(batches)
            while batch is not None and not self._stopping():
                served = self._served if self._arrow_reader else None
                chunk = encode_chunk(batch, self.zone) if not self._first_ready else \
                    Serialized(batch, served) if served is not None else batch
                # so the last chunk is known as the last before it is queued (and the row count with it)
                following = None if more else _next_rows(batches)
                last = not more() if more else following is None
                with self._cond:
                    self._rows += batch.num_rows
                    self._complete = last
                if not self._put(chunk):
                    break
                with self._cond:
                    if not self._first_ready:
                        self._first_ready = True
                        self._cond.notify_all()
                batch = None if last else following if following is not None else _next_rows(batches)
        except BaseException as exc:  # noqa: BLE001 - every failure is reported to the client
            err = errors.query_cancelled(self.id) if self._cancelled else \
                self._overrun or errors.from_exception(exc)
            if err.code.name == "INTERNAL":
                log.warning("query %s failed", self.id, exc_info=True)
            with self._cond:
                self._error = err
        finally:
            with self._cond:
                self._done = True
                self._finished_at = time.monotonic()
                self._cond.notify_all()
            self._close_cursor()
            self._put(_END)

    def _stopping(self) -> bool:
        with self._cond:
            return self._cancelled or self._cleared or self._overrun is not None

    def _put(self, item: object) -> bool:
        """Queue an item, waiting for the client; False when the query was stopped meanwhile."""
        try:
            self._chunks.put_nowait(item)
            return True
        except queue.Full:
            pass
        with self._cond:
            self._waiting_since = time.monotonic()
        try:
            while True:
                try:
                    self._chunks.put(item, timeout=_POLL)
                    return True
                except queue.Full:
                    if self._stopping():
                        return False
        finally:
            with self._cond:
                self._waited += time.monotonic() - self._waiting_since
                self._waiting_since = None

    def _close_cursor(self) -> None:
        """Release the statement (its result and store tables; the session's connection stays)."""
        try:
            self.statement.close()
        except Exception:  # noqa: BLE001 - the session's connection closed meanwhile
            log.debug("closing statement of %s failed", self.id, exc_info=True)

    # ------------------------------------------------------------------ results

    def metadata(self) -> bytes:
        """Blob of §6; blocks until the first chunk is ready (or the statement ended), never for the whole
        result. Its row count is the total when every row is counted by then, -1 otherwise (spec §5.9)."""
        with self._cond:
            if not self._executed and not self._cancelled:
                raise errors.not_executed(self.id)
            while not (self._done or self._first_ready or self._cancelled or self._cleared):
                self._cond.wait(_POLL)
            if self._cancelled and (self._columns is None or not self._done):
                raise errors.query_cancelled(self.id)
            if self._columns is None:
                raise self._error or errors.query_cancelled(self.id)
            if self._error is not None and self._done and self._rows == 0:
                raise self._error
            if not self._columns:
                rows = self._row_count
            else:
                rows = self._rows if (self._complete or self._done) and self._error is None else -1
            return build_metadata(rows, self._columns)

    def wait_ready(self, timeout: float) -> bool:
        """Whether :meth:`metadata` answers without waiting, after waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self._done or self._first_ready or self._cancelled or self._cleared):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, _POLL))
            return True

    @property
    def counted(self) -> bool:
        """A result set whose every row is counted, so every chunk is encoded (metadata's row count is known)."""
        with self._cond:
            return bool(self._columns) and (self._complete or self._done) and self._error is None

    def next_chunk(self) -> bytes:
        """One encoded chunk; empty bytes at the end of results (and forever after)."""
        item = self._take(blocking=True)
        return self._thrift(item) if item is not None else b""

    def next_chunks(self, max_bytes: int) -> Tuple[List[bytes], bool]:
        """Several chunks (at least one unless at end) up to ``max_bytes``; (chunks, end of stream)."""
        items, end = self._next_items(max_bytes)
        return [self._thrift(item) for item in items], end

    def next_arrow(self, max_bytes: int) -> Tuple[List[bytes], List[Item], Optional[pa.Schema], bool]:
        """Like :meth:`next_chunks` for a columnar reader, up to ``max_bytes``: (Thrift chunks, Arrow pieces that
        follow them, the schema those are served with, end of stream). Only a result's first piece is encoded
        before a fetch takes it, so the chunks are that piece, or every piece of a result that cannot be served
        as Arrow. From the first call on, the producer writes the pieces' IPC messages ahead."""
        served = self._served_schema()
        with self._cond:
            self._arrow_reader = True
        items, end = self._next_items(max_bytes)
        if served is None:
            return [self._thrift(item) for item in items], [], None, end
        last_chunk = max((i for i, item in enumerate(items) if isinstance(item, bytes)), default=-1)
        return ([self._thrift(item) for item in items[:last_chunk + 1]],  # rows stay in order
                items[last_chunk + 1:], served, end)

    def _served_schema(self) -> Optional[pa.Schema]:
        with self._cond:
            if not self._served_known and self._schema is not None:
                self._served, self._served_known = arrow_schema(self._schema), True
            return self._served

    def _thrift(self, item: Item) -> bytes:
        if isinstance(item, bytes):
            return item
        try:
            return encode_chunk(item.piece if isinstance(item, Serialized) else item, self.zone)
        except errors.CodedError as exc:  # a value the wire cannot carry (e.g. an INTERVAL with months)
            raise errors.from_exception(exc) from None

    def _next_items(self, max_bytes: int) -> Tuple[List[Item], bool]:
        """Queued pieces up to ``max_bytes`` (at least one unless at end); (pieces, end of stream)."""
        first = self._take(blocking=True)
        if first is None:
            return [], True
        out, size = [first], _size(first)
        while size < max_bytes:
            with self._cond:  # once the producer is done only its end marker can be missing: wait for it
                blocking = self._complete or self._done
            item = self._take(blocking=blocking)
            if item is None:
                with self._cond:
                    if self._exhausted:
                        return out, True
                break
            out.append(item)
            size += _size(item)
        return out, False

    def _take(self, blocking: bool) -> Optional[Item]:
        """Next item, or None at the end (or, non-blocking, when none is ready)."""
        while True:
            with self._cond:
                # cleared (released, expired, engine stopping) drops the queued chunks and the end marker: a
                # call still waiting here must end, not wait for a marker that will never come
                if self._cancelled or self._cleared:
                    raise errors.query_cancelled(self.id)
                if self._exhausted:
                    if self._error is not None:
                        raise self._error
                    return None
                if not self._executed:
                    raise errors.not_executed(self.id)
            try:
                item = self._chunks.get(timeout=_POLL) if blocking else self._chunks.get_nowait()
            except queue.Empty:
                if not blocking:
                    return None
                continue
            if item is _END:
                with self._cond:
                    self._exhausted = True
                continue
            return item  # type: ignore[return-value]

    # ------------------------------------------------------------------ control

    def cancel(self) -> None:
        """Stop execution (idempotent); the handle stays until cleared."""
        with self._cond:
            if self._done or self._cancelled:
                return
            self._cancelled = True
            self._cond.notify_all()
        self.statement.interrupt()

    def clear(self) -> None:
        """Cancel if running and release everything."""
        self.cancel()
        with self._cond:
            self._cleared = True
            started = self._executed
            self._cond.notify_all()
        while True:  # unblock the producer and drop buffered chunks
            try:
                self._chunks.get_nowait()
            except queue.Empty:
                break
        if not started:
            self._close_cursor()
        else:  # the session's next statement must not first read this result's rest into memory
            self.statement.stop_stream()

    def status(self) -> Tuple[bool, int]:
        with self._cond:
            finished = self._done or self._cancelled
            rows = self._rows if self._columns else self._row_count
            return finished, rows

    def explain_analyze(self) -> dict:
        now = time.monotonic()
        with self._cond:
            execute_at = self._execute_at
            queue_ms = ((self._started_at or now) - execute_at) * 1000.0 if execute_at else 0.0
            total_ms = ((self._finished_at or now) - execute_at) * 1000.0 if execute_at else 0.0
            state = ("cancelled" if self._cancelled else "failed" if self._error
                     else "finished" if self._done else "running" if execute_at else "prepared")
            return {
                "total_query_time": round(total_ms + self.parse_ms, 3),
                "executionQueueingTime": round(queue_ms, 3),
                "parsingTime": round(self.parse_ms, 3),
                "query_id": self.id,
                "strategy": self.strategy,
                "state": state,
                "row_count": self._rows if self._columns else self._row_count,
                "chunks_buffered": self._chunks.qsize(),
            }


def _size(item: Item) -> int:
    return len(item) if isinstance(item, bytes) else item.nbytes


def _next_rows(batches: Iterator) -> Optional[object]:
    """The next batch with rows (a zero-row chunk would end the client's stream), or None at the end."""
    for batch in batches:
        if batch.num_rows:
            return batch
    return None


class _Workers:
    """Threads for the queries' producers, kept for reuse (starting a thread per query costs more than a
    small query's whole execution); never bounded: a producer may wait long for its client."""

    IDLE_SECONDS = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: List["queue.SimpleQueue"] = []

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._work, args=(inbox,), name="query-producer", daemon=True).start()
        inbox.put(task)

    def _work(self, inbox: "queue.SimpleQueue") -> None:
        while True:
            try:
                task = inbox.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # nobody handed it a task meanwhile: end
                        self._idle.remove(inbox)
                        return
                continue
            task()
            with self._lock:
                self._idle.append(inbox)


_WORKERS = _Workers()


class QueryRegistry:
    """All live queries of the server, by id; idle ones are cleared after ``ttl`` seconds."""

    def __init__(self, engine: Engine, ttl: float = 3600.0, queue_size: int = 4,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        self.engine = engine
        self.ttl = ttl
        self.limits = limits  # open queries per user and in total (mock_server.limits)
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._queries: Dict[str, Query] = {}
        self._closed = False

    def create(self, user: str, session_id: str, sql: str, catalog: str, schema: str,
               strategy: str = "") -> Query:
        size = len(sql.encode("utf-8", "surrogatepass"))  # the limit counts bytes: an emoji is one character, 4 bytes
        if size > self.limits.max_statement_bytes:
            raise exceeded(self.limits, "max_statement_bytes", f"SQL statement of {size} bytes (UTF-8)")
        with self._lock:  # refuse early, before a cursor is opened for the statement
            check_open_queries(self.limits, user, ((q.user, q.holding) for q in self._queries.values()))
        statement, parse_ms = self.engine.prepare(sql, catalog, schema, user, session_id, strategy)
        query = Query(str(uuid.uuid4()), user, session_id, sql, statement, parse_ms,
                      self.engine.time_zone, self.queue_size, strategy)
        refused: Optional[errors.EngineError] = None
        with self._lock:
            closed = self._closed
            if not closed:
                try:  # again: concurrent prepares may have reached the limit meanwhile
                    check_open_queries(self.limits, user, ((q.user, q.holding) for q in self._queries.values()))
                    self._queries[query.id] = query
                except errors.EngineError as exc:
                    refused = exc
        if refused is not None:
            query.clear()
            raise refused
        if closed:  # prepared while the server stopped: its cursor would keep the database file open
            query.clear()
            raise errors.shutting_down()
        log.debug("prepared %s for %s: %.200s", query.id, user, sql)
        return query

    def find(self, query_id: str) -> Optional[Query]:
        with self._lock:
            return self._queries.get(query_id)

    def remove(self, query_id: str) -> None:
        """Clear a query; unknown or empty ids are fine."""
        with self._lock:
            query = self._queries.pop(query_id, None)
        if query is not None:
            query.clear()

    def session_ids(self) -> Set[str]:
        with self._lock:
            return {q.session_id for q in self._queries.values()}

    def count_on(self, strategy: str) -> int:
        """How many live queries were prepared under the colour ``strategy``."""
        with self._lock:
            return sum(1 for q in self._queries.values() if q.strategy == strategy)

    def sweep(self) -> int:
        """Clear queries idle for longer than the TTL (returns how many) and stop those executing for longer than
        max_query_seconds: a client that polls keeps a query from being idle, not from running for ever."""
        now = time.monotonic()
        with self._lock:
            stale = [qid for qid, q in self._queries.items() if q.idle_for(now) > self.ttl]
            overrun = [q for q in self._queries.values() if q.busy_for(now) > self.limits.max_query_seconds]
        for query in overrun:
            log.info("query %s of %s executed for more than %ss: stopped", query.id, query.user,
                     self.limits.max_query_seconds)
            query.stop_overrun(exceeded(self.limits, "max_query_seconds",
                                        f"query {query.id} executed for longer than allowed"))
        for qid in stale:
            log.info("query %s idle for more than %ss: cleared", qid, self.ttl)
            self.remove(qid)
        return len(stale)

    def close(self) -> None:
        """Clear every query and refuse new ones (the server is stopping)."""
        with self._lock:
            self._closed = True
            ids = list(self._queries)
        for qid in ids:
            self.remove(qid)

    def __len__(self) -> int:
        with self._lock:
            return len(self._queries)


def explain_analyze_json(query: Query) -> str:
    return json.dumps(query.explain_analyze())
