"""Copies between open files by the kernel, with the CRC-32 of what was copied computed one step behind on a
helper thread (same-host transfers, spooled puts): a copy and its checksum overlap instead of taking turns, and
the CRC-32 describes the bytes that were written, whatever the source does meanwhile."""
from __future__ import annotations

import ctypes
import errno
import itertools
import os
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Optional, Tuple

import grpc

from mock_server import checksums
from mock_server.errors import EngineError
from mock_server.files import linux_function, pwrite_all

READ_CHUNK = 1024 * 1024
WRITEBACK_STEP = 8 * 1024 * 1024  # a large put starts writeback of its spool file every this many bytes


_SYNC_FILE_RANGE = linux_function("sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint])


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a file range to disk without waiting (Linux ``sync_file_range`` with
    SYNC_FILE_RANGE_WRITE); a no-op elsewhere. Durability still comes from the fsync that follows."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, 2)


_SPOOL_NAMES = itertools.count()
_SPOOL_PREFIX = f"put-{os.getpid()}-{secrets.token_hex(4)}-"


def create_spool_file(directory: str) -> Tuple[int, str]:
    """A new, empty spool file in ``directory`` (made when missing), open for reading and writing: its
    descriptor and path. Named from a counter (no random bytes per file; O_EXCL still refuses a clash)."""
    while True:
        path = os.path.join(directory, f"{_SPOOL_PREFIX}{next(_SPOOL_NAMES)}")
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
        except FileExistsError:  # left by an earlier process of the same pid: take the next name
            continue


COPY_STEP = 8 * 1024 * 1024  # a same-host transfer copies and checksums this much at a time
SMALL_COPY = 1024 * 1024  # up to this size one read and one write beat a kernel copy plus a read back
_CRC_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="e6crc")  # CRC one step behind each copy


def copy_with_crc(source: int, target: int, size: int, checksummed: int,
                  on_step: Optional[Callable[[int], None]] = None) -> Tuple[int, int]:
    """Copy ``size`` bytes from the start of ``source`` to the start of ``target`` (:func:`copy_range`, a step
    at a time) while a helper thread computes the CRC-32 of what was copied, read from ``checksummed`` (either
    file) one step behind. Returns (bytes copied: fewer when ``source`` ended, their CRC-32); ``on_step(bytes
    copied so far)`` after each step."""
    if size <= SMALL_COPY:  # read once, checksummed and written: the bytes checksummed are the ones copied
        data = os.pread(source, size, 0)
        pwrite_all(target, data, 0)
        if on_step is not None:
            on_step(len(data))
        return len(data), checksums.crc32(data)
    if size <= COPY_STEP:  # one step: nothing to overlap, no hand-off to the helper thread
        copied = copy_range(source, target, 0, 0, size)
        if on_step is not None:
            on_step(copied)
        return copied, crc32_of_range(checksummed, 0, copied) if copied else 0
    crc, offset = 0, 0
    pending: Optional["Future[int]"] = None
    try:
        while offset < size:
            length = min(COPY_STEP, size - offset)
            copied = copy_range(source, target, offset, offset, length)
            if pending is not None:
                crc = pending.result()
            pending = _CRC_POOL.submit(crc32_of_range, checksummed, offset, copied, crc) if copied else None
            offset += copied
            if on_step is not None:
                on_step(offset)
            if copied != length:
                break
    finally:
        if pending is not None:
            crc = pending.result()
    return offset, crc


def crc32_of_range(fd: int, offset: int, length: int, crc: int = 0) -> int:
    """``crc`` extended by ``length`` bytes of the open file ``fd`` from ``offset`` (read in place: the GIL is
    released while reading and while checksumming)."""
    buffer = bytearray(min(length, READ_CHUNK * 4))
    view = memoryview(buffer)
    end = offset + length
    while offset < end:
        got = os.preadv(fd, [view[:min(len(buffer), end - offset)]], offset)
        if got <= 0:
            raise EngineError(grpc.StatusCode.ABORTED, "a file ended while being checksummed")
        crc = checksums.crc32(view[:got], crc)
        offset += got
    return crc


_COPY_FALLBACK = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ETXTBSY}


def copy_range(source: int, target: int, source_offset: int, target_offset: int, length: int) -> int:
    """Copy up to ``length`` bytes between open files at the given offsets (neither file position moves) by the
    kernel (``copy_file_range``; read + write where it cannot, e.g. across filesystems); returns how many were
    copied (fewer only when ``source`` ended)."""
    done = 0
    while done < length:
        try:
            copied = os.copy_file_range(source, target, length - done, source_offset + done, target_offset + done)
        except OSError as exc:
            if exc.errno not in _COPY_FALLBACK:
                raise
            return done + _copy_by_reading(source, target, source_offset + done, target_offset + done,
                                           length - done)
        if copied == 0:
            break
        done += copied
    return done


def _copy_by_reading(source: int, target: int, source_offset: int, target_offset: int, length: int) -> int:
    done = 0
    while done < length:
        data = os.pread(source, min(READ_CHUNK * 4, length - done), source_offset + done)
        if not data:
            break
        pwrite_all(target, data, target_offset + done)
        done += len(data)
    return done
