"""Releases sent without waiting: ``clearOrCancelQuery`` of a query whose result was read to its end is queued
for one process-wide thread, so ``cursor.close()`` and re-execute do not wait a round trip for it.

The release plan still runs every rule of the call path and reports the query finished to the blue-green state.
A session waits for its queued releases before it closes its channel (:meth:`Releaser.flush`), so a closed
connection has released every query it read.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Dict, Optional

log = logging.getLogger(__name__)

RELEASE_FLUSH_SECONDS = 10.0  # how long a session waits for its queued releases (close, a query addressed by id)


class Releaser:
    def __init__(self) -> None:
        self._inbox: "queue.SimpleQueue" = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._pending: Dict[int, int] = {}  # id(session) -> releases queued and not yet done
        self._thread: Optional[threading.Thread] = None

    def submit(self, owner: Any, release: Callable[[], None]) -> bool:
        """Queue ``release()`` (which must not raise for an ordinary failure) for the releasing thread; False
        (nothing queued: the caller releases itself) while ``owner`` still has one queued, so the queries a
        session leaves open on the server never grow beyond one more than it runs."""
        with self._lock:
            if self._pending.get(id(owner)):
                return False
            self._pending[id(owner)] = 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="e6driver-release", daemon=True)
                self._thread.start()
        self._inbox.put((owner, release))
        return True

    def flush(self, owner: Any, timeout: float) -> bool:
        """Wait until ``owner``'s queued releases are done (at most ``timeout`` s); False if some are not."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending.get(id(owner)), timeout)

    def _work(self) -> None:
        while True:
            owner, release = self._inbox.get()
            try:
                release()
            except BaseException:  # noqa: BLE001 - a release failing in the background is only logged
                log.debug("background release failed", exc_info=True)
            finally:
                with self._lock:
                    left = self._pending.get(id(owner), 1) - 1
                    if left:
                        self._pending[id(owner)] = left
                    else:
                        self._pending.pop(id(owner), None)
                    self._lock.notify_all()


RELEASER = Releaser()
