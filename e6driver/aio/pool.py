"""A pool of asyncio connections with the official client's method names (``get_connection``,
``return_connection``, ``get_connection_context``) and psycopg_pool's ``connection()``."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, AsyncIterator, Dict, List, Optional, Set

from ..errors import Error, PoolClosed, PoolTimeout
from .connection import AsyncConnection

log = logging.getLogger(__name__)


class AsyncConnectionPool:
    """At most ``max_size + max_overflow`` open connections; idle ones beyond ``max_size`` are closed when
    returned. ``pre_ping`` checks an idle connection with a real RPC before handing it out; a broken one is
    replaced. Waiting longer than ``timeout`` raises :class:`~e6driver.PoolTimeout`."""

    def __init__(self, min_size: int = 0, max_size: int = 10, max_overflow: int = 0, timeout: float = 30.0,
                 pre_ping: bool = True, max_idle: Optional[float] = None, **connection_params: Any):
        if min_size < 0 or max_size < 1 or max_overflow < 0 or min_size > max_size:
            raise ValueError("need 0 <= min_size <= max_size, max_size >= 1 and max_overflow >= 0")
        self.min_size, self.max_size, self.max_overflow = min_size, max_size, max_overflow
        self.timeout, self.pre_ping, self.max_idle = timeout, pre_ping, max_idle
        self.connection_params = connection_params
        self._idle: List[AsyncConnection] = []
        self._idle_since: Dict[int, float] = {}
        self._borrowed: Set[AsyncConnection] = set()  # handed out and not returned yet
        self._open = 0
        self._closed = False
        self._cond: Optional[asyncio.Condition] = None
        self._stats = {"created_connections": 0, "failed_connections": 0, "total_requests": 0,
                       "discarded_connections": 0, "timeouts": 0}

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def open(self) -> "AsyncConnectionPool":
        while self._open < self.min_size:
            self._open += 1
            try:
                self._idle.append(await self._create())
            except BaseException:
                self._open -= 1
                raise
        return self

    async def _create(self) -> AsyncConnection:
        try:
            connection = await AsyncConnection(**self.connection_params).open()
        except Error:
            self._stats["failed_connections"] += 1
            raise
        self._stats["created_connections"] += 1
        return connection

    async def get_connection(self, timeout: Optional[float] = None) -> AsyncConnection:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        cond = self._condition()
        self._stats["total_requests"] += 1
        while True:
            async with cond:
                if self._closed:
                    raise PoolClosed("the connection pool is closed")
                while not self._idle and self._open >= self.max_size + self.max_overflow:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._stats["timeouts"] += 1
                        raise PoolTimeout(f"no connection became free within {self.timeout:g} s")
                    try:
                        await asyncio.wait_for(cond.wait(), left)
                    except asyncio.TimeoutError:
                        continue
                candidate = self._idle.pop() if self._idle else None
                if candidate is None:
                    self._open += 1
            if candidate is None:
                try:
                    candidate = await self._create()
                except BaseException:
                    await self._forget_one()
                    raise
            elif not await self._usable(candidate):
                await self._discard(candidate)
                continue
            self._borrowed.add(candidate)
            return candidate

    async def _usable(self, connection: AsyncConnection) -> bool:
        if connection.closed:
            return False
        idle_since = self._idle_since.pop(id(connection), None)
        if self.max_idle is not None and idle_since is not None and time.monotonic() - idle_since > self.max_idle:
            return False
        if not self.pre_ping:
            return True
        try:
            await connection.ping()
            return True
        except Error as exc:
            log.info("pooled connection failed its check (%s); replacing it", exc)
            return False

    async def return_connection(self, connection: AsyncConnection) -> None:
        """Take a connection back; its cursors are closed first (their queries released on the server, none left
        for the next borrower), as the blocking pool does."""
        cond = self._condition()
        async with cond:
            # Returned already (or not this pool's): a second return would list it idle twice.
            if connection not in self._borrowed:
                log.debug("a connection that is not checked out was returned; ignored")
                return
            self._borrowed.discard(connection)
        clean = connection.closed or await connection.close_cursors()
        async with cond:
            keep = clean and not self._closed and not connection.closed and len(self._idle) < self.max_size
            if keep:
                self._idle.append(connection)
                self._idle_since[id(connection)] = time.monotonic()
                cond.notify()
                return
        await self._discard(connection)

    async def _discard(self, connection: AsyncConnection) -> None:
        self._stats["discarded_connections"] += 1
        try:
            await connection.close()
        finally:
            await self._forget_one()

    async def _forget_one(self) -> None:
        cond = self._condition()
        async with cond:
            self._open -= 1
            cond.notify()

    @contextlib.asynccontextmanager
    async def connection(self, timeout: Optional[float] = None) -> AsyncIterator[AsyncConnection]:
        connection = await self.get_connection(timeout)
        try:
            yield connection
        finally:
            await self.return_connection(connection)

    get_connection_context = connection

    async def close(self) -> None:
        cond = self._condition()
        async with cond:
            self._closed = True
            idle, self._idle = self._idle, []
            cond.notify_all()
        for connection in idle:
            await self._discard(connection)

    def get_statistics(self) -> Dict[str, Any]:
        return dict(self._stats, open_connections=self._open, idle_connections=len(self._idle),
                    closed=self._closed)

    async def __aenter__(self) -> "AsyncConnectionPool":
        return await self.open()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()
