"""Durable file helpers the stores share: a file renamed into a directory survives a crash only once the
directory itself is flushed."""
from __future__ import annotations

import array
import ctypes
import fcntl
import os
import sys
from typing import Callable, Optional


def fsync_dir(path: str, best_effort: bool = False) -> None:
    """Flush ``path``'s directory entries. ``best_effort`` ignores a directory that cannot be opened or flushed
    (the object store's choice: the object is already complete); otherwise the OSError propagates."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if best_effort:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not best_effort:
            raise
    finally:
        os.close(fd)


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` of the open file ``fd`` (a write may take less than asked)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def linux_function(name: str, argtypes: list) -> Optional[Callable[..., int]]:
    """The C library's ``name`` (Linux only; None elsewhere or when it has none)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    return function


_SYNCFS = linux_function("syncfs", [ctypes.c_int])


def sync_filesystem(fd: int) -> bool:
    """Make everything written to the filesystem of the open file ``fd`` durable: one ``syncfs`` (Linux; a
    single flush for many files instead of an fsync each, ~0.5 ms apiece). False where there is none: the
    caller fsyncs its files one by one."""
    if _SYNCFS is None:
        return False
    if _SYNCFS(fd) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return True


def dirty_bytes() -> int:
    """Bytes the kernel has yet to write to disk, over every filesystem (``Dirty`` + ``Writeback`` of
    /proc/meminfo); 0 where that cannot be read."""
    total = 0
    try:
        with open("/proc/meminfo", "rb") as handle:
            for line in handle:
                if line.startswith((b"Dirty:", b"Writeback:")):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return total


_FS_IOC_GETFLAGS, _FS_IOC_SETFLAGS, _FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000


def spread_subdirectories(path: str) -> bool:
    """Mark the directory ``path`` as the top of directory hierarchies (Linux's FS_TOPDIR_FL, ``chattr +T``)
    so ext4 places each subdirectory made in it, and the files later created there, in a block group of its
    own, away from where the rest of the filesystem churns. On ext4 without a journal (this project's CI disk)
    every file creation scans past the inodes its group freed in the last minutes: 1,000 files of 64 KiB took
    0.64 s beside recent deletions, 0.05 s in a spread directory. Best effort: False where the filesystem has
    no such flag."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        flags = array.array("i", [0])  # the kernel reads and writes an int
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        if not flags[0] & _FS_TOPDIR_FL:
            flags[0] |= _FS_TOPDIR_FL
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags, True)
        return True
    except OSError:  # ENOTTY/EOPNOTSUPP (tmpfs, overlayfs, ...), EPERM
        return False
    finally:
        os.close(fd)
