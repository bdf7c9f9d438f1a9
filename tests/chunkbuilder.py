"""Test-only Thrift Binary writer for result chunks (spec §7), independent of the server's encoder.

``chunk(size, [vector(...), ...])`` builds bytes; ``vector`` takes the raw wire pieces so tests can produce both
valid chunks and every kind of malformed one (wrong sizes, wrong members, missing fields, extra fields).
"""
from __future__ import annotations

import struct
from typing import Any, Iterable, List, Optional, Sequence

BOOL, BYTE, DOUBLE, I16, I32, I64, STRING, STRUCT, MAP, SET, LIST = 2, 3, 4, 6, 8, 10, 11, 12, 13, 14, 15

# Data union member ids (spec §7.2)
BOOL_DATA, INT32_DATA, INT64_DATA, DATE_DATA, FLOAT32_DATA, FLOAT64_DATA, VARCHAR_DATA, BOOL_CONST, DATE_CONST, \
    NULL_CONST, NUMERIC_CONST, DOUBLE_CONST, INTERVAL_CONST, TIME_CONST, VARCHAR_CONST, TIME_DATA, DEC128_DATA, \
    DEC128_CONST = range(1, 19)

# VectorType codes
T_BINARY, T_BOOLEAN, T_DOUBLE, T_FLOAT, T_INT96, T_INTEGER, T_LONG, T_STRING, T_DATE, T_DATETIME, T_TIMESTAMP, \
    T_STRUCT, T_MAP, T_ARRAY, T_NULL, T_TIMESTAMP_TZ, T_DECIMAL128, T_INTERVAL = range(18)

LIST_ELEMENT = {BOOL_DATA: BOOL, INT32_DATA: I32, INT64_DATA: I64, DATE_DATA: I64, FLOAT32_DATA: DOUBLE,
                FLOAT64_DATA: DOUBLE, VARCHAR_DATA: STRING, TIME_DATA: I64, DEC128_DATA: STRING}
CONST_ELEMENT = {BOOL_CONST: BOOL, DATE_CONST: I64, NULL_CONST: BYTE, NUMERIC_CONST: I64, DOUBLE_CONST: DOUBLE,
                 INTERVAL_CONST: BYTE, TIME_CONST: I64, VARCHAR_CONST: STRING, DEC128_CONST: STRING}
# the natural (non-constant, constant) member for each vector type
MEMBERS = {T_BOOLEAN: (BOOL_DATA, BOOL_CONST), T_INTEGER: (INT32_DATA, NUMERIC_CONST),
           T_LONG: (INT64_DATA, NUMERIC_CONST), T_INTERVAL: (INT64_DATA, NUMERIC_CONST),
           T_FLOAT: (FLOAT32_DATA, DOUBLE_CONST), T_DOUBLE: (FLOAT64_DATA, DOUBLE_CONST),
           T_STRING: (VARCHAR_DATA, VARCHAR_CONST), T_BINARY: (VARCHAR_DATA, VARCHAR_CONST),
           T_ARRAY: (VARCHAR_DATA, VARCHAR_CONST), T_MAP: (VARCHAR_DATA, VARCHAR_CONST),
           T_STRUCT: (VARCHAR_DATA, VARCHAR_CONST), T_DATE: (DATE_DATA, DATE_CONST),
           T_DATETIME: (TIME_DATA, TIME_CONST), T_TIMESTAMP_TZ: (TIME_DATA, TIME_CONST),
           T_DECIMAL128: (DEC128_DATA, DEC128_CONST), T_NULL: (NULL_CONST, NULL_CONST)}


def value(ttype: int, v: Any) -> bytes:
    if ttype == BOOL:
        return b"\x01" if v else b"\x00"
    if ttype == BYTE:
        return struct.pack(">b", v)
    if ttype == DOUBLE:
        return struct.pack(">d", v)
    if ttype == I16:
        return struct.pack(">h", v)
    if ttype == I32:
        return struct.pack(">i", v)
    if ttype == I64:
        return struct.pack(">q", v)
    if ttype == STRING:
        raw = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        return struct.pack(">i", len(raw)) + raw
    raise ValueError(ttype)


def field(ttype: int, fid: int, payload: bytes) -> bytes:
    return struct.pack(">bh", ttype, fid) + payload


def tlist(element: int, items: Iterable[Any], count: Optional[int] = None) -> bytes:
    items = list(items)
    body = b"".join(i if element == STRUCT else value(element, i) for i in items)
    return struct.pack(">bi", element, len(items) if count is None else count) + body


def struct_(*fields: bytes) -> bytes:
    return b"".join(fields) + b"\x00"


def member(mid: int, data: Any, *, scale: Optional[int] = None, zones: Any = None) -> bytes:
    """One Data union member struct carrying ``data`` (a list for list members, a scalar for constants)."""
    parts: List[bytes] = []
    if mid in LIST_ELEMENT:
        if data is not None:
            parts.append(field(LIST, 1, tlist(LIST_ELEMENT[mid], data)))
        if zones is not None:
            parts.append(field(LIST, 2, tlist(STRING, zones)))
    else:
        if data is not None:
            parts.append(field(CONST_ELEMENT[mid], 1, value(CONST_ELEMENT[mid], data)))
        if zones is not None:
            parts.append(field(STRING, 2, value(STRING, zones)))
    if scale is not None:
        parts.append(field(I32, 2, value(I32, scale)))
    return struct_(*parts)


def vector(vtype: Optional[int], values: Sequence[Any] = (), nulls: Optional[Sequence[bool]] = None, *,
           size: Optional[int] = None, constant: bool = False, mid: Optional[int] = None,
           scale: Optional[int] = None, zones: Any = None, data: Optional[bytes] = None,
           omit_nulls: bool = False, extra: bytes = b"") -> bytes:
    """A Vector struct. ``values`` are raw wire values (micros, unscaled bytes, ...); None in ``values`` marks
    NULL (placeholder written) unless ``nulls`` is given."""
    values = list(values)
    n = size if size is not None else (1 if constant and not values else len(values))
    if nulls is None:
        nulls = [v is None for v in values]
    if mid is None and vtype in MEMBERS:
        mid = MEMBERS[vtype][1 if constant else 0]
    parts = []
    if n is not None:
        parts.append(field(I32, 1, value(I32, n)))
    if vtype is not None:
        parts.append(field(I32, 2, value(I32, vtype)))
    if not omit_nulls:
        parts.append(field(LIST, 3, tlist(BOOL, nulls)))
    if data is None and mid is not None:
        if mid in LIST_ELEMENT:
            element = LIST_ELEMENT[mid]
            placeholder = {BOOL: False, I32: 0, I64: 0, DOUBLE: 0.0, STRING: b""}[element]
            data = member(mid, [placeholder if v is None else v for v in values], scale=scale, zones=zones)
        else:
            single = values[0] if values else None
            data = member(mid, single if single is not None else CONST_DEFAULT.get(mid), scale=scale, zones=zones)
    if data is not None and mid is not None:
        parts.append(field(STRUCT, 4, struct_(field(STRUCT, mid, data))))
    elif data is not None:
        parts.append(field(STRUCT, 4, data))
    if constant:
        parts.append(field(BOOL, 5, value(BOOL, True)))
    parts.append(extra)
    return struct_(*parts)


CONST_DEFAULT = {BOOL_CONST: False, DATE_CONST: 0, NULL_CONST: 0, NUMERIC_CONST: 0, DOUBLE_CONST: 0.0,
                 TIME_CONST: 0, VARCHAR_CONST: b"", DEC128_CONST: b""}


def chunk(size: Optional[int], vectors: Sequence[bytes], *, extra: bytes = b"") -> bytes:
    parts = []
    if size is not None:
        parts.append(field(I32, 1, value(I32, size)))
    parts.append(field(LIST, 2, tlist(STRUCT, vectors)))
    parts.append(extra)
    return struct_(*parts)


def dec(unscaled: int) -> bytes:
    """16-byte big-endian two's complement."""
    return unscaled.to_bytes(16, "big", signed=True)
