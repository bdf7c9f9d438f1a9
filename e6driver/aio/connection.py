"""The asyncio connection: the official client's arguments, ``cursor()``, browsing calls; owns an
:class:`~e6driver.protocol.aio.AsyncSession` that runs the same protocol rules as the blocking driver."""
from __future__ import annotations

import logging
import weakref
from typing import Any, Dict, Generator, List, Optional, Union

from ..errors import Error, NotSupportedError
from ..protocol import browse
from ..protocol.aio import AsyncServerQuery, AsyncSession
from ..settings import arraysize_argument, connection_target, prefetch_argument, session_arguments
from .cursor import AsyncCursor

log = logging.getLogger(__name__)


class AsyncConnection:
    """Arguments as :class:`e6driver.Connection`; use ``await e6driver.aio.connect(...)`` or
    ``async with e6driver.aio.connect(...) as conn``. Statements auto-commit (``autocommit=False`` is not
    offered by the asyncio API)."""

    def __init__(self, host: Optional[str] = None, port: Optional[int] = None, username: Optional[str] = None,
                 password: Optional[str] = None, catalog: Optional[str] = None, database: Optional[str] = None,
                 cluster_name: Optional[str] = None, secure: bool = False,
                 ssl_cert: Union[None, str, bytes] = None, auto_resume: bool = True, scheme: str = "e6data",
                 grpc_options: Optional[Dict[str, Any]] = None, debug: bool = False,
                 require_fastbinary: bool = True, client_id: Optional[str] = None,
                 client_secret: Optional[str] = None, token_url: Optional[str] = None,
                 oauth_scope: Optional[str] = None, access_token: Optional[str] = None,
                 client_auth_method: str = "basic", enable_result_batch_v2: bool = False, *,
                 connect_timeout: float = 30.0, rpc_timeout: Optional[float] = None,
                 query_timeout: Optional[float] = None, auto_resume_timeout: Optional[float] = None,
                 prefetch: int = 2, arraysize: int = 1, autocommit: bool = True, lazy: bool = False,
                 ssl_client_cert: Union[None, str, bytes] = None, ssl_client_key: Union[None, str, bytes] = None):
        if not autocommit:
            raise NotSupportedError("the asyncio API runs every statement in autocommit mode; use "
                                    "e6driver.connect(autocommit=False) for transactions")
        found, bearer = connection_target(host, port, username, password, access_token, client_id, client_secret,
                                          token_url, oauth_scope, client_auth_method)  # else E6DRIVER_* / .env
        host, port, username, password = found.host, found.port, found.username, found.password
        self.host, self.port = host, int(port)
        self.catalog_name, self.database = catalog, database
        self.prefetch = prefetch_argument(prefetch)
        self.arraysize = arraysize_argument(arraysize)
        self.lazy = lazy
        self._cursors: "weakref.WeakSet[AsyncCursor]" = weakref.WeakSet()
        self.session = AsyncSession(**session_arguments(
            host, self.port, username, password, bearer, cluster_name, secure, ssl_cert, auto_resume, grpc_options,
            connect_timeout, rpc_timeout, query_timeout, auto_resume_timeout, ssl_client_cert, ssl_client_key))
        if debug:
            from ..connection import enable_debug_logging
            enable_debug_logging()

    async def open(self) -> "AsyncConnection":
        """Authenticate now (unless ``lazy``): a wrong password fails here, not at the first statement."""
        if not self.lazy:
            try:
                await self.session.session_id()
            except Error:
                await self.session.close()
                raise
        return self

    # ------------------------------------------------------------------ PEP 249 (awaitable)
    def cursor(self, catalog_name: Optional[str] = None, db_name: Optional[str] = None, *,
               arraysize: Optional[int] = None) -> AsyncCursor:
        self.session.check_open()
        cursor = AsyncCursor(self, arraysize, db_name or self.database, catalog_name or self.catalog_name)
        self._cursors.add(cursor)
        return cursor

    async def execute(self, operation: str, parameters: Any = None) -> AsyncCursor:
        """A new cursor that has run ``operation`` (a shortcut, as in aiosqlite and psycopg)."""
        cursor = self.cursor()
        await cursor.execute(operation, parameters)
        return cursor

    @property
    def autocommit(self) -> bool:
        return True

    async def commit(self) -> None:
        self.session.check_open()

    async def rollback(self) -> None:
        raise NotSupportedError("the asyncio API runs every statement in autocommit mode: nothing to roll back")

    async def close(self) -> None:
        """Release every cursor's query on the server, then close the channel."""
        if self.session.closed:
            return
        await self.close_cursors()
        await self.session.close()

    async def close_cursors(self) -> bool:
        """Close every cursor of this connection (their queries are released on the server); False if one could
        not be closed cleanly."""
        clean = True
        for cursor in list(self._cursors):
            try:
                await cursor.close()
            except Error as exc:
                log.debug("closing cursor failed: %s", exc)
                clean = False
        return clean

    @property
    def closed(self) -> bool:
        return self.session.closed

    async def __aenter__(self) -> "AsyncConnection":
        return await self.open()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    # ------------------------------------------------------------------ official-client API
    async def get_session_id(self) -> str:
        return await self.session.session_id()

    async def ping(self) -> None:
        await self.session.run(browse.health_check_plan(self.session))

    async def get_schema_names(self, catalog: Optional[str] = None) -> List[str]:
        return await self.session.run(browse.schema_names_plan(self.session, catalog or self.catalog_name))

    async def get_tables(self, catalog: Optional[str] = None, database: Optional[str] = None) -> List[str]:
        return await self.session.run(browse.tables_plan(self.session, catalog or self.catalog_name,
                                                         database or self.database))

    async def get_columns(self, catalog: Optional[str] = None, database: Optional[str] = None,
                          table: str = "") -> List[Dict[str, str]]:
        return await self.session.run(browse.columns_plan(self.session, catalog or self.catalog_name,
                                                          database or self.database, table))

    async def query_cancel(self, engine_ip: Optional[str], query_id: str) -> None:
        await AsyncServerQuery.attach(self.session, query_id, engine_ip or "").cancel()

    def check_strategy_change(self) -> bool:
        return self.session.apply_pending_switch()


class _Connecting:
    """What :func:`connect` returns: awaitable (``conn = await connect()``) and an async context manager
    (``async with connect() as conn``)."""

    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    def __await__(self) -> Generator[Any, None, AsyncConnection]:
        return self._connection.open().__await__()

    async def __aenter__(self) -> AsyncConnection:
        return await self._connection.open()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._connection.close()


def connect(*args: Any, **kwargs: Any) -> _Connecting:
    """Open an :class:`AsyncConnection` (arguments of :class:`e6driver.Connection`)."""
    return _Connecting(AsyncConnection(*args, **kwargs))
