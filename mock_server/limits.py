"""The engine's resource limits: one value per limit, each a server flag, each refused with RESOURCE_EXHAUSTED
naming the limit and its flag (docs/engine-contract.md, "Threat model").

The defaults keep one engine on a small machine usable by a team: no single user can hold most of the
worker threads, the open queries, or memory through one oversized request, statement or decompressed file.
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Iterable, Iterator, Tuple

import grpc
import pyarrow as pa
import pyarrow.compute as pc

from mock_server.errors import EngineError

MiB = 1024 * 1024
GiB = 1024 * MiB


def half_of_memory() -> int:
    """Half of the memory this process may use: the machine's RAM or its cgroup's limit, whichever is lower
    (4 GiB when neither can be read)."""
    sizes = []
    try:
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as handle:
            text = handle.read().strip()
        if text.isdigit():
            sizes.append(int(text))
    except OSError:
        pass
    return max(min(sizes) // 2, 64 * MiB) if sizes else 4 * GiB


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 64 * MiB  # any gRPC request, checked by gRPC before authentication
    max_streams_per_user: int = 100  # streams an ordinary user owns (mock_server.streams)
    max_shards_per_stream: int = 64
    max_stream_record_bytes: int = 1 * MiB  # one stream record's data
    max_records_per_put: int = 1000  # records of one put_records call
    max_stream_get_bytes: int = 8 * MiB  # record data returned by one get_records call
    max_statement_bytes: int = 4 * MiB  # SQL text of one prepare
    max_open_queries_per_user: int = 16  # running or with rows not yet delivered (~50 MB each while streaming)
    max_open_queries: int = 64
    max_query_seconds: int = 3600  # one statement's execution (time waiting for its reader not counted)
    max_long_polls_per_user: int = 4  # dataset notification polls waiting at once
    max_long_polls: int = 16  # threads of their own, on top of the server's --max-workers
    max_object_bytes: int = 1024 * MiB  # one object put
    max_upload_bytes: int = 1024 * MiB  # one dataset upload, as sent
    max_expanded_bytes: int = 256 * MiB  # a decompressed JSON object, or an upload once decoded
    max_row_bytes: int = 64 * MiB  # one row of a result or an upload: its text and binary values (+8 per other)
    max_detached_bytes: int = 64 * MiB  # a result left streaming when its session runs another statement
    max_glob_chars: int = 256  # one key glob
    max_local_transfers: int = 16  # same-host transfer connections served at once (mock_server.local_transfer)
    max_local_transfers_per_user: int = 4  # same-host transfer requests of one user running at once
    max_kv_tables_per_user: int = 100  # key-value tables a user owns (mock_server.kv)
    max_kv_item_bytes: int = 1 * MiB  # one key-value item: its key + its attributes as stored (JSON)
    max_kv_attributes: int = 1000  # distinct attribute names of one key-value table (its SQL columns)
    max_kv_key_bytes: int = 1024  # one key-value item's key, UTF-8
    max_users: int = 1000  # accounts, configured and created (mock_server.accounts)
    max_sessions_per_user: int = 256  # open sessions of one user: the least recently used ends beyond it
    max_dataset_cache_bytes: int = half_of_memory() // 4  # decoded dataset versions kept in memory for SQL (LRU)
    memory_limit: int = half_of_memory()  # DuckDB's memory_limit (it spills to DATA_DIR/.duckdb-tmp beyond it)
    max_spill_bytes: int = 8 * GiB  # DuckDB's spill files beyond memory_limit, all queries together

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


def row_bytes(batch: "pa.RecordBatch | pa.Table") -> "pa.Array":
    """Each row's size as the engine counts it for ``max_row_bytes``: the bytes of its text and binary values
    (nested values are text by the time results are encoded) plus 8 for every other column. One vectorised
    length per text/binary column, so it costs little next to encoding."""
    fixed = 0
    sizes = None
    for column in batch.columns:
        if _is_text(column.type):
            lengths = pc.fill_null(pc.binary_length(column), 0)
            sizes = lengths if sizes is None else pc.add(sizes, lengths)
        else:
            fixed += 8
    if sizes is None:
        return pa.array([fixed] * min(batch.num_rows, 1), pa.int64())
    return pc.add(pc.cast(sizes, pa.int64()), fixed)


def _is_text(kind: "pa.DataType") -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) \
        or pa.types.is_large_binary(kind)


def check_rows(limits: Limits, batch: "pa.RecordBatch | pa.Table", what: str) -> None:
    """RESOURCE_EXHAUSTED when a row of ``batch`` is over ``max_row_bytes``."""
    if not batch.num_rows:
        return
    if not any(_is_text(column.type) for column in batch.columns):
        largest = 8 * batch.num_columns  # every row is as wide (row_bytes' count), no array needed
    else:
        largest = pc.max(row_bytes(batch)).as_py() or 0
    if largest > limits.max_row_bytes:
        raise exceeded(limits, "max_row_bytes", f"{what} has a row of {largest} bytes")


UNCLEARED_FACTOR = 4  # a user's delivered-but-not-cleared queries may reach this many times the open limit


def check_open_queries(limits: Limits, user: str, queries: Iterable[Tuple[str, bool]]) -> None:
    """Refuse one more query for ``user`` given (owner, holding) of the live ones. A query *holds* resources
    while it runs or has chunks not yet delivered; one whose result was read to its end and only waits for its
    clear (sent without waiting by clients) holds nearly nothing, so it counts toward a looser bound."""
    holding, live = Counter(), Counter()
    for owner, holds in queries:
        live[owner] += 1
        if holds:
            holding[owner] += 1
    if holding[user] >= limits.max_open_queries_per_user:
        raise exceeded(limits, "max_open_queries_per_user",
                       f"user {user!r} has {holding[user]} open queries; clear some (close cursors)")
    if live[user] >= UNCLEARED_FACTOR * limits.max_open_queries_per_user:
        raise exceeded(limits, "max_open_queries_per_user",
                       f"user {user!r} has {live[user]} queries not cleared ({UNCLEARED_FACTOR}x the open-query "
                       "limit, results read or not); clear some (close cursors)")
    if sum(holding.values()) >= limits.max_open_queries:
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
