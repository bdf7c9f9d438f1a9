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
import os
import shutil
import stat as stat_module
import tempfile
import threading
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, List, Optional, Set, Tuple, Union

import grpc

from mock_server.errors import EngineError, hide_path
from mock_server.files import fsync_dir
from mock_server.objects.backend import (FilePut, ObjectBackend, ObjectInfo, PutOutcome, Upload, md5_file, not_found,
                                         prepare_spool)
from mock_server.objects import descriptions
from mock_server.objects.copies import READ_CHUNK
from mock_server.objects.names import check_bucket, check_key, check_prefix, guess_content_type

if TYPE_CHECKING:
    import pyarrow.fs


log = logging.getLogger(__name__)

XATTR_META = "user.e6objects.meta"  # an object's etag, content type, size and mtime (see _set_xattr_meta)
_DESCRIBED_CACHE = 10_000  # etags of objects written behind the store's back, computed once


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
        prepare_spool(self._tmp)
        # Puts arriving over gRPC spool here: a directory of this process's own under the spread spool, placed
        # away from the rest of the filesystem's churn (same-host puts take one per request, local_puts).
        self._spool = tempfile.mkdtemp(prefix="u", dir=self._tmp)
        self._described: "OrderedDict[Tuple[str, str], Tuple[int, int, dict]]" = OrderedDict()

    def spool_dir(self) -> str:
        return self._spool

    @property
    def spool_root(self) -> str:
        """The directory every spool directory of this backend is made in (prepare_spool)."""
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
        changed = {os.path.dirname(upload.path), os.path.dirname(target)}
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
                etag, crc32 = md5_file(path)
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
        for key, path, stat in self._files(bucket, prefix):
            yield self._info(bucket, key, stat, path)

    def usage(self, bucket: str) -> Tuple[int, int]:
        # Sizes only: describing each object could mean reading a file placed behind the store's back (its MD5).
        objects = size = 0
        for _, _, stat in self._files(bucket, ""):
            objects, size = objects + 1, size + stat.st_size
        return objects, size

    def _files(self, bucket: str, prefix: str) -> Iterator[Tuple[str, str, os.stat_result]]:
        """(key, path, status) of the objects under ``prefix``, in key order."""
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
                yield key, path, stat

    def arrow_filesystem(self) -> "pyarrow.fs.FileSystem":
        import pyarrow.fs

        return pyarrow.fs.LocalFileSystem()

    def arrow_path(self, bucket: str, key: str) -> str:
        return self._path(bucket, key)

    def close(self) -> None:
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)


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
        os.setxattr(path, XATTR_META, descriptions.encode(meta))
        return True
    except (OSError, AttributeError):
        return False


def _xattr_meta(path: Union[str, int]) -> Any:
    try:
        return descriptions.decode(os.getxattr(path, XATTR_META))
    except (OSError, AttributeError):
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
