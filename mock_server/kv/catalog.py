"""Key-value tables as SQL catalog ``kv`` (a :class:`mock_server.catalogs.SqlCatalog`): ``kv.<table>`` or
``kv.main.<table>`` is the table's items, one row each, column ``__name`` (the key) then one column per
attribute in the order attributes first appeared, typed by :func:`mock_server.kv.values.widen`; an item
without an attribute has NULL there. The caller needs read access (grants as for the KV calls); the
table is read in key order in batches and refused over ``max_expanded_bytes``."""
from __future__ import annotations

from typing import List

import pyarrow as pa

from mock_server import errors
from mock_server.kv.items import Items
from mock_server.kv.names import KEY_COLUMN
from mock_server.kv.values import ARROW_TYPES, arrow_column, decode
from mock_server.limits import exceeded

SCHEMA = "main"


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

    def read(self, user: str, schema: str, table: str) -> pa.Table:
        if schema.lower() != SCHEMA:
            raise errors.invalid(f"catalog kv has only schema {SCHEMA!r}: use kv.<table> or kv.{SCHEMA}.<table>")
        columns, rows = self.items.table_rows(user, table.lower())
        keys: List[str] = []
        values: dict = {name: [] for name in columns}
        total = 0
        limit = self.store.limits.max_expanded_bytes
        for key, text in rows:
            total += len(key) + len(text)
            if total > limit:
                raise exceeded(self.store.limits, "max_expanded_bytes", f"key-value table {table!r} read by SQL")
            keys.append(key)
            attributes = decode(text)
            for name, column in values.items():
                column.append(attributes.get(name))
        arrays = [pa.array(keys, pa.string())] + [arrow_column(values[n], t) for n, t in columns.items()]
        fields = [pa.field(KEY_COLUMN, pa.string(), nullable=False)] + [
            pa.field(n, ARROW_TYPES[t]) for n, t in columns.items()]
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
