"""Versioned datasets: Parquet (LZ4) files encrypted per version, metadata in SQLite, grants, notifications.

Layout under DATA_DIR: ``datasets.sqlite`` (metadata), ``datasets/<name>/v<N>.e6ds`` (encrypted versions),
``datasets/.tmp`` (files being committed), ``datasets/.uploads`` (uploads in progress, see
:mod:`mock_server.datasets.uploads`). A version is committed atomically: the encrypted file is written to
``.tmp`` as its rows arrive, decoded again in full (every part authenticated, the row count compared), fsynced
and renamed into place; only then does one SQLite transaction record the version (checksum: the SHA-256 of the
stored file) and queue a notification for every subscriber. A failure at any step leaves neither file nor
metadata behind; after a crash, opening the store removes what a commit left half done (files in ``.tmp``,
version files SQLite does not record).

Reads never write plaintext anywhere. A version file is Parquet with modular encryption
(:mod:`mock_server.datasets.modular`): Arrow's reader decrypts (and authenticates) in memory just the footer and
the column chunks asked for. Versions stored in the first formats (:class:`~mock_server.datasets.crypto.SegmentFile`)
stay readable (:mod:`mock_server.datasets.versions`). SQL (:meth:`DatasetStore.read`) gets the decoded version
from an in-memory LRU cache (:mod:`mock_server.datasets.cache`, ``--max-dataset-cache-bytes``; filled when a
version is published and, in the background, after a miss), or a dataset over the file from which the query reads
only its row groups and columns (a miss, or a version larger than the cache). Row groups hold about
:data:`ROW_GROUP_BYTES` decoded, which bounds what a download (:meth:`DatasetStore.download`,
:mod:`mock_server.datasets.stream`) and a publish hold at once.

Access: ``none`` < ``read`` < ``write``; the creator owns a dataset (write, may grant), the admin (first
user) may do everything. A dataset a user may not read looks missing to them: NOT_FOUND, by name or by id,
as for one that does not exist (:meth:`DatasetStore.require`); names are one namespace, so only creating a
taken name tells it exists (ALREADY_EXISTS). Downloads are counted per dataset (:meth:`count_download`). A
dataset has a name and a UUID (``id``); every method taking a dataset accepts either
(:meth:`DatasetStore.resolve`). :meth:`DatasetStore.poll` long-polls: it waits on a condition that
every published version signals.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Tuple

import grpc
import pyarrow as pa
import pyarrow.parquet as pq

from mock_server.datasets.cache import VersionCache
from mock_server.datasets.crypto import DecryptionError, load_master_key
from mock_server.datasets.modular import VersionCrypto
from mock_server.datasets.versions import StoredVersion, unreadable
from mock_server.datasets.stream import ENCODING, batches, ipc_pieces, stream_size
from mock_server.datasets.uploads import UploadSpool
from mock_server.errors import EngineError
from mock_server.files import fsync_dir
from mock_server.limits import DEFAULT_LIMITS, Limits
from mock_server.datasets.formats import schema_difference, sql_unreadable
from mock_server.datasets.names import check_name, is_id

LEVELS = ("none", "read", "write")
ADMIN = "admin"
# Crash tests only: seconds to wait between moving a version file into place and recording it in SQLite.
COMMIT_PAUSE_ENV = "E6DRIVER_TEST_DATASET_COMMIT_PAUSE"
_VERSION_FILE = re.compile(r"^v(\d+)\.e6ds$")
FRESHNESS = ("hourly", "daily", "weekly", "monthly")
MAX_WAIT = 60.0  # seconds a poll may wait for a notification
# Decoded bytes of a stored row group (about): what a download holds decoded at once, and the unit a query skips.
# 32 MiB: scans took ~7% less CPU than with 16 MiB (fewer row groups to open), downloads hold ~35 MB more.
ROW_GROUP_BYTES = 32 * 1024 * 1024
# Codec of new version files: scans of a version larger than the cache took 30-40% less CPU with LZ4 than with zstd
# (decompression was most of it) for files ~20% larger (bench/datasets.py's table: 325 MB against 272 MB).
COMPRESSION = "lz4"
# Columns added after the first release; an older datasets.sqlite gets them on open.
_ADDED_COLUMNS = (("id", "TEXT"), ("description", "TEXT NOT NULL DEFAULT ''"),
                  ("freshness", "TEXT NOT NULL DEFAULT ''"), ("downloads", "INTEGER NOT NULL DEFAULT 0"))
# The version's Arrow schema (serialized) and its download stream's size ("<stream.ENCODING>:<bytes>": measured
# again under another encoding); NULL before they existed.
_ADDED_VERSION_COLUMNS = (("schema", "BLOB"), ("stream_size", "TEXT"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (name TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL,
                                     version INTEGER NOT NULL DEFAULT 0, id TEXT,
                                     description TEXT NOT NULL DEFAULT '', freshness TEXT NOT NULL DEFAULT '',
                                     downloads INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS versions (dataset TEXT NOT NULL, version INTEGER NOT NULL, file TEXT NOT NULL,
                                     rows INTEGER NOT NULL, bytes INTEGER NOT NULL, sha256 TEXT NOT NULL,
                                     wrapped_key BLOB NOT NULL, created REAL NOT NULL, by TEXT NOT NULL,
                                     schema BLOB, stream_size TEXT, PRIMARY KEY (dataset, version));
CREATE TABLE IF NOT EXISTS grants (dataset TEXT NOT NULL, user TEXT NOT NULL, access TEXT NOT NULL,
                                   PRIMARY KEY (dataset, user));
CREATE TABLE IF NOT EXISTS subscriptions (dataset TEXT NOT NULL, user TEXT NOT NULL,
                                          PRIMARY KEY (dataset, user));
CREATE TABLE IF NOT EXISTS notifications (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL,
                                          dataset TEXT NOT NULL, version INTEGER NOT NULL,
                                          created REAL NOT NULL, by TEXT NOT NULL,
                                          seen INTEGER NOT NULL DEFAULT 0);
"""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    owner: str
    version: int  # the version described (the current one unless asked for another)
    rows: int
    bytes: int  # stored (encrypted) size of that version
    created: float  # the dataset's creation
    id: str = ""
    description: str = ""
    freshness: str = ""
    versions: int = 0  # stored versions
    checksum: str = ""  # sha256:<hex> of the version's Parquet bytes
    updated: float = 0.0  # the version's publication
    downloads: int = 0  # completed downloads of the dataset through the Download RPC (any version; SQL reads not)


@dataclass(frozen=True)
class Notice:
    id: int
    dataset: str
    version: int
    created: float
    by: str
    dataset_id: str = ""


def _error(code: grpc.StatusCode, message: str) -> EngineError:
    return EngineError(code, message)


def _not_found(dataset: str) -> EngineError:
    """What a dataset that does not exist, or that the caller may not read, looks like: the same answer, naming
    only what the caller gave (a name or an id), so neither existence nor an id's name leaks."""
    return _error(grpc.StatusCode.NOT_FOUND, f"dataset {dataset!r} not found")


def check_freshness(freshness: str) -> str:
    if freshness and freshness not in FRESHNESS:
        raise _error(grpc.StatusCode.INVALID_ARGUMENT, f"invalid freshness {freshness!r}: use one of "
                     f"{', '.join(FRESHNESS)} (or leave it empty)")
    return freshness


class DatasetStore:
    def __init__(self, data_dir: str, admin_user: str, master_key_file: Optional[str] = None) -> None:
        self.root = os.path.join(data_dir, "datasets")
        self._tmp = os.path.join(self.root, ".tmp")
        os.makedirs(self._tmp, exist_ok=True)
        self.admin_user = admin_user
        self._master = load_master_key(master_key_file or os.path.join(data_dir, "master.key"))
        self._crypto = VersionCrypto(self._master)
        self._lock = threading.RLock()
        self._published = threading.Condition(self._lock)  # notified on every new version and on close
        self._publishers: dict = {}  # name → [its publish lock, holders and waiters]
        self._closed = False
        self._db = sqlite3.connect(os.path.join(data_dir, "datasets.sqlite"), check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._migrate()
        self._recover()
        self.uploads = UploadSpool(os.path.join(self.root, ".uploads"), self._master)
        self.cache = VersionCache(DEFAULT_LIMITS.max_dataset_cache_bytes)

    def configure(self, limits: Limits) -> None:
        """Apply the server's limits (the decoded-version cache's size)."""
        self.cache.limit = limits.max_dataset_cache_bytes

    def _migrate(self) -> None:
        """Columns an older store lacks, and an id for every dataset created before ids existed."""
        have = {r[1] for r in self._db.execute("PRAGMA table_info(datasets)")}
        for column, kind in _ADDED_COLUMNS:
            if column not in have:
                self._db.execute(f"ALTER TABLE datasets ADD COLUMN {column} {kind}")
        have = {r[1] for r in self._db.execute("PRAGMA table_info(versions)")}
        for column, kind in _ADDED_VERSION_COLUMNS:
            if column not in have:
                self._db.execute(f"ALTER TABLE versions ADD COLUMN {column} {kind}")
        for (name,) in self._db.execute("SELECT name FROM datasets WHERE id IS NULL").fetchall():
            self._db.execute("UPDATE datasets SET id = ? WHERE name = ?", (str(uuid.uuid4()), name))

    def _recover(self) -> None:
        """Remove the leftovers of commits a crash interrupted (see the module doc)."""
        for entry in os.listdir(self._tmp):
            _unlink(os.path.join(self._tmp, entry))
        recorded = {(d, v) for d, v in self._db.execute("SELECT dataset, version FROM versions")}
        for name in os.listdir(self.root):
            folder = os.path.join(self.root, name)
            if name.startswith(".") or not os.path.isdir(folder):
                continue
            for entry in os.listdir(folder):
                match = _VERSION_FILE.match(entry)
                if match and (name, int(match.group(1))) not in recorded:
                    _unlink(os.path.join(folder, entry))

    def close(self) -> None:
        self.cache.close()  # its loader reads through this store: stopped first
        with self._lock:
            self._closed = True
            self._published.notify_all()
            self._db.close()

    # ------------------------------------------------------------------ access

    def _row(self, name: str) -> Optional[tuple]:
        """(owner, version, created, id, description, freshness, downloads) of dataset ``name``, or None."""
        return self._db.execute("SELECT owner, version, created, id, description, freshness, downloads "
                                "FROM datasets WHERE name = ?", (name,)).fetchone()

    def resolve(self, dataset: str) -> str:
        """The name of ``dataset``, given as its name or its id (NOT_FOUND for an unknown id)."""
        if is_id(dataset):
            with self._lock:
                row = self._db.execute("SELECT name FROM datasets WHERE id = ?", (dataset,)).fetchone()
            if row is None:
                raise _not_found(dataset)
            return row[0]
        return check_name(dataset)

    def access(self, user: str, name: str) -> str:
        if user == self.admin_user:
            return ADMIN
        with self._lock:
            row = self._row(name)
            if row is not None and row[0] == user:
                return "write"
            grant = self._db.execute("SELECT access FROM grants WHERE dataset = ? AND user = ?",
                                     (name, user)).fetchone()
        return grant[0] if grant else "none"

    def require(self, user: str, dataset: str, write: bool = False) -> str:
        """The name of ``dataset`` (a name or id) after checking access. A dataset the user may not read
        answers NOT_FOUND exactly as a missing one does (by name or by id: the message names what was
        given); PERMISSION_DENIED only when the user may read it but the call needs ``write``."""
        name = self.resolve(dataset)
        with self._lock:
            exists = self._row(name) is not None
        access = self.access(user, name) if exists else "none"
        if access == "none":
            raise _not_found(dataset)
        if write and access == "read":
            raise _error(grpc.StatusCode.PERMISSION_DENIED, f"user {user!r} may only read dataset {dataset!r}: "
                         "writing needs a write grant")
        return name

    def grant(self, granter: str, dataset: str, grantee: str, level: str) -> str:
        """Set ``grantee``'s access; the owner or the admin only (NOT_FOUND as :meth:`require` for others who
        cannot read the dataset, PERMISSION_DENIED for readers and writers)."""
        if level not in LEVELS:
            raise _error(grpc.StatusCode.INVALID_ARGUMENT, f"access must be one of {', '.join(LEVELS)}")
        name = self.require(granter, dataset)
        with self._lock:
            if self.access(granter, name) != ADMIN and self._row(name)[0] != granter:
                raise _error(grpc.StatusCode.PERMISSION_DENIED,
                             f"user {granter!r} may not grant access to dataset {dataset!r} (not its owner)")
            if level == "none":
                self._db.execute("DELETE FROM grants WHERE dataset = ? AND user = ?", (name, grantee))
            else:
                self._db.execute("INSERT OR REPLACE INTO grants VALUES (?, ?, ?)", (name, grantee, level))
        return self.access(grantee, name)

    # ------------------------------------------------------------------ listing

    def _info(self, name: str, version: int = 0) -> DatasetInfo:
        if not 0 <= version < 2 ** 31:  # versions are int32 on the wire; SQL may name any number
            raise _error(grpc.StatusCode.NOT_FOUND, f"dataset {name!r} has no version {version}")
        with self._lock:
            row = self._row(name)
            if row is None:
                raise _error(grpc.StatusCode.NOT_FOUND, f"dataset {name!r} not found")
            wanted = version or row[1]
            ver = self._db.execute("SELECT rows, bytes, created, sha256 FROM versions "
                                   "WHERE dataset = ? AND version = ?", (name, wanted)).fetchone()
            count = self._db.execute("SELECT count(*) FROM versions WHERE dataset = ?", (name,)).fetchone()[0]
        if ver is None:
            raise _error(grpc.StatusCode.NOT_FOUND, f"dataset {name!r} has no version {wanted}")
        return DatasetInfo(name, row[0], wanted, ver[0], ver[1], row[2], id=row[3], description=row[4],
                           freshness=row[5], versions=count, checksum=f"sha256:{ver[3]}", updated=ver[2],
                           downloads=row[6])

    def visible(self, user: str) -> List[Tuple[DatasetInfo, str]]:
        with self._lock:
            names = [r[0] for r in self._db.execute("SELECT name FROM datasets WHERE version > 0 ORDER BY name")]
        out = []
        for name in names:
            access = self.access(user, name)
            if access != "none":
                out.append((self._info(name), access))
        return out

    # ------------------------------------------------------------------ versions

    def publish(self, user: str, name: str, data: Any, create: bool, description: str = "",
                freshness: str = "", allow_schema_change: bool = False) -> DatasetInfo:
        """Store ``data`` (an Arrow table, or record batches with a ``schema``: a RecordBatchReader or
        :class:`~mock_server.datasets.formats.UploadRows`, written as they come, so only about a row group is held)
        as a new version (a new dataset when ``create``), atomically; see the module doc.
        ``description`` and ``freshness`` are set on create, replaced on a new version when not empty. A new
        version must have the current one's columns (names and types, in any order) unless
        ``allow_schema_change``: INVALID_ARGUMENT naming the differing columns otherwise."""
        name = check_name(name) if create else self.require(user, name, write=True)
        check_freshness(freshness)
        reader = data.to_reader() if isinstance(data, pa.Table) else data
        if not reader.schema.names:  # SQL could not read it: DuckDB scans no table without columns
            raise _error(grpc.StatusCode.INVALID_ARGUMENT, f"the data for dataset {name!r} has no columns: a version "
                         "needs at least one (an empty list of rows has none; give a table with its columns)")
        unreadable = sql_unreadable(reader.schema)
        if unreadable:  # stored, every query of it would fail (UNIMPLEMENTED 'Unsupported Internal Arrow Type e')
            raise _error(grpc.StatusCode.INVALID_ARGUMENT, f"the data for dataset {name!r}: {'; '.join(unreadable)}, "
                         "which SQL cannot read (cast halffloat to float32, decimal256 to decimal128 or string)")
        # One publish of a dataset at a time (its version number); the store's lock only around SQLite, so a large
        # version being written and verified holds up no other dataset's reads, listings or publishes.
        with self._publishing(name):
            with self._lock:
                row = self._row(name)
            if create and row is not None:
                raise _error(grpc.StatusCode.ALREADY_EXISTS, f"dataset {name!r} already exists; update it")
            if row is not None and row[1] and not allow_schema_change:
                current = self._schema(name, row[1])
                differences = schema_difference(current, reader.schema)
                if differences:
                    raise _error(grpc.StatusCode.INVALID_ARGUMENT, f"the new version of dataset {name!r} has a "
                                 f"different schema than version {row[1]}: {'; '.join(differences)} "
                                 "(pass allow_schema_change=True to publish it anyway)")
                reader = _Recast(reader, current)
            version = (row[1] if row else 0) + 1
            tmp = os.path.join(self._tmp, f"{name}.v{version}.{uuid.uuid4().hex}")
            final_dir = os.path.join(self.root, name)
            final = os.path.join(final_dir, f"v{version}.e6ds")
            try:
                rows = self._write(tmp, reader, name, version)
                digest = _file_sha256(tmp)
                stream_bytes, decoded = self._decode_once(tmp, name, version, rows)
                os.makedirs(final_dir, exist_ok=True)
                os.replace(tmp, final)
                fsync_dir(final_dir)
            except BaseException:
                _unlink(tmp)
                raise
            pause = float(os.environ.get(COMMIT_PAUSE_ENV) or 0)
            if pause > 0:
                time.sleep(pause)
            now = time.time()
            identity = file_identity(final)  # the file ``decoded`` came from (renamed, not rewritten)
            stored = identity[2]
            with self._lock:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    if row is None:
                        self._db.execute("INSERT INTO datasets (name, owner, created, version, id, description, "
                                         "freshness) VALUES (?, ?, ?, 0, ?, ?, ?)",
                                         (name, user, now, str(uuid.uuid4()), description, freshness))
                    else:
                        for column, value in (("description", description), ("freshness", freshness)):
                            if value:
                                self._db.execute(f"UPDATE datasets SET {column} = ? WHERE name = ?",
                                                 (value, name))
                    self._db.execute("INSERT INTO versions (dataset, version, file, rows, bytes, sha256, "
                                     "wrapped_key, created, by, schema, stream_size) VALUES "
                                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                     (name, version, final, rows, stored, digest, b"", now, user,  # key: in file
                                      reader.schema.serialize().to_pybytes(), f"{ENCODING}:{stream_bytes}"))
                    self._db.execute("UPDATE datasets SET version = ? WHERE name = ?", (version, name))
                    self._db.execute("INSERT INTO notifications (user, dataset, version, created, by) "
                                     "SELECT user, dataset, ?, ?, ? FROM subscriptions WHERE dataset = ?",
                                     (version, now, user, name))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    _unlink(final)
                    raise
                if decoded is not None:
                    self.cache.put((name, version), decoded, identity)
                self._published.notify_all()
            return self._info(name, version)

    @contextmanager
    def _publishing(self, name: str) -> Iterator[None]:
        """Hold dataset ``name``'s publish lock (made on first use, forgotten when nobody holds or waits for it)."""
        with self._lock:
            entry = self._publishers.setdefault(name, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if not entry[1]:
                    del self._publishers[name]

    def _write(self, path: str, reader: Any, name: str, version: int) -> int:
        """Write ``reader``'s rows to ``path`` as an encrypted Parquet file (fsynced) in row groups of about
        :data:`ROW_GROUP_BYTES` decoded; its row count."""
        rows = 0
        with open(path, "wb") as out:
            with pq.ParquetWriter(out, reader.schema, compression=COMPRESSION,
                                  encryption_properties=self._crypto.encryption(name, version)) as writer:
                for group in _row_groups(reader):
                    if group.num_rows:  # Arrow refuses a row group of 0 rows; no row group is an empty version
                        writer.write_table(group, row_group_size=group.num_rows)
                    rows += group.num_rows
            out.flush()
            os.fsync(out.fileno())
        return rows

    def _decode_once(self, path: str, name: str, version: int, rows: int) -> Tuple[int, Any]:
        """Decode a version file being committed as downloads will, authenticating every part of it: (its download
        stream's size, the decoded table when it fits the cache else None). DATA_LOSS when it does not decode to
        ``rows`` rows."""
        try:
            with StoredVersion(path, self._crypto, self._master, None, name, version) as stored:
                source = stored.parquet()
                keep = _decoded_estimate(source.metadata) <= self.cache.limit
                sink, kept = pa.MockOutputStream(), []
                with pa.ipc.new_stream(sink, source.schema_arrow) as writer:
                    for batch in batches(source):
                        writer.write_batch(batch)
                        if keep:
                            kept.append(batch)
                decoded = pa.Table.from_batches(kept, schema=source.schema_arrow) if keep else None
                written = source.metadata.num_rows
        except (DecryptionError, OSError) as exc:
            raise _error(grpc.StatusCode.DATA_LOSS, f"encrypted version failed verification: {exc}") from None
        if written != rows or (decoded is not None and decoded.num_rows != rows):
            raise _error(grpc.StatusCode.DATA_LOSS, "encrypted version failed verification")
        return sink.size(), decoded

    def read(self, user: str, name: str, version: int = 0) -> Tuple[DatasetInfo, Any]:
        """A version (0 = current) for SQL, after checking ``user`` may read it (on every call: the cache knows no
        users). The decoded Arrow table from the cache; else a dataset over the encrypted file from which the query
        decrypts and decodes only the row groups and columns it asks for, while the version, when it fits the
        cache, is decoded into it in the background for the queries after."""
        name = self.require(user, name)
        info = self._info(name, version)
        key = (name, info.version)
        with self._readable(name, info.version):  # one stat: a damaged or replaced file is read again
            table = self.cache.get(key, file_identity(self._file(name, info.version)))
        if table is not None:
            return info, table
        stored = self._open(name, info.version)  # a segment file stays open for the query; closed when collected
        with self._readable(name, info.version):
            dataset = stored.dataset()
        first = next(iter(dataset.get_fragments()), None)  # None: a version without rows has no row group
        if (_decoded_estimate(first.metadata) if first else 0) <= self.cache.limit:
            self.cache.warm(key, lambda: self._decode(name, info.version))  # for the next queries
        return info, dataset

    def _decode(self, name: str, version: int) -> Tuple[pa.Table, tuple]:
        """A version decoded whole, for the cache, and the identity of its file (taken first: a file changed while
        it is decoded does not match it). On one thread, so the background loader leaves Arrow's CPU pool to the
        queries that read the file meanwhile."""
        identity = file_identity(self._file(name, version))
        with self._open(name, version) as stored, self._readable(name, version):
            return stored.parquet().read(use_threads=False), identity

    def download(self, user: str, name: str, version: int = 0,
                 piece: int = 1 << 20) -> Tuple[DatasetInfo, int, Iterator[bytes]]:
        """(info, size, pieces) of a version's download stream (Arrow IPC) after checking ``user`` may read it:
        decrypted and decoded row group by row group from the file as the pieces are taken, so memory stays
        bounded whatever the version's size."""
        name = self.require(user, name)
        info = self._info(name, version)
        total = self._stream_size(name, info.version)
        stored = self._open(name, info.version)

        def pieces() -> Iterator[bytes]:
            try:
                with self._readable(name, info.version):
                    yield from ipc_pieces(stored.parquet(), piece)
            finally:
                stored.close()
        return info, total, pieces()

    def _stream_size(self, name: str, version: int) -> int:
        """The size of a version's download stream, measured once per encoding (see _ADDED_VERSION_COLUMNS)."""
        with self._lock:
            (known,) = self._db.execute("SELECT stream_size FROM versions WHERE dataset = ? AND version = ?",
                                        (name, version)).fetchone()
        encoder, _, size = (known or "").rpartition(":")
        if encoder == ENCODING and size.isdigit():
            return int(size)
        with self._open(name, version) as stored, self._readable(name, version):
            measured = stream_size(stored.parquet())
        with self._lock:
            self._db.execute("UPDATE versions SET stream_size = ? WHERE dataset = ? AND version = ?",
                             (f"{ENCODING}:{measured}", name, version))
        return measured

    @contextmanager
    def _readable(self, name: str, version: int) -> Iterator[None]:
        """DATA_LOSS for a version file that fails to decrypt or decode within the block."""
        try:
            yield
        except (DecryptionError, OSError, pa.ArrowInvalid) as exc:
            raise _error(grpc.StatusCode.DATA_LOSS, unreadable(name, version, exc)) from None

    def _file(self, name: str, version: int) -> str:
        """The path of a stored version's file."""
        with self._lock:
            return self._db.execute("SELECT file FROM versions WHERE dataset = ? AND version = ?",
                                    (name, version)).fetchone()[0]

    def _open(self, name: str, version: int) -> StoredVersion:
        """A stored version's file opened for reading (DATA_LOSS when its key or header is wrong)."""
        with self._lock:
            file, wrapped = self._db.execute("SELECT file, wrapped_key FROM versions WHERE dataset = ? AND "
                                             "version = ?", (name, version)).fetchone()
        with self._readable(name, version):
            return StoredVersion(file, self._crypto, self._master, wrapped, name, version)

    def current_schema(self, name: str) -> Optional[pa.Schema]:
        """The Arrow schema of dataset ``name``'s current version; None while it has none (or does not exist)."""
        with self._lock:
            row = self._row(name)
        return self._schema(name, row[1]) if row is not None and row[1] else None

    def _schema(self, name: str, version: int) -> pa.Schema:
        """A stored version's Arrow schema (read from its file for versions stored before schemas were kept)."""
        with self._lock:
            (blob,) = self._db.execute("SELECT schema FROM versions WHERE dataset = ? AND version = ?",
                                       (name, version)).fetchone()
        if blob is not None:
            return pa.ipc.read_schema(pa.py_buffer(blob))
        with self._open(name, version) as stored, self._readable(name, version):
            return stored.parquet().schema_arrow

    def count_download(self, name: str) -> None:
        """Record one completed download of dataset ``name`` (persisted with the metadata)."""
        with self._lock:
            self._db.execute("UPDATE datasets SET downloads = downloads + 1 WHERE name = ?", (name,))

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, user: str, name: str, on: bool = True) -> bool:
        name = self.require(user, name)
        with self._lock:
            if on:
                self._db.execute("INSERT OR IGNORE INTO subscriptions VALUES (?, ?)", (name, user))
            else:
                self._db.execute("DELETE FROM subscriptions WHERE dataset = ? AND user = ?", (name, user))
        return on

    def poll(self, user: str, after: int = 0, acknowledge: bool = True, max_messages: int = 0,
             wait: float = 0.0, alive: Optional[Callable[[], bool]] = None) -> List[Notice]:
        """Notifications for ``user`` with id > ``after`` (0: those not yet acknowledged), oldest first, at most
        ``max_messages`` (0: all); versions of datasets the user can no longer read are left out. With none to
        return, waits up to ``wait`` seconds (at most :data:`MAX_WAIT`) for a version to be published, while
        ``alive()`` (the caller still listening) holds."""
        deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
        query = ("SELECT n.id, n.dataset, n.version, n.created, n.by, d.id FROM notifications n "
                 "JOIN datasets d ON d.name = n.dataset WHERE n.user = ? AND "
                 + ("n.id > ?" if after > 0 else "n.seen = 0 AND ? = 0") + " ORDER BY n.id"
                 + (f" LIMIT {int(max_messages)}" if max_messages > 0 else ""))
        with self._lock:
            while True:
                rows = self._db.execute(query, (user, max(after, 0))).fetchall()
                if acknowledge and rows:
                    self._db.execute(f"UPDATE notifications SET seen = 1 WHERE user = ? AND id IN "
                                     f"({','.join('?' * len(rows))})", (user, *[r[0] for r in rows]))
                notices = [Notice(*r) for r in rows if self.access(user, r[1]) != "none"]
                remaining = deadline - time.monotonic()
                if notices or remaining <= 0 or self._closed or (alive is not None and not alive()):
                    return notices
                self._published.wait(min(remaining, 1.0))


def file_identity(path: str) -> tuple:
    """What tells a version file from a changed or replaced one without reading it: device, inode, size, mtime and
    ctime (which no user can set back: any write, even one that restores mtime, moves it)."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class _Recast:
    """``reader``'s batches with each column whose layout differs from ``current``'s (large_string for string,
    ...: the same type to SQL) or that has no type (Arrow's null: no value) cast to ``current``'s type, so the
    versions of a dataset keep its Arrow types. (A column of ``current`` without a type takes the new one's.)"""

    def __init__(self, reader: Any, current: pa.Schema) -> None:
        types = {f.name: f.type for f in current if not pa.types.is_null(f.type)}
        self._reader = reader
        self.schema = pa.schema([f.with_type(types.get(f.name, f.type)) for f in reader.schema],
                                metadata=reader.schema.metadata)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self._reader:
            yield batch if batch.schema.equals(self.schema) else batch.cast(self.schema)


def _row_group_rows(table: pa.Table) -> int:
    """Rows per row group so that one holds about :data:`ROW_GROUP_BYTES` decoded (1,024 to 1,048,576 rows)."""
    width = max(1, table.nbytes // max(1, table.num_rows))
    return max(1024, min(1 << 20, ROW_GROUP_BYTES // width))


def _row_groups(reader: Any) -> Iterator[pa.Table]:
    """``reader``'s rows regrouped into tables of :func:`_row_group_rows` rows (the last one shorter, at least one
    table even without rows), holding little more than one row group at a time."""
    pending: List[pa.RecordBatch] = []
    held, written = 0, False
    for batch in reader:
        pending.append(batch)
        held += batch.num_rows
        while held:
            table = pa.Table.from_batches(pending, schema=reader.schema)
            rows = _row_group_rows(table)
            if held < rows:
                break
            yield table.slice(0, rows)
            pending, held, written = table.slice(rows).to_batches(), held - rows, True
    if held or not written:
        yield pa.Table.from_batches(pending, schema=reader.schema)


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(1 << 20)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def _decoded_estimate(meta: pq.FileMetaData) -> int:
    """Uncompressed bytes of a Parquet file's row groups: about its size once decoded."""
    return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class TemporaryDatasetStore(DatasetStore):
    """A dataset store in a temporary directory (a server without ``data_dir``), removed on close."""

    def __init__(self, admin_user: str, master_key_file: Optional[str] = None) -> None:
        self._dir = tempfile.mkdtemp(prefix="e6datasets-")
        super().__init__(self._dir, admin_user, master_key_file)

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._dir, ignore_errors=True)


def open_datasets(data_dir: Optional[str], admin_user: str, master_key_file: Optional[str] = None) -> DatasetStore:
    """Datasets under DATA_DIR (a temporary directory without ``data_dir``)."""
    if data_dir:
        os.makedirs(data_dir, exist_ok=True)
        return DatasetStore(data_dir, admin_user, master_key_file)
    return TemporaryDatasetStore(admin_user, master_key_file)
