"""Streams kept durably in one SQLite database: streams, grants, per-shard sequence counters and records.

Why SQLite (WAL, ``synchronous=FULL``): a put is one transaction, so its records are appended atomically and
are on disk before the call is acknowledged (the WAL is fsynced at commit); after a SIGKILL or power loss SQLite
recovers to the last commit, so no torn record is ever visible. Sequence numbers come from a per-shard counter
row updated in the same transaction: they are gap-free, increasing and never reused, even after retention has
dropped every record. Seeks by sequence or time are index lookups. Append-only segment files would be faster
for very large records, but would need our own framing, recovery, indexes and compaction.

Access: the creator owns a stream (write); the owner and the admin grant ``read``/``write``; the admin has every
access. Without access, a missing stream looks like one without a grant (PERMISSION_DENIED), as for buckets.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import re
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import grpc

from mock_server.access import LEVELS, NONE, access_level, allows
from mock_server import errors
from mock_server.errors import EngineError
from mock_server.limits import DEFAULT_LIMITS, Limits, exceeded

log = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}\Z")
MAX_PARTITION_KEY = 256  # bytes, UTF-8
MAX_RETENTION_HOURS = 24.0 * 366 * 10
SEEK_TYPES = ("EARLIEST", "LATEST", "SEQUENCE", "TIME")
PUT_ID_KEEP_US = 24 * 3600 * 1_000_000  # how long a put id answers a retry
MAX_PUT_ID = 64
MAX_GET_RECORDS = 10_000  # records per get_records call; bytes are capped by max_stream_get_bytes

SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
    shards INTEGER NOT NULL, retention_us INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS grants (
    stream INTEGER NOT NULL, user TEXT NOT NULL, access TEXT NOT NULL, PRIMARY KEY (stream, user));
CREATE TABLE IF NOT EXISTS shards (
    stream INTEGER NOT NULL, shard INTEGER NOT NULL, next_seq INTEGER NOT NULL, last_time INTEGER NOT NULL,
    PRIMARY KEY (stream, shard));
CREATE TABLE IF NOT EXISTS records (
    stream INTEGER NOT NULL, shard INTEGER NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL,
    partition_key TEXT, data BLOB NOT NULL, PRIMARY KEY (stream, shard, seq));
CREATE INDEX IF NOT EXISTS records_by_time ON records (stream, shard, time);
CREATE TABLE IF NOT EXISTS puts (
    stream INTEGER NOT NULL, put_id TEXT NOT NULL, digest TEXT NOT NULL, results TEXT NOT NULL,
    time INTEGER NOT NULL, PRIMARY KEY (stream, put_id));
"""


@dataclass(frozen=True)
class StreamInfo:
    id: int
    name: str
    owner: str
    shards: int
    retention_hours: float
    created: float

    @property
    def retention_us(self) -> int:
        return max(1, round(self.retention_hours * 3600e6))


@dataclass(frozen=True)
class NewRecord:
    data: bytes
    partition_key: Optional[str] = None
    shard: Optional[int] = None


@dataclass(frozen=True)
class StoredRecord:
    shard: int
    sequence: int
    time_us: int  # Unix time in microseconds
    partition_key: Optional[str]
    data: bytes


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise errors.invalid(f"bad stream name {name[:64]!r}: use 1-128 letters, digits, '_' or '-' "
                             "(not starting with '-')" if isinstance(name, str) else "bad stream name")
    return name


def shard_for_key(key: str, shards: int) -> int:
    """The shard a partition key maps to: MD5 of its UTF-8 bytes, as a number, modulo the shard count
    (stable across restarts and machines)."""
    return int.from_bytes(hashlib.md5(key.encode("utf-8")).digest()[:8], "big") % shards


def denied(user: str, name: str, action: str) -> EngineError:
    return EngineError(grpc.StatusCode.PERMISSION_DENIED,
                       f"user {user!r} may not {action} stream {name!r} (no grant)")


def not_found(name: str) -> EngineError:
    return EngineError(grpc.StatusCode.NOT_FOUND, f"stream {name!r} does not exist")


def _digest(records: Sequence[NewRecord]) -> str:
    """What a put appends, as a hash: a put id repeated with other records is a client's mistake."""
    digest = hashlib.sha256()
    for record in records:
        key = record.partition_key.encode("utf-8") if record.partition_key is not None else b""
        digest.update(b"%d:%d:%d:%d:" % (len(record.data), len(key), record.shard is not None, record.shard or 0))
        digest.update(key)
        digest.update(record.data)
    return digest.hexdigest()


def _now_us() -> int:
    return time.time_ns() // 1000


class StreamStore:
    """Every stream of the engine in ``path`` (a SQLite file); thread-safe. Writes go through one connection
    under a lock; reads use a connection per thread (WAL readers never wait for the writer)."""

    def __init__(self, path: str, admin_user: str, limits: Limits = DEFAULT_LIMITS,
                 sweep_interval: float = 30.0, temporary_dir: Optional[str] = None) -> None:
        self.path = path
        self.admin_user = admin_user
        self.limits = limits
        self._temporary_dir = temporary_dir
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: List[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._round_robin = itertools.count()
        self._writer = self._connect()
        self._writer.executescript(SCHEMA)
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, args=(sweep_interval,), name="e6-streams-sweep",
                                         daemon=True)
        self._sweeper.start()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")  # the WAL is fsynced at every commit: acknowledged = on disk
        return con

    def _reader(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._connect()
            self._local.con = con
            with self._readers_lock:
                self._readers.append(con)
        return con

    # ------------------------------------------------------------------ streams and access

    def _info(self, con: sqlite3.Connection, name: str) -> Optional[StreamInfo]:
        row = con.execute("SELECT id, name, owner, shards, retention_us, created FROM streams WHERE name = ?",
                          (name,)).fetchone()
        if row is None:
            return None
        return StreamInfo(row[0], row[1], row[2], row[3], row[4] / 3600e6, row[5])

    def _access(self, con: sqlite3.Connection, user: str, info: Optional[StreamInfo]) -> str:
        def granted() -> Optional[str]:
            assert info is not None
            row = con.execute("SELECT access FROM grants WHERE stream = ? AND user = ?", (info.id, user)).fetchone()
            return row[0] if row else None
        return access_level(user, self.admin_user, info.owner if info else None, granted)

    def stream(self, user: str, name: str, write: bool = False,
               con: Optional[sqlite3.Connection] = None) -> Tuple[StreamInfo, str]:
        """(the stream, the user's access) if ``user`` may read (``write``: write) it; else INVALID_ARGUMENT,
        PERMISSION_DENIED or NOT_FOUND (NOT_FOUND only for those who could see it: the admin)."""
        check_name(name)
        con = con or self._reader()
        info = self._info(con, name)
        access = self._access(con, user, info)
        if not allows(access, write):
            raise denied(user, name, "write to" if write else "read")
        if info is None:
            raise not_found(name)
        return info, access

    def visible(self, user: str) -> List[Tuple[StreamInfo, str]]:
        """(stream, access) of every stream ``user`` may read, by name."""
        con = self._reader()
        rows = con.execute("SELECT name FROM streams ORDER BY name").fetchall()
        out = []
        for (name,) in rows:
            info = self._info(con, name)
            access = self._access(con, user, info)
            if info is not None and access != NONE:
                out.append((info, access))
        return out

    def create(self, user: str, name: str, shards: int, retention_hours: float) -> StreamInfo:
        check_name(name)
        if not 1 <= shards <= self.limits.max_shards_per_stream:
            if shards < 1:
                raise errors.invalid(f"a stream needs at least 1 shard, not {shards}")
            raise exceeded(self.limits, "max_shards_per_stream", f"stream {name!r} with {shards} shards")
        if not (math.isfinite(retention_hours) and 0 < retention_hours <= MAX_RETENTION_HOURS):
            raise errors.invalid(f"retention_hours must be > 0 and at most {MAX_RETENTION_HOURS:g}, "
                                 f"not {retention_hours!r}")
        with self._lock:
            con = self._writer
            existing = self._info(con, name)
            if existing is not None:
                if self._access(con, user, existing) == NONE:
                    raise denied(user, name, "create")
                raise EngineError(grpc.StatusCode.ALREADY_EXISTS, f"stream {name!r} already exists")
            if user != self.admin_user:
                owned = con.execute("SELECT count(*) FROM streams WHERE owner = ?", (user,)).fetchone()[0]
                if owned >= self.limits.max_streams_per_user:
                    raise exceeded(self.limits, "max_streams_per_user", f"user {user!r} has {owned} streams")
            created = time.time()
            with _transaction(con):
                cursor = con.execute("INSERT INTO streams (name, owner, shards, retention_us, created) "
                                     "VALUES (?, ?, ?, ?, ?)",
                                     (name, user, shards, max(1, round(retention_hours * 3600e6)), created))
                con.executemany("INSERT INTO shards VALUES (?, ?, 1, 0)",
                                [(cursor.lastrowid, s) for s in range(shards)])
            log.info("stream %s created by %s (%d shards)", name, user, shards)
            return self._info(con, name)  # type: ignore[return-value]

    def delete(self, user: str, name: str) -> bool:
        """Delete a stream and its records; its owner or the admin. False when the admin deletes a missing one."""
        with self._lock:
            con = self._writer
            try:
                info, _ = self.stream(user, name, write=True, con=con)
            except EngineError as exc:
                if exc.code == grpc.StatusCode.NOT_FOUND:
                    return False
                raise
            if user not in (self.admin_user, info.owner):
                raise denied(user, name, "delete")
            with _transaction(con):
                for table in ("records", "shards", "grants", "puts"):
                    con.execute(f"DELETE FROM {table} WHERE stream = ?", (info.id,))  # noqa: S608 - constant
                con.execute("DELETE FROM streams WHERE id = ?", (info.id,))
            log.info("stream %s deleted by %s", name, user)
            return True

    def grant(self, granter: str, name: str, grantee: str, level: str) -> str:
        if level not in LEVELS:
            raise errors.invalid(f"access must be one of {', '.join(LEVELS)}, not {level!r}")
        if not grantee or len(grantee) > 128 or not grantee.isprintable():
            raise errors.invalid("grant needs a user name of 1-128 printable characters")
        with self._lock:
            con = self._writer
            info, _ = self.stream(granter, name, con=con)
            if granter not in (self.admin_user, info.owner):
                raise denied(granter, name, "grant access to")
            if grantee == info.owner and level != "write":
                raise EngineError(grpc.StatusCode.FAILED_PRECONDITION,
                                  f"user {grantee!r} owns stream {name!r}; the owner keeps write access")
            with _transaction(con):
                if level == NONE:
                    con.execute("DELETE FROM grants WHERE stream = ? AND user = ?", (info.id, grantee))
                else:
                    con.execute("INSERT OR REPLACE INTO grants VALUES (?, ?, ?)", (info.id, grantee, level))
            return self._access(con, grantee, info)

    # ------------------------------------------------------------------ records

    def put(self, user: str, name: str, records: Sequence[NewRecord], put_id: str = "") -> List[Tuple[int, int]]:
        """Append ``records`` in one durable commit; (shard, sequence) of each, in order. A ``put_id`` seen
        before (a client retrying a put whose answer it lost) returns that put's results, appending nothing."""
        if len(put_id) > MAX_PUT_ID:
            raise errors.invalid(f"put_id is over {MAX_PUT_ID} characters")
        if len(records) > self.limits.max_records_per_put:
            raise exceeded(self.limits, "max_records_per_put", f"a put of {len(records)} records")
        if not records:
            raise errors.invalid("put_records needs at least one record")
        for i, record in enumerate(records):
            if len(record.data) > self.limits.max_stream_record_bytes:
                raise exceeded(self.limits, "max_stream_record_bytes", f"record {i} has {len(record.data)} bytes")
            if record.partition_key is not None and len(record.partition_key.encode("utf-8")) > MAX_PARTITION_KEY:
                raise errors.invalid(f"record {i}: partition key over {MAX_PARTITION_KEY} bytes")
        with self._lock:
            con = self._writer
            info, _ = self.stream(user, name, write=True, con=con)
            digest = _digest(records) if put_id else ""
            if put_id:
                row = con.execute("SELECT digest, results FROM puts WHERE stream = ? AND put_id = ?",
                                  (info.id, put_id)).fetchone()
                if row is not None:
                    if row[0] != digest:
                        raise EngineError(grpc.StatusCode.FAILED_PRECONDITION,
                                          f"put_id {put_id!r} was used for other records; use a new id per put")
                    return [tuple(pair) for pair in json.loads(row[1])]  # type: ignore[misc]
            shards = [self._shard_of(info, i, r) for i, r in enumerate(records)]
            counters = {s: con.execute("SELECT next_seq, last_time FROM shards WHERE stream = ? AND shard = ?",
                                       (info.id, s)).fetchone() for s in set(shards)}
            now = _now_us()
            results, rows = [], []
            for shard, record in zip(shards, records):
                seq, last = counters[shard]
                stamp = max(now, last)  # time never goes backwards within a shard, so TIME seeks are exact
                rows.append((info.id, shard, seq, stamp, record.partition_key, record.data))
                results.append((shard, seq))
                counters[shard] = (seq + 1, stamp)
            with _transaction(con):
                con.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)", rows)
                con.executemany("UPDATE shards SET next_seq = ?, last_time = ? WHERE stream = ? AND shard = ?",
                                [(seq, stamp, info.id, s) for s, (seq, stamp) in counters.items()])
                if put_id:
                    con.execute("INSERT INTO puts VALUES (?, ?, ?, ?, ?)",
                                (info.id, put_id, digest, json.dumps(results), now))
            return results

    def _shard_of(self, info: StreamInfo, index: int, record: NewRecord) -> int:
        if record.shard is not None:
            if not 0 <= record.shard < info.shards:
                raise errors.invalid(f"record {index}: shard {record.shard} out of range: stream {info.name!r} "
                                     f"has shards 0-{info.shards - 1}")
            return record.shard
        if record.partition_key is not None:
            return shard_for_key(record.partition_key, info.shards)
        return next(self._round_robin) % info.shards

    def _shard(self, user: str, name: str, shard: int) -> Tuple[StreamInfo, sqlite3.Connection, int, int]:
        """(stream, reader, next sequence, oldest retained time in µs) of a readable shard."""
        info, _ = self.stream(user, name)
        if not 0 <= shard < info.shards:
            raise errors.invalid(f"shard {shard} out of range: stream {name!r} has shards 0-{info.shards - 1}")
        con = self._reader()
        next_seq = con.execute("SELECT next_seq FROM shards WHERE stream = ? AND shard = ?",
                               (info.id, shard)).fetchone()[0]
        return info, con, next_seq, _now_us() - info.retention_us

    def seek(self, user: str, name: str, shard: int, kind: str, sequence: int = 0, timestamp_us: int = 0) -> int:
        """The location (sequence of the next record to read) of a seek of ``kind``."""
        kind = (kind or "").upper()
        if kind not in SEEK_TYPES:
            raise errors.invalid(f"seek type must be one of {', '.join(SEEK_TYPES)}, not {kind!r}")
        info, con, next_seq, cutoff = self._shard(user, name, shard)
        if kind == "LATEST":
            return next_seq
        if kind == "SEQUENCE":
            if not 1 <= sequence <= next_seq:
                raise errors.invalid(f"sequence {sequence} is not in shard {shard} of stream {name!r} "
                                     f"(its sequences are below {next_seq})")
            return sequence
        since = cutoff
        if kind == "TIME":
            since = max(cutoff, timestamp_us)
        row = con.execute("SELECT min(seq) FROM records WHERE stream = ? AND shard = ? AND time >= ?",
                          (info.id, shard, since)).fetchone()
        return row[0] if row[0] is not None else next_seq

    def get(self, user: str, name: str, shard: int, location: int,
            limit: int) -> Tuple[List[StoredRecord], int, int]:
        """(records from ``location`` on, at most ``limit`` and about max_stream_get_bytes, next location,
        records behind the latest)."""
        if limit < 0:
            raise errors.invalid(f"limit must be >= 0, not {limit}")
        info, con, next_seq, cutoff = self._shard(user, name, shard)
        if not 1 <= location <= next_seq:
            raise errors.invalid(f"location {location} is not in shard {shard} of stream {name!r} "
                                 "(use a location from seek or get_records)")
        limit = min(limit or MAX_GET_RECORDS, MAX_GET_RECORDS)
        records = _read(con, info, shard, location, next_seq, cutoff, limit, self.limits.max_stream_get_bytes)
        # Empty: nothing retained at or after ``location`` (limit >= 1), so reading resumes at the shard's end.
        following = records[-1].sequence + 1 if records else next_seq
        return records, following, max(0, next_seq - following)

    def scan(self, info: StreamInfo, batch_rows: int = 4096,
             batch_bytes: int = 16 * 1024 * 1024) -> Iterator[List[StoredRecord]]:
        """Every retained record of ``info`` (access already checked) as of the call, shard by shard in sequence
        order, in lists of at most ``batch_rows`` records and about ``batch_bytes`` of data, each read by a short
        transaction (no snapshot held open while SQL reads)."""
        con = self._connect()  # the caller's thread (DuckDB's) gets a connection of its own
        try:
            ends = dict(con.execute("SELECT shard, next_seq FROM shards WHERE stream = ?", (info.id,)).fetchall())
            cutoff = _now_us() - info.retention_us
            for shard in range(info.shards):
                position, end = 1, ends.get(shard, 1)
                while position < end:
                    records = _read(con, info, shard, position, end, cutoff, batch_rows, batch_bytes)
                    if not records:
                        break
                    yield records
                    position = records[-1].sequence + 1
        finally:
            con.close()

    # ------------------------------------------------------------------ retention and life cycle

    def sweep(self) -> int:
        """Drop records older than their stream's retention; returns how many were dropped."""
        dropped = 0
        with self._lock:
            streams = self._writer.execute("SELECT id, retention_us FROM streams").fetchall()
        for stream_id, retention_us in streams:  # one short transaction per stream: puts wait little
            with self._lock, _transaction(self._writer):
                now = _now_us()
                dropped += self._writer.execute("DELETE FROM records WHERE stream = ? AND time < ?",
                                                (stream_id, now - retention_us)).rowcount
                self._writer.execute("DELETE FROM puts WHERE stream = ? AND time < ?",
                                     (stream_id, now - PUT_ID_KEEP_US))
        if dropped:
            log.info("stream retention dropped %d records", dropped)
        return dropped

    def _sweep_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - the sweeper must survive
                log.exception("stream sweep failed")

    def close(self) -> None:
        self._stop.set()
        self._sweeper.join(5)
        with self._lock:
            self._writer.close()
        with self._readers_lock:
            for con in self._readers:
                con.close()
            self._readers.clear()
        if self._temporary_dir:
            import shutil

            shutil.rmtree(self._temporary_dir, ignore_errors=True)


def _read(con: sqlite3.Connection, info: StreamInfo, shard: int, start: int, end: int, cutoff: int, rows: int,
          max_bytes: int) -> List[StoredRecord]:
    """Retained records of a shard with ``start <= sequence < end``, in order: at most ``rows``, and no more data
    than ``max_bytes`` once there is one (a record is never over a get), read row by row (bounded memory)."""
    cursor = con.execute("SELECT seq, time, partition_key, data FROM records WHERE stream = ? AND shard = ? "
                         "AND seq >= ? AND seq < ? AND time >= ? ORDER BY seq LIMIT ?",
                         (info.id, shard, start, end, cutoff, rows))
    records: List[StoredRecord] = []
    size = 0
    try:
        for seq, stamp, key, data in cursor:
            if records and size + len(data) > max_bytes:
                break  # the rest comes with the next call
            size += len(data)
            records.append(StoredRecord(shard, seq, stamp, key, bytes(data)))
    finally:
        cursor.close()
    return records


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self.con.execute("COMMIT" if kind is None else "ROLLBACK")


def open_streams(data_dir: Optional[str], admin_user: str, limits: Limits = DEFAULT_LIMITS) -> StreamStore:
    """The server's streams in DATA_DIR/streams.sqlite (a temporary directory without ``data_dir``)."""
    if data_dir:
        os.makedirs(data_dir, exist_ok=True)
        return StreamStore(os.path.join(data_dir, "streams.sqlite"), admin_user, limits)
    temporary = tempfile.mkdtemp(prefix="e6streams-")
    return StreamStore(os.path.join(temporary, "streams.sqlite"), admin_user, limits, temporary_dir=temporary)
