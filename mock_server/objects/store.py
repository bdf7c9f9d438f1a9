"""Object stores: key and bucket rules, the backend interface and the local-directory backend.

A bucket is a directory ``ROOT/<bucket>`` and an object the file ``ROOT/<bucket>/<key>``. Each object's etag
(:func:`local_etag`; the MD5 for a file written behind the store's back), CRC-32 and content type are kept in
an extended attribute of its file (``user.e6objects.meta``, set on the spooled file, so the rename publishes
content and description together), or where the filesystem has no user xattrs in a sidecar
``ROOT/.meta/<bucket>/<hh>/<sha256 of the key>.json`` written by the put after the content (named by a hash, so
no key can clash with another key's sidecar); a description that no longer matches its file (size or mtime) is
recomputed when read and kept in memory only: reading and listing never write a file. Puts are atomic: the
content is spooled to ``ROOT/.tmp``, checked, fsynced and renamed into place, so a reader never sees a partial
object.

Every path is resolved (symlinks included) and must stay inside its bucket's directory; keys and listing
prefixes with ``..``/``.``/empty segments, backslashes or control characters are refused before any path is
built. Errors name the bucket and key, never a server path.
"""
from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import os
import re
import shutil
import stat as stat_module
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable, Iterator, List, Optional, Set, Tuple, Union

import grpc

from mock_server import checksums
from mock_server.errors import EngineError, hide_path
from mock_server.files import fsync_dir
from mock_server.objects.copies import (COPY_STEP, READ_CHUNK, WRITEBACK_STEP, copy_with_crc, create_spool_file,
                                        start_writeback)

if TYPE_CHECKING:
    import pyarrow.fs

log = logging.getLogger(__name__)

XATTR_META = "user.e6objects.meta"  # an object's etag, content type, size and mtime (see _set_xattr_meta)
_DESCRIBED_CACHE = 10_000  # etags of objects written behind the store's back, computed once
MAX_KEY_BYTES = 1024
MAX_LEVEL_BYTES = 250  # one '/'-separated level: a file name, with room for the store's own suffixes
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CONTROL = re.compile("[\x00-\x1f]")  # checked on every object access: a regex, not a loop over characters


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str
    last_modified: float
    content_type: str
    crc32: Optional[int] = None  # zlib CRC-32 of the content, recorded when stored (None: not known)


def bad_key(message: str) -> EngineError:
    return EngineError(grpc.StatusCode.INVALID_ARGUMENT, message)


def check_bucket(bucket: str) -> str:
    """``bucket`` if it follows the S3 naming rules, else INVALID_ARGUMENT."""
    if not _BUCKET.match(bucket or "") or ".." in bucket:
        raise bad_key(f"invalid bucket name {bucket!r}: 3-63 characters of a-z, 0-9, '.' and '-', "
                      "starting and ending with a letter or digit")
    return bucket


def check_key(key: str) -> str:
    """``key`` if it is a safe relative object key, else INVALID_ARGUMENT saying what is wrong."""
    if not key:
        raise bad_key("object key is empty")
    if "\x00" in key:
        raise bad_key(f"object key {key!r} contains a NUL character")
    if "\\" in key:
        raise bad_key(f"object key {key!r} contains a backslash; use '/' to separate levels")
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        raise bad_key(f"object key {key!r} is an absolute path; keys are relative to the bucket")
    if _CONTROL.search(key):
        raise bad_key(f"object key {key!r} contains a control character")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise bad_key(f"object key is longer than {MAX_KEY_BYTES} bytes")
    parts = key.split("/")
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_LEVEL_BYTES for part in parts):
        raise bad_key(f"a level of object key {key[:80]!r}... is longer than {MAX_LEVEL_BYTES} bytes")
    if ".." in parts:
        raise bad_key(f"object key {key!r} contains a '..' segment")
    if "." in parts or "" in parts:
        raise bad_key(f"object key {key!r} has an empty or '.' segment (leading, trailing or double '/')")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is a safe listing prefix (empty, a key, a key ending in ``/``, or a partial last
    segment), else INVALID_ARGUMENT: the same rules as keys, so it can never leave the bucket."""
    if not prefix:
        return prefix
    head, _, last = prefix.rpartition("/")
    if head:
        check_key(head)
    if last in (".", ".."):
        raise bad_key(f"listing prefix {prefix!r} ends in a {last!r} segment")
    if last:
        check_key(last)
    elif prefix.startswith("/"):
        raise bad_key(f"listing prefix {prefix!r} is an absolute path; prefixes are relative to the bucket")
    return prefix


def guess_content_type(key: str) -> str:
    kind, encoding = mimetypes.guess_type(key, strict=False)
    if encoding == "gzip":
        return "application/gzip"
    if key.endswith((".zst", ".zstd")):
        return "application/zstd"
    if key.endswith(".parquet"):
        return "application/vnd.apache.parquet"
    if key.endswith((".jsonl", ".ndjson")):
        return "application/x-ndjson"
    return kind or "application/octet-stream"


def not_found(bucket: str, key: str = "") -> EngineError:
    what = f"object {key!r} in bucket {bucket!r}" if key else f"bucket {bucket!r}"
    return EngineError(grpc.StatusCode.NOT_FOUND, f"{what} not found")


def data_loss(message: str) -> EngineError:
    return EngineError(grpc.StatusCode.DATA_LOSS, message)


def local_etag(crc32: int, size: int) -> str:
    """The etag the local store gives content it writes: its CRC-32 and size (the store computes the CRC-32
    anyway; an MD5 would cost a second pass at a sixth of the speed). Not 32 hex digits, so no client takes it
    for an MD5; S3's own etags are not MD5s either for multipart or KMS-encrypted objects."""
    return f"{crc32:08x}-{size:x}"


class Upload:
    """Content of one put being received: spooled to a temp file, CRC-checked per chunk. ``crc32`` is the
    CRC-32 of what was received so far; the etag comes from it (:func:`local_etag`)."""

    # The spool file becomes the object (local buckets): it is flushed to disk before the put is acknowledged.
    # A backend that sends the content elsewhere (S3) only stages it here and turns this off.
    durable = True

    def __init__(self, directory: str) -> None:
        fd, self.path = create_spool_file(directory)
        self._file: BinaryIO = os.fdopen(fd, "wb", buffering=0)  # chunks are large: no buffer to copy through
        self.size = 0
        self.crc32 = 0
        self._written_back = 0  # bytes whose writeback to disk has been started

    def write(self, offset: int, data: bytes, crc32: Optional[int] = None,
              running_crc32: Optional[int] = None) -> None:
        """Append one chunk, checked against ``running_crc32`` (the CRC-32 of the object through this chunk:
        one pass checks the chunk and extends the whole object's CRC) or else ``crc32`` (of the chunk alone)."""
        if offset != self.size:
            raise data_loss(f"chunk at offset {offset} arrived when {self.size} bytes were received")
        running = checksums.crc32(data, self.crc32)
        if running_crc32 is not None:
            if running != running_crc32:
                raise data_loss(f"checksum mismatch in the chunk at offset {offset}")
        elif checksums.crc32(data) != crc32:
            raise data_loss(f"checksum mismatch in the chunk at offset {offset}")
        _write_all(self._file, data)
        self.size += len(data)
        self.crc32 = running
        self._write_back()

    def _write_back(self) -> None:
        if self.durable and self.size - self._written_back >= WRITEBACK_STEP:
            # Start writing to disk now, while the rest arrives: the fsync in finish() then has little left.
            start_writeback(self._file.fileno(), self._written_back, self.size - self._written_back)
            self._written_back = self.size

    def copy_from(self, source: int, size: int) -> None:
        """The whole content at once: ``size`` bytes of the open file ``source`` (a client's file, handed over
        by a same-host transfer), copied by the kernel; the CRC-32 is computed from the spool file, one step
        behind the copy, so it describes what was stored whatever the client does to its file meanwhile."""
        if self.size:
            return self._copy_through_writes(source, size)
        copied, self.crc32 = copy_with_crc(source, self._file.fileno(), size, checksummed=self._file.fileno(),
                                           on_step=self._copied)
        if copied != size:
            raise EngineError(grpc.StatusCode.ABORTED,
                              f"the file was {size} bytes and ended after {copied} while being stored")

    def _copied(self, size: int) -> None:
        self.size = size
        self._write_back()

    def _copy_through_writes(self, source: int, size: int) -> None:
        """:meth:`copy_from` for an upload that already holds content."""
        read = 0
        while read < size:
            data = os.pread(source, min(COPY_STEP, size - read), read)
            if not data:
                raise EngineError(grpc.StatusCode.ABORTED,
                                  f"the file was {size} bytes and ended after {read} while being stored")
            self.write(self.size, data, running_crc32=checksums.crc32(data, self.crc32))
            read += len(data)

    def finish(self, md5: str = "", sync: bool = True) -> str:
        """Fsync (once, for the whole object, when ``durable``; ``sync=False``: the caller makes several
        uploads durable at once with :func:`mock_server.files.sync_files` before committing them); returns
        the etag. ``md5`` (a client's MD5 of what it sent) is checked against the spooled content."""
        if self.durable and sync:
            os.fsync(self._file.fileno())
        self._file.close()
        if md5:
            digest = _md5_file(self.path)[0]
            if md5.lower() != digest:
                raise data_loss(f"object checksum mismatch: sent {md5}, received content has {digest}")
        return local_etag(self.crc32, self.size)

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def checked_read(info: ObjectInfo, size: int, crc: int) -> ObjectInfo:
    """``info`` if ``size`` bytes with CRC-32 ``crc`` were read of the object it describes; else ABORTED (other
    size: replaced meanwhile) or DATA_LOSS (the content is not what was stored)."""
    if size != info.size:
        raise EngineError(grpc.StatusCode.ABORTED,
                          f"object {info.key!r} in bucket {info.bucket!r} changed while read")
    if info.crc32 is not None and crc != info.crc32:
        raise data_loss(f"object {info.key!r} in bucket {info.bucket!r} does not match the checksum recorded "
                        "when it was stored")
    return info


def _write_all(handle: BinaryIO, data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file (a raw write may take less than asked)."""
    view = memoryview(data)
    while view:
        view = view[handle.write(view):]


@dataclass(frozen=True)
class FilePut:
    """One whole file to store (a same-host put): ``size`` bytes of the open file ``source``."""
    key: str
    source: int
    size: int
    content_type: str


PutOutcome = Union[ObjectInfo, EngineError, OSError]  # per file: what was stored, or why not


class ObjectBackend:
    """What a store does; the service checks names and permissions before calling it."""

    def spool_dir(self) -> str:
        raise NotImplementedError

    def upload(self, bucket: str, key: str, content_type: str) -> Upload:
        """Where a put of ``bucket/key`` is received before :meth:`commit` (a spool file by default)."""
        return Upload(self.spool_dir())

    def create_bucket(self, bucket: str) -> bool:
        raise NotImplementedError

    def buckets(self) -> List[str]:
        raise NotImplementedError

    def bucket_exists(self, bucket: str) -> bool:
        raise NotImplementedError

    def commit(self, upload: Upload, bucket: str, key: str, etag: str, content_type: str,
               if_absent: bool = False, flush: Optional[Set[str]] = None) -> ObjectInfo:
        """Make a finished upload the object ``bucket/key`` atomically, its name durable before this returns;
        with ``flush`` (a set), the directories to flush for that are added to it instead, and the caller makes
        them durable later with :meth:`sync_dirs` (a batch flushes each directory once)."""
        raise NotImplementedError

    def sync_dirs(self, directories: Iterable[str]) -> None:
        """Flush the directories :meth:`commit` collected."""

    def put_files(self, bucket: str, files: List[FilePut], if_absent: bool = False) -> List[PutOutcome]:
        """Store whole files (same-host puts), each its own atomic put, all durable before this returns; one
        outcome per file, in order. This default spools and commits them one by one."""
        outcomes: List[PutOutcome] = []
        for item in files:
            try:
                upload = self.upload(bucket, item.key, item.content_type)
                try:
                    upload.copy_from(item.source, item.size)
                    etag = upload.finish()
                    outcomes.append(self.commit(upload, bucket, item.key, etag, item.content_type,
                                                if_absent=if_absent))
                finally:
                    upload.discard()
            except (EngineError, OSError) as exc:
                outcomes.append(exc)
        return outcomes

    def stat(self, bucket: str, key: str) -> Optional[ObjectInfo]:
        raise NotImplementedError

    def read(self, bucket: str, key: str, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        raise NotImplementedError

    def open_object(self, bucket: str, key: str,
                    verified: Optional[Set[str]] = None) -> Optional[Tuple[int, ObjectInfo]]:
        """The object's file opened for reading, and its description (None: no such object); a backend whose
        objects are not local files returns :meth:`read` alone (NotImplementedError here). ``verified``: the
        directories one request already checked (see :func:`_no_link_below`)."""
        raise NotImplementedError

    def read_into(self, bucket: str, key: str, fd: int) -> ObjectInfo:
        """Write the object into the empty open file ``fd`` (a same-host get from a backend whose objects are
        not local files: no :meth:`open_object`), checked against the CRC-32 recorded with it (DATA_LOSS when it
        differs, see :func:`checked_read`)."""
        raise NotImplementedError

    def delete(self, bucket: str, key: str) -> bool:
        raise NotImplementedError

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in key order."""
        raise NotImplementedError

    def arrow_filesystem(self) -> "pyarrow.fs.FileSystem":
        """The Arrow filesystem SQL reads objects through (:mod:`mock_server.objects.scan`)."""
        raise NotImplementedError

    def arrow_path(self, bucket: str, key: str) -> str:
        """The object's path on :meth:`arrow_filesystem`."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class LocalObjectBackend(ObjectBackend):
    """Buckets as directories under ``root``."""

    def __init__(self, root: str, temporary: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.temporary = temporary  # remove the whole tree on close
        hide_path(self.root, "")  # error texts say <bucket>/<key>, never where the bucket lives
        os.makedirs(self.root, exist_ok=True)
        self._meta = os.path.join(self.root, ".meta")
        self._tmp = os.path.join(self.root, ".tmp")
        self._lock = threading.Lock()  # guards _described
        # Puts and deletes of one key are serialised (if_absent, and a sidecar that matches its file); other
        # keys go concurrently: a directory pruned under a put is made again (_retrying).
        self._key_locks = [threading.Lock() for _ in range(64)]
        sweep_spool(self._tmp)
        self._described: "OrderedDict[Tuple[str, str], Tuple[int, int, dict]]" = OrderedDict()

    def spool_dir(self) -> str:
        return self._tmp

    def _bucket_dir(self, bucket: str) -> str:
        return os.path.join(self.root, check_bucket(bucket))

    def _inside(self, bucket: str, path: str, what: str, verified: Optional[Set[str]] = None) -> str:
        """``path`` if, symlinks resolved, it lies inside the bucket's directory; else PERMISSION_DENIED.
        ``verified``: directories already found to be plain (no link) by this request, and where it adds those
        it finds (see :func:`_no_link_below`)."""
        base = self._bucket_dir(bucket)
        if _no_link_below(base, path, verified):  # it resolves to realpath(base)/<the rest>: inside
            return path
        base = os.path.realpath(base)
        real = os.path.realpath(path)
        if real != base and not real.startswith(base + os.sep):
            raise EngineError(grpc.StatusCode.PERMISSION_DENIED,
                              f"{what} in bucket {bucket!r} resolves outside the bucket")
        return path

    def _path(self, bucket: str, key: str, verified: Optional[Set[str]] = None) -> str:
        check_key(key)
        return self._inside(bucket, os.path.join(self.root, bucket, *key.split("/")), f"object {key!r}", verified)

    def _meta_path(self, bucket: str, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self._meta, check_bucket(bucket), digest[:2], digest + ".json")

    def create_bucket(self, bucket: str) -> bool:
        path = self._bucket_dir(bucket)
        if os.path.isdir(path):
            return False
        os.makedirs(path, exist_ok=True)
        return True

    def buckets(self) -> List[str]:
        return sorted(name for name in os.listdir(self.root)
                      if not name.startswith(".") and os.path.isdir(os.path.join(self.root, name)))

    def bucket_exists(self, bucket: str) -> bool:
        return os.path.isdir(self._bucket_dir(bucket))

    def put_files(self, bucket: str, files: List[FilePut], if_absent: bool = False) -> List[PutOutcome]:
        from mock_server.objects.local_puts import put_files  # imports this module

        return put_files(self, bucket, files, if_absent)

    def commit(self, upload: Upload, bucket: str, key: str, etag: str, content_type: str,
               if_absent: bool = False, flush: Optional[Set[str]] = None) -> ObjectInfo:
        target = self._path(bucket, key)
        # Directories whose entries the put changes: the spool's (the rename takes its entry; on a filesystem
        # without a journal a crash could otherwise keep both names of one file, and the spool sweep at start
        # would then free the object's inode), the target's, and any it makes (with the one above them).
        changed = {self._tmp, os.path.dirname(target)}
        with self._key_lock(bucket, key):
            if not self.bucket_exists(bucket):
                raise not_found(bucket)
            if if_absent and os.path.lexists(target):
                raise EngineError(grpc.StatusCode.ALREADY_EXISTS, f"object {key!r} already exists")
            prefix_of_others = EngineError(grpc.StatusCode.FAILED_PRECONDITION,
                                           f"key {key!r} is a prefix of other objects in bucket {bucket!r}")
            if os.path.isdir(target):
                raise prefix_of_others

            def publish() -> None:
                try:
                    changed.update(make_dirs(os.path.dirname(target)))
                except (FileExistsError, NotADirectoryError):
                    if not _file_above(self._bucket_dir(bucket), target):  # a delete pruned it meanwhile: again
                        raise FileNotFoundError(target) from None
                    raise EngineError(grpc.StatusCode.FAILED_PRECONDITION, f"key {key!r} lies under an existing "
                                      f"object in bucket {bucket!r}") from None
                try:
                    os.replace(upload.path, target)
                except IsADirectoryError:  # another put made the key a directory meanwhile
                    raise prefix_of_others from None
            spooled = os.stat(upload.path)
            tagged = _set_xattr_meta(upload.path, {"size": spooled.st_size, "mtime_ns": spooled.st_mtime_ns,
                                                   "etag": etag, "content_type": content_type,
                                                   "crc32": upload.crc32})
            _retrying(publish)
            stat = os.stat(target)
            info = ObjectInfo(bucket, key, stat.st_size, etag, stat.st_mtime, content_type, upload.crc32)
            if not tagged:  # no user xattrs on this filesystem: a sidecar file
                _retrying(lambda: self._write_meta(info, stat.st_mtime_ns))
        if flush is None:  # outside the lock: concurrent puts flush their directories at once, not one by one
            self.sync_dirs(changed)
        else:
            flush.update(changed)
        return info

    def sync_dirs(self, directories: Iterable[str]) -> None:
        for directory in sorted(set(directories)):
            fsync_dir(directory, best_effort=True)

    def _key_lock(self, bucket: str, key: str) -> threading.Lock:
        return self._key_locks[hash((bucket, key)) % len(self._key_locks)]

    def _write_meta(self, info: ObjectInfo, mtime_ns: int) -> None:
        path = self._meta_path(info.bucket, info.key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w") as handle:
            handle.write(json.dumps({"size": info.size, "mtime_ns": mtime_ns, "etag": info.etag,
                                     "content_type": info.content_type, "crc32": info.crc32}))  # the C encoder
        os.replace(tmp, path)

    def _info(self, bucket: str, key: str, stat: os.stat_result, path: Union[str, int]) -> ObjectInfo:
        """``path``: the object's file, by name or open descriptor."""
        meta: Any = _xattr_meta(path)
        if not isinstance(meta, dict) or meta.get("size") != stat.st_size or \
                meta.get("mtime_ns") != stat.st_mtime_ns:
            try:
                with open(self._meta_path(bucket, key)) as handle:
                    meta = json.load(handle)
            except (OSError, ValueError):
                pass
        if not isinstance(meta, dict) or meta.get("size") != stat.st_size or \
                meta.get("mtime_ns") != stat.st_mtime_ns:
            # Written behind the store's back (or the sidecar is missing): describe it afresh, in memory only.
            cache_key = (bucket, key)
            with self._lock:
                cached = self._described.get(cache_key)
            if cached is not None and cached[:2] == (stat.st_size, stat.st_mtime_ns):
                meta = cached[2]
            else:
                old_type = meta.get("content_type") if isinstance(meta, dict) else None
                etag, crc32 = _md5_file(path)
                meta = {"etag": etag, "crc32": crc32, "content_type": old_type or guess_content_type(key)}
                with self._lock:
                    self._described[cache_key] = (stat.st_size, stat.st_mtime_ns, meta)
                    while len(self._described) > _DESCRIBED_CACHE:
                        self._described.popitem(last=False)
        crc32 = meta.get("crc32")
        return ObjectInfo(bucket, key, stat.st_size, meta["etag"], stat.st_mtime, meta["content_type"],
                          crc32 if isinstance(crc32, int) and 0 <= crc32 < 2 ** 32 else None)

    def stat(self, bucket: str, key: str) -> Optional[ObjectInfo]:
        path = self._path(bucket, key)
        try:
            stat = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat_module.S_ISREG(stat.st_mode):
            return None
        return self._info(bucket, key, stat, path)

    def read(self, bucket: str, key: str, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        try:
            handle = open(self._path(bucket, key), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise not_found(bucket, key) from None
        with handle:
            while True:
                data = handle.read(chunk_size)
                if not data:
                    return
                yield data

    def open_object(self, bucket: str, key: str,
                    verified: Optional[Set[str]] = None) -> Optional[Tuple[int, ObjectInfo]]:
        try:
            fd = os.open(self._path(bucket, key, verified), os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        try:
            stat = os.fstat(fd)
            if not stat_module.S_ISREG(stat.st_mode):
                os.close(fd)
                return None
            # Described from the open file: a put replacing the object meanwhile cannot mix in its description.
            return fd, self._info(bucket, key, stat, fd)
        except BaseException:
            os.close(fd)
            raise

    def delete(self, bucket: str, key: str) -> bool:
        path = self._path(bucket, key)
        with self._key_lock(bucket, key):
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return False
            for sidecar in (self._meta_path(bucket, key),):
                try:
                    os.unlink(sidecar)
                except FileNotFoundError:
                    pass
            with self._lock:
                self._described.pop((bucket, key), None)
            _prune_empty(os.path.dirname(path), self._bucket_dir(bucket))
            _prune_empty(os.path.dirname(self._meta_path(bucket, key)), os.path.join(self._meta, bucket))
        return True

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        base = self._bucket_dir(bucket)
        if not os.path.isdir(base):
            raise not_found(bucket)
        # Walk only the directory that holds the prefix; keys are compared as strings after that.
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = os.path.join(base, *head.split("/")) if head else base
        if head:
            self._inside(bucket, start, f"listing prefix {prefix!r}")
        verified: Set[str] = set()
        for key in sorted(_walk_keys(start, head)):
            if key.startswith(prefix):
                try:
                    path = self._path(bucket, key, verified)
                    stat = os.stat(path)
                except FileNotFoundError:
                    continue  # deleted meanwhile
                except EngineError as exc:  # a link leaving the bucket, or a name no key can have
                    log.warning("bucket %s: skipped %r: %s", bucket, key, exc.message)
                    continue
                if not stat_module.S_ISREG(stat.st_mode):
                    continue
                yield self._info(bucket, key, stat, path)

    def arrow_filesystem(self) -> "pyarrow.fs.FileSystem":
        import pyarrow.fs

        return pyarrow.fs.LocalFileSystem()

    def arrow_path(self, bucket: str, key: str) -> str:
        return self._path(bucket, key)

    def close(self) -> None:
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)


def sweep_spool(directory: str) -> None:
    """Remove puts a previous run left half received (the spool holds nothing a restart could resume), also
    from its subdirectories (one per concurrent same-host put, see :mod:`mock_server.objects.local_puts`)."""
    removed = _sweep(directory) + sum(_sweep(entry.path) for entry in _entries(directory)
                                      if entry.is_dir(follow_symlinks=False))
    if removed:
        log.info("removed %d leftover spool file(s) of unfinished puts", removed)


def _entries(directory: str) -> List[os.DirEntry]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _sweep(directory: str) -> int:
    removed = 0
    for entry in _entries(directory):
        if entry.is_dir(follow_symlinks=False):
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except (IsADirectoryError, PermissionError, FileNotFoundError):
            continue
    return removed


def _md5_file(path: Union[str, int]) -> Tuple[str, int]:
    """Hex MD5 and CRC-32 of a file, by name or open descriptor (the etag and checksum of an object the store
    did not write itself)."""
    digest, crc32, offset = hashlib.md5(), 0, 0
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC) if isinstance(path, str) else path
    try:
        while True:
            block = os.pread(fd, READ_CHUNK, offset)
            if not block:
                return digest.hexdigest(), crc32
            digest.update(block)
            crc32 = checksums.crc32(block, crc32)
            offset += len(block)
    finally:
        if isinstance(path, str):
            os.close(fd)


def _no_link_below(base: str, path: str, verified: Optional[Set[str]] = None) -> bool:
    """True when ``path`` is ``base``/<plain names> and none of those names is a symbolic link: then the path
    resolves inside ``base`` wherever ``base`` itself leads. One lstat per level instead of the ~30 µs of two
    ``os.path.realpath`` calls per object access (the store's hottest check); False means "resolve fully".
    ``verified`` (one request's, e.g. a tree transfer's): directories found plain before, not looked at again;
    the ones found now are added. The last name (the object itself) is always looked at."""
    if not path.startswith(base + os.sep):
        return False
    names = path[len(base) + 1:].split(os.sep)
    current = base
    for level, name in enumerate(names, 1):
        if name in ("", ".", ".."):
            return False
        current = f"{current}{os.sep}{name}"
        if verified is not None and current in verified:
            continue
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return True  # the rest does not exist yet (a new key): nothing below can be a link
        if stat_module.S_ISLNK(mode):
            return False
        if verified is not None and level < len(names) and stat_module.S_ISDIR(mode):
            verified.add(current)
    return True


def _walk_keys(directory: str, head: str) -> Iterator[str]:
    if not os.path.isdir(directory):
        return
    for dirpath, dirnames, filenames in os.walk(directory):
        rel = os.path.relpath(dirpath, directory)
        parts = [] if rel == "." else rel.split(os.sep)
        prefix = "/".join(([head] if head else []) + parts)
        for name in filenames:
            yield f"{prefix}/{name}" if prefix else name


def _set_xattr_meta(path: Union[str, int], meta: dict) -> bool:
    """Describe a spooled object in an extended attribute of its own file, so the description is published
    by the same rename as the content (no sidecar file to write); False where the filesystem has none."""
    try:
        os.setxattr(path, XATTR_META, json.dumps(meta).encode("utf-8"))
        return True
    except (OSError, AttributeError):
        return False


def _xattr_meta(path: Union[str, int]) -> Any:
    try:
        return json.loads(os.getxattr(path, XATTR_META))
    except (OSError, ValueError, AttributeError):
        return None


def make_dirs(directory: str) -> List[str]:
    """``os.makedirs(directory, exist_ok=True)``; the directories whose entries that changed: each one made and
    the existing one above them (none when ``directory`` existed)."""
    made, parent = [], directory
    while not os.path.isdir(parent):
        made.append(parent)
        parent = os.path.dirname(parent)
    if not made:
        return []
    os.makedirs(directory, exist_ok=True)
    return made + [parent]


def _file_above(base: str, path: str) -> bool:
    """Whether a level between ``base`` and ``path`` is a file (an object a key cannot lie under), rather than
    a directory that a concurrent delete removed while ``os.makedirs`` was making it."""
    current = os.path.dirname(path)
    while current.startswith(base + os.sep):
        try:
            if not stat_module.S_ISDIR(os.lstat(current).st_mode):
                return True
        except FileNotFoundError:
            pass
        current = os.path.dirname(current)
    return False


def _retrying(step: Callable[[], None], attempts: int = 5) -> None:
    """Run ``step``, again if a concurrent delete pruned a directory it had just made (FileNotFoundError)."""
    for attempt in range(attempts):
        try:
            return step()
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise


def _prune_empty(directory: str, stop: str) -> None:
    """Remove empty directories from ``directory`` up to (not including) ``stop``."""
    directory, stop = os.path.abspath(directory), os.path.abspath(stop)
    while directory.startswith(stop + os.sep):
        try:
            os.rmdir(directory)
        except OSError:
            return
        directory = os.path.dirname(directory)

