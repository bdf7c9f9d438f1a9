"""Decoded dataset versions kept in memory for SQL, least recently used evicted past a byte limit.

A version is immutable once published, so an entry keyed by (dataset, version) never goes stale through the
store: a new version is a new key, and the old one ages out. Its file can still change behind the store's back
(damaged, or replaced by a restore), so an entry also holds the identity of the file it was decoded from (a
token of the caller's: :func:`mock_server.datasets.store.file_identity`) and is dropped when asked for with
another one. The cache holds plaintext in memory only and knows nothing of users:
:class:`mock_server.datasets.store.DatasetStore` checks access on every read before it asks the cache. A table a
running query still holds stays alive after eviction until that query ends; the limit bounds what the cache
itself keeps (``--max-dataset-cache-bytes``). :meth:`VersionCache.warm` loads versions on a background thread, one
at a time, so the query that missed need not wait for a whole version to decode.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from typing import Callable, Dict, Hashable, Optional, Set, Tuple

import pyarrow as pa

log = logging.getLogger(__name__)

Key = Tuple[str, int]
Loaded = Tuple[pa.Table, Hashable]  # a decoded version and the identity of the file it was decoded from


class VersionCache:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0  # held now
        self._entries: "OrderedDict[Key, Loaded]" = OrderedDict()
        self._lock = threading.Lock()
        self._loading: Dict[Key, threading.Lock] = {}  # one load per key at a time
        self._warming: Set[Key] = set()  # queued for the background loader
        self._queue: "queue.Queue[Optional[Tuple[Key, Callable[[], Loaded]]]]" = queue.Queue()
        self._worker: Optional[threading.Thread] = None

    def get(self, key: Key, identity: Hashable) -> Optional[pa.Table]:
        """The table cached for ``key`` when it was decoded from the file ``identity`` names; an entry decoded
        from another file is dropped."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] != identity:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def keys(self) -> list:
        """Cached keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def load(self, key: Key, loader: Callable[[], Loaded]) -> None:
        """Cache ``loader()``'s table for ``key`` (once, however many callers ask) when it fits the limit."""
        with self._lock:
            if key in self._entries:
                return
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                cached = key in self._entries
            if not cached:
                self.put(key, *loader())
        with self._lock:
            self._loading.pop(key, None)

    def warm(self, key: Key, loader: Callable[[], Loaded]) -> None:
        """Have ``key`` loaded by the background loader unless it is cached or queued already."""
        with self._lock:
            if key in self._entries or key in self._warming:
                return
            self._warming.add(key)
            if self._worker is None:
                self._worker = threading.Thread(target=self._warm_forever, name="dataset-cache", daemon=True)
                self._worker.start()
        self._queue.put((key, loader))

    def close(self, wait: float = 10.0) -> None:
        """Stop the background loader (waiting up to ``wait`` seconds for a load under way) and forget all."""
        with self._lock:
            worker, self._worker = self._worker, None
            self._entries.clear()
            self.bytes = 0
        if worker is not None:
            self._queue.put(None)
            worker.join(wait)

    def _warm_forever(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            key, loader = item
            try:
                self.load(key, loader)
            except Exception as exc:  # the query that asked has its answer already; a later one reports the error
                log.warning("dataset %s version %d not cached: %s", key[0], key[1], exc)
            finally:
                with self._lock:
                    self._warming.discard(key)

    def put(self, key: Key, table: pa.Table, identity: Hashable) -> None:
        """Keep ``table``, decoded from the file ``identity`` names, for ``key`` when it fits the limit."""
        size = table.get_total_buffer_size()
        if size > self.limit:
            return
        with self._lock:
            if key in self._entries:
                return
            while self._entries and self.bytes + size > self.limit:
                self._drop(next(iter(self._entries)))
            self._entries[key] = (table, identity)
            self.bytes += size

    def _drop(self, key: Key) -> None:
        table, _ = self._entries.pop(key)
        self.bytes -= table.get_total_buffer_size()
