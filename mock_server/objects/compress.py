"""Server-side compression of a bucket's objects (the DataHub utility's job): ``<key>`` → ``<key>.zst``/``.gz``.

Each object at least ``min_size`` bytes and not already compressed is compressed into the spool, verified
(decompressed, its MD5 compared with the original's), published under ``<key><suffix>`` by the backend's
atomic commit, read back and verified again, and only then is the original removed (unless
``keep_original``). A crash therefore leaves the original, or the original and a complete compressed copy,
never a partial object under the final name (spool files are swept at start). Re-running resumes: a
compressed copy that already exists and matches its original only needs the original removed.

Parquet (and other internally compressed formats) is skipped: it gains little, and SQL could no longer read
it once wrapped in a stream compression.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Tuple

import grpc
import pyarrow as pa

from mock_server import checksums
from mock_server import errors
from mock_server.errors import EngineError
from mock_server.limits import Limits
from mock_server.objects.backend import ObjectBackend, ObjectInfo, Upload
from mock_server.objects.copies import READ_CHUNK
from mock_server.objects.names import check_key, guess_content_type

log = logging.getLogger(__name__)

CODECS = {"zstd": ".zst", "gzip": ".gz"}
# Already compressed: stream codecs, archives, and formats compressed inside (SQL reads Parquet unwrapped only).
COMPRESSED_SUFFIXES = (".gz", ".gzip", ".zst", ".zstd", ".bz2", ".xz", ".lz4", ".br", ".zip", ".7z", ".parquet",
                       ".parq", ".pq", ".orc", ".avro", ".e6ds")
MAX_COMPRESSIONS_PER_USER = 2  # running at once: each holds a server worker thread for its whole run
BLOCK = 4 * 1024 * 1024  # one zstd frame per block (a stream of frames is one valid zstd stream)
# Crash tests only: "<stage>:<seconds>" pauses at stage "write" (spool half written) or "publish" (the
# compressed copy published, the original not yet removed).
PAUSE_ENV = "E6DRIVER_TEST_COMPRESS_PAUSE"


@dataclass(frozen=True)
class CompressOptions:
    min_size: int = 0
    codec: str = "zstd"
    level: Optional[int] = None
    keep_original: bool = False
    dry_run: bool = True


@dataclass(frozen=True)
class Outcome:
    key: str
    target: str
    action: str  # compressed | would_compress | skipped | failed
    bytes_before: int
    bytes_after: int = 0
    reason: str = ""


def check_options(options: CompressOptions) -> CompressOptions:
    """``options`` if valid, else INVALID_ARGUMENT saying what is wrong."""
    if options.codec not in CODECS:
        raise errors.invalid(f"codec must be one of {', '.join(CODECS)}, not {options.codec!r}")
    if options.min_size < 0:
        raise errors.invalid(f"min_size must be >= 0, not {options.min_size}")
    if options.level is not None:
        low, high = _level_range(options.codec)
        if not low <= options.level <= high:
            raise errors.invalid(f"{options.codec} level must be between {low} and {high}, not {options.level}")
    return options


def _level_range(codec: str) -> Tuple[int, int]:
    if codec == "gzip":
        return 1, 9
    return 1, pa.Codec.maximum_compression_level(codec)


def _pause(stage: str) -> None:
    wanted, _, seconds = (os.environ.get(PAUSE_ENV) or "").partition(":")
    if wanted == stage and seconds:
        time.sleep(float(seconds))


class _Sink(io.RawIOBase):
    """A writable file over an :class:`Upload` (which checks a CRC per chunk: computed here)."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        data = bytes(data)
        self.upload.write(self.upload.size, data, checksums.crc32(data))
        return len(data)


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (a backend's read)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks, self._pending = iter(chunks), memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        while not len(self._pending):
            chunk = next(self._chunks, b"")
            if not chunk:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]  # a view: no copy of the rest
        return count


def decompressed_md5(chunks: Iterable[bytes], codec: str) -> Tuple[str, int]:
    """(hex MD5, size) of the decompressed content of a compressed stream given as chunks."""
    digest, size = hashlib.md5(), 0
    source = pa.PythonFile(io.BufferedReader(_ChunkReader(chunks), READ_CHUNK), mode="r")
    stream = pa.CompressedInputStream(source, codec)
    while True:
        block = stream.read(READ_CHUNK)
        if not block:
            return digest.hexdigest(), size
        digest.update(block)
        size += len(block)


def _compress_into(chunks: Iterable[bytes], upload: Upload, options: CompressOptions) -> Tuple[str, int]:
    """Compress ``chunks`` into ``upload``; (hex MD5, size) of the original as read."""
    digest, size = hashlib.md5(), 0
    sink = _Sink(upload)
    if options.codec == "gzip":
        writer = gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=options.level or 6, mtime=0)
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            writer.write(chunk)
            _pause("write")
        writer.close()
        return digest.hexdigest(), size
    codec = pa.Codec("zstd", options.level) if options.level is not None else pa.Codec("zstd")
    pending = bytearray()
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        pending += chunk
        while len(pending) >= BLOCK:
            sink.write(codec.compress(bytes(pending[:BLOCK]), asbytes=True))
            del pending[:BLOCK]
            _pause("write")
    if pending or size == 0:
        sink.write(codec.compress(bytes(pending), asbytes=True))
    return digest.hexdigest(), size


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)


class Compressor:
    """Compresses the objects of one bucket under a prefix; :meth:`run` yields one Outcome per object."""

    def __init__(self, backend: ObjectBackend, bucket: str, options: CompressOptions, limits: Limits) -> None:
        self.backend, self.bucket, self.options, self.limits = backend, bucket, check_options(options), limits
        self.suffix = CODECS[options.codec]

    def candidates(self, prefix: str) -> list:
        return [o for o in self.backend.list(self.bucket, prefix) if not o.key.endswith("/")]

    def run(self, objects: list) -> Iterator[Outcome]:
        keys = {o.key for o in objects}
        for info in objects:
            if info.key.lower().endswith(COMPRESSED_SUFFIXES):
                if not (info.key.endswith(self.suffix) and info.key[:-len(self.suffix)] in keys):
                    yield Outcome(info.key, "", "skipped", info.size, reason="already compressed")
                continue  # a copy whose original is listed too: reported with the original
            outcome = self._one(info)
            if outcome.action == "failed":
                log.warning("compress %s/%s failed: %s", self.bucket, info.key, outcome.reason)
            yield outcome

    def _one(self, listed: ObjectInfo) -> Outcome:
        key, target = listed.key, listed.key + self.suffix
        try:
            check_key(target)
        except EngineError:
            return Outcome(key, "", "skipped", listed.size, reason="the compressed key would be too long")
        if listed.size < self.options.min_size:
            return Outcome(key, target, "skipped", listed.size, reason="smaller than min_size")
        try:
            info = self.backend.stat(self.bucket, key)
            if info is None:
                return Outcome(key, target, "skipped", listed.size, reason="deleted meanwhile")
            existing = self.backend.stat(self.bucket, target)
            if existing is not None:
                return self._resume(info, existing)
            if self.options.dry_run:
                return Outcome(key, target, "would_compress", info.size)
            return self._compress(info, target)
        except EngineError as exc:
            return Outcome(key, target, "failed", listed.size, reason=exc.message)
        except (OSError, pa.ArrowException, ValueError) as exc:
            log.warning("compress %s/%s failed", self.bucket, key, exc_info=True)
            return Outcome(key, target, "failed", listed.size, reason=errors.sanitize(f"{type(exc).__name__}: {exc}"))

    def _original_md5(self, info: ObjectInfo) -> str:
        if _is_md5(info.etag):
            return info.etag
        digest = hashlib.md5()
        for chunk in self.backend.read(self.bucket, info.key):
            digest.update(chunk)
        return digest.hexdigest()

    def _verify_published(self, target: str, md5: str, size: int) -> bool:
        """Whether the stored ``target`` decompresses to content of that MD5 and size."""
        try:
            return decompressed_md5(self.backend.read(self.bucket, target), self.options.codec) == (md5, size)
        except (OSError, pa.ArrowException, ValueError):  # not a valid stream of the codec
            return False

    def _resume(self, info: ObjectInfo, existing: ObjectInfo) -> Outcome:
        """``<key><suffix>`` exists: a previous run's copy (then finish it) or someone else's object (refuse)."""
        if not self._verify_published(existing.key, self._original_md5(info), info.size):
            return Outcome(info.key, existing.key, "failed", info.size,
                           reason=f"{existing.key!r} exists and is not a compressed copy of it")
        if self.options.keep_original or self.options.dry_run:
            action = "would_compress" if self.options.dry_run and not self.options.keep_original else "skipped"
            return Outcome(info.key, existing.key, action, info.size, existing.size,
                           reason="" if action != "skipped" else "already compressed")
        return self._remove_original(info, existing.key, existing.size)

    def _compress(self, info: ObjectInfo, target: str) -> Outcome:
        upload = Upload(self.backend.spool_dir())
        try:
            md5, size = _compress_into(self.backend.read(self.bucket, info.key), upload, self.options)
            compressed_etag = upload.finish()
            if (_is_md5(info.etag) and md5 != info.etag) or size != info.size:
                return Outcome(info.key, target, "failed", info.size, reason="changed while being compressed")
            if upload.size >= size:
                return Outcome(info.key, target, "skipped", size, upload.size, reason="does not shrink")
            if upload.size > self.limits.max_object_bytes:
                return Outcome(info.key, target, "failed", size, upload.size,
                               reason="compressed size over the server's max_object_bytes")
            with open(upload.path, "rb") as spooled:
                if decompressed_md5(iter(lambda: spooled.read(READ_CHUNK), b""), self.options.codec) != (md5, size):
                    return Outcome(info.key, target, "failed", size, reason="verification failed (spool)")
            published = self.backend.commit(upload, self.bucket, target, compressed_etag, guess_content_type(target),
                                            if_absent=True)
        finally:
            upload.discard()
        if not self._verify_published(target, md5, size):
            self.backend.delete(self.bucket, target)
            return Outcome(info.key, target, "failed", size, reason="verification of the stored copy failed")
        _pause("publish")
        if self.options.keep_original:
            return Outcome(info.key, target, "compressed", size, published.size)
        return self._remove_original(info, target, published.size)

    def _remove_original(self, info: ObjectInfo, target: str, compressed: int) -> Outcome:
        now = self.backend.stat(self.bucket, info.key)
        if now is None or (now.etag, now.size) != (info.etag, info.size):
            self.backend.delete(self.bucket, target)  # a copy of content that is no longer the object's
            return Outcome(info.key, target, "failed", info.size, reason="changed while being compressed")
        self.backend.delete(self.bucket, info.key)
        return Outcome(info.key, target, "compressed", info.size, compressed)


def busy(bucket: str) -> EngineError:
    return EngineError(grpc.StatusCode.ABORTED, f"a compression of bucket {bucket!r} is already running; "
                                                "run it again when that one has finished")


def too_many(user: str) -> EngineError:
    return EngineError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                       f"user {user!r} already runs {MAX_COMPRESSIONS_PER_USER} compressions (the most at once); "
                       "run this one when one of them has finished")
