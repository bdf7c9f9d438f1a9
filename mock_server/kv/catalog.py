"""Key-value tables as SQL catalog ``kv`` (a :class:`mock_server.catalogs.SqlCatalog`): ``kv.<table>`` or
``kv.main.<table>`` is the table's items, one row each, column ``__name`` (the key) then one column per
attribute in the order attributes first appeared, typed by :func:`mock_server.kv.values.widen`; an item
without an attribute has NULL there. The caller needs read access (grants as for the KV calls).

The rows reach DuckDB as a ``pyarrow.RecordBatchReader`` read in key order while the query runs, from a
snapshot of the database of its own (:meth:`KVStore.snapshot`): memory stays bounded however big the table,
the columns and rows are those of one moment, and writers never wait for a long query.
"""
from __future__ import annotations

import sqlite3
from typing import Dict, Iterator, List

import pyarrow as pa

from mock_server import errors
from mock_server.kv.items import Items
from mock_server.kv.names import KEY_COLUMN
from mock_server.kv.store import stored_columns
from mock_server.kv.values import ARROW_TYPES, arrow_column, decode

SCHEMA = "main"
BATCH_ROWS = 8192
BATCH_BYTES = 8 * 1024 * 1024  # stored bytes of one batch's items, beyond its first


def arrow_schema(columns: Dict[str, str]) -> pa.Schema:
    return pa.schema([pa.field(KEY_COLUMN, pa.string(), nullable=False)]
                     + [pa.field(name, ARROW_TYPES[kind]) for name, kind in columns.items()])


def record_batch(rows: List[tuple], columns: Dict[str, str], schema: pa.Schema) -> pa.RecordBatch:
    items = [decode(text) for _, text in rows]
    arrays = [pa.array([key for key, _ in rows], pa.string())] + [
        arrow_column([item.get(name) for item in items], kind) for name, kind in columns.items()]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _batches(db: sqlite3.Connection, table_id: int, columns: Dict[str, str],
             schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    try:
        rows: List[tuple] = []
        size = 0
        for row in db.execute("SELECT key, attributes FROM kv_items WHERE table_id = ? ORDER BY key", (table_id,)):
            rows.append(row)
            size += len(row[1])
            if len(rows) >= BATCH_ROWS or size >= BATCH_BYTES:
                yield record_batch(rows, columns, schema)
                rows, size = [], 0
        if rows:
            yield record_batch(rows, columns, schema)
    finally:
        db.close()


class KVCatalog:
    name = "kv"
    default_schema = SCHEMA

    def __init__(self, items: Items) -> None:
        self.items = items
        self.store = items.store

    def schemas(self, user: str) -> List[str]:
        return [SCHEMA]

    def tables(self, user: str, schema: str) -> List[str]:
        if schema.lower() != SCHEMA:
            return []
        return [table.name for table, _ in self.store.visible(user)]

    def read(self, user: str, schema: str, table: str) -> pa.RecordBatchReader:
        if schema.lower() != SCHEMA:
            raise errors.invalid(f"catalog kv has only schema {SCHEMA!r}: use kv.<table> or kv.{SCHEMA}.<table>")
        found = self.items.readable(user, table.lower())
        db = self.store.snapshot()
        try:
            columns = stored_columns(db, found.id)
        except BaseException:
            db.close()
            raise
        schema_ = arrow_schema(columns)
        return pa.RecordBatchReader.from_batches(schema_, _batches(db, found.id, columns, schema_))
