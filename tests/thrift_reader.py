"""Test-only Thrift Binary reader (spec §7.1), independent of the engine's encoder and the driver's decoders,
so that an encoder and a reader cannot share a mistake: structs become ``{field id: value}``, lists lists,
strings ``bytes``."""
from __future__ import annotations

import struct
from typing import Any, Dict, Tuple

STRUCT = 12
_FIXED = {3: ">b", 4: ">d", 6: ">h", 8: ">i", 10: ">q"}  # byte, double, i16, i32, i64


def read_value(buf: bytes, pos: int, ttype: int) -> Tuple[Any, int]:
    """The value of Thrift type ``ttype`` at ``pos``, and the position after it."""
    if ttype == 2:
        return buf[pos] != 0, pos + 1
    if ttype in _FIXED:
        return struct.unpack_from(_FIXED[ttype], buf, pos)[0], pos + struct.calcsize(_FIXED[ttype])
    if ttype == 11:
        (length,) = struct.unpack_from(">i", buf, pos)
        return bytes(buf[pos + 4:pos + 4 + length]), pos + 4 + length
    if ttype == STRUCT:
        return read_struct(buf, pos)
    if ttype == 15:
        elem, count = struct.unpack_from(">bi", buf, pos)
        pos += 5
        items = []
        for _ in range(count):
            item, pos = read_value(buf, pos, elem)
            items.append(item)
        return items, pos
    raise AssertionError(f"unexpected thrift type {ttype} at {pos}")


def read_struct(buf: bytes, pos: int = 0) -> Tuple[Dict[int, Any], int]:
    """The struct at ``pos`` as ``{field id: value}``, and the position after its stop byte."""
    fields: Dict[int, Any] = {}
    while True:
        ttype = buf[pos]
        pos += 1
        if ttype == 0:
            return fields, pos
        (fid,) = struct.unpack_from(">h", buf, pos)
        fields[fid], pos = read_value(buf, pos + 2, ttype)
