"""The key-value database: tables, their owners and grants, their attribute columns, and the transactions
every item operation runs in (the item operations themselves: :mod:`mock_server.kv.items`).

One SQLite file, ``DATA_DIR/kv/kv.sqlite``, in WAL mode with ``synchronous=FULL``: a call is answered only
after its transaction is on disk, and a crash leaves each transaction either whole or absent. One connection
serves every thread under one lock, and every write is ``BEGIN IMMEDIATE ... COMMIT``: a conditional update
reads, decides and writes with no other writer in between.

Access levels are ``none`` < ``read`` < ``write``, as for buckets (:mod:`mock_server.objects.grants`): the
creator of a table owns it (``write``, and may grant or delete it), the admin user reaches every table, others
only by grant. Without access a missing table and another user's table get the same PERMISSION_DENIED, so
table names do not leak.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import sqlite3
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

import grpc

from mock_server.access import ADMIN, LEVELS, NONE, access_level, allows
from mock_server.errors import EngineError
from mock_server.kv.names import check_table
from mock_server.kv.values import Attributes, type_of, widen
from mock_server.limits import Limits, exceeded


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv_tables (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS kv_grants (
    table_id INTEGER NOT NULL, user TEXT NOT NULL, level TEXT NOT NULL, PRIMARY KEY (table_id, user));
CREATE TABLE IF NOT EXISTS kv_attributes (
    table_id INTEGER NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (table_id, name));
CREATE TABLE IF NOT EXISTS kv_items (
    table_id INTEGER NOT NULL, key TEXT NOT NULL, attributes TEXT NOT NULL, PRIMARY KEY (table_id, key))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv_requests (
    user TEXT NOT NULL, request_id TEXT NOT NULL, answer TEXT NOT NULL, time REAL NOT NULL,
    PRIMARY KEY (user, request_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_requests_time ON kv_requests (time);
"""
MAX_REQUEST_ID = 64
REQUEST_MEMORY = 600.0  # seconds a write's answer is kept for a retry with its request id
_PRUNE_EVERY = 256  # writes with a request id between two prunings of old answers


@dataclass(frozen=True)
class Table:
    id: int
    name: str
    owner: str
    created: float


def denied(user: str, table: str, action: str) -> EngineError:
    return EngineError(grpc.StatusCode.PERMISSION_DENIED,
                       f"user {user!r} may not {action} key-value table {table!r} (no such table, or no grant)")


class KVStore:
    """Tables, grants and attribute columns in one SQLite database file (``temporary``: removed on close)."""

    def __init__(self, path: str, admin_user: str, limits: Limits, temporary: bool = False) -> None:
        self.path = path
        self.admin_user = admin_user
        self.limits = limits
        self._temporary = temporary
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._columns: Dict[int, Dict[str, str]] = {}  # table id -> attribute -> column type (a cache)
        self._remembered = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._temporary:
            shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)

    def snapshot(self) -> sqlite3.Connection:
        """A read-only connection of its own, in one read transaction: with WAL a consistent snapshot that
        neither waits for nor blocks writers (for SQL reads that last as long as their query). Close it."""
        db = sqlite3.connect(f"{pathlib.Path(self.path).resolve().as_uri()}?mode=ro", uri=True,
                             check_same_thread=False, isolation_level=None)
        db.execute("BEGIN")
        return db

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, alone (no other read or write runs meanwhile)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                self._columns.clear()  # it may hold types this transaction registered
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    # ------------------------------------------------------------------ tables and access

    def _table(self, db: sqlite3.Connection, name: str) -> Optional[Table]:
        row = db.execute("SELECT id, name, owner, created FROM kv_tables WHERE name = ?", (name,)).fetchone()
        return Table(*row) if row else None

    def _access(self, db: sqlite3.Connection, user: str, table: Optional[Table]) -> str:
        def granted() -> Optional[str]:
            assert table is not None
            row = db.execute("SELECT level FROM kv_grants WHERE table_id = ? AND user = ?",
                             (table.id, user)).fetchone()
            return row[0] if row else None
        return access_level(user, self.admin_user, table.owner if table else None, granted)

    def require(self, db: sqlite3.Connection, user: str, name: str, write: bool = False) -> Table:
        """The table, if ``user`` may read it (``write``: write it); else PERMISSION_DENIED (NOT_FOUND for
        the admin, who may see that a table is missing)."""
        table = self._table(db, check_table(name))
        access = self._access(db, user, table)
        if not allows(access, write):
            raise denied(user, name, "write to" if write else "read")
        if table is None:
            raise EngineError(grpc.StatusCode.NOT_FOUND, f"no key-value table {name!r}")
        return table

    def for_write(self, db: sqlite3.Connection, user: str, name: str) -> Table:
        """The table to write an item to, created (owned by ``user``) if it does not exist."""
        table = self._table(db, check_table(name))
        if table is None:
            return self._create(db, user, name)
        return self.require(db, user, name, write=True)

    def _create(self, db: sqlite3.Connection, user: str, name: str) -> Table:
        (owned,) = db.execute("SELECT count(*) FROM kv_tables WHERE owner = ?", (user,)).fetchone()
        if owned >= self.limits.max_kv_tables_per_user:
            raise exceeded(self.limits, "max_kv_tables_per_user", f"user {user!r} owns {owned} key-value tables")
        created = time.time()
        cursor = db.execute("INSERT INTO kv_tables (name, owner, created) VALUES (?, ?, ?)", (name, user, created))
        return Table(cursor.lastrowid, name, user, created)

    def create_table(self, user: str, name: str) -> bool:
        """Create ``name`` owned by ``user``; False when it exists (and ``user`` may write it)."""
        with self.writing() as db:
            if self._table(db, check_table(name)) is not None:
                self.require(db, user, name, write=True)
                return False
            self._create(db, user, name)
            return True

    def delete_table(self, user: str, name: str) -> bool:
        """Drop the table, its items and grants; only its owner or the admin may."""
        with self.writing() as db:
            table = self._owned(db, user, name, "delete")
            if table is None:
                return False
            for statement in ("DELETE FROM kv_items WHERE table_id = ?", "DELETE FROM kv_attributes WHERE table_id = ?",
                              "DELETE FROM kv_grants WHERE table_id = ?", "DELETE FROM kv_tables WHERE id = ?"):
                db.execute(statement, (table.id,))
            self._columns.pop(table.id, None)
            return True

    def _owned(self, db: sqlite3.Connection, user: str, name: str, action: str) -> Optional[Table]:
        """The table if ``user`` owns it or is the admin (None: missing, to the admin only); else
        PERMISSION_DENIED."""
        table = self._table(db, check_table(name))
        access = self._access(db, user, table)
        if access == NONE:
            raise denied(user, name, action)
        if table is not None and access != ADMIN and table.owner != user:
            raise EngineError(grpc.StatusCode.PERMISSION_DENIED,
                              f"only the owner ({table.owner!r}) or the admin may {action} key-value table {name!r}")
        return table

    def visible(self, user: str) -> List[Tuple[Table, str]]:
        """(table, the user's access) of every table ``user`` may read, by name."""
        with self.reading() as db:
            tables = [Table(*r) for r in db.execute("SELECT id, name, owner, created FROM kv_tables ORDER BY name")]
            return [(t, a) for t in tables for a in [self._access(db, user, t)] if a != NONE]

    def grant(self, granter: str, name: str, grantee: str, level: str) -> str:
        """Set ``grantee``'s access; only the admin or the table's owner may."""
        if level not in LEVELS:
            raise EngineError(grpc.StatusCode.INVALID_ARGUMENT,
                              f"access must be one of {', '.join(LEVELS)}, not {level[:20]!r}")
        with self.writing() as db:
            table = self._owned(db, granter, name, "grant access to")
            if table is None:
                raise EngineError(grpc.StatusCode.NOT_FOUND, f"no key-value table {name!r}")
            if table.owner == grantee and level != "write":
                raise EngineError(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"user {grantee!r} owns key-value table {name!r}; the owner keeps write access")
            if level == NONE:
                db.execute("DELETE FROM kv_grants WHERE table_id = ? AND user = ?", (table.id, grantee))
            else:
                db.execute("INSERT OR REPLACE INTO kv_grants (table_id, user, level) VALUES (?, ?, ?)",
                           (table.id, grantee, level))
            return self._access(db, grantee, table)

    # ------------------------------------------------------------------ answers of writes, for retries

    def answered(self, db: sqlite3.Connection, user: str, request_id: str) -> Optional[dict]:
        """The answer already given to ``user``'s write ``request_id`` (inside the write transaction)."""
        if not request_id:
            return None
        if len(request_id) > MAX_REQUEST_ID:
            raise EngineError(grpc.StatusCode.INVALID_ARGUMENT, f"request_id is over {MAX_REQUEST_ID} characters")
        row = db.execute("SELECT answer FROM kv_requests WHERE user = ? AND request_id = ?",
                         (user, request_id)).fetchone()
        return json.loads(row[0]) if row else None

    def remember(self, db: sqlite3.Connection, user: str, request_id: str, answer: dict) -> None:
        """Keep the answer of a write (in its transaction: both are durable together, or neither)."""
        if not request_id:
            return
        now = time.time()
        db.execute("INSERT INTO kv_requests (user, request_id, answer, time) VALUES (?, ?, ?, ?)",
                   (user, request_id, json.dumps(answer), now))
        self._remembered += 1
        if self._remembered % _PRUNE_EVERY == 0:
            db.execute("DELETE FROM kv_requests WHERE time < ?", (now - REQUEST_MEMORY,))

    # ------------------------------------------------------------------ attribute columns

    def columns(self, db: sqlite3.Connection, table_id: int) -> Dict[str, str]:
        """attribute -> column type, in the order the attributes first appeared."""
        found = self._columns.get(table_id)
        if found is None:
            found = self._columns[table_id] = stored_columns(db, table_id)
        return found

    def register(self, db: sqlite3.Connection, table: Table, attributes: Attributes) -> None:
        """Record the types of ``attributes`` in the table's columns (new columns, or wider types); inside
        the caller's write transaction."""
        columns = self.columns(db, table.id)
        lowered = None
        for name, value in attributes.items():
            kind = type_of(value)
            current = columns.get(name)
            if current is None:
                if lowered is None:
                    lowered = {c.lower(): c for c in columns}
                if name.lower() in lowered:
                    raise EngineError(grpc.StatusCode.INVALID_ARGUMENT,
                                      f"attribute {name!r} differs from attribute {lowered[name.lower()]!r} of "
                                      f"table {table.name!r} only by case (SQL could not tell them apart)")
                if len(columns) >= self.limits.max_kv_attributes:
                    raise exceeded(self.limits, "max_kv_attributes",
                                   f"key-value table {table.name!r} has {len(columns)} attributes")
                db.execute("INSERT INTO kv_attributes (table_id, name, type, position) VALUES (?, ?, ?, ?)",
                           (table.id, name, kind, len(columns)))
                columns[name] = lowered[name.lower()] = kind
            elif widen(current, kind) != current:
                columns[name] = widen(current, kind)
                db.execute("UPDATE kv_attributes SET type = ? WHERE table_id = ? AND name = ?",
                           (columns[name], table.id, name))


def stored_columns(db: sqlite3.Connection, table_id: int) -> Dict[str, str]:
    """attribute -> column type of a table as ``db`` sees it (in the order the attributes first appeared)."""
    return dict(db.execute("SELECT name, type FROM kv_attributes WHERE table_id = ? ORDER BY position",
                           (table_id,)).fetchall())


def open_kv(data_dir: Optional[str], admin_user: str, limits: Limits) -> KVStore:
    """The server's key-value store: DATA_DIR/kv/kv.sqlite (a temporary directory without ``data_dir``)."""
    if not data_dir:
        return KVStore(os.path.join(tempfile.mkdtemp(prefix="e6kv-"), "kv.sqlite"), admin_user, limits, temporary=True)
    folder = os.path.join(data_dir, "kv")
    os.makedirs(folder, exist_ok=True)
    return KVStore(os.path.join(folder, "kv.sqlite"), admin_user, limits)
