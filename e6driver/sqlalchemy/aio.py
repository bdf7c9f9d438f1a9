"""SQLAlchemy's asyncio extension on ``e6driver.aio``: ``create_async_engine("e6driver+async://...")`` (also
``e6data+e6driver_async://``). SQLAlchemy drives the DB-API through its greenlet bridge, so this module adapts
the awaitable connection and cursor to the blocking DB-API shape with ``await_only``; everything else is the
blocking dialect's."""
from __future__ import annotations

import collections
from typing import Any, Deque, Dict, List, Optional, Sequence

from sqlalchemy import pool
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.util import await_only

from .dialect import E6Dialect


class AsyncAdaptedCursor:
    """A blocking DB-API cursor over :class:`e6driver.aio.AsyncCursor`. Rows of a result are read when the
    statement runs (SQLAlchemy's asyncio results read a plain cursor outside the greenlet bridge); use
    ``AsyncConnection.stream()`` for results that should stay on the server (:class:`AsyncAdaptedSSCursor`)."""

    server_side = False

    def __init__(self, adapted: "AsyncAdaptedConnection"):
        self._connection = adapted.driver_connection
        self._cursor = self._connection.cursor()
        self._rows: Deque[Any] = collections.deque()
        self.lastrowid = None

    @property
    def description(self) -> Optional[List[Any]]:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    def execute(self, operation: str, parameters: Any = None) -> None:
        if self._cursor.closed:
            self._cursor = self._connection.cursor()
        await_only(self._cursor.execute(operation, parameters))
        self._buffer()

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        if self._cursor.closed:
            self._cursor = self._connection.cursor()
        await_only(self._cursor.executemany(operation, seq_of_parameters))
        self._buffer()

    def _buffer(self) -> None:
        """Read the whole result, then free the query on the server (description and rowcount stay)."""
        self._rows = collections.deque(await_only(self._cursor.fetchall()) if self.description else ())
        await_only(self._cursor.close())

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: Optional[int] = None) -> List[Any]:
        count = self.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    def fetchall(self) -> List[Any]:
        rows, self._rows = list(self._rows), collections.deque()
        return rows

    def close(self) -> None:
        self._rows.clear()
        if not self._cursor.closed:
            self._cursor.close_soon()

    def setinputsizes(self, *args: Any) -> None:
        pass

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's asyncio results call this once a plain cursor's rows are buffered: nothing left to do."""

    def __iter__(self) -> Any:
        while self._rows:
            yield self._rows.popleft()


class AsyncAdaptedSSCursor(AsyncAdaptedCursor):
    """Rows stay on the server and stream chunk by chunk (``AsyncConnection.stream()``)."""

    server_side = True

    def _buffer(self) -> None:
        pass  # rows stay on the server until fetched

    def fetchone(self) -> Any:
        return await_only(self._cursor.fetchone())

    def fetchmany(self, size: Optional[int] = None) -> List[Any]:
        return await_only(self._cursor.fetchmany(size))

    def fetchall(self) -> List[Any]:
        return await_only(self._cursor.fetchall())

    async def _async_soft_close(self) -> None:
        await self._cursor.close()

    def __iter__(self) -> Any:
        while True:
            row = self.fetchone()
            if row is None:
                return
            yield row


class AsyncAdaptedConnection(AdaptedConnection):
    """A blocking DB-API connection over :class:`e6driver.aio.AsyncConnection` (autocommit only)."""

    __slots__ = ("dbapi",)

    def __init__(self, dbapi: Any, connection: Any):
        self.dbapi = dbapi
        self._connection = connection

    def cursor(self, server_side: bool = False) -> AsyncAdaptedCursor:
        return AsyncAdaptedSSCursor(self) if server_side else AsyncAdaptedCursor(self)

    @property
    def autocommit(self) -> bool:
        return True

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        if not value:
            await_only(self._connection.rollback())  # raises NotSupportedError: the asyncio API autocommits

    supports_transactions = False

    @property
    def catalog_name(self) -> Optional[str]:
        return self._connection.catalog_name

    @property
    def database(self) -> Optional[str]:
        return self._connection.database

    def commit(self) -> None:
        await_only(self._connection.commit())

    def rollback(self) -> None:
        pass  # autocommit: every statement is already committed

    def close(self) -> None:
        await_only(self._connection.close())

    def ping(self) -> None:
        await_only(self._connection.ping())

    def get_schema_names(self, catalog: Optional[str] = None) -> List[str]:
        return await_only(self._connection.get_schema_names(catalog))

    def get_tables(self, catalog: Optional[str] = None, database: Optional[str] = None) -> List[str]:
        return await_only(self._connection.get_tables(catalog, database))

    def get_columns(self, catalog: Optional[str] = None, database: Optional[str] = None,
                    table: str = "") -> List[Dict[str, str]]:
        return await_only(self._connection.get_columns(catalog, database, table))


class AsyncAdaptedDBAPI:
    """The module-like object SQLAlchemy expects: the driver's globals and errors, and a blocking ``connect``."""

    def __init__(self) -> None:
        import e6driver
        from e6driver import aio

        self._aio = aio
        for name in ("apilevel", "threadsafety", "paramstyle", "Warning", "Error", "InterfaceError",
                     "DatabaseError", "DataError", "OperationalError", "IntegrityError", "InternalError",
                     "ProgrammingError", "NotSupportedError", "STRING", "BINARY", "NUMBER", "DATETIME",
                     "ROWID", "Binary"):
            setattr(self, name, getattr(e6driver, name))

    def connect(self, *args: Any, **kwargs: Any) -> AsyncAdaptedConnection:
        kwargs.pop("autocommit", None)  # the asyncio API always autocommits
        return AsyncAdaptedConnection(self, await_only(self._aio.connect(*args, **kwargs)))


class E6AsyncDialect(E6Dialect):
    driver = "e6driver_async"
    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = True

    @classmethod
    def import_dbapi(cls) -> AsyncAdaptedDBAPI:
        return AsyncAdaptedDBAPI()

    @classmethod
    def get_pool_class(cls, url: Any) -> Any:
        return pool.AsyncAdaptedQueuePool

    def get_driver_connection(self, connection: Any) -> Any:
        return connection._connection

    @staticmethod
    def _driver_connection(connection: Any) -> Any:
        # Reflection calls the blocking browsing methods: those of the adapter, not the awaitable connection.
        pooled = connection.connection
        return getattr(pooled, "dbapi_connection", None) or pooled

    def do_ping(self, dbapi_connection: Any) -> bool:
        dbapi_connection.ping()
        return True


dialect = E6AsyncDialect
