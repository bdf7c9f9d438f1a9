"""Per-user token buckets: how the server limits dataset transfers (``EngineServer(dataset_rate_limit=...)``)."""
from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Optional, Tuple


class RateLimiter:
    """``rate`` operations per second per user, in bursts of up to ``burst`` (default ``max(1, rate)``).

    Each user's bucket starts full and refills continuously; an operation takes one token.
    """

    def __init__(self, rate: float, burst: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate)
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        self._clock = clock
        self._buckets: Dict[str, Tuple[float, float]] = {}  # user -> (tokens, time of that count)
        self._lock = threading.Lock()

    def acquire(self, user: str) -> float:
        """0.0 if ``user`` may go ahead now (a token is taken), else the seconds until a token is due."""
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(user, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[user] = (tokens - 1.0, now)
                return 0.0
            self._buckets[user] = (tokens, now)
            return (1.0 - tokens) / self.rate
