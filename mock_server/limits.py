"""The engine's resource limits: one value per limit, each a server flag, each refused with RESOURCE_EXHAUSTED
naming the limit and its flag (docs/engine-contract.md, "Threat model").

The defaults keep one engine on a small machine usable by a team: no single user can hold most of the
worker threads, the open queries, or memory through one oversized request, statement or decompressed file.
"""
from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Iterable, Iterator

import grpc

from mock_server.errors import EngineError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 64 * MiB  # any gRPC request, checked by gRPC before authentication
    max_statement_bytes: int = 4 * MiB  # SQL text of one prepare
    max_open_queries_per_user: int = 16  # prepared and not yet cleared (~50 MB each while streaming)
    max_open_queries: int = 64
    max_long_polls_per_user: int = 4  # dataset notification polls waiting at once
    max_long_polls: int = 16  # threads of their own, on top of the server's --max-workers
    max_object_bytes: int = 1024 * MiB  # one object put
    max_upload_bytes: int = 1024 * MiB  # one dataset upload, as sent
    max_expanded_bytes: int = 256 * MiB  # a decompressed JSON object, or an upload once decoded

    def __post_init__(self) -> None:
        for item in fields(self):
            if getattr(self, item.name) <= 0:
                raise ValueError(f"limit {item.name} must be > 0")

    @staticmethod
    def flag(name: str) -> str:
        return "--" + name.replace("_", "-")


DEFAULT_LIMITS = Limits()


def exceeded(limits: Limits, name: str, what: str) -> EngineError:
    """RESOURCE_EXHAUSTED: ``what`` went over limit ``name`` (its value and server flag in the message)."""
    return EngineError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                       f"{what}: over the limit {name}={getattr(limits, name)} (server flag {Limits.flag(name)})")


def check_size(limits: Limits, name: str, size: int, what: str) -> None:
    if size > getattr(limits, name):
        raise exceeded(limits, name, what)


def check_open_queries(limits: Limits, user: str, owners: Iterable[str]) -> None:
    """Refuse one more open query for ``user`` given the owners of the live ones."""
    counts = Counter(owners)
    if counts[user] >= limits.max_open_queries_per_user:
        raise exceeded(limits, "max_open_queries_per_user",
                       f"user {user!r} has {counts[user]} open queries; clear some (close cursors)")
    if sum(counts.values()) >= limits.max_open_queries:
        raise exceeded(limits, "max_open_queries", "the engine has too many open queries")


class LongPolls:
    """Counts waiting long polls, per user and in total. The server's thread pool has max_long_polls threads
    on top of its workers for calls, so waiting polls never hold a thread queries and transfers need."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._waiting: Counter = Counter()

    def waiting(self) -> int:
        """How many polls wait now."""
        with self._lock:
            return sum(self._waiting.values())

    @contextmanager
    def slot(self, user: str) -> Iterator[None]:
        with self._lock:
            if self._waiting[user] >= self.limits.max_long_polls_per_user:
                raise exceeded(self.limits, "max_long_polls_per_user",
                               f"user {user!r} already has {self._waiting[user]} polls waiting")
            if sum(self._waiting.values()) >= self.limits.max_long_polls:
                raise exceeded(self.limits, "max_long_polls", "too many polls are waiting")
            self._waiting[user] += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting[user] -= 1
                if not self._waiting[user]:
                    del self._waiting[user]
