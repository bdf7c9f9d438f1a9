"""Arrow record batches → Thrift Binary ``Chunk`` bytes (spec §7), vectorized with numpy.

The wire format is written by hand: a Thrift ``list<i64>`` is a 5-byte header followed by big-endian
int64s, so a whole column is one ``numpy.astype('>i8').tobytes()``. Only nested values (rendered as JSON
text when the engine did not already render them) take a per-value Python path.

A field may carry the metadata key ``e6.vector_type`` (e.g. ``b"ARRAY"``) to say which VectorType a text
column stands for; the engine uses it for nested values it has already turned into JSON inside DuckDB.
"""
from __future__ import annotations

import datetime
import decimal
import json
import struct
from typing import Any, List, Optional, Tuple

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from e6driver.types import VectorType
from mock_server.errors import CodedError

VECTOR_TYPE_KEY = b"e6.vector_type"
"""Arrow field-metadata key naming the VectorType of a pre-rendered (text) column."""

# Thrift binary protocol type ids.
_T_BOOL, _T_BYTE, _T_DOUBLE, _T_I32, _T_I64, _T_STRING, _T_STRUCT, _T_LIST = 2, 3, 4, 8, 10, 11, 12, 15

# Members of the ``Data`` union (spec §7.2).
_M_BOOL, _M_INT32, _M_INT64, _M_DATE, _M_FLOAT32, _M_FLOAT64, _M_VARCHAR = 1, 2, 3, 4, 5, 6, 7
_M_NULL_CONST, _M_TIME, _M_DECIMAL128 = 10, 16, 17

_US_PER_DAY = 86_400_000_000
_NESTED_NAMES = {"ARRAY": VectorType.ARRAY, "MAP": VectorType.MAP, "STRUCT": VectorType.STRUCT}
_INTERVAL_DTYPE = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])
_DECIMAL_PREFIX = np.frombuffer(struct.pack(">i", 16), dtype=np.uint8)


class EncodeError(CodedError, ValueError):
    """A value cannot be represented on the wire (e.g. an INTERVAL with a month part)."""

    code = grpc.StatusCode.OUT_OF_RANGE


def _field(ttype: int, fid: int) -> bytes:
    return struct.pack(">bh", ttype, fid)


def _list_header(elem_type: int, count: int) -> bytes:
    return struct.pack(">bi", elem_type, count)


# --------------------------------------------------------------------------------------------
# Type classification (one place decides VectorType and metadata type name)
# --------------------------------------------------------------------------------------------

def classify(field: pa.Field) -> Tuple[VectorType, str]:
    """VectorType and metadata type name (spec §6.3, docs/engine-contract.md) of an Arrow field."""
    meta = field.metadata or {}
    override = meta.get(VECTOR_TYPE_KEY)
    if override is not None:
        name = override.decode()
        return _NESTED_NAMES.get(name, VectorType[name]), name
    t = field.type
    if pa.types.is_dictionary(t):
        return classify(pa.field(field.name, t.value_type))
    if pa.types.is_boolean(t):
        return VectorType.BOOLEAN, "BOOLEAN"
    if t in (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16()):
        return VectorType.INTEGER, "INTEGER"
    if t in (pa.int64(), pa.uint32()):
        return VectorType.LONG, "LONG"
    if t == pa.uint64() or pa.types.is_decimal(t):
        return VectorType.DECIMAL128, "DECIMAL128"
    if t in (pa.float16(), pa.float32()):
        return VectorType.FLOAT, "FLOAT"
    if t == pa.float64():
        return VectorType.DOUBLE, "DOUBLE"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or _is_view(t, "string"):
        return VectorType.STRING, "STRING"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
            or _is_view(t, "binary"):
        return VectorType.BINARY, "BINARY"
    if pa.types.is_date(t):
        return VectorType.DATE, "DATE"
    if pa.types.is_timestamp(t):
        if t.tz:
            return VectorType.TIMESTAMP_TZ, "TIMESTAMP_TZ"
        return VectorType.DATETIME, "DATETIME"
    if pa.types.is_time(t):
        return VectorType.STRING, "TIME"
    if t == pa.month_day_nano_interval() or pa.types.is_duration(t):
        return VectorType.INTERVAL_DAY_SECOND, "INTERVAL_DAY_SECOND"
    if pa.types.is_null(t):
        return VectorType.NULL, "NULL"
    if pa.types.is_map(t):
        return VectorType.MAP, "MAP"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) \
            or _is_view(t, "list"):
        return VectorType.ARRAY, "ARRAY"
    if pa.types.is_struct(t) or pa.types.is_union(t):
        return VectorType.STRUCT, "STRUCT"
    raise EncodeError(f"column {field.name!r}: unsupported Arrow type {t}")


def _is_view(t: pa.DataType, kind: str) -> bool:
    check = getattr(pa.types, f"is_{kind}_view", None)
    return bool(check and check(t))


def column_types(schema: pa.Schema, zone: str = "UTC") -> List[Tuple[str, str, str, str]]:
    """(name, type name, zone, format) per column, for the metadata blob.

    The zone of a TIMESTAMP_TZ column is the Arrow type's time zone (DuckDB sets it to the session
    TimeZone), else ``zone``.
    """
    out = []
    for field in schema:
        vtype, name = classify(field)
        tz = (getattr(field.type, "tz", None) or zone) if vtype == VectorType.TIMESTAMP_TZ else ""
        out.append((field.name, name, tz, ""))
    return out


# --------------------------------------------------------------------------------------------
# Column encoders: each returns (member id, member struct fields without STOP)
# --------------------------------------------------------------------------------------------

def _null_mask(arr: pa.Array) -> np.ndarray:
    if pa.types.is_null(arr.type):
        return np.ones(len(arr), dtype=bool)
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return arr.is_null().to_numpy(zero_copy_only=False)


def _filled_numpy(arr: pa.Array, as_type: Optional[pa.DataType] = None) -> np.ndarray:
    """Values as numpy with NULL slots set to 0 (dense data, placeholder at NULLs)."""
    if as_type is not None:
        arr = arr.cast(as_type)
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(0, type=arr.type) if as_type is None else 0)
    return arr.to_numpy(zero_copy_only=False)


def _fixed_list(member: int, elem_type: int, values: np.ndarray, dtype: str) -> Tuple[int, bytes]:
    data = np.ascontiguousarray(values).astype(dtype, copy=False).tobytes()
    return member, _field(_T_LIST, 1) + _list_header(elem_type, len(values)) + data


def _varlen_bytes(arr: pa.Array) -> bytes:
    """Concatenated Thrift strings (i32 BE length + bytes) of a string/binary array, NULL → empty."""
    t = arr.type
    if _is_view(t, "string"):
        arr = arr.cast(pa.large_string())
    elif _is_view(t, "binary") or pa.types.is_fixed_size_binary(t):
        arr = arr.cast(pa.large_binary())
    if arr.null_count:
        empty = "" if (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) else b""
        arr = pc.fill_null(arr, pa.scalar(empty, type=arr.type))
    n = len(arr)
    if n == 0:
        return b""
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    off_dtype = np.int64 if wide else np.int32
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], dtype=off_dtype, count=n + 1,
                         offset=arr.offset * np.dtype(off_dtype).itemsize).astype(np.int64)
    first, last = int(offs[0]), int(offs[-1])
    lengths = np.diff(offs)
    out = np.empty(4 * n + (last - first), dtype=np.uint8)
    starts = 4 * np.arange(n, dtype=np.int64) + (offs[:-1] - first)
    prefix_idx = (starts[:, None] + np.arange(4)).ravel()
    out[prefix_idx] = lengths.astype(">i4").view(np.uint8)
    if last > first:
        is_data = np.ones(len(out), dtype=bool)
        is_data[prefix_idx] = False
        out[is_data] = np.frombuffer(bufs[2], dtype=np.uint8, count=last - first, offset=first)
    return out.tobytes()


def _varchar(arr: pa.Array) -> Tuple[int, bytes]:
    return _M_VARCHAR, _field(_T_LIST, 1) + _list_header(_T_STRING, len(arr)) + _varlen_bytes(arr)


def _decimal(arr: pa.Array, nulls: np.ndarray) -> Tuple[int, bytes]:
    n = len(arr)
    out = np.empty((n, 20), dtype=np.uint8)
    out[:, :4] = _DECIMAL_PREFIX
    if pa.types.is_unsigned_integer(arr.type):  # UBIGINT: unscaled value, scale 0
        scale = 0
        out[:, 4:12] = 0
        out[:, 12:] = _filled_numpy(arr).astype(">u8").view(np.uint8).reshape(n, 8)
    else:
        if arr.type.bit_width != 128:
            if arr.type.precision > 38:
                raise EncodeError(f"decimal precision {arr.type.precision} exceeds 38 digits")
            arr = arr.cast(pa.decimal128(arr.type.precision, arr.type.scale))
        scale = arr.type.scale
        raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8, count=16 * n, offset=16 * arr.offset)
        out[:, 4:] = raw.reshape(n, 16)[:, ::-1]
        out[nulls, 4:] = 0
    body = (_field(_T_LIST, 1) + _list_header(_T_STRING, n) + out.tobytes()
            + _field(_T_I32, 2) + struct.pack(">i", scale))
    return _M_DECIMAL128, body


def _epoch_micros(arr: pa.Array) -> np.ndarray:
    """int64 microseconds since the epoch for date/timestamp arrays (NULL → 0)."""
    t = arr.type
    if t == pa.date32():
        return _scaled(_filled_numpy(arr, pa.int32()).astype(np.int64), _US_PER_DAY, "DATE", "days", 2**31 - 1)
    if t == pa.date64():
        return _scaled(_filled_numpy(arr, pa.int64()), 1000, "DATE", "ms")
    values = _filled_numpy(arr, pa.int64())
    unit = t.unit
    if unit == "s":
        return _scaled(values, 1_000_000, "TIMESTAMP", "s")
    if unit == "ms":
        return _scaled(values, 1000, "TIMESTAMP", "ms")
    if unit == "ns":
        return np.floor_divide(values, 1000)
    return values


_INT64_MAX = 2**63 - 1


def _scaled(values: np.ndarray, factor: int, kind: str, unit: str, infinite: int = _INT64_MAX) -> np.ndarray:
    """``values * factor`` in int64, or an EncodeError for a value whose microseconds do not fit (numpy wraps
    silently: DATE 'infinity' arrived as a date that is not a whole day, 300000-01-01 as some other number)."""
    limit = _INT64_MAX // factor
    beyond = (values > limit) | (values < -limit)
    if beyond.any():
        value = int(values[beyond][0])
        spelled = ("infinity" if value > 0 else "-infinity") if abs(value) == infinite else f"{value} {unit} since 1970"
        raise EncodeError(f"{kind} value {spelled} is beyond the wire's range (int64 microseconds since 1970, "
                          "about ±292,000 years); cast it to VARCHAR")
    return values * factor


def _time_of_day_micros(arr: pa.Array) -> np.ndarray:
    values = _filled_numpy(arr, pa.int64() if arr.type.bit_width == 64 else pa.int32()).astype(np.int64)
    unit = arr.type.unit
    factor = {"s": 1_000_000, "ms": 1000, "us": 1}.get(unit)
    return values * factor if factor else np.floor_divide(values, 1000)


def _time_strings(arr: pa.Array) -> Tuple[int, bytes]:
    """TIME → ``HH:MM:SS.ffffff`` text, built digit by digit with numpy."""
    us = _time_of_day_micros(arr)
    n = len(us)
    out = np.empty((n, 19), dtype=np.uint8)
    out[:, :4] = np.frombuffer(struct.pack(">i", 15), dtype=np.uint8)
    hours, minutes = us // 3_600_000_000, (us // 60_000_000) % 60
    seconds, frac = (us // 1_000_000) % 60, us % 1_000_000
    col = 4
    for value, width in ((hours, 2), (minutes, 2), (seconds, 2), (frac, 6)):
        for power in range(width - 1, -1, -1):
            out[:, col] = (value // 10 ** power) % 10 + 48
            col += 1
        if col < 19:
            out[:, col] = ord(":") if col < 12 else ord(".")
            col += 1
    return _M_VARCHAR, _field(_T_LIST, 1) + _list_header(_T_STRING, n) + out.tobytes()


def _interval_micros(arr: pa.Array, nulls: np.ndarray, name: str) -> np.ndarray:
    if pa.types.is_duration(arr.type):
        values = _filled_numpy(arr, pa.int64())
        factor = {"s": 1_000_000, "ms": 1000, "us": 1}.get(arr.type.unit)
        return values * factor if factor else np.floor_divide(values, 1000)
    raw = np.frombuffer(arr.buffers()[1], dtype=_INTERVAL_DTYPE, count=len(arr), offset=16 * arr.offset)
    if np.any((raw["months"] != 0) & ~nulls):
        raise EncodeError(f"column {name!r}: INTERVAL with a month part cannot be represented exactly; "
                          "cast it to VARCHAR")
    micros = raw["days"].astype(np.int64) * _US_PER_DAY + np.floor_divide(raw["nanos"], 1000)
    micros[nulls] = 0
    return micros


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return value.isoformat()
    return str(value)


def _to_jsonable(value: Any, t: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_map(t):
        return {str(_to_jsonable(k, t.key_type)): _to_jsonable(v, t.item_type) for k, v in value}
    if pa.types.is_struct(t):
        return {t.field(i).name: _to_jsonable(value[t.field(i).name], t.field(i).type)
                for i in range(t.num_fields)}
    if hasattr(t, "value_type") and isinstance(value, list):
        return [_to_jsonable(v, t.value_type) for v in value]
    return value


def _nested_json(arr: pa.Array) -> Tuple[int, bytes]:
    """Fallback for nested Arrow values the engine did not render: one JSON text per value."""
    texts = [None if v is None else json.dumps(_to_jsonable(v, arr.type), default=_json_default,
                                                 ensure_ascii=False)
             for v in arr.to_pylist()]
    return _varchar(pa.array(texts, type=pa.string()))


def _null_constant() -> Tuple[int, bytes]:
    return _M_NULL_CONST, _field(_T_BYTE, 1) + b"\x00"


def _encode_values(field: pa.Field, arr: pa.Array, vtype: VectorType, nulls: np.ndarray,
                   zone: str) -> Tuple[int, bytes]:
    t = arr.type
    if pa.types.is_dictionary(t):
        arr, t = arr.dictionary_decode(), t.value_type
    if vtype == VectorType.NULL:
        return _null_constant()
    if vtype == VectorType.BOOLEAN:
        values = pc.fill_null(arr, False).to_numpy(zero_copy_only=False)
        return _fixed_list(_M_BOOL, _T_BOOL, values, "u1")
    if vtype == VectorType.INTEGER:
        return _fixed_list(_M_INT32, _T_I32, _filled_numpy(arr), ">i4")
    if vtype == VectorType.LONG:
        return _fixed_list(_M_INT64, _T_I64, _filled_numpy(arr), ">i8")
    if vtype == VectorType.FLOAT:
        return _fixed_list(_M_FLOAT32, _T_DOUBLE, _filled_numpy(arr), ">f8")
    if vtype == VectorType.DOUBLE:
        return _fixed_list(_M_FLOAT64, _T_DOUBLE, _filled_numpy(arr), ">f8")
    if vtype == VectorType.DECIMAL128:
        return _decimal(arr, nulls)
    if vtype == VectorType.DATE:
        return _fixed_list(_M_DATE, _T_I64, _epoch_micros(arr), ">i8")
    if vtype in (VectorType.DATETIME, VectorType.TIMESTAMP_TZ):
        member, body = _fixed_list(_M_TIME, _T_I64, _epoch_micros(arr), ">i8")
        if vtype == VectorType.TIMESTAMP_TZ:
            z = (arr.type.tz or zone).encode("utf-8")
            body += (_field(_T_LIST, 2) + _list_header(_T_STRING, len(arr))
                     + (struct.pack(">i", len(z)) + z) * len(arr))
        return member, body
    if vtype == VectorType.INTERVAL_DAY_SECOND:
        return _fixed_list(_M_INT64, _T_I64, _interval_micros(arr, nulls, field.name), ">i8")
    if pa.types.is_time(t):
        return _time_strings(arr)
    if pa.types.is_nested(t):
        return _nested_json(arr)
    return _varchar(arr)


def encode_vector(field: pa.Field, arr: pa.Array, zone: str = "UTC") -> bytes:
    """One Thrift ``Vector`` struct for one column of a chunk."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    vtype, _ = classify(field)
    n = len(arr)
    nulls = _null_mask(arr)
    member, body = _encode_values(field, arr, vtype, nulls, zone)
    return b"".join((
        _field(_T_I32, 1), struct.pack(">i", n),
        _field(_T_I32, 2), struct.pack(">i", int(vtype)),
        _field(_T_LIST, 3), _list_header(_T_BOOL, n), nulls.astype(np.uint8).tobytes(),
        _field(_T_STRUCT, 4), _field(_T_STRUCT, member), body, b"\x00", b"\x00",
        _field(_T_BOOL, 5), b"\x00",
        b"\x00",
    ))


def encode_chunk(batch: pa.RecordBatch, zone: str = "UTC") -> bytes:
    """Serialize one record batch as a Thrift Binary ``Chunk`` (no envelope).

    ``zone`` names the time zone of TIMESTAMP_TZ columns whose Arrow type carries none.
    """
    n = batch.num_rows
    parts = [_field(_T_I32, 1), struct.pack(">i", n),
             _field(_T_LIST, 2), _list_header(_T_STRUCT, batch.num_columns)]
    for i, field in enumerate(batch.schema):
        parts.append(encode_vector(field, batch.column(i), zone))
    parts.append(b"\x00")
    return b"".join(parts)
