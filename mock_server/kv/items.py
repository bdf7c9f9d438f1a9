"""Item operations: put, get, update, delete and scan pages, each one transaction of :class:`KVStore`.

A write reads the current item, evaluates the condition and the update expression on it
(:mod:`mock_server.kv.expressions`), checks the result's size and records its attribute types, then writes
it, all inside ``BEGIN IMMEDIATE ... COMMIT``: concurrent updates of one counter serialize, and a false
condition changes nothing (FAILED_PRECONDITION, this service's only use of that code). A write's answer is
kept under its request id in the same transaction, so a retry with that id is answered, not applied again.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import grpc

from mock_server import errors
from mock_server.errors import EngineError
from mock_server.kv import expressions
from mock_server.kv.expressions import Env
from mock_server.kv.names import KEY_COLUMN, check_attribute, check_key, check_projection
from mock_server.kv.store import KVStore, Table
from mock_server.kv.values import Attributes, decode, encode, type_of
from mock_server.limits import exceeded

PAGE_ITEMS = 1000  # items of a scan page unless the caller asks for fewer
MAX_PAGE_ITEMS = 10_000
PAGE_BYTES = 4 * 1024 * 1024  # stored bytes of a page's items, beyond its first
EXAMINED_PER_PAGE = 20_000  # items a page may look at (a selective filter returns partial pages)
READ_BATCH = 64  # items read under the lock at a time (at most 64 x max_kv_item_bytes)


def condition_failed(condition: str) -> EngineError:
    return EngineError(grpc.StatusCode.FAILED_PRECONDITION, f"condition failed: {condition[:200]}")


@dataclass
class Page:
    items: List[Tuple[str, Attributes]]
    next_marker: str
    done: bool


def check_attributes(attributes: Dict[str, Any]) -> Attributes:
    for name, value in attributes.items():
        check_attribute(name)
        if type_of(value) is None:
            raise errors.invalid(f"attribute {name!r}: a {type(value).__name__} cannot be stored")
    return attributes


def project(attributes: Attributes, key: str, names: Sequence[str]) -> Attributes:
    """The attributes a read asked for (all when ``names`` is empty; ``__name`` is the key)."""
    if not names:
        return attributes
    out = {}
    for name in names:
        if name == KEY_COLUMN:
            out[name] = key
        elif name in attributes:
            out[name] = attributes[name]
    return out


class Items:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.limits = store.limits

    def _current(self, db: sqlite3.Connection, table: Table, key: str) -> Optional[Attributes]:
        row = db.execute("SELECT attributes FROM kv_items WHERE table_id = ? AND key = ?", (table.id, key)).fetchone()
        return decode(row[0]) if row else None

    def _check_condition(self, condition: str, key: str, current: Optional[Attributes]) -> None:
        if condition and not expressions.condition(condition)(self._env(key, dict(current or {}))):
            raise condition_failed(condition)

    def _env(self, key: str, attributes: Attributes) -> Env:
        return Env(key, attributes, max_chars=self.limits.max_kv_item_bytes)

    def _write(self, db: sqlite3.Connection, table: Table, key: str, attributes: Attributes) -> None:
        text = encode(attributes)
        size = len(key.encode("utf-8")) + len(text.encode("utf-8"))
        if size > self.limits.max_kv_item_bytes:
            raise exceeded(self.limits, "max_kv_item_bytes", f"item {key[:80]!r} of {size} bytes")
        self.store.register(db, table, attributes)
        db.execute("INSERT OR REPLACE INTO kv_items (table_id, key, attributes) VALUES (?, ?, ?)",
                   (table.id, key, text))

    # ------------------------------------------------------------------ writes

    def put(self, user: str, name: str, key: str, attributes: Attributes, condition: str = "",
            request_id: str = "") -> bool:
        """Replace the item (True: it was new); the table is created if missing."""
        check_key(key, self.limits)
        check_attributes(attributes)
        if condition:
            expressions.condition(condition)  # a syntax error before the table is created
        with self.store.writing() as db:
            answer = self.store.answered(db, user, request_id)
            if answer is not None:
                return answer["created"]
            table = self.store.for_write(db, user, name)
            current = self._current(db, table, key)
            self._check_condition(condition, key, current)
            self._write(db, table, key, attributes)
            self.store.remember(db, user, request_id, {"created": current is None})
        return current is None

    def update(self, user: str, name: str, key: str, attributes: Optional[Attributes] = None,
               expression: str = "", condition: str = "", request_id: str = "") -> Tuple[bool, Attributes]:
        """Merge ``attributes`` into the item, or apply ``expression`` to it; (created, the item now)."""
        check_key(key, self.limits)
        if bool(attributes) == bool(expression):
            raise errors.invalid("update_item needs attributes or an expression (exactly one of them)")
        apply: Callable[[Env], None]
        if expression:
            apply = expressions.update(expression)
        else:
            merged = check_attributes(dict(attributes or {}))
            apply = lambda env: env.attributes.update(merged)  # noqa: E731
        if condition:
            expressions.condition(condition)
        with self.store.writing() as db:
            answer = self.store.answered(db, user, request_id)
            if answer is not None:
                return answer["created"], decode(answer["item"])
            table = self.store.for_write(db, user, name)
            current = self._current(db, table, key)
            self._check_condition(condition, key, current)
            env = self._env(key, dict(current or {}))
            apply(env)
            self._write(db, table, key, env.attributes)
            self.store.remember(db, user, request_id, {"created": current is None, "item": encode(env.attributes)})
        return current is None, env.attributes

    def delete(self, user: str, name: str, key: str, condition: str = "", request_id: str = "") -> bool:
        check_key(key, self.limits)
        if condition:
            expressions.condition(condition)
        with self.store.writing() as db:
            answer = self.store.answered(db, user, request_id)
            if answer is not None:
                return answer["deleted"]
            table = self.store.require(db, user, name, write=True)
            current = self._current(db, table, key)
            self._check_condition(condition, key, current)
            if current is not None:
                db.execute("DELETE FROM kv_items WHERE table_id = ? AND key = ?", (table.id, key))
            self.store.remember(db, user, request_id, {"deleted": current is not None})
            return current is not None

    # ------------------------------------------------------------------ reads

    def get(self, user: str, name: str, key: str, names: Sequence[str] = ()) -> Optional[Attributes]:
        check_key(key, self.limits)
        for attribute in names:
            check_projection(attribute)
        with self.store.reading() as db:
            table = self.store.require(db, user, name)
            current = self._current(db, table, key)
        return None if current is None else project(current, key, names)

    def scan(self, user: str, name: str, filter: str = "", names: Sequence[str] = (), limit: int = 0,
             marker: str = "") -> Page:
        """Items after ``marker`` in key order passing ``filter``: at most ``limit`` (capped at
        :data:`MAX_PAGE_ITEMS`), about :data:`PAGE_BYTES`, after examining at most :data:`EXAMINED_PER_PAGE`."""
        for attribute in names:
            check_projection(attribute)
        if limit < 0:
            raise errors.invalid(f"scan limit must be >= 0, not {limit}")
        wanted = min(limit or PAGE_ITEMS, MAX_PAGE_ITEMS)
        test = expressions.condition(filter) if filter else None
        with self.store.reading() as db:
            table = self.store.require(db, user, name)
        page = Page([], marker, False)
        size = examined = 0
        for key, text in self._rows(table, marker):
            examined += 1
            page.next_marker = key
            attributes = decode(text)
            if test is None or test(self._env(key, attributes)):
                page.items.append((key, project(attributes, key, names)))
                size += len(text)
                if len(page.items) >= wanted or size >= PAGE_BYTES:
                    return page
            if examined >= EXAMINED_PER_PAGE:
                return page
        page.done = True
        return page

    def _rows(self, table: Table, after: str) -> Iterator[Tuple[str, str]]:
        """(key, stored attributes) in key order after ``after``, read in short batches (each under the lock)."""
        while True:
            with self.store.reading() as db:
                rows = db.execute("SELECT key, attributes FROM kv_items WHERE table_id = ? AND key > ? "
                                  "ORDER BY key LIMIT ?", (table.id, after, READ_BATCH)).fetchall()
            yield from rows
            if len(rows) < READ_BATCH:
                return
            after = rows[-1][0]

    def readable(self, user: str, name: str) -> Table:
        """The table, if ``user`` may read it (else PERMISSION_DENIED / NOT_FOUND)."""
        with self.store.reading() as db:
            return self.store.require(db, user, name)
