"""Pure-Python decoder of Thrift Binary ``Chunk``s (spec §7) into Python values. Twin: ``ext/_cdecode.pyx``.

Strict by design — a chunk that breaks any rule below raises ``DataError`` naming the column and the problem;
no value is ever replaced, rounded or stringified:

* ``Chunk.size`` present and ≥ 0; every ``Vector.size`` equals it; ``nullSet`` present, with ``size`` entries
  (one entry for a constant vector); non-constant data lists hold exactly ``size`` entries (dense).
* The ``Data`` union has exactly one member, and it is one the vector type allows (§7.3); NULL vectors may carry
  any member or none. TIMESTAMP (10), INT96 (4) and unknown type codes are refused.
* STRING/ARRAY/MAP/STRUCT text must be UTF-8; DATE values must be whole days; DECIMAL128 values are 16-byte
  big-endian two's complement (or an exact decimal literal) with the vector's ``scale`` present; temporal values
  must fall in years 1–9999; TIMESTAMP_TZ zones are ``±HH:MM``, ``Z`` or an IANA id.

Placeholders in NULL slots are never converted, so a NULL cannot fail decoding.
"""
from __future__ import annotations

import datetime
import decimal
import re
import struct
from functools import lru_cache
from typing import Any, List, Optional, Tuple

from .errors import DataError
from ._thrift import (  # noqa: F401 - string_list_buffers is part of this module's API (twin of _cdecode's)
    FIXED_WIDTH, T_BOOL, T_BYTE, T_DOUBLE, T_I32, T_I64, T_LIST, T_STOP, T_STRING, T_STRUCT, Reader,
    string_list_buffers,
)
from .types import VectorType

# VectorType codes as plain ints (the hot path compares ints, not enum members); TYPE_NAMES[code] is the name.
BINARY, BOOLEAN, DOUBLE, FLOAT, INT96, INTEGER, LONG, STRING, DATE, DATETIME, TIMESTAMP, STRUCT, MAP, ARRAY, \
    NULL, TIMESTAMP_TZ, DECIMAL128, INTERVAL_DAY_SECOND = (int(VectorType[name]) for name in (
        "BINARY", "BOOLEAN", "DOUBLE", "FLOAT", "INT96", "INTEGER", "LONG", "STRING", "DATE", "DATETIME",
        "TIMESTAMP", "STRUCT", "MAP", "ARRAY", "NULL", "TIMESTAMP_TZ", "DECIMAL128", "INTERVAL_DAY_SECOND"))
TYPE_NAMES = tuple(VectorType(code).name for code in range(len(VectorType)))

# Data union member ids
M_BOOL, M_INT32, M_INT64, M_DATE, M_FLOAT32, M_FLOAT64, M_VARCHAR, M_BOOL_CONST, M_DATE_CONST, M_NULL_CONST, \
    M_NUMERIC_CONST, M_DOUBLE_CONST, M_INTERVAL_CONST, M_TIME_CONST, M_VARCHAR_CONST, M_TIME, M_DEC128, \
    M_DEC128_CONST = range(1, 19)

_TEXT_TYPES = (STRING, ARRAY, MAP, STRUCT)
# vector type -> (non-constant member, constant member)
ALLOWED_MEMBERS = {
    BOOLEAN: (M_BOOL, M_BOOL_CONST),
    INTEGER: (M_INT32, M_NUMERIC_CONST),
    LONG: (M_INT64, M_NUMERIC_CONST),
    INTERVAL_DAY_SECOND: (M_INT64, M_NUMERIC_CONST),
    FLOAT: (M_FLOAT32, M_DOUBLE_CONST),
    DOUBLE: (M_FLOAT64, M_DOUBLE_CONST),
    STRING: (M_VARCHAR, M_VARCHAR_CONST),
    BINARY: (M_VARCHAR, M_VARCHAR_CONST),
    ARRAY: (M_VARCHAR, M_VARCHAR_CONST),
    MAP: (M_VARCHAR, M_VARCHAR_CONST),
    STRUCT: (M_VARCHAR, M_VARCHAR_CONST),
    DATE: (M_DATE, M_DATE_CONST),
    DATETIME: (M_TIME, M_TIME_CONST),
    TIMESTAMP_TZ: (M_TIME, M_TIME_CONST),
    DECIMAL128: (M_DEC128, M_DEC128_CONST),
}
# element type of the list in each non-constant member's field 1
LIST_ELEMENT = {M_BOOL: T_BOOL, M_INT32: T_I32, M_INT64: T_I64, M_DATE: T_I64, M_FLOAT32: T_DOUBLE,
                 M_FLOAT64: T_DOUBLE, M_VARCHAR: T_STRING, M_TIME: T_I64, M_DEC128: T_STRING}
# type of field 1 in each constant member
CONST_ELEMENT = {M_BOOL_CONST: T_BOOL, M_DATE_CONST: T_I64, M_NULL_CONST: T_BYTE, M_NUMERIC_CONST: T_I64,
                  M_DOUBLE_CONST: T_DOUBLE, M_INTERVAL_CONST: T_BYTE, M_TIME_CONST: T_I64,
                  M_VARCHAR_CONST: T_STRING, M_DEC128_CONST: T_STRING}

# Constant vectors carry no per-row bytes, so a hostile chunk could otherwise claim 2**31 rows and make the
# decoder allocate tens of GB. Engines send chunks of a few MiB (far fewer rows than this).
MAX_CHUNK_ROWS = 1 << 24
MICROS_PER_DAY = 86_400_000_000
EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
MIN_MICROS = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
MAX_MICROS = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_ONE_MICRO = datetime.timedelta(microseconds=1)
_OFFSET_ZONE = re.compile(r"([+-])(\d{2}):(\d{2})\Z")
_DECIMAL_LITERAL = re.compile(rb"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")


class RawVector:
    """One vector as read from the wire, before conversion to Python values."""

    __slots__ = ("size", "vtype", "nulls", "constant", "member", "values", "scale", "zones")

    def __init__(self) -> None:
        self.size: Optional[int] = None
        self.vtype: Optional[int] = None
        self.nulls: Optional[bytes] = None  # one byte per nullSet entry, 0 = not NULL
        self.constant = False
        self.member: Optional[int] = None
        self.values: Any = None  # list of raw values (non-constant) or the single constant value
        self.scale: Optional[int] = None
        self.zones: Any = None  # list of zone strings (timeData) or one string (timeConstantData)


class FixedSlice:
    """A fixed-width list left in the buffer (columnar decoding reads it with numpy): offset, count, type."""

    __slots__ = ("offset", "count", "element")

    def __init__(self, offset: int, count: int, element: int):
        self.offset, self.count, self.element = offset, count, element

    def __len__(self) -> int:
        return self.count


def _read_list(r: Reader, element: int, what: str, raw: bool = False) -> Any:
    count = r.list_header(what, element)
    if raw and element in (T_I32, T_I64, T_DOUBLE, T_BOOL):
        return FixedSlice(r.need(count * FIXED_WIDTH[element], what), count, element)
    if raw and element == T_STRING:
        offsets, values, r.pos = string_buffers(r.buf, r.pos, count)
        return StringSlice(offsets, values, count)
    return r.list_body(element, count, what)


class StringSlice:
    """A list<binary> kept as Arrow buffers (columnar decoding): offsets, values, count."""

    __slots__ = ("offsets", "data", "count")

    def __init__(self, offsets: bytes, data: bytes, count: int):
        self.offsets, self.data, self.count = offsets, data, count

    def __len__(self) -> int:
        return self.count


# Set by e6driver._impl to the selected implementation's twin of string_list_buffers.
string_buffers = string_list_buffers

DECIMAL_SLICE = -16  # FixedSlice.element of a list<binary> whose every item is 16 bytes (stride 20)


def _read_decimal_list_raw(r: Reader, what: str) -> Any:
    """A list<binary> of 16-byte decimals as one FixedSlice when every length prefix is 16, else a list."""
    start = r.pos
    count = r.list_header(what, T_STRING)
    body = r.pos
    if count * 20 <= r.end - body:
        lengths = struct.unpack_from(">" + "i16x" * count, r.buf, body) if count else ()
        if all(length == 16 for length in lengths):
            r.pos = body + count * 20
            return FixedSlice(body, count, DECIMAL_SLICE)
    r.pos = start
    return _read_list(r, T_STRING, what)


def _read_member(r: Reader, vector: RawVector, member: int, what: str, raw: bool) -> None:
    """Read one Data union member struct into ``vector``; unknown fields are skipped."""
    vector.member = member
    list_element = LIST_ELEMENT.get(member)
    const_element = CONST_ELEMENT.get(member)
    while True:
        ftype, fid = r.field(what)
        if ftype == T_STOP:
            return
        if fid == 1 and list_element is not None:
            r.expect(ftype, T_LIST, what)
            if raw and member == M_DEC128:
                vector.values = _read_decimal_list_raw(r, what)
            else:
                vector.values = _read_list(r, list_element, what, raw)
        elif fid == 1 and const_element is not None:
            r.expect(ftype, const_element, what)
            vector.values = r.scalar(const_element, what)
        elif fid == 2 and member in (M_DEC128, M_DEC128_CONST):
            r.expect(ftype, T_I32, what)
            vector.scale = r.i32(what)
        elif fid == 2 and member == M_TIME:
            r.expect(ftype, T_LIST, what)
            vector.zones = _read_list(r, T_STRING, what)
        elif fid == 2 and member == M_TIME_CONST:
            r.expect(ftype, T_STRING, what)
            vector.zones = r.binary(what)
        else:
            r.skip(ftype, what)


def _read_data(r: Reader, vector: RawVector, what: str, raw: bool) -> None:
    # A repeated Data field replaces the earlier one entirely (Thrift semantics); nothing of it may linger.
    vector.member = vector.values = vector.scale = vector.zones = None
    seen = 0
    while True:
        ftype, fid = r.field(what)
        if ftype == T_STOP:
            break
        if 1 <= fid <= 18:
            r.expect(ftype, T_STRUCT, what)
            seen += 1
            if seen > 1:
                raise DataError(f"malformed chunk: {what} sets more than one Data union member")
            _read_member(r, vector, fid, what, raw)
        else:
            r.skip(ftype, what)


def _read_vector(r: Reader, index: int, raw: bool) -> RawVector:
    what = f"vector {index}"
    vector = RawVector()
    while True:
        ftype, fid = r.field(what)
        if ftype == T_STOP:
            return vector
        if fid == 1:
            r.expect(ftype, T_I32, what + " size")
            vector.size = r.i32(what)
        elif fid == 2:
            r.expect(ftype, T_I32, what + " vectorType")
            vector.vtype = r.i32(what)
        elif fid == 3:
            r.expect(ftype, T_LIST, what + " nullSet")
            count = r.list_header(what + " nullSet", T_BOOL)
            pos = r.need(count, what + " nullSet")
            vector.nulls = r.buf[pos:pos + count]
        elif fid == 4:
            r.expect(ftype, T_STRUCT, what + " data")
            _read_data(r, vector, what + " data", raw)
        elif fid == 5:
            r.expect(ftype, T_BOOL, what + " isConstantVector")
            vector.constant = r.byte(what) != 0
        else:
            r.skip(ftype, what)


def read_chunk(data: bytes, raw: bool = False) -> Tuple[int, List[RawVector]]:
    """Parse a chunk into its row count and raw vectors, checking the structural rules of the module doc.

    With ``raw``, fixed-width lists stay in the buffer as ``FixedSlice``s for columnar decoding."""
    r = Reader(bytes(data) if not isinstance(data, bytes) else data)
    size: Optional[int] = None
    vectors: List[RawVector] = []
    while True:
        ftype, fid = r.field("chunk")
        if ftype == T_STOP:
            break
        if fid == 1:
            r.expect(ftype, T_I32, "chunk size")
            size = r.i32("chunk size")
        elif fid == 2:
            r.expect(ftype, T_LIST, "chunk vectors")
            count = r.list_header("chunk vectors", T_STRUCT)
            vectors = [_read_vector(r, i, raw) for i in range(count)]
        else:
            r.skip(ftype, "chunk")
    if size is None:
        raise DataError("malformed chunk: Chunk.size is missing")
    if size < 0:
        raise DataError(f"malformed chunk: negative Chunk.size {size}")
    if size > MAX_CHUNK_ROWS:
        raise DataError(f"malformed chunk: Chunk.size {size} exceeds the limit of {MAX_CHUNK_ROWS} rows per chunk")
    for index, vector in enumerate(vectors):
        _check_vector(vector, index, size)
    return size, vectors


def _check_vector(vector: RawVector, index: int, size: int) -> None:
    where = f"column {index}"
    if vector.vtype is None:
        raise DataError(f"malformed chunk: {where} has no vectorType")
    vtype = vector.vtype
    if vtype not in ALLOWED_MEMBERS and vtype != NULL:
        name = TYPE_NAMES[vtype] if 0 <= vtype < len(TYPE_NAMES) else f"code {vtype}"
        raise DataError(f"unsupported vector type {name} in {where}")
    where = f"column {index} ({TYPE_NAMES[vtype]})"
    if vector.size != size:
        raise DataError(f"malformed chunk: {where} has size {vector.size}, chunk has {size} rows")
    if vector.nulls is None:
        raise DataError(f"malformed chunk: {where} has no nullSet")
    if vector.constant:
        if size and len(vector.nulls) < 1:
            raise DataError(f"malformed chunk: constant {where} has an empty nullSet")
    elif len(vector.nulls) != size:
        raise DataError(f"malformed chunk: {where} nullSet has {len(vector.nulls)} entries for {size} rows")
    if vtype == NULL:
        return
    allowed = ALLOWED_MEMBERS[vtype]
    expected = allowed[1] if vector.constant else allowed[0]
    if vector.member is None:
        if size == 0 or all_null(vector):
            return
        raise DataError(f"malformed chunk: {where} has no data")
    if vector.member != expected:
        raise DataError(f"malformed chunk: {where} carries Data member {vector.member}, expected {expected}")
    if vector.values is None:
        if size == 0 or all_null(vector):
            return
        raise DataError(f"malformed chunk: {where} data has no values")
    if not vector.constant and len(vector.values) != size:
        raise DataError(f"malformed chunk: {where} holds {len(vector.values)} values for {size} rows")
    if vtype == DECIMAL128 and vector.scale is None and not all_null(vector):
        raise DataError(f"malformed chunk: {where} has no decimal scale")
    if vtype == TIMESTAMP_TZ and not vector.constant and vector.zones is not None \
            and len(vector.zones) != size:
        raise DataError(f"malformed chunk: {where} zoneData has {len(vector.zones)} entries for {size} rows")


def all_null(vector: RawVector) -> bool:
    nulls = vector.nulls or b""
    if vector.constant:
        return bool(nulls) and nulls[0] != 0
    return nulls.count(0) == 0


# ---------------------------------------------------------------- value conversion

def _null_rows(nulls: bytes) -> List[int]:
    return [i for i, flag in enumerate(nulls) if flag]


def _date(micros: int) -> datetime.date:
    days, rest = divmod(micros, MICROS_PER_DAY)
    if rest:
        raise DataError(f"DATE value {micros} µs is not a whole day")
    if not MIN_MICROS <= micros <= MAX_MICROS:
        raise DataError(f"DATE value {micros} µs is outside years 1-9999")
    return datetime.date.fromordinal(EPOCH_ORDINAL + days)


def _datetime(micros: int) -> datetime.datetime:
    if not MIN_MICROS <= micros <= MAX_MICROS:
        raise DataError(f"TIMESTAMP value {micros} µs is outside years 1-9999")
    return _EPOCH + datetime.timedelta(microseconds=micros)


@lru_cache(maxsize=512)
def zone(name: str) -> datetime.tzinfo:
    """The tzinfo for a TIMESTAMP_TZ zone string (``±HH:MM``, ``Z``, or an IANA region id)."""
    if name in ("Z", "UTC", "+00:00", "-00:00", ""):
        return datetime.timezone.utc
    match = _OFFSET_ZONE.match(name)
    if match:
        sign, hours, minutes = match.groups()
        offset = datetime.timedelta(hours=int(hours), minutes=int(minutes))
        if offset >= datetime.timedelta(hours=24):
            raise DataError(f"time zone offset {name!r} is out of range")
        return datetime.timezone(-offset if sign == "-" else offset)
    try:
        from zoneinfo import ZoneInfo
        return ZoneInfo(name)
    except Exception:
        raise DataError(f"unknown time zone {name!r} in a TIMESTAMP WITH TIME ZONE value") from None


def _aware(micros: int, zone_name: str) -> datetime.datetime:
    tz = zone(zone_name)
    if not MIN_MICROS <= micros <= MAX_MICROS:
        raise DataError(f"TIMESTAMP WITH TIME ZONE value {micros} µs is outside years 1-9999")
    try:
        return (_EPOCH_UTC + datetime.timedelta(microseconds=micros)).astimezone(tz)
    except OverflowError:
        raise DataError(f"TIMESTAMP WITH TIME ZONE value {micros} µs in zone {tz} is outside years "
                        "1-9999") from None


def decimal_from_bytes(raw: bytes, scale: int) -> decimal.Decimal:
    if len(raw) == 16:
        unscaled = int.from_bytes(raw, "big", signed=True)
        return decimal.Decimal(f"{unscaled}E{-scale}")
    if _DECIMAL_LITERAL.match(raw):
        try:
            return decimal.Decimal(raw.decode("ascii"))
        except decimal.InvalidOperation:  # exponent beyond what decimal can represent
            raise DataError(f"DECIMAL128 literal {raw[:40]!r} is out of range") from None
    raise DataError(f"DECIMAL128 value of {len(raw)} bytes is neither 16-byte binary nor a decimal literal")


def utf8_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"invalid UTF-8 in a text value at byte {exc.start}") from None


def _zone_text(raw: Any) -> str:
    return utf8_text(raw) if raw is not None else "UTC"


def convert_one(vector: RawVector, value: Any, row: int) -> Any:
    """Convert one raw value of ``vector`` (row index used for the per-row zone of TIMESTAMP_TZ)."""
    vtype = vector.vtype
    if vtype in (INTEGER, LONG):
        if vtype == INTEGER and not -2**31 <= value < 2**31:
            raise DataError(f"INTEGER constant {value} is out of 32-bit range")
        return value
    if vtype in (FLOAT, DOUBLE):
        return value
    if vtype == BOOLEAN:
        return value != 0
    if vtype in _TEXT_TYPES:
        return utf8_text(value)
    if vtype == BINARY:
        return value
    if vtype == DATE:
        return _date(value)
    if vtype == DATETIME:
        return _datetime(value)
    if vtype == TIMESTAMP_TZ:
        zones = vector.zones
        name = zones if vector.constant or zones is None else zones[row]
        return _aware(value, _zone_text(name))
    if vtype == DECIMAL128:
        return decimal_from_bytes(value, vector.scale or 0)
    if vtype == INTERVAL_DAY_SECOND:
        return datetime.timedelta(microseconds=value)
    raise DataError(f"unsupported vector type {vtype}")


def _convert_list(vector: RawVector, values: list, nulls: bytes) -> list:
    """Convert a dense non-constant value list; NULL slots become None without looking at their placeholder."""
    vtype = vector.vtype
    has_nulls = nulls.count(0) != len(nulls)
    if vtype in (INTEGER, LONG, FLOAT, DOUBLE, BINARY):
        out = values
    elif vtype == BOOLEAN:
        out = [flag != 0 for flag in values]
    elif vtype in _TEXT_TYPES:
        try:
            if has_nulls:
                out = [None if null else raw.decode("utf-8") for raw, null in zip(values, nulls)]
            else:
                out = [raw.decode("utf-8") for raw in values]
        except UnicodeDecodeError:
            out = [None if null else utf8_text(raw) for raw, null in zip(values, nulls)]  # raises with position
        return out
    elif vtype == DATE:
        out = [None if null else _date(v) for v, null in zip(values, nulls)] if has_nulls \
            else [_date(v) for v in values]
        return out
    elif vtype == DATETIME:
        if not has_nulls and values and MIN_MICROS <= min(values) and max(values) <= MAX_MICROS:
            epoch, delta = _EPOCH, datetime.timedelta
            return [epoch + delta(microseconds=v) for v in values]
        return [None if null else _datetime(v) for v, null in zip(values, nulls)]
    elif vtype == TIMESTAMP_TZ:
        zones = vector.zones
        if zones is None:
            return [None if null else _aware(v, "UTC") for v, null in zip(values, nulls)]
        return [None if null else _aware(v, utf8_text(z)) for v, null, z in zip(values, nulls, zones)]
    elif vtype == DECIMAL128:
        scale = vector.scale or 0
        return [None if null else decimal_from_bytes(raw, scale) for raw, null in zip(values, nulls)]
    elif vtype == INTERVAL_DAY_SECOND:
        delta = datetime.timedelta
        try:
            return [None if null else delta(microseconds=v) for v, null in zip(values, nulls)]
        except OverflowError:
            raise DataError("INTERVAL value out of the range of datetime.timedelta") from None
    else:
        raise DataError(f"unsupported vector type {vtype}")
    if has_nulls:
        out = list(out) if out is values else out
        for row in _null_rows(nulls):
            out[row] = None
    return out


def vector_values(vector: RawVector, size: int) -> list:
    """The Python values of one checked vector, ``size`` long."""
    if size == 0:
        return []
    if vector.vtype == NULL or all_null(vector):
        return [None] * size
    if vector.constant:
        try:
            value = convert_one(vector, vector.values, 0)
        except OverflowError:
            raise DataError(f"constant {TYPE_NAMES[vector.vtype or 0]} value out of range") from None
        return [value] * size
    return _convert_list(vector, vector.values, vector.nulls or b"")


def decode_chunk_columns(data: bytes) -> Tuple[int, List[list]]:
    """Row count and one list of Python values per column."""
    size, vectors = read_chunk(data)
    columns = []
    for index, vector in enumerate(vectors):
        try:
            columns.append(vector_values(vector, size))
        except DataError as exc:
            if f"column {index}" in exc.message:
                raise
            raise DataError(f"column {index} ({TYPE_NAMES[vector.vtype or 0]}): {exc.message}") from None
    return size, columns


def decode_chunk(data: bytes) -> List[tuple]:
    """Rows of one chunk as tuples."""
    size, columns = decode_chunk_columns(data)
    if not columns:
        return [()] * size
    return list(zip(*columns))
