"""An object's description (size, mtime, etag, content type, CRC-32) as the local store keeps it in an extended
attribute of the object's file, so the rename that publishes the content publishes its description too.

Written compact: a version byte (1), the size (u64), the mtime in ns (i64) and the CRC-32 (u32), then the
content type in UTF-8, then, only when the etag is not the one derived from the CRC-32 and size
(:func:`mock_server.objects.backend.local_etag`), a NUL and the etag. With the usual content types that is
under 52 bytes, which ext4 (256-byte inodes) keeps inside the inode; the JSON written before took ~150 bytes,
which cost every object a 4 KiB block of its own for the attribute (allocated and written at the put, read at
a cold stat) and about 9 µs more per put. JSON (older objects, and the sidecars of filesystems without user
attributes) is still read.
"""
from __future__ import annotations

import json
import struct
from typing import Any, Dict, Optional

from mock_server.objects.backend import local_etag

_VERSION = 1
_FIXED = struct.Struct("<BQqI")


def encode(meta: Dict[str, Any]) -> bytes:
    """The attribute's value for ``meta`` (keys: size, mtime_ns, etag, content_type, crc32)."""
    crc32, size, etag = meta.get("crc32"), meta["size"], meta["etag"]
    if not isinstance(crc32, int) or not 0 <= crc32 < 2 ** 32 or not 0 <= size < 2 ** 64 or \
            "\0" in meta["content_type"]:
        return json.dumps(meta).encode("utf-8")
    value = _FIXED.pack(_VERSION, size, meta["mtime_ns"], crc32) + meta["content_type"].encode("utf-8")
    if etag != local_etag(crc32, size):
        value += b"\0" + etag.encode("utf-8")
    return value


def decode(value: bytes) -> Optional[Dict[str, Any]]:
    """The description in ``value`` (either form); None when it is neither."""
    if value[:1] == b"{":
        try:
            meta = json.loads(value)
        except ValueError:
            return None
        return meta if isinstance(meta, dict) else None
    if len(value) < _FIXED.size or value[0] != _VERSION:
        return None
    _, size, mtime_ns, crc32 = _FIXED.unpack_from(value)
    try:
        content_type, _, etag = value[_FIXED.size:].decode("utf-8").partition("\0")
    except UnicodeDecodeError:
        return None
    return {"size": size, "mtime_ns": mtime_ns, "crc32": crc32, "content_type": content_type,
            "etag": etag or local_etag(crc32, size)}
