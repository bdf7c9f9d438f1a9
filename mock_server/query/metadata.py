"""The big-endian result metadata blob of ``GetResultMetadataResponse`` (spec §6)."""
from __future__ import annotations

import struct
from typing import Sequence, Tuple

ColumnRecord = Tuple[str, str, str, str]
"""(name, type name, zone, format) of one result column."""

_MAX_UTF_BYTES = 0xFFFF


def _utf(text: str) -> bytes:
    """A "UTF" string: unsigned 16-bit big-endian byte length + plain UTF-8 bytes.

    Text longer than 65535 bytes is cut at a character boundary (the format cannot carry more).
    """
    raw = text.encode("utf-8")
    if len(raw) > _MAX_UTF_BYTES:
        raw = raw[:_MAX_UTF_BYTES].decode("utf-8", errors="ignore").encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def build_metadata(row_count: int, columns: Sequence[ColumnRecord]) -> bytes:
    """Serialize ``rowCount`` (int64), ``fieldCount`` (int32) and one 4-string record per column."""
    parts = [struct.pack(">qi", row_count, len(columns))]
    for name, type_name, zone, fmt in columns:
        parts.append(_utf(name))
        parts.append(_utf(type_name))
        parts.append(_utf(zone))
        parts.append(_utf(fmt))
    return b"".join(parts)
