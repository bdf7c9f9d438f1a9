"""Bounds-checked Thrift Binary reads for ``_decode``. Twin: ``ext/_cthrift.pxi``.

Every read claims its bytes with ``need()``, so no input can read past the buffer; every failure is a
``DataError`` naming what was being read.
"""
from __future__ import annotations

import array
import struct
import sys
from typing import Any, List, Tuple

from .errors import DataError

# Thrift binary type ids
T_STOP, T_BOOL, T_BYTE, T_DOUBLE, T_I16, T_I32, T_I64, T_STRING, T_STRUCT, T_MAP, T_SET, T_LIST = \
    0, 2, 3, 4, 6, 8, 10, 11, 12, 13, 14, 15
FIXED_WIDTH = {T_BOOL: 1, T_BYTE: 1, T_DOUBLE: 8, T_I16: 2, T_I32: 4, T_I64: 8}
MAX_DEPTH = 64
_UNPACK_CODE = {T_I32: "i", T_I64: "q", T_DOUBLE: "d", T_I16: "h", T_BYTE: "b"}


class Reader:
    """Bounds-checked reads over one buffer. Every failure is a DataError naming what was being read."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes):
        self.buf = buf
        self.pos = 0
        self.end = len(buf)

    def need(self, n: int, what: str) -> int:
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise DataError(f"malformed chunk: {what} needs {n} bytes at offset {pos}, "
                            f"{self.end - pos} left")
        self.pos = pos + n
        return pos

    def byte(self, what: str) -> int:
        return self.buf[self.need(1, what)]

    def i16(self, what: str) -> int:
        return struct.unpack_from(">h", self.buf, self.need(2, what))[0]

    def i32(self, what: str) -> int:
        return struct.unpack_from(">i", self.buf, self.need(4, what))[0]

    def i64(self, what: str) -> int:
        return struct.unpack_from(">q", self.buf, self.need(8, what))[0]

    def double(self, what: str) -> float:
        return struct.unpack_from(">d", self.buf, self.need(8, what))[0]

    def binary(self, what: str) -> bytes:
        n = self.i32(what)
        if n < 0:
            raise DataError(f"malformed chunk: negative length {n} for {what}")
        pos = self.need(n, what)
        return self.buf[pos:pos + n]

    def field(self, what: str) -> Tuple[int, int]:
        ftype = self.byte(what)
        if ftype == T_STOP:
            return T_STOP, 0
        return ftype, self.i16(what)

    def list_header(self, what: str, element: int) -> int:
        etype = self.byte(what)
        count = self.i32(what)
        if etype != element:
            raise DataError(f"malformed chunk: {what} has element type {etype}, expected {element}")
        if count < 0:
            raise DataError(f"malformed chunk: negative element count {count} in {what}")
        minimum = FIXED_WIDTH.get(element, 1 if element == T_STRUCT else 4)
        if count * minimum > self.end - self.pos:
            raise DataError(f"malformed chunk: {what} claims {count} elements but only "
                            f"{self.end - self.pos} bytes remain")
        return count

    def skip(self, ftype: int, what: str, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise DataError(f"malformed chunk: nesting deeper than {MAX_DEPTH} in {what}")
        width = FIXED_WIDTH.get(ftype)
        if width is not None:
            self.need(width, what)
        elif ftype == T_STRING:
            self.binary(what)
        elif ftype == T_STRUCT:
            while True:
                inner, _ = self.field(what)
                if inner == T_STOP:
                    return
                self.skip(inner, what, depth + 1)
        elif ftype in (T_LIST, T_SET):
            etype = self.byte(what)
            count = self.i32(what)
            if count < 0 or count > self.end - self.pos:
                raise DataError(f"malformed chunk: bad element count {count} in {what}")
            for _ in range(count):
                self.skip(etype, what, depth + 1)
        elif ftype == T_MAP:
            ktype, vtype = self.byte(what), self.byte(what)
            count = self.i32(what)
            if count < 0 or count > self.end - self.pos:
                raise DataError(f"malformed chunk: bad entry count {count} in {what}")
            for _ in range(count):
                self.skip(ktype, what, depth + 1)
                self.skip(vtype, what, depth + 1)
        else:
            raise DataError(f"malformed chunk: unknown Thrift type {ftype} in {what}")

    def expect(self, ftype: int, wanted: int, what: str) -> None:
        if ftype != wanted:
            raise DataError(f"malformed chunk: {what} has Thrift type {ftype}, expected {wanted}")

    def scalar(self, ftype: int, what: str) -> Any:
        """One value of a fixed or binary Thrift type (a BYTE is signed)."""
        if ftype == T_BOOL or ftype == T_BYTE:
            value = self.byte(what)
            return value - 256 if ftype == T_BYTE and value > 127 else value
        if ftype == T_I64:
            return self.i64(what)
        if ftype == T_DOUBLE:
            return self.double(what)
        if ftype == T_STRING:
            return self.binary(what)
        raise DataError(f"malformed chunk: unexpected Thrift type {ftype} for {what}")

    def list_body(self, element: int, count: int, what: str) -> list:
        """``count`` list elements (after ``list_header``) as Python values: bytes, 0/1 flags or numbers."""
        if element == T_STRING:
            out: List[bytes] = []
            append = out.append
            for _ in range(count):
                append(self.binary(what))
            return out
        if element == T_BOOL:
            pos = self.need(count, what)
            return list(self.buf[pos:pos + count])
        pos = self.need(count * FIXED_WIDTH[element], what)
        return list(struct.unpack_from(f">{count}{_UNPACK_CODE[element]}", self.buf, pos))


def string_list_buffers(data: bytes, pos: int, count: int) -> Tuple[bytes, bytes, int]:
    """Arrow buffers of a Thrift ``list<binary>`` body (``count`` items from ``pos``, after the list header):
    ``(offsets, values, end)`` — little-endian int32 offsets (count + 1), the concatenated bytes, and the offset
    just past the list."""
    end = len(data)
    if pos < 0 or count < 0 or pos > end:
        raise DataError(f"malformed chunk: bad string list position {pos} / count {count}")
    offsets = array.array("i", [0])
    pieces = []
    unpack = struct.unpack_from
    total = 0
    for i in range(count):
        if end - pos < 4:
            raise DataError(f"malformed chunk: string {i} length needs 4 bytes at offset {pos}, {end - pos} left")
        n = unpack(">i", data, pos)[0]
        if n < 0 or n > end - pos - 4:
            raise DataError(f"malformed chunk: string {i} has length {n} at offset {pos}, {end - pos - 4} bytes "
                            "left")
        pieces.append(data[pos + 4:pos + 4 + n])
        total += n
        if total <= 2147483647:
            offsets.append(total)
        pos += 4 + n
    if total > 2147483647:
        raise DataError("a string column of one chunk exceeds 2 GiB")
    if sys.byteorder != "little":
        offsets.byteswap()
    return offsets.tobytes(), b"".join(pieces), pos
