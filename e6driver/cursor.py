"""DB-API cursor: execute with safe replay, the row buffer, fetch*, and the official client's extra methods.

A cursor owns at most one :class:`e6driver.protocol.ServerQuery`. Re-executing, closing, or garbage-collecting
the cursor releases that query on the server. A query is replayed from ``prepare`` after a retired colour, a lost
query or an unreachable server only while no row of it has reached the caller (the replay policy lives here;
which failures are replayable is the protocol layer's call, ``Error.replayable``).
"""
from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ._rows import Row, piece_rows
from . import bulk
from .batching import statements_for_many
from .errors import Error, InterfaceError, OperationalError, ProgrammingError, QueryCancelledError
from .params import Params, prepare_operation
from .settings import CURSOR_ARRAYSIZE
from .types import description
from .protocol import ResultMetadata, ServerQuery, backoff, transaction

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger(__name__)

MAX_REPLAYS = 5
RELEASE_TIMEOUT = 10.0  # seconds a cursor waits for the server to free its query
NO_RESULT = {  # why fetch* has nothing to read, by the last operation (both cursors)
    "none": "no query has been executed on this cursor",
    "failed": "the last operation failed; there is no result set to fetch",
    "done": "the last operation did not produce a result set (description is None)",
    "many": "executemany did not produce a result set (rows its statements return are discarded; execute reads them)",
    "cleared": "the result was freed on the server by cursor.clear(); execute the query again to read it",
}


def cancelled(query_id: str) -> QueryCancelledError:
    """What execute() or fetch* raises once cancel() reached the cursor's query (both cursors)."""
    return QueryCancelledError(f"query {query_id} was cancelled", query_id=query_id)


def stopped_while_read(closed: bool, cancelled_id: Optional[str]) -> Optional[Error]:
    """What a fetch raises when cancel() or close() from another thread (or task) stopped the result it reads
    (both cursors): the rows not read yet were dropped, so the end of the result must not be reported."""
    if closed:
        return InterfaceError("the cursor was closed while its result was being read")
    return cancelled(cancelled_id) if cancelled_id else None


def closed_while_executing(query_id: str) -> InterfaceError:
    """What execute() raises when close() from another thread reached the cursor first."""
    return InterfaceError(f"the cursor was closed while query {query_id} executed")


_RESULT_ATTRIBUTES = frozenset(("description", "rowcount", "fetchone", "fetchmany", "fetchall", "fetch_arrow_table",
                                "fetch_arrow_batches", "fetch_df"))


class QueryId(str):
    """What ``execute`` returns: the engine's query id, as the official client returns it, through which the
    executed result can also be read — polars' ``read_database`` reads the result from ``execute``'s return
    value whenever it is not None. It refers to the cursor weakly: a kept id never keeps a query alive."""

    def __new__(cls, query_id: str, cursor: "Cursor") -> "QueryId":
        value = super().__new__(cls, query_id)
        value._cursor = weakref.ref(cursor)
        return value

    def __getattr__(self, name: str) -> Any:
        ref = self.__dict__.get("_cursor")
        cursor = ref() if ref is not None and name in _RESULT_ATTRIBUTES else None
        if cursor is None:
            raise AttributeError(name)
        return getattr(cursor, name)

    def __reduce__(self) -> Tuple[Any, ...]:
        return str, (str(self),)  # a plain id: the cursor stays with its connection


class Cursor:
    """Arguments are the official client's (``Cursor(conn, array_size, database, catalog_name)``); ``arraysize``
    defaults to the connection's (PEP 249's 1 unless ``connect(arraysize=...)``). ``db_name`` is an alias of
    ``database``."""

    def __init__(self, connection: "Connection", array_size: Optional[int] = None, database: Optional[str] = None,
                 catalog_name: Optional[str] = None, *, db_name: Optional[str] = None):
        self.connection = connection
        self.catalog_name = catalog_name if catalog_name is not None else connection.catalog_name
        self.database = database or db_name or connection.database
        self.arraysize = array_size if array_size is not None else connection.arraysize
        self.description: Optional[List[Tuple[Any, ...]]] = None
        self._rowcount = -1
        self._session = connection.session
        self._query: Optional[ServerQuery] = None
        self._pending: Optional[ServerQuery] = None  # prepared by the server, execute() still running
        self._finalizer: Optional[weakref.finalize] = None
        self._rows: List[Row] = []
        self._pos = 0
        self._delivered = 0
        self._seen = 0
        self._time_columns: List[int] = []
        self._column_count = 0
        self._columns: List[Any] = []
        self._closed = False
        self._sql = ""
        self._last_operation = "none"
        self._cancelled: Optional[str] = None
        self._generation = 0  # bumped by every (re)start of a query

    # ------------------------------------------------------------------ properties
    @property
    def query_id(self) -> Optional[str]:
        """The id of the cursor's query — set as soon as the server assigns it, while ``execute`` still runs."""
        query = self._query or self._pending
        return query.query_id if query else None

    arraysize = CURSOR_ARRAYSIZE  # validated on assignment

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def rownumber(self) -> Optional[int]:
        return self._delivered if self.description is not None else None

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ execute
    def execute(self, operation: str, parameters: Params = None, **kwargs: Any) -> str:
        """Run ``operation`` and return its query id. Parameters use the ``pyformat`` style (``%(name)s``/``%s``)."""
        if parameters is None and kwargs:
            parameters = kwargs
        self._check_open()
        self._begin_operation()
        self.connection.ensure_transaction()  # autocommit off: BEGIN before the first statement
        query_id = self._run(prepare_operation(operation, parameters))
        self._last_operation = "done"
        return QueryId(query_id, self) if isinstance(query_id, str) else query_id

    def executemany(self, operation: str, seq_of_parameters: Sequence[Params]) -> None:
        """Run ``operation`` for each parameter set. ``INSERT … VALUES (…)`` sends many rows per statement."""
        self._check_open()
        self._begin_operation()
        self.connection.ensure_transaction()  # autocommit off: BEGIN before the first statement
        params_list = list(seq_of_parameters)
        appended = bulk.executemany(self._session, operation, params_list, self.catalog_name, self.database)
        if appended is None:  # else the engine's bulk path took the rows (e6driver/bulk.py decides)
            appended = sum(self._execute_counted(sql) for sql in statements_for_many(operation, params_list))
            self._release()  # as README says: nothing to fetch (a SELECT's or RETURNING's rows are discarded)
            self.description = None
        self._rowcount = appended
        self._last_operation = "many"

    def _execute_counted(self, sql: str) -> int:
        self._release()
        self._run(sql)
        return max(self._rowcount, 0)

    def _begin_operation(self) -> None:
        """A new execute*: the previous query is released and nothing is fetchable until a result set arrives."""
        self._release()
        self.description = None
        self._rowcount = -1
        self._last_operation = "failed"  # until the operation returns

    def _run(self, sql: str) -> str:
        self._sql = sql
        deadline = self._session.query_deadline()  # one budget across replays
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._start(sql, deadline)
            except Error as exc:
                self._release()
                if exc.replayable and self._session.in_transaction:  # never half a transaction
                    raise self._session.lose_transaction(f"a statement failed and is not replayed ({exc})") from exc
                if exc.replayable and attempt < MAX_REPLAYS:
                    log.info("replaying query (attempt %d): %s", attempt + 1, exc)
                    backoff(attempt)
                    continue
                raise

    def _start(self, sql: str, deadline: Optional[float]) -> str:
        try:
            query = self._query = ServerQuery.start(self._session, sql, self.catalog_name, self.database, deadline,
                                                    self.connection.prefetch, on_prepared=self._note_started)
        finally:
            self._pending = None
        self._finalizer = weakref.finalize(self, query.release)
        self._finalizer.atexit = False
        transaction.note_statement(self._session, sql)  # a BEGIN/COMMIT written in SQL is tracked
        if self._cancelled == query.query_id:  # cancel() from another thread landed as the result arrived
            raise cancelled(query.query_id)
        if self._closed:  # close() from another thread as the result arrived
            raise closed_while_executing(query.query_id)
        assert query.metadata is not None
        self._take_metadata(query.metadata)
        self._rows, self._pos, self._delivered, self._seen = [], 0, 0, 0
        self._generation += 1
        return query.query_id

    def _note_started(self, query: ServerQuery) -> None:
        if self._closed:  # closed from another thread while the query was prepared: ServerQuery.start releases it
            raise closed_while_executing(query.query_id)
        self._pending = query  # cancel() from another thread reaches it before execute() returns

    def _take_metadata(self, metadata: ResultMetadata) -> None:
        self._rowcount = metadata.row_count
        self._column_count = len(metadata.columns)
        self._columns = metadata.columns
        self.description = description(metadata.columns)
        self._time_columns = [i for i, c in enumerate(metadata.columns) if c.type_name.upper() == "TIME"]

    # ------------------------------------------------------------------ fetch
    def _next_data(self) -> Optional[Any]:
        """The next chunk's bytes, or an Arrow batch once a columnar reader asked for them (replaying a lost query
        when allowed); None at the end of the result."""
        while True:
            if self._query is None:
                self._raise_if_stopped()
                return None
            try:
                data = self._query.next_chunk()
            except Error as exc:
                self._raise_if_stopped(exc)
                self._recover(exc)
                continue
            if data is None and self._rowcount < 0 and self.description is not None:
                self._rowcount = self._seen
            return data

    def _load(self) -> bool:
        """Decode the next non-empty chunk into the row buffer; False at the end of the result."""
        while True:
            data = self._next_data()
            if data is None:
                return False
            rows = piece_rows(data, self._column_count, self._time_columns)
            size = len(rows)
            if not size:
                continue
            self._rows = rows
            self._pos = 0
            self._seen += size
            return True

    # ------------------------------------------------------------------ columnar fetch (pyarrow / pandas)
    def fetch_arrow_batches(self, batch_size: Optional[int] = None) -> Iterator[Any]:
        """Yield the remaining rows as ``pyarrow.RecordBatch``es decoded column-wise: one per chunk, or
        exactly ``batch_size`` rows each (the last one smaller)."""
        from . import columnar

        if batch_size is not None:
            yield from columnar.rebatch(self.fetch_arrow_batches(), batch_size)
            return
        self._guard()
        columns = self._columns
        if self._query is not None:
            self._query.prefer_arrow()
        try:
            if self._pos < len(self._rows):
                rest, self._rows, self._pos = self._rows[self._pos:], [], 0
                self._delivered += len(rest)
                yield columnar.rows_to_batch(rest, columns)
            while True:
                data = self._next_data()
                if data is None:
                    return
                batch = columnar.piece_to_batch(data, columns)
                if batch.num_rows:
                    self._seen += batch.num_rows
                    self._delivered += batch.num_rows
                    yield batch
        except KeyboardInterrupt:
            self._abort()
            raise

    def fetch_arrow_table(self) -> Any:
        """The remaining rows as one ``pyarrow.Table`` (an empty table with the result's schema if none)."""
        from . import columnar

        batches = list(self.fetch_arrow_batches())
        return columnar.concat(batches, columnar.schema_for(self._columns))

    def fetch_df(self, dtype_backend: Optional[str] = None) -> Any:
        """The remaining rows as a ``pandas.DataFrame`` (needs pandas), from the Arrow path. ``dtype_backend`` as
        pandas' ``read_sql``: ``"pyarrow"`` keeps Arrow types (``pd.ArrowDtype``: exact decimals, aware
        timestamps, nullable integers), ``"numpy_nullable"`` uses pandas' nullable dtypes, None numpy's."""
        table = self.fetch_arrow_table()
        if dtype_backend is None:
            return table.to_pandas()
        import pandas as pd

        if dtype_backend == "pyarrow":
            return table.to_pandas(types_mapper=pd.ArrowDtype)
        if dtype_backend == "numpy_nullable":
            import pyarrow as pa

            nullable = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
                        pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.float32(): pd.Float32Dtype(),
                        pa.float64(): pd.Float64Dtype(), pa.string(): pd.StringDtype()}
            return table.to_pandas(types_mapper=nullable.get)
        raise ProgrammingError(f"dtype_backend must be 'pyarrow', 'numpy_nullable' or None, not {dtype_backend!r}")

    def _recover(self, exc: Error) -> None:
        """A fetch failed: replay the query if nothing was delivered yet, else raise naming the query."""
        if exc.replayable and self._session.in_transaction:
            raise self._session.lose_transaction(f"query {self.query_id} failed and is not replayed ({exc})") from exc
        if exc.replayable and self._delivered == 0 and self._sql:
            log.info("query %s lost before any row was delivered; replaying it: %s", self.query_id, exc)
            query_id = self.query_id
            self._release()
            try:
                self._run(self._sql)
            except Error as replay_error:
                raise OperationalError(f"query {query_id} failed and could not be replayed: {replay_error}",
                                       query_id=query_id) from exc
            return
        if self._delivered and exc.replayable:  # the same class: a ConnectionLostError stays one
            raise (type(exc) if isinstance(exc, OperationalError) else OperationalError)(
                f"query {self.query_id} was interrupted after {self._delivered} rows had been delivered and "
                f"cannot be resumed: {exc}", grpc_code=exc.grpc_code, details=exc.details,
                query_id=self.query_id) from exc
        raise exc

    def _raise_if_stopped(self, cause: Optional[BaseException] = None) -> None:
        stopped = stopped_while_read(self._closed, self._cancelled)
        if stopped is None and self._last_operation == "cleared":
            stopped = ProgrammingError(NO_RESULT["cleared"])
        if stopped is not None:
            raise stopped from cause

    def _guard(self) -> None:
        """Fetching needs a result set (PEP 249: an Error otherwise, so ``while row := fetchone()`` after DML
        is not silently empty)."""
        self._check_open()
        if self._cancelled:
            raise cancelled(self._cancelled)
        if self.description is None:
            raise ProgrammingError(NO_RESULT[self._last_operation])

    def fetchone(self) -> Optional[Row]:
        self._guard()
        try:
            if self._pos >= len(self._rows) and not self._load():
                return None
            row = self._rows[self._pos]
            self._pos += 1
            self._delivered += 1
            return row
        except KeyboardInterrupt:
            self._abort()
            raise

    def fetchmany(self, size: Optional[int] = None) -> List[Row]:
        self._guard()
        wanted = self.arraysize if size is None else size
        out: List[Row] = []
        try:
            while len(out) < wanted:
                if self._pos >= len(self._rows) and not self._load():
                    break
                take = self._rows[self._pos:self._pos + wanted - len(out)]
                self._pos += len(take)
                self._delivered += len(take)
                out.extend(take)
        except KeyboardInterrupt:
            self._abort()
            raise
        return out

    def fetchall(self) -> List[Row]:
        self._guard()
        generation = self._generation
        out: List[Row] = self._rows[self._pos:] if self._pos else self._rows
        self._rows, self._pos = [], 0
        try:
            while self._load():
                if self._generation != generation:  # replayed: nothing was delivered, start over
                    generation, out = self._generation, []
                out.extend(self._rows)
                self._rows = []
        except KeyboardInterrupt:
            self._abort()
            raise
        self._delivered += len(out)
        return out

    def fetch_batch(self) -> Optional[List[Row]]:
        """The official client's chunk-at-a-time fetch: rows already buffered, else the next chunk's rows;
        None at the end of the result."""
        self._guard()
        try:
            if self._pos >= len(self._rows) and not self._load():
                return None
        except KeyboardInterrupt:
            self._abort()
            raise
        rows, self._rows, self._pos = self._rows[self._pos:], [], 0
        self._delivered += len(rows)
        return rows

    def fetchall_buffer(self, query_id: Optional[str] = None) -> Iterator[List[Row]]:
        """Yield the remaining rows chunk by chunk, holding only a few chunks in memory."""
        if query_id and query_id != self.query_id:
            raise ProgrammingError(f"query {query_id} is not this cursor's query {self.query_id}")
        self._guard()
        try:
            if self._pos < len(self._rows):
                rest, self._rows, self._pos = self._rows[self._pos:], [], 0
                self._delivered += len(rest)
                yield rest
            while self._load():
                rows, self._rows = self._rows, []
                self._delivered += len(rows)
                yield rows
        except KeyboardInterrupt:
            self._abort()
            raise

    def __iter__(self) -> Iterator[Row]:
        return self

    def __next__(self) -> Row:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    next = __next__

    # ------------------------------------------------------------------ query control (official API)
    def _server_query(self, query_id: Optional[str]) -> ServerQuery:
        """This cursor's query (still executing or not), or another query of the session addressed by id."""
        own = self._query or self._pending
        if query_id is None or (own is not None and query_id == own.query_id):
            if own is None:
                raise ProgrammingError("no query has been executed on this cursor")
            return own
        return ServerQuery.attach(self._session, query_id)

    @property
    def metadata(self) -> List[Tuple[str, str]]:
        """The gRPC metadata of this cursor's query calls (the official client's ``Cursor.metadata``)."""
        if self._query is not None:
            return self._query.headers()
        return self._session.metadata(None)

    def update_mete_data(self) -> None:
        """Read the result metadata again (the official client's spelling): row count and columns."""
        self._take_metadata(self._server_query(None).refresh_metadata())

    def status(self, query_id: Optional[str] = None) -> Any:
        return self._server_query(query_id).status()

    def explain(self) -> str:
        return self._server_query(None).explain()

    def explain_analyse(self) -> Dict[str, Any]:
        return self._server_query(None).explain_analyze()

    explain_analyze = explain_analyse

    def cancel(self, query_id: Optional[str] = None) -> None:
        """Stop the query on the server (with the colour it runs under); its handle stays until cleared."""
        query = self._server_query(query_id)
        if query is self._query or query is self._pending:  # execute() or fetch* then raise QueryCancelledError
            self._cancelled = query.query_id
            self._rows, self._pos = [], 0
        query.cancel()

    def _cancel_executing(self) -> bool:
        """clear() or close() from another thread while execute() runs: the query has no result to free yet,
        so it is cancelled (execute() raises QueryCancelledError and releases it). False if none is running."""
        pending = self._pending
        if pending is None or self._query is not None:
            return False
        self._cancelled = pending.query_id
        try:
            pending.cancel()
        except Error as exc:  # it ended meanwhile: execute() sees _cancelled and releases it
            log.debug("cancelling executing query %s failed: %s", pending.query_id, exc)
        return True

    def clear(self, query_id: Optional[str] = None, timeout: Optional[float] = None) -> None:
        """Free the cursor's query (or the session's query ``query_id``) on the server; a query whose
        ``execute()`` is still running on another thread is cancelled."""
        if query_id is None or query_id == self.query_id:
            if self._cancel_executing():
                return
            if self._query is not None:
                query, self._query = self._query, None
                self._rows, self._pos = [], 0  # the rest is gone: fetch* raises, never returns part of it
                self.description = None
                self._last_operation = "cleared"
                query.release(swallow=False)
            return
        self._server_query(query_id).release(swallow=False, timeout=timeout)

    def get_schema_names(self) -> List[str]:
        return self.connection.get_schema_names(self.catalog_name)

    def get_tables(self) -> List[str]:
        return self.connection.get_tables(self.catalog_name, self.database)

    def get_columns(self, table: str) -> List[Dict[str, str]]:
        return self.connection.get_columns(self.catalog_name, self.database, table)

    # ------------------------------------------------------------------ lifecycle
    def _abort(self) -> None:
        """Interrupted while fetching (Ctrl-C): cancel and release the query on the server."""
        log.info("fetch interrupted; cancelling query %s", self.query_id)
        self._release()

    def _release(self, timeout: Optional[float] = None) -> None:
        query, self._query = self._query, None
        self._pending = None
        self._cancelled = None
        self._rows, self._pos = [], 0
        if query is not None:
            query.release(timeout=timeout if timeout is not None else RELEASE_TIMEOUT)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def close(self, timeout: Optional[float] = None) -> None:
        """Release the query on the server (waiting at most ``timeout`` seconds for it) and close the cursor."""
        if self._closed:
            return
        self._closed = True  # first: an execute() running on another thread releases what it started
        self._cancel_executing()
        self._release(timeout)

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("cursor is closed")
        if self._session.closed:
            raise InterfaceError("connection is closed")

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def setinputsizes(self, sizes: Any) -> None:
        """No-op (PEP 249)."""

    def setoutputsize(self, size: Any, column: Optional[int] = None) -> None:
        """No-op (PEP 249)."""

