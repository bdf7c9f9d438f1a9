"""Chunk streaming with pipelining: the next chunk is fetched while the caller consumes the current one.

A producer thread calls ``fetch()`` (one getNextResultBatch RPC) and puts the raw bytes in a bounded queue; the
consumer takes them in order. Memory is bounded by ``depth`` chunks. ``close()`` stops the producer: it never
blocks on a full queue for long, and an RPC it is waiting on ends when the query is cleared on the server.
With ``depth == 0`` the consumer fetches synchronously (no thread).
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Optional

_END = object()


class ChunkStream:
    def __init__(self, fetch: Callable[[], bytes], depth: int = 2):
        self._fetch = fetch
        self._depth = depth
        self._queue: "Optional[queue.Queue]" = None
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self.exhausted = False

    def next_chunk(self) -> Optional[bytes]:
        """The next chunk's bytes, or None at the end of the result. Errors of the fetch are raised here."""
        if self.exhausted:
            return None
        if self._depth == 0:
            data = self._fetch()
            if not data:
                self.exhausted = True
                return None
            return data
        if self._thread is None:
            self._queue = queue.Queue(maxsize=self._depth)
            self._thread = threading.Thread(target=self._produce, name="e6driver-prefetch", daemon=True)
            self._thread.start()
        assert self._queue is not None
        item = self._queue.get()
        if item is _END:
            self.exhausted = True
            return None
        if isinstance(item, BaseException):
            self.exhausted = True
            raise item
        return item

    def _produce(self) -> None:
        fetch, stop, out = self._fetch, self._stop, self._queue
        assert out is not None
        while not stop.is_set():
            try:
                data = fetch()
            except BaseException as exc:  # delivered to the consumer, which decides
                self._put(exc)
                return
            if not data:
                self._put(_END)
                return
            if not self._put(data):
                return

    def _put(self, item: object) -> bool:
        assert self._queue is not None
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def close(self, wait: float = 5.0) -> None:
        """Stop prefetching and drop buffered chunks; waits up to ``wait`` s for the producer to end."""
        self._stop.set()
        self.exhausted = True
        thread = self._thread
        if thread is not None and self._queue is not None:
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            if thread is not threading.current_thread():
                thread.join(wait)
