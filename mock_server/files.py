"""Durable file helpers the stores share: a file renamed into a directory survives a crash only once the
directory itself is flushed."""
from __future__ import annotations

import os


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
