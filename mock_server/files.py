"""Durable file helpers the stores share: a file renamed into a directory survives a crash only once the
directory itself is flushed."""
from __future__ import annotations

import ctypes
import os
import sys
from typing import Callable, Optional, Sequence


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


def sync_files(paths: Sequence[str]) -> None:
    """Make the content of several files durable at once: one ``syncfs`` of their filesystem (Linux; a single
    journal commit instead of one per file, ~0.5 ms each) when they are all on it, else an fsync per file."""
    if not paths:
        return
    if _SYNCFS is not None and len(paths) > 1:
        devices = {os.stat(path).st_dev for path in paths}
        if len(devices) == 1:
            fd = os.open(paths[0], os.O_RDONLY)
            try:
                if _SYNCFS(fd) == 0:
                    return
            finally:
                os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
