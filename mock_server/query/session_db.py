"""Each engine session's own DuckDB connection: its statements, settings, temporary objects and transaction.

A session (an id from ``authenticate``) gets a connection of its own (``cursor()`` of the shared database: a
separate DuckDB connection with its own transaction and temporary catalog) on its first statement. Everything
the session runs uses it, so ``SET TimeZone``, ``CREATE TEMP TABLE``/``VIEW``/``MACRO`` and ``BEGIN`` …
``COMMIT`` persist across its statements, and other sessions see none of it (nor its uncommitted writes).
Calls without a session (bearer token, empty session id) get a connection for that one statement.

A DuckDB connection is not safe for concurrent use, so a session's statements run one at a time
(:attr:`SessionDB.lock`) while different sessions run in parallel. A result still streaming when the same
session runs its next statement (two cursors of one client connection) is first read to its end into memory
(:meth:`SessionDB.use`): DuckDB allows one open result per connection, and the earlier result stays intact.

A session ends when it expires, when a blue-green switch retires the colour of a session holding a transaction,
and when the engine stops: its open transaction is rolled back and its connection closed once no statement of
it is still alive. Its statements not yet run are refused, and the next call naming a session whose transaction
was rolled back this way is answered once with ABORTED :data:`TRANSACTION_LOST` (after that the id is simply
unknown), so no client continues half a transaction on a new session without being told.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from contextlib import contextmanager
from typing import Callable, Deque, Dict, Iterator, List, Optional, Tuple

import duckdb
import grpc
import pyarrow as pa

from mock_server import errors
from mock_server.limits import DEFAULT_LIMITS, Limits, check_rows, exceeded

log = logging.getLogger(__name__)

#: Start of the ABORTED error text a client receives for a session whose open transaction was rolled back.
TRANSACTION_LOST = "transaction lost"
_MAX_LOST = 10_000  # session ids remembered for the one-time ABORTED answer
_BEGIN = ("BEGIN", "START")


def transaction_lost(session_id: str, reason: str) -> errors.EngineError:
    return errors.EngineError(grpc.StatusCode.ABORTED,
                              f"{TRANSACTION_LOST}: session {session_id} ended ({reason}) and its open "
                              "transaction was rolled back; authenticate again and rerun the transaction")


class Stream:
    """Arrow batches of one result read from its session's connection, one batch at a time under the session's
    lock; :meth:`SessionDB.use` reads the rest into memory before the session runs another statement."""

    def __init__(self, db: "SessionDB", reader: pa.RecordBatchReader) -> None:
        self._db = db
        self._reader: Optional[pa.RecordBatchReader] = reader
        self._buffer: Deque[pa.RecordBatch] = deque()
        self._failure: Optional[errors.EngineError] = None  # the rest was too large to keep
        # What an error reading the result becomes (the engine says which statement of several raised it).
        self.relabel: Optional[Callable[[BaseException], errors.EngineError]] = None

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> pa.RecordBatch:
        with self._db.lock:
            if self._buffer:
                return self._buffer.popleft()
            if self._failure is not None:
                raise self._failure
            if self._reader is None:
                raise StopIteration
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                self._db.stream_done(self)
                self._reader = None
                raise
            except Exception as exc:
                if self.relabel is None:
                    raise
                raise self.relabel(exc) from exc
            check_rows(self._db.limits, batch, "the result")
            return batch

    def detach(self) -> None:
        """Read the rest into memory (the session's lock is held); the connection is free afterwards."""
        if self._reader is not None:
            kept = 0
            limits = self._db.limits
            for batch in self._reader:
                kept += batch.nbytes
                if kept > limits.max_detached_bytes:  # else a user could make the engine hold any number of results
                    self._buffer.clear()
                    self._failure = exceeded(
                        limits, "max_detached_bytes",
                        "the rest of this result is too large to keep in memory because the session ran another "
                        "statement before it was read: fetch a result before the next statement of the same "
                        "session, or use another connection")
                    try:
                        self._reader.close()
                    except Exception:  # noqa: BLE001 - already closed
                        log.debug("closing a result reader failed", exc_info=True)
                    break
                self._buffer.append(batch)
            self._reader = None

    def close(self) -> None:
        with self._db.lock:
            if self._reader is not None:
                try:
                    self._reader.close()
                except Exception:  # noqa: BLE001 - already closed with its connection
                    log.debug("closing a result reader failed", exc_info=True)
                self._reader = None
                self._db.stream_done(self)
            self._buffer.clear()


class SessionDB:
    """The DuckDB connection of one session (``session_id`` "" : of one statement, closed with it)."""

    def __init__(self, session_id: str, con: duckdb.DuckDBPyConnection, on_closed: Callable[["SessionDB"], None],
                 colour: str = "", limits: Limits = DEFAULT_LIMITS) -> None:
        self.session_id = session_id
        self.con = con
        self.limits = limits  # max_row_bytes of its results, max_detached_bytes of one left streaming
        self.colour = colour  # blue-green colour of its latest statement
        self.lock = threading.RLock()
        self.in_transaction = False
        self.location: Optional[Tuple[str, str]] = None  # (catalog, schema) the engine last made the default
        self._on_closed = on_closed
        self._stream: Optional[Stream] = None
        self._running: Optional[object] = None  # the statement executing now (for interrupt)
        self._statements = 0  # prepared statements not yet closed
        self._ended: Optional[str] = None  # why the session ended
        self._lost = False  # ended with its transaction rolled back
        self._closed = False

    @property
    def ended(self) -> bool:
        return self._ended is not None

    # ------------------------------------------------------------------ statements
    def attach(self) -> None:
        with self.lock:
            self._statements += 1

    def release(self) -> None:
        """A statement of the session is done (its result read or dropped)."""
        with self.lock:
            self._statements -= 1
            self._close_if_done()

    @contextmanager
    def use(self, owner: object) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, for ``owner`` alone until the block ends (a streaming result is read to memory first)."""
        with self.lock:
            if self._lost:
                raise transaction_lost(self.session_id, self._ended or "ended")
            if self._closed:
                raise errors.session_denied()
            if self._stream is not None:
                self._stream.detach()
                self._stream = None
            self._running = owner
            try:
                yield self.con
            finally:
                self._running = None

    def streaming(self, reader: pa.RecordBatchReader) -> Stream:
        """The batches of ``reader`` (created inside :meth:`use`) as the session's open result."""
        stream = self._stream = Stream(self, reader)
        return stream

    def stream_done(self, stream: Stream) -> None:
        with self.lock:
            if self._stream is stream:
                self._stream = None

    def note_transaction(self, kinds: List[str], texts: List[str]) -> None:
        """Track BEGIN/COMMIT/ROLLBACK of statements that ran (``kinds``: DuckDB statement types)."""
        for kind, text in zip(kinds, texts):
            if kind == "TRANSACTION":
                self.in_transaction = text.lstrip().split(None, 1)[0].upper() in _BEGIN if text.strip() else False

    def resync_transaction(self) -> None:
        """After a failed statement batch that held BEGIN/COMMIT/ROLLBACK: ask DuckDB whether one is open."""
        try:
            self.con.execute("BEGIN TRANSACTION")
        except Exception:  # noqa: BLE001 - "cannot start a transaction within a transaction"
            self.in_transaction = True
            return
        self.con.execute("ROLLBACK")
        self.in_transaction = False

    def interrupt(self, owner: object) -> None:
        """Interrupt ``owner``'s execution if it is the one running now (never another statement's)."""
        if self._running is owner:
            try:
                self.con.interrupt()
            except Exception:  # noqa: BLE001 - closed meanwhile
                log.debug("interrupt failed", exc_info=True)

    # ------------------------------------------------------------------ end of the session
    def end(self, reason: str) -> bool:
        """End the session: roll back its open transaction (True if there was one), close the connection once
        no statement of it is alive."""
        with self.lock:
            if self._ended is not None:
                return False
            self._ended = reason
            had_transaction = self.in_transaction
            if had_transaction:
                if self._stream is not None:
                    self._stream.detach()
                    self._stream = None
                try:
                    self.con.rollback()
                except Exception:  # noqa: BLE001 - aborted or closed: nothing left to roll back
                    log.debug("rollback of session %s failed", self.session_id, exc_info=True)
                self.in_transaction = False
                self._lost = True
                log.info("session %s ended (%s): its open transaction was rolled back", self.session_id, reason)
            self._close_if_done()
            return had_transaction

    def _close_if_done(self) -> None:
        if self._closed or self._statements > 0 or (self._ended is None and self.session_id):
            return
        self._closed = True
        try:
            self.con.close()
        except Exception:  # noqa: BLE001 - closed with the database
            log.debug("closing the connection of session %s failed", self.session_id, exc_info=True)
        self._on_closed(self)


class SessionDBs:
    """The live :class:`SessionDB` of every session, and the ids whose transaction was lost (answered once)."""

    def __init__(self, connect: Callable[[], duckdb.DuckDBPyConnection], limits: Limits = DEFAULT_LIMITS) -> None:
        self._connect = connect
        self.limits = limits
        self._lock = threading.Lock()
        self._dbs: Dict[str, SessionDB] = {}
        self._lost: "OrderedDict[str, str]" = OrderedDict()
        self._closed = False

    def get(self, session_id: str, colour: str = "") -> SessionDB:
        """The session's connection (made on first use); a one-statement connection for ``session_id`` ""."""
        with self._lock:
            if self._closed:
                raise errors.shutting_down()
            db = self._dbs.get(session_id) if session_id else None
            if db is None or db.ended:
                db = SessionDB(session_id, self._connect(), self._forget, limits=self.limits)
                if session_id:
                    self._dbs[session_id] = db
            if colour:
                db.colour = colour
            return db

    def _forget(self, db: SessionDB) -> None:
        with self._lock:
            if self._dbs.get(db.session_id) is db:
                del self._dbs[db.session_id]

    def end(self, session_ids: List[str], reason: str) -> int:
        """End these sessions; returns how many had an open transaction (rolled back)."""
        with self._lock:
            dbs = [self._dbs.pop(sid) for sid in session_ids if sid in self._dbs]
        lost = 0
        for db in dbs:
            if db.end(reason):
                lost += 1
                with self._lock:
                    self._lost[db.session_id] = reason
                    while len(self._lost) > _MAX_LOST:
                        self._lost.popitem(last=False)
        return lost

    def end_retired(self, active_colour: str) -> int:
        """A blue-green switch: end the sessions of another colour that hold a transaction."""
        with self._lock:
            ids = [sid for sid, db in self._dbs.items()
                   if db.in_transaction and db.colour and db.colour != active_colour]
        return self.end(ids, f"blue-green switch to {active_colour}")

    def check_not_lost(self, session_id: str) -> None:
        """Raise ABORTED :data:`TRANSACTION_LOST` once for a session whose transaction was rolled back."""
        if not session_id:
            return
        with self._lock:
            reason = self._lost.pop(session_id, None)
        if reason is not None:
            raise transaction_lost(session_id, reason)

    def close(self) -> None:
        """The engine stops: end every session (open transactions are rolled back)."""
        with self._lock:
            self._closed = True
            ids = list(self._dbs)
        self.end(ids, "the engine stopped")

    def __len__(self) -> int:
        with self._lock:
            return len(self._dbs)
