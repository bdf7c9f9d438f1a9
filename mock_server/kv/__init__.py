"""V3IO-style key-value tables: items (a key and typed attributes) put, read, updated atomically under
conditions and scanned with filters over gRPC (``conn.kv``), and read by SQL as ``kv.<table>``.

Storage choice: **key + JSON map** in one SQLite database (``DATA_DIR/kv/kv.sqlite``, WAL, ``synchronous=FULL``):
each item is one row ``(table, key, attributes JSON)`` of table ``kv_items``, and each table's attribute
columns (name, widened type, first-seen order) are recorded beside it (``kv_attributes``). Why:

* an item keeps the exact type of each of its values (V3IO items are schemaless: ``1``, ``1.5`` and ``"x"``
  may share an attribute name across items), while SQL still gets one typed column per attribute, widened
  as values arrive (:func:`mock_server.kv.values.widen`);
* adding an attribute costs a row, not an ``ALTER TABLE``; removing one from an item is just not storing it;
* a conditional update is one SQLite transaction (``BEGIN IMMEDIATE``: read, decide, write), durable when
  the call returns and all-or-nothing across a crash, with no schema change to roll back;
* expressions are evaluated in Python over the decoded item, so no user text is ever part of SQL.

Modules: ``names`` (what names and keys may be), ``values`` (types, JSON, widening), ``expressions``
(update/condition/filter language), ``store`` (database, tables, grants, attribute columns), ``items``
(item operations), ``service`` (gRPC), ``catalog`` (SQL catalog ``kv``).
"""
from __future__ import annotations

from typing import Optional

import grpc

from e6driver._proto import e6driver_kv_pb2_grpc

from mock_server.kv.catalog import KVCatalog
from mock_server.kv.items import Items
from mock_server.kv.service import KeyValueServicer
from mock_server.kv.store import KVStore, open_kv
from mock_server.limits import Limits
from mock_server.sessions import SessionStore


class KeyValueRoom:
    """The store, its item operations, SQL catalog and gRPC servicer, built together."""

    def __init__(self, data_dir: Optional[str], admin_user: str, limits: Limits) -> None:
        self.store: KVStore = open_kv(data_dir, admin_user, limits)
        self.items = Items(self.store)
        self.catalog = KVCatalog(self.items)

    def serve(self, server: grpc.Server, sessions: SessionStore) -> KeyValueServicer:
        """Register KeyValueService on ``server``."""
        servicer = KeyValueServicer(self.store, self.items, sessions)
        e6driver_kv_pb2_grpc.add_KeyValueServiceServicer_to_server(servicer, server)
        return servicer

    def close(self) -> None:
        self.store.close()


__all__ = ["KVCatalog", "KVStore", "Items", "KeyValueRoom", "KeyValueServicer", "open_kv"]
