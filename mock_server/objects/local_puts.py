"""Whole objects put into the local-directory backend many per request (same-host puts, and the objects of a
PutBatch call), at about the cost of copying them: the work a put repeats per file is cut to what that file
needs.

Per file: a spool file is created (in a spool directory of the request's own), the content copied into it (a
small file read once, checksummed and written; a large one copied by the kernel with the CRC-32 one step
behind and its writeback started as it goes; a PutBatch object written from memory), described in its
extended attribute through the open descriptor, so the description is synced with the content. Once every
file of the request is spooled they are made durable together (one filesystem sync; an fsync each when other
processes left much unwritten data, which that sync would write too), then each is renamed
into place under its key's lock; the new names (and directories made for them) are made durable before the
request is answered. Each put stays atomic: a reader sees the old object or the whole new one, never a
partial file. Directories are checked for links once per request; one lstat of the target answers if_absent,
"a prefix of other objects" and a link at the last level; a missing directory costs nothing until the rename
reports it.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_module
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, List, Optional, Set

import grpc

from mock_server.errors import EngineError
from mock_server.files import dirty_bytes, fsync_dir, pwrite_all, sync_filesystem
from mock_server.objects.copies import (SMALL_COPY, WRITEBACK_STEP, copy_with_crc, create_spool_file,
                                        start_writeback)
from mock_server.objects.backend import FilePut, ObjectInfo, PutOutcome, local_etag, not_found
from mock_server.objects.store import _set_xattr_meta, make_dirs

if TYPE_CHECKING:
    from mock_server.objects.store import LocalObjectBackend


# Crash tests only: "<stage>:<seconds>" pauses a request of several files at "spooled" (all spooled and
# synced, none published) or "published" (the first one renamed into place, the others not yet).
PAUSE_ENV = "E6DRIVER_TEST_PUT_PAUSE"


def _pause(stage: str, files: int) -> None:
    wanted, _, seconds = (os.environ.get(PAUSE_ENV) or "").partition(":")
    if wanted == stage and seconds and files > 1:
        time.sleep(float(seconds))


# Requests spool and publish small files in turns of TURN_FILES: that work is mostly short system calls, each
# letting another thread take the GIL, and requests interleaved call by call spent ~40% more CPU handing it
# back and forth (4 requests of 250 files of 1 KiB: 0.16-0.25 CPU s, in turns 0.12-0.16). A turn is short
# (16 small files: a few ms); a large file's kernel copy releases the GIL for long stretches, so its spooling
# takes no turn. A turn waits at most TURN_WAIT for the one before: the files spooled are the client's, and
# one that blocks (a file on a hung network mount) must not hold up the other requests, so a request that
# waited that long goes on without turns.
TURN_FILES = 16
TURN_WAIT = 0.05
_TURNS = threading.Lock()


class _Turns:
    """One request's turns."""

    def __init__(self) -> None:
        self.taking = True

    @contextlib.contextmanager
    def turn(self, wanted: bool = True) -> Iterator[None]:
        if wanted and self.taking:
            if _TURNS.acquire(timeout=TURN_WAIT):
                try:
                    yield
                finally:
                    _TURNS.release()
                return
            self.taking = False
        yield


@dataclass
class _Spooled:
    index: int
    item: FilePut
    target: str
    path: str  # the spool file
    fd: int
    info: ObjectInfo
    mtime_ns: int
    tagged: bool  # described in its extended attribute (else a sidecar, written after the rename)


def put_files(backend: "LocalObjectBackend", bucket: str, files: List[FilePut],
              if_absent: bool) -> List[PutOutcome]:
    """:meth:`mock_server.objects.backend.ObjectBackend.put_files` for local buckets (module doc)."""
    if not backend.bucket_exists(bucket):
        raise not_found(bucket)
    # A directory of its own per request: requests creating files in one directory would queue on its lock,
    # and a new directory under the spread spool is placed afresh (mock_server.files.spread_subdirectories),
    # so a block group full of recently freed inodes slows one request, not every one after it.
    try:
        spool = tempfile.mkdtemp(prefix="p", dir=backend.spool_root)
    except FileNotFoundError:  # the spool removed under the running engine: made again, as a put's spool file is
        os.makedirs(backend.spool_root, exist_ok=True)
        spool = tempfile.mkdtemp(prefix="p", dir=backend.spool_root)
    try:
        return _put_files(backend, bucket, files, if_absent, spool)
    finally:
        try:
            os.rmdir(spool)
        except OSError:  # a spool file it could not remove: the sweep at the next start does
            pass


def _put_files(backend: "LocalObjectBackend", bucket: str, files: List[FilePut], if_absent: bool,
               spool: str) -> List[PutOutcome]:
    outcomes: List[Optional[PutOutcome]] = [None] * len(files)
    verified: Set[str] = set()
    spooled: List[_Spooled] = []
    turns = _Turns()
    try:
        for start in range(0, len(files), TURN_FILES):
            chunk = files[start:start + TURN_FILES]
            with turns.turn(all(item.data is not None or item.size <= SMALL_COPY for item in chunk)):
                for index, item in enumerate(chunk, start):
                    try:
                        target = backend._path(bucket, item.key, verified)
                        spooled.append(_spool(spool, bucket, index, item, target))
                    except (EngineError, OSError) as exc:
                        outcomes[index] = exc
        one_sync = _one_sync(spooled)
        if spooled:
            _sync_content([entry.fd for entry in spooled], one_sync)
        for entry in spooled:
            os.close(entry.fd)
            entry.fd = -1
        _pause("spooled", len(spooled))
        flush: Set[str] = {spool} if spooled else set()  # the renames change the spool's entries too
        for start in range(0, len(spooled), TURN_FILES):
            with turns.turn():
                for entry in spooled[start:start + TURN_FILES]:
                    try:
                        flush.update(_publish(backend, bucket, entry, if_absent, verified))
                        outcomes[entry.index] = entry.info
                        entry.path = ""  # renamed: nothing left to remove
                    except (EngineError, OSError) as exc:
                        outcomes[entry.index] = exc
                    if entry is spooled[0]:
                        _pause("published", len(spooled))
        _sync_names(sorted(flush), one_sync)
    finally:
        for entry in spooled:
            if entry.fd >= 0:
                os.close(entry.fd)
            if entry.path:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def _spool(spool: str, bucket: str, index: int, item: FilePut, target: str) -> _Spooled:
    fd, path = create_spool_file(spool)
    try:
        if item.data is None:
            crc = _copy(item.source, fd, item.size)
        else:  # a PutBatch object, in memory
            pwrite_all(fd, item.data, 0)
            crc = item.crc32  # computed when the object was checked on arrival
        stat = os.fstat(fd)
        etag = local_etag(crc, item.size)
        tagged = _set_xattr_meta(fd, {"size": item.size, "mtime_ns": stat.st_mtime_ns, "etag": etag,
                                      "content_type": item.content_type, "crc32": crc})
        info = ObjectInfo(bucket, item.key, item.size, etag, stat.st_mtime, item.content_type, crc)
        return _Spooled(index, item, target, path, fd, info, stat.st_mtime_ns, tagged)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise


def _copy(source: int, target: int, size: int) -> int:
    """Copy ``size`` bytes of ``source`` into the empty ``target``; the CRC-32 of what was stored."""
    started = [0]  # bytes whose writeback to disk has been started

    def step(done: int) -> None:
        if done - started[0] >= WRITEBACK_STEP:  # the sync that follows then has little left to write
            start_writeback(target, started[0], done - started[0])
            started[0] = done
    copied, crc = copy_with_crc(source, target, size, checksummed=target, on_step=step)
    if copied != size:
        raise _ended(size, copied)
    return crc


def _ended(size: int, got: int) -> EngineError:
    return EngineError(grpc.StatusCode.ABORTED, f"the file was {size} bytes and ended after {got} while being stored")


def _publish(backend: "LocalObjectBackend", bucket: str, entry: _Spooled, if_absent: bool,
             verified: Set[str]) -> List[str]:
    """Rename the spool file into place (the put's atomic step); the directories whose entries changed."""
    key, target = entry.item.key, entry.target
    directory = os.path.dirname(target)
    flush = [directory]
    with backend._key_lock(bucket, key):
        try:
            mode: Optional[int] = os.lstat(target).st_mode
        except FileNotFoundError:
            mode = None
        except NotADirectoryError:
            raise _under_object(bucket, key) from None
        if mode is not None:
            if if_absent:
                raise EngineError(grpc.StatusCode.ALREADY_EXISTS, f"object {key!r} already exists")
            if stat_module.S_ISDIR(mode):
                raise _prefix_of_others(bucket, key)
            if stat_module.S_ISLNK(mode):  # replaced, never followed; still refused if it leads outside
                backend._inside(bucket, target, f"object {key!r}")
        for attempt in range(5):
            try:
                os.rename(entry.path, target)
                break
            except FileNotFoundError:  # its directory is missing (new, or pruned by a delete meanwhile)
                if attempt == 4:
                    raise
                flush += _make_dirs(bucket, key, directory, verified)
            except NotADirectoryError:
                raise _under_object(bucket, key) from None
            except IsADirectoryError:  # another put made the key a directory meanwhile
                raise _prefix_of_others(bucket, key) from None
        if not entry.tagged:  # no user xattrs on this filesystem: a sidecar file
            backend._write_meta(entry.info, entry.mtime_ns)
    return flush


def _prefix_of_others(bucket: str, key: str) -> EngineError:
    return EngineError(grpc.StatusCode.FAILED_PRECONDITION, f"key {key!r} is a prefix of other objects in bucket "
                                                            f"{bucket!r}")


def _under_object(bucket: str, key: str) -> EngineError:
    return EngineError(grpc.StatusCode.FAILED_PRECONDITION, f"key {key!r} lies under an existing object in bucket "
                                                            f"{bucket!r}")


def _make_dirs(bucket: str, key: str, directory: str, verified: Set[str]) -> List[str]:
    """Make ``directory`` (of ``key``) and its missing parents; the directories whose entries changed."""
    try:
        changed = make_dirs(directory)
    except (FileExistsError, NotADirectoryError):
        raise _under_object(bucket, key) from None
    verified.update(changed[:-1])  # made by the engine just now: plain directories
    return changed


# A filesystem sync writes whatever is dirty, other processes' writes too: with 512 MiB another process had
# just written, 200 files of 64 KiB took 1.0-1.1 s to put instead of 0.17-0.21 (fsync per file: 0.23-0.35 s
# either way). A request syncs its files one by one when the data others left to write would take the disk
# longer than that: each fsync costs about as long as writing FSYNC_EQUIVALENT bytes (0.5 ms at ~500 MB/s).
FSYNC_EQUIVALENT = 256 * 1024


def _one_sync(spooled: List[_Spooled]) -> bool:
    """Whether one filesystem sync, rather than an fsync per file, should make these files durable."""
    if len(spooled) < 2:
        return False
    own = sum(entry.item.size for entry in spooled)
    return dirty_bytes() - own <= len(spooled) * FSYNC_EQUIVALENT


def _sync_content(fds: List[int], one_sync: bool) -> None:
    """Make the spooled files (content and description) durable: one filesystem sync (they share the spool
    directory's filesystem) or an fsync each."""
    if not one_sync or not sync_filesystem(fds[0]):
        for fd in fds:
            os.fsync(fd)


def _sync_names(directories: List[str], one_sync: bool) -> None:
    """Make the renames durable: each directory flushed (both sides of every rename: on a filesystem without a
    journal a crash could otherwise keep the spool's entry beside the new one), or, when ``one_sync``, one
    filesystem sync for more than a few."""
    if not directories:
        return
    if one_sync and len(directories) > 3:
        try:
            fd = os.open(directories[0], os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        else:
            try:
                if sync_filesystem(fd):
                    return
            finally:
                os.close(fd)
    for directory in directories:
        fsync_dir(directory, best_effort=True)
