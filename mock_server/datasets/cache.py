"""Decoded dataset versions kept in memory for SQL, least recently used evicted past a byte limit.

A version is immutable once published, so an entry keyed by (dataset, version) never goes stale: a new version
is a new key, and the old one ages out. The cache holds plaintext in memory only and knows nothing of users:
:class:`mock_server.datasets.store.DatasetStore` checks access on every read before it asks the cache. A table a
running query still holds stays alive after eviction until that query ends; the limit bounds what the cache
itself keeps (``--max-dataset-cache-bytes``).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Dict, Optional, Tuple

import pyarrow as pa

Key = Tuple[str, int]


class VersionCache:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0  # held now
        self._entries: "OrderedDict[Key, pa.Table]" = OrderedDict()
        self._lock = threading.Lock()
        self._loading: Dict[Key, threading.Lock] = {}  # one load per key at a time

    def get(self, key: Key) -> Optional[pa.Table]:
        with self._lock:
            table = self._entries.get(key)
            if table is not None:
                self._entries.move_to_end(key)
            return table

    def keys(self) -> list:
        """Cached keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def load(self, key: Key, loader: Callable[[], pa.Table]) -> pa.Table:
        """The cached table of ``key``, else ``loader()`` (once, however many callers wait for it) kept when it
        fits the limit."""
        table = self.get(key)
        if table is not None:
            return table
        with self._lock:
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            table = self.get(key)
            if table is None:
                table = loader()
                self.put(key, table)
        with self._lock:
            self._loading.pop(key, None)
        return table

    def put(self, key: Key, table: pa.Table) -> None:
        size = table.get_total_buffer_size()
        if size > self.limit:
            return
        with self._lock:
            if key in self._entries:
                return
            while self._entries and self.bytes + size > self.limit:
                _, old = self._entries.popitem(last=False)
                self.bytes -= old.get_total_buffer_size()
            self._entries[key] = table
            self.bytes += size
