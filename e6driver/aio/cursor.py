"""The asyncio cursor: ``await cur.execute(...)``, ``await cur.fetchone()``, ``async for row in cur``.

Same semantics as :class:`e6driver.Cursor` — rows are tuples, a query is replayed only while none of its rows
reached the caller, fetching without a result set raises ProgrammingError — with two asyncio rules: cancelling
the task that awaits a call releases the query on the server, and no thread is started (chunks are fetched
ahead by a task).
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator, Dict, List, Optional, Sequence, Tuple

from .._rows import Row, piece_rows
from .. import bulk
from ..batching import statements_for_many
from ..cursor import NO_RESULT, cancelled, closed_while_executing, stopped_while_read
from ..errors import Error, InterfaceError, OperationalError, ProgrammingError
from ..params import Params, prepare_operation
from ..settings import CURSOR_ARRAYSIZE
from ..protocol.aio import AsyncServerQuery
from ..protocol.capabilities import acapabilities
from ..protocol.ingest import aappend
from ..protocol.result_metadata import ResultMetadata
from ..protocol.session import backoff_delay
from ..types import description

if TYPE_CHECKING:
    from .connection import AsyncConnection

log = logging.getLogger(__name__)

MAX_REPLAYS = 5


class AsyncCursor:
    def __init__(self, connection: "AsyncConnection", array_size: Optional[int] = None,
                 database: Optional[str] = None, catalog_name: Optional[str] = None):
        self.connection = connection
        self.catalog_name = catalog_name if catalog_name is not None else connection.catalog_name
        self.database = database or connection.database
        self.arraysize = array_size if array_size is not None else connection.arraysize
        self.description: Optional[List[Tuple[Any, ...]]] = None
        self._session = connection.session
        self._query: Optional[AsyncServerQuery] = None
        self._pending: Optional[AsyncServerQuery] = None  # prepared by the server, execute() still running
        self._rowcount = -1
        self._rows: List[Row] = []
        self._pos = 0
        self._delivered = 0
        self._seen = 0  # rows received from the server: the row count once the result ended
        self._columns: List[Any] = []
        self._time_columns: List[int] = []
        self._sql = ""
        self._last_operation = "none"
        self._cancelled: Optional[str] = None
        self._closed = False

    @property
    def query_id(self) -> Optional[str]:
        """Set as soon as the server assigns it, while ``execute`` still runs (so another task can cancel)."""
        query = self._query or self._pending
        return query.query_id if query else None

    arraysize = CURSOR_ARRAYSIZE  # validated on assignment

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ execute
    async def execute(self, operation: str, parameters: Params = None) -> str:
        """Run ``operation``; returns its query id. Cancelling the awaiting task stops the query on the server."""
        self._check_open()
        await self._begin_operation()
        query_id = await self._run(prepare_operation(operation, parameters))
        self._last_operation = "done"
        return query_id

    async def executemany(self, operation: str, seq_of_parameters: Sequence[Params]) -> None:
        """As the blocking cursor's: rows of ``INSERT … VALUES (%s, …)`` go through the engine's bulk path when
        it has one (``e6driver/bulk.py`` decides), else many rows per literal INSERT."""
        self._check_open()
        await self._begin_operation()
        params_list = list(seq_of_parameters)
        planned = None
        if len(params_list) >= bulk.MIN_ROWS and (await acapabilities(self._session)).get("ingest"):
            planned = bulk.appendable(operation, params_list)
        if planned is not None:
            table, columns, payloads = planned
            self._rowcount = await aappend(self._session, table, columns, payloads, self.catalog_name,
                                           self.database)
            self._last_operation = "many"
            return
        total = 0
        for sql in statements_for_many(operation, params_list):
            await self._release()
            await self._run(sql)
            total += max(self._rowcount, 0)
        await self._release()  # as README says: nothing to fetch (a SELECT's or RETURNING's rows are discarded)
        self.description = None
        self._rowcount = total
        self._last_operation = "many"

    async def _begin_operation(self) -> None:
        await self._release()
        self.description = None
        self._rowcount = -1
        self._last_operation = "failed"  # until the operation returns

    async def _run(self, sql: str) -> str:
        self._sql = sql
        deadline = self._session.query_deadline()  # one budget across replays
        attempt = 0
        while True:
            attempt += 1
            try:
                query = await AsyncServerQuery.start(self._session, sql, self.catalog_name, self.database, deadline,
                                                     self.connection.prefetch, on_prepared=self._note_started)
            except Error as exc:
                if exc.replayable and attempt < MAX_REPLAYS:
                    log.info("replaying query (attempt %d): %s", attempt + 1, exc)
                    await asyncio.sleep(backoff_delay(attempt))
                    continue
                raise
            finally:
                self._pending = None
            self._query = query
            if self._cancelled == query.query_id:  # cancel() from another task landed as the result arrived
                await self._release()
                raise cancelled(query.query_id)
            if self._closed:  # close() from another task as the result arrived
                await self._release()
                raise closed_while_executing(query.query_id)
            assert query.metadata is not None
            self._take_metadata(query.metadata)
            self._rows, self._pos, self._delivered, self._seen = [], 0, 0, 0
            return query.query_id

    def _note_started(self, query: AsyncServerQuery) -> None:
        if self._closed:  # closed by another task while the query was prepared: AsyncServerQuery.start releases it
            raise closed_while_executing(query.query_id)
        self._pending = query

    def _take_metadata(self, metadata: ResultMetadata) -> None:
        self._rowcount = metadata.row_count
        self._columns = metadata.columns
        self.description = description(metadata.columns)
        self._time_columns = [i for i, c in enumerate(metadata.columns) if c.type_name.upper() == "TIME"]

    # ------------------------------------------------------------------ fetch
    async def _next_data(self) -> Optional[Any]:
        while True:
            if self._query is None:
                self._raise_if_stopped()
                return None
            try:
                data = await self._query.next_chunk()
            except Error as exc:
                self._raise_if_stopped(exc)
                await self._recover(exc)
                continue
            except asyncio.CancelledError:
                self._abort()
                raise
            return data

    def _raise_if_stopped(self, cause: Optional[BaseException] = None) -> None:
        stopped = stopped_while_read(self._closed, self._cancelled)
        if stopped is not None:
            raise stopped from cause

    async def _recover(self, exc: Error) -> None:
        """A fetch failed: replay the query if nothing was delivered yet, else raise naming the query."""
        query_id = self.query_id
        if exc.replayable and self._delivered == 0 and self._sql:
            log.info("query %s lost before any row was delivered; replaying it: %s", query_id, exc)
            await self._release()
            try:
                await self._run(self._sql)
            except Error as replay_error:
                raise OperationalError(f"query {query_id} failed and could not be replayed: {replay_error}",
                                       query_id=query_id) from exc
            return
        if exc.replayable:  # the same class: a ConnectionLostError stays one
            raise (type(exc) if isinstance(exc, OperationalError) else OperationalError)(
                f"query {query_id} was interrupted after {self._delivered} rows had been delivered and cannot be "
                f"resumed: {exc}", grpc_code=exc.grpc_code, details=exc.details, query_id=query_id) from exc
        raise exc

    async def _load(self) -> bool:
        while True:
            data = await self._next_data()
            if data is None:
                self._note_end()
                return False
            rows = piece_rows(data, len(self._columns), self._time_columns)
            self._seen += len(rows)
            if rows:
                self._rows, self._pos = rows, 0
                return True

    def _note_end(self) -> None:
        """The result ended: a row count the server did not know yet is the number of rows received."""
        if self._rowcount < 0 and self.description is not None:
            self._rowcount = self._seen

    def _guard(self) -> None:
        self._check_open()
        if self._cancelled:
            raise cancelled(self._cancelled)
        if self.description is None:
            raise ProgrammingError(NO_RESULT[self._last_operation])

    async def fetchone(self) -> Optional[Row]:
        self._guard()
        if self._pos >= len(self._rows) and not await self._load():
            return None
        row = self._rows[self._pos]
        self._pos += 1
        self._delivered += 1
        return row

    async def fetchmany(self, size: Optional[int] = None) -> List[Row]:
        self._guard()
        wanted = self.arraysize if size is None else size
        out: List[Row] = []
        while len(out) < wanted:
            if self._pos >= len(self._rows) and not await self._load():
                break
            take = self._rows[self._pos:self._pos + wanted - len(out)]
            self._pos += len(take)
            self._delivered += len(take)
            out.extend(take)
        return out

    async def fetchall(self) -> List[Row]:
        self._guard()
        out: List[Row] = self._rows[self._pos:]
        self._rows, self._pos = [], 0
        query = self._query
        while await self._load():
            if self._query is not query:  # replayed: nothing was delivered, start over
                query, out = self._query, []
            out.extend(self._rows)
            self._rows = []
        self._delivered += len(out)
        return out

    def __aiter__(self) -> "AsyncCursor":
        return self

    async def __anext__(self) -> Row:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    async def fetch_arrow_batches(self) -> AsyncIterator[Any]:
        """The remaining rows as ``pyarrow.RecordBatch``es, one per chunk (needs pyarrow)."""
        from .. import columnar

        self._guard()
        if self._query is not None:
            await self._query.prefer_arrow()
        if self._pos < len(self._rows):
            rest, self._rows, self._pos = self._rows[self._pos:], [], 0
            self._delivered += len(rest)
            yield columnar.rows_to_batch(rest, self._columns)
        while True:
            data = await self._next_data()
            if data is None:
                self._note_end()
                return
            batch = columnar.piece_to_batch(data, self._columns)
            self._seen += batch.num_rows
            if batch.num_rows:
                self._delivered += batch.num_rows
                yield batch

    async def fetch_arrow_table(self) -> Any:
        from .. import columnar

        batches = [batch async for batch in self.fetch_arrow_batches()]
        return columnar.concat(batches, columnar.schema_for(self._columns))

    async def fetch_df(self) -> Any:
        return (await self.fetch_arrow_table()).to_pandas()

    # ------------------------------------------------------------------ query control
    def _server_query(self, query_id: Optional[str]) -> AsyncServerQuery:
        own = self._query or self._pending
        if query_id is None or (own is not None and query_id == own.query_id):
            if own is None:
                raise ProgrammingError("no query has been executed on this cursor")
            return own
        return AsyncServerQuery.attach(self._session, query_id)

    async def cancel(self, query_id: Optional[str] = None) -> None:
        query = self._server_query(query_id)
        if query is self._query or query is self._pending:  # execute() or fetch* then raise QueryCancelledError
            self._cancelled = query.query_id
            self._rows, self._pos = [], 0
        await query.cancel()

    async def status(self, query_id: Optional[str] = None) -> Any:
        return await self._server_query(query_id).status()

    async def explain(self) -> str:
        return await self._server_query(None).explain()

    async def explain_analyse(self) -> Dict[str, Any]:
        return await self._server_query(None).explain_analyze()

    explain_analyze = explain_analyse

    # ------------------------------------------------------------------ lifecycle
    def _abort(self) -> None:
        """The awaiting task was cancelled: stop the query on the server without awaiting (we are cancelled)."""
        query, self._query = self._query, None
        self._rows, self._pos = [], 0
        if query is not None:
            log.info("task cancelled; releasing query %s", query.query_id)
            query.release_in_background()

    async def _release(self) -> None:
        query, self._query = self._query, None
        self._cancelled = None
        self._rows, self._pos = [], 0
        if query is not None:
            try:
                await query.release()
            except asyncio.CancelledError:
                query.release_in_background()
                raise

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # first: an execute() awaited by another task releases what it started
        pending = self._pending
        if pending is not None and self._query is None:  # still executing: cancelled, execute() raises
            self._cancelled = pending.query_id
            try:
                await pending.cancel()
            except Error as exc:  # it ended meanwhile: execute() sees _closed and releases it
                log.debug("cancelling executing query %s failed: %s", pending.query_id, exc)
        await self._release()

    def close_soon(self) -> None:
        """Close without awaiting (from synchronous code inside the event loop): the query is released by a
        task of its own."""
        self._closed = True
        self._abort()

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("cursor is closed")
        if self._session.closed:
            raise InterfaceError("connection is closed")

    async def __aenter__(self) -> "AsyncCursor":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __del__(self) -> None:
        if self._query is not None:
            self._query.release_in_background()
