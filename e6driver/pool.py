"""Thread-safe ConnectionPool with the official client's API plus lifetime limits and a checkout health check.

* Capacity is ``max_size + max_overflow`` open connections; a caller waits up to ``timeout`` seconds for one and
  then gets ``PoolTimeout`` (an ``OperationalError``).
* A thread that already holds a connection gets the same one back (nested use), as with the official pool.
* On checkout a connection older than ``recycle``/``max_lifetime`` or idle longer than ``max_idle`` is replaced;
  with ``pre_ping`` it must pass ``check`` (default: a real round trip), otherwise it is closed and replaced —
  a connection broken by a server restart is never handed out. A connection returned cleanly less than
  ``ping_bypass`` seconds ago (default 0.5, HikariCP's "alive bypass window"; 0 checks every checkout) is handed
  out without the check: it just worked, and the driver's own rules (session renewal, retry of new work,
  replay before any row) cover a failure since.
* On return its cursors are closed (releasing their queries on the server) before anyone else may use it, and a
  transaction left open is rolled back — unless a ``with`` block (``get_connection_context()``, or the checked-out
  connection itself) ended cleanly: that commits it, as psycopg_pool does.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

from .errors import PoolClosed, PoolTimeout

log = logging.getLogger(__name__)


def default_check(connection: Any) -> None:
    """Raise unless the server answers on this connection."""
    ping = getattr(connection, "ping", None)
    if ping is not None:
        ping()
        return
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT 1")
        cursor.fetchall()
    finally:
        cursor.close()


class PooledConnection:
    """A connection checked out of a pool; attribute access goes to the underlying connection."""

    def __init__(self, connection: Any, pool: "ConnectionPool"):
        self.connection = connection
        self.pool = pool
        self.created_at = time.monotonic()
        self.last_used = self.created_at
        self.returned_at: Optional[float] = None  # when it came back with its cursors closed cleanly
        self.use_count = 0
        self.thread_id: Optional[int] = None
        self._checkouts = 0
        self._cursors: List[Any] = []

    def cursor(self, catalog_name: Optional[str] = None, db_name: Optional[str] = None, **options: Any) -> Any:
        """The connection's ``cursor()`` (same arguments, ``arraysize=`` too), closed when the connection returns."""
        cursor = self.connection.cursor(catalog_name=catalog_name, db_name=db_name, **options)
        self._cursors.append(cursor)
        return cursor

    def close_cursors(self) -> bool:
        """Close every cursor opened through the pool; False if one could not be closed cleanly."""
        clean = True
        cursors, self._cursors = self._cursors, []
        for cursor in cursors:
            try:
                cursor.close()
            except Exception:  # noqa: BLE001 - a failed close makes the connection unsafe to reuse
                log.warning("closing a pooled cursor failed; the connection will be discarded", exc_info=True)
                clean = False
        return clean

    def close(self) -> None:
        """Give the connection back to its pool (it stays open for the next user)."""
        self.pool.return_connection(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)

    def __enter__(self) -> "PooledConnection":
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        try:
            if exc_type is None:
                _commit_open_transaction(self)
        finally:
            self.close()


def _commit_open_transaction(conn: PooledConnection) -> None:
    """A ``with`` block that ends cleanly commits the transaction it left open, as psycopg_pool's connection
    context (returning rolls it back); not an inner block of a nested checkout, whose outer block goes on."""
    session = getattr(conn.connection, "session", None)
    if conn._checkouts == 1 and session is not None and getattr(session, "in_transaction", False):
        conn.connection.commit()


def _end_transaction(conn: PooledConnection) -> bool:
    """Roll back a transaction the borrower left open (the next borrower must not inherit it, as in psycopg's
    pool); False — discard the connection — when the rollback fails."""
    session = getattr(conn.connection, "session", None)
    if session is None or not getattr(session, "in_transaction", False):
        return True
    log.warning("a pooled connection came back inside a transaction; rolling it back")
    try:
        conn.connection.rollback()
    except Exception:  # noqa: BLE001 - an unknown transaction state makes the connection unsafe to reuse
        log.warning("rolling back a returned connection failed; it will be discarded", exc_info=True)
        return False
    return True


class ConnectionPool:
    def __init__(
        self,
        min_size: int = 2,
        max_size: int = 10,
        max_overflow: int = 5,
        timeout: float = 30.0,
        recycle: int = 3600,
        debug: bool = False,
        pre_ping: bool = True,
        max_idle: Optional[float] = None,
        max_lifetime: Optional[float] = None,
        check: Optional[Callable[[Any], None]] = None,
        ping_bypass: float = 0.5,
        connection_factory: Optional[Callable[..., Any]] = None,
        **connection_params: Any,
    ):
        if min_size < 0 or max_size < 1 or max_overflow < 0 or min_size > max_size:
            raise ValueError("need 0 <= min_size <= max_size, max_size >= 1 and max_overflow >= 0")
        self.min_size, self.max_size, self.max_overflow = min_size, max_size, max_overflow
        self.timeout, self.recycle, self.debug, self.pre_ping = timeout, recycle, debug, pre_ping
        self.max_idle, self.max_lifetime = max_idle, max_lifetime
        self.check = check or default_check
        self.ping_bypass = ping_bypass
        self.connection_params = connection_params
        if connection_factory is None:
            from .connection import Connection

            connection_factory = Connection
        self._factory = connection_factory
        if debug:
            log.setLevel(logging.DEBUG)

        self._cond = threading.Condition()
        self._idle: List[PooledConnection] = []
        self._by_thread: Dict[int, PooledConnection] = {}
        self._open = 0
        self._closed = False
        self._stats = {"created_connections": 0, "failed_connections": 0, "total_requests": 0,
                       "discarded_connections": 0, "timeouts": 0, "waiting_threads": 0}
        for _ in range(min_size):
            self._idle.append(self._create())
            self._open += 1

    # ---- checkout / return
    def get_connection(self, timeout: Optional[float] = None) -> PooledConnection:
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        thread_id = threading.get_ident()
        with self._cond:
            self._raise_if_closed()
            self._stats["total_requests"] += 1
            held = self._by_thread.get(thread_id)
            if held is not None:
                held._checkouts += 1
                held.use_count += 1
                return held
        while True:
            candidate = self._take_or_reserve(deadline)
            if candidate is None:  # reserved a slot: open a new connection outside the lock
                try:
                    candidate = self._create()
                except Exception:
                    with self._cond:
                        self._open -= 1
                        self._cond.notify()
                    raise
            elif not self._usable(candidate):
                self._discard(candidate)
                continue
            with self._cond:
                candidate.thread_id = thread_id
                candidate._checkouts = 1
                candidate.use_count += 1
                candidate.last_used = time.monotonic()
                self._by_thread[thread_id] = candidate
            return candidate

    def return_connection(self, conn: PooledConnection) -> None:
        if not isinstance(conn, PooledConnection) or conn.pool is not self:
            return
        with self._cond:
            # Returned already (conn.close() inside its own context): a second return would list it idle twice.
            if conn._checkouts <= 0:
                log.debug("a pooled connection was returned twice; ignored")
                return
            conn._checkouts -= 1
            if conn._checkouts > 0:
                return
            if self._by_thread.get(conn.thread_id or 0) is conn:
                del self._by_thread[conn.thread_id or 0]
            conn.thread_id = None
        reusable = conn.close_cursors() and not getattr(conn.connection, "closed", False) and _end_transaction(conn)
        with self._cond:
            if reusable and not self._closed and len(self._idle) < self.max_size:
                conn.last_used = conn.returned_at = time.monotonic()
                self._idle.append(conn)
                self._cond.notify()
                return
        self._discard(conn)

    @contextlib.contextmanager
    def get_connection_context(self, timeout: Optional[float] = None) -> Iterator[PooledConnection]:
        conn = self.get_connection(timeout)
        try:
            yield conn
            _commit_open_transaction(conn)
        finally:
            self.return_connection(conn)

    # ---- lifecycle
    def close_all(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for conn in idle:
            self._discard(conn)

    def get_statistics(self) -> Dict[str, Any]:
        with self._cond:
            active = len(self._by_thread)
            return {
                **self._stats,
                "active_connections": active,
                "idle_connections": len(self._idle),
                "overflow_connections": max(0, self._open - self.max_size),
                "thread_connections": active,
                "pool_size": self._open,
                "closed": self._closed,
            }

    def __enter__(self) -> "ConnectionPool":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close_all()

    # ---- internals
    def _raise_if_closed(self) -> None:
        if self._closed:
            raise PoolClosed("the connection pool is closed")

    def _take_or_reserve(self, deadline: float) -> Optional[PooledConnection]:
        """An idle connection, or None after reserving a slot for a new one; waits until ``deadline``."""
        with self._cond:
            while True:
                self._raise_if_closed()
                if self._idle:
                    return self._idle.pop()  # most recently used first: keeps the rest idle and expiring
                if self._open < self.max_size + self.max_overflow:
                    self._open += 1
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._stats["timeouts"] += 1
                    raise PoolTimeout(
                        f"no connection available within the pool timeout "
                        f"({self._open} open, max_size={self.max_size}, max_overflow={self.max_overflow})"
                    )
                self._stats["waiting_threads"] += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self._stats["waiting_threads"] -= 1

    def _create(self) -> PooledConnection:
        try:
            connection = self._factory(**self.connection_params)
        except Exception:
            with self._cond:
                self._stats["failed_connections"] += 1
            raise
        with self._cond:
            self._stats["created_connections"] += 1
        log.debug("pool opened a connection")
        return PooledConnection(connection, self)

    def _usable(self, conn: PooledConnection) -> bool:
        now = time.monotonic()
        age = now - conn.created_at
        limits = [limit for limit in (self.recycle, self.max_lifetime) if limit]
        if any(age > limit for limit in limits):
            return False
        if self.max_idle and now - conn.last_used > self.max_idle:
            return False
        if getattr(conn.connection, "closed", False):
            return False
        if self.pre_ping and not (conn.returned_at is not None and now - conn.returned_at < self.ping_bypass):
            try:
                self.check(conn.connection)
            except Exception:  # noqa: BLE001 - any failure means: do not hand this connection out
                log.info("pooled connection failed its health check; replacing it", exc_info=self.debug)
                return False
        return True

    def _discard(self, conn: PooledConnection) -> None:
        with self._cond:
            self._open -= 1
            self._stats["discarded_connections"] += 1
            self._cond.notify()
        try:
            conn.connection.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone either way
            log.debug("closing a discarded connection failed", exc_info=True)
