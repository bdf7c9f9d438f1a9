"""Parser of the big-endian result metadata blob (spec §6)."""
from __future__ import annotations

import struct
from typing import List, NamedTuple

from ..errors import DataError


class Column(NamedTuple):
    name: str
    type_name: str
    zone: str
    format: str


class ResultMetadata(NamedTuple):
    row_count: int
    columns: List[Column]


def parse_result_metadata(blob: bytes) -> ResultMetadata:
    """Row count and column records; a truncated blob or invalid UTF-8 is a DataError."""
    end = len(blob)
    if end < 12:
        raise DataError(f"result metadata blob is {end} bytes; at least 12 are required")
    row_count, field_count = struct.unpack_from(">qi", blob, 0)
    if field_count < 0 or field_count * 8 > end - 12:
        raise DataError(f"result metadata blob claims {field_count} columns in {end} bytes")
    pos = 12
    columns = []
    for index in range(field_count):
        parts = []
        for part in ("name", "type", "zone", "format"):
            if pos + 2 > end:
                raise DataError(f"result metadata blob truncated in the {part} of column {index}")
            length = struct.unpack_from(">H", blob, pos)[0]
            pos += 2
            if pos + length > end:
                raise DataError(f"result metadata blob truncated in the {part} of column {index}")
            try:
                parts.append(blob[pos:pos + length].decode("utf-8"))
            except UnicodeDecodeError:
                raise DataError(f"invalid UTF-8 in the {part} of result column {index}") from None
            pos += length
        columns.append(Column(*parts))
    return ResultMetadata(row_count, columns)
