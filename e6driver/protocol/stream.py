"""Chunk streaming with pipelining: the next chunks are fetched while the caller consumes the current one.

A fetch (one getNextResultBatchV2 or getNextResultBatch RPC) returns ``(chunks, ended)``. The batch fetched with
``execute`` (when the server had the whole result ready) is handed out first; a result that ended there never
starts a thread. Otherwise the consumer's first fetch runs in its own thread, and only when a further fetch is
needed does a producer thread start, fetching ahead into a bounded queue (memory bounded by ``depth`` fetches).
``close()`` stops the producer: it never blocks on a full queue for long, and an RPC it is waiting on ends when
the query is cleared on the server. With ``depth == 0`` the consumer always fetches synchronously (no thread).
"""
from __future__ import annotations

import collections
import queue
import threading
from typing import Any, Callable, Deque, List, Optional, Tuple

from ..errors import InterfaceError

Piece = Any
"""A chunk's bytes, or (from QueryRunService.FetchArrow) a ``pyarrow.RecordBatch``."""
Batch = Tuple[List[Piece], bool]
"""The pieces of one fetch and whether the result ended after them."""


class ReceivedChunks:
    """The chunks received and not yet handed out, and whether the server said the result ended after them
    (shared by the blocking :class:`ChunkStream` and ``aio.AsyncChunkStream``)."""

    def __init__(self, first: Optional[Batch]) -> None:
        self._pending: Deque[Piece] = collections.deque()
        self._ended = False
        self.exhausted = False
        self.closed = False  # by close(): a reader (another thread's or task's fetch) then fails, never ends early
        if first is not None:
            self._take(first)

    def check_open(self) -> None:
        """A reader of a closed stream (cancelled or released while being read) must not take it as the end of
        the result: the rows close() dropped were never delivered."""
        if self.closed:
            raise closed_while_read()

    @property
    def ended(self) -> bool:
        """The server said the result ended (every chunk was received): the query is finished there."""
        return self._ended

    def _take(self, batch: Batch) -> None:
        chunks, ended = batch
        self._pending.extend(c for c in chunks if c)
        self._ended = self._ended or ended


class ChunkStream(ReceivedChunks):
    def __init__(self, fetch: Callable[[], Batch], depth: int = 2, first: Optional[Batch] = None):
        self._fetch = fetch
        self._depth = depth
        self._queue: "Optional[queue.Queue]" = None
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        super().__init__(first)

    def next_chunk(self) -> Optional[Piece]:
        """The next piece, or None at the end of the result. Errors of the fetch are raised here."""
        self.check_open()
        while not self._pending:
            if self.exhausted or self._ended:
                self.exhausted = True
                return None
            try:
                self._take(self._next_batch())
            except BaseException:
                self.exhausted = True
                raise
        chunk = self._pending.popleft()
        if not self._pending and not self._ended and self._depth and self._thread is None and not self.exhausted:
            self._start()  # a further fetch is needed: fetch it while the caller consumes this chunk
        return chunk

    def use(self, fetch: Callable[[], Batch]) -> None:
        """Fetch with ``fetch`` from the next fetch on (one already under way completes as it started)."""
        self._fetch = fetch

    def _next_batch(self) -> Batch:
        if self._thread is None:
            return self._fetch()
        assert self._queue is not None
        while True:  # close() stops the producer, which then puts nothing more: never wait past it
            try:
                item = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                self.check_open()
        if isinstance(item, BaseException):
            raise item
        return item

    def _start(self) -> None:
        self._queue = queue.Queue(maxsize=self._depth)
        self._thread = threading.Thread(target=self._produce, name="e6driver-prefetch", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        stop = self._stop
        while not stop.is_set():
            try:
                batch = self._fetch()
            except BaseException as exc:  # delivered to the consumer, which decides
                self._put(exc)
                return
            if not self._put(batch) or batch[1]:
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
        self.exhausted = self.closed = True
        self._pending.clear()
        thread = self._thread
        if thread is not None and self._queue is not None:
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            if thread is not threading.current_thread():
                thread.join(wait)


def closed_while_read() -> InterfaceError:
    """What a reader of a stream closed under it gets (cursors say why: cancel() or close())."""
    return InterfaceError("the result was closed while it was being read")
