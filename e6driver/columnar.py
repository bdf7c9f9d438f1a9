"""Chunks straight into Arrow arrays: fixed-width vectors are byte-swapped by numpy, with no Python object per value.

Needs the optional ``arrow`` extra (pyarrow, numpy); the core driver never imports this module by itself.
The same strictness as the row decoders applies (shared parser ``_decode.read_chunk``): malformed bytes, invalid
UTF-8, non-whole-day DATE values raise ``DataError``. Arrow types by VectorType are in ``ARROW_TYPES``.
"""
from __future__ import annotations

import datetime
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np
import pyarrow as pa

from . import _decode as d
from .errors import DataError
from .protocol.result_metadata import Column

# metadata type name -> Arrow type (DECIMAL128 gets its scale from the vectors)
ARROW_TYPES: Dict[str, pa.DataType] = {
    "BOOLEAN": pa.bool_(), "INTEGER": pa.int32(), "LONG": pa.int64(), "FLOAT": pa.float32(),
    "DOUBLE": pa.float64(), "STRING": pa.string(), "BINARY": pa.binary(), "DATE": pa.date32(),
    "DATETIME": pa.timestamp("us"), "TIMESTAMP_TZ": pa.timestamp("us", tz="UTC"),
    "INTERVAL_DAY_SECOND": pa.duration("us"), "ARRAY": pa.string(), "MAP": pa.string(), "STRUCT": pa.string(),
    "NULL": pa.null(), "TIME": pa.time64("us"), "DECIMAL128": pa.decimal128(38, 0),
}
_FIXED_DTYPE = {d.INTEGER: ">i4", d.LONG: ">i8", d.INTERVAL_DAY_SECOND: ">i8", d.FLOAT: ">f8", d.DOUBLE: ">f8",
                d.DATE: ">i8", d.DATETIME: ">i8", d.TIMESTAMP_TZ: ">i8"}
_NATIVE_DTYPE = {d.INTEGER: "<i4", d.LONG: "<i8", d.INTERVAL_DAY_SECOND: "<i8", d.FLOAT: "<f4", d.DOUBLE: "<f8",
                 d.DATE: "<i8", d.DATETIME: "<i8", d.TIMESTAMP_TZ: "<i8"}
_MIN_DAY = (d.MIN_MICROS // d.MICROS_PER_DAY)
_MAX_DAY = (d.MAX_MICROS // d.MICROS_PER_DAY)


def schema_for(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES.get(c.type_name.upper(), pa.string())) for c in columns])


def _mask(vector: d.RawVector, size: int) -> Optional[np.ndarray]:
    nulls = np.frombuffer(vector.nulls or b"", dtype=np.uint8)
    if vector.constant:
        return np.full(size, bool(nulls[0])) if nulls.size and nulls[0] else None
    mask = nulls != 0
    return mask if mask.any() else None


def _validity(mask: Optional[np.ndarray]) -> Optional[pa.Buffer]:
    """Arrow's validity bitmap of a NULL mask, packed by numpy (``pa.array`` on numpy input imports pandas on its
    first call: 0.3 s of a first fetch)."""
    return pa.py_buffer(np.packbits(~mask, bitorder="little")) if mask is not None else None


def _from_buffer(kind: pa.DataType, size: int, values: np.ndarray, mask: Optional[np.ndarray]) -> pa.Array:
    """An Arrow array of ``size`` values whose data buffer is ``values`` (laid out as Arrow lays ``kind``)."""
    return pa.Array.from_buffers(kind, size, [_validity(mask), pa.py_buffer(np.ascontiguousarray(values))],
                                 null_count=int(mask.sum()) if mask is not None else 0)


def _numeric(values: np.ndarray, kind: pa.DataType, mask: Optional[np.ndarray]) -> pa.Array:
    """An Arrow array over fixed-width numpy values (native order, Arrow's width for ``kind``), no copy."""
    return _from_buffer(kind, len(values), values, mask)


def _fixed(buf: bytes, vector: d.RawVector) -> np.ndarray:
    values, vtype = vector.values, int(vector.vtype or 0)
    if isinstance(values, d.FixedSlice):
        raw = np.frombuffer(buf, dtype=_FIXED_DTYPE[vtype], count=values.count, offset=values.offset)
        return raw.astype(_NATIVE_DTYPE[vtype])
    return np.asarray(values, dtype=_NATIVE_DTYPE[vtype])


def _text_array(values: Any, mask: Optional[np.ndarray], binary: bool) -> pa.Array:
    """Arrow text from the offsets and bytes the parser left (no Python object per value)."""
    validity = _validity(mask)
    array = pa.Array.from_buffers(pa.binary() if binary else pa.string(), values.count,
                                  [validity, pa.py_buffer(values.offsets), pa.py_buffer(values.data)])
    if not binary:
        try:
            array.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise DataError(f"invalid UTF-8 in a text value: {exc}") from None
    return array


def _decimal_array(buf: bytes, values: Any, mask: Optional[np.ndarray], scale: int, size: int) -> pa.Array:
    kind = pa.decimal128(38, scale)
    validity = _validity(mask)
    if isinstance(values, d.FixedSlice):  # stride 20: 4-byte length (16) + 16 big-endian bytes
        rows = np.frombuffer(buf, dtype=np.uint8, count=values.count * 20, offset=values.offset)
        little = rows.reshape(values.count, 20)[:, 4:][:, ::-1].copy()
        return pa.Array.from_buffers(kind, size, [validity, pa.py_buffer(little.tobytes())])
    if all(len(v) == 16 for v, null in zip(values, mask if mask is not None else [False] * size) if not null):
        joined = b"".join(v if len(v) == 16 else bytes(16) for v in values)
        little = np.frombuffer(joined, dtype=np.uint8).reshape(size, 16)[:, ::-1].copy()
        return pa.Array.from_buffers(kind, size, [validity, pa.py_buffer(little.tobytes())])
    decimals = [None if mask is not None and mask[i] else d.decimal_from_bytes(v, scale)
                for i, v in enumerate(values)]
    return pa.array(decimals, type=kind)


def vector_array(buf: bytes, vector: d.RawVector, size: int, column: Column) -> pa.Array:
    """The Arrow array of one checked vector (parsed with ``read_chunk(raw=True)``)."""
    type_name = column.type_name.upper()
    vtype = vector.vtype
    if vtype == d.NULL or size == 0 or d.all_null(vector):
        kind = ARROW_TYPES.get(type_name, pa.null())
        if vtype == d.DECIMAL128:
            kind = pa.decimal128(38, vector.scale or 0)
        return pa.nulls(size, type=kind)
    mask = _mask(vector, size)
    if vector.constant:
        value = d.convert_one(vector, vector.values, 0)
        if type_name == "TIME":
            value = datetime.time.fromisoformat(value)
        kind = pa.decimal128(38, vector.scale or 0) if vtype == d.DECIMAL128 else ARROW_TYPES[type_name]
        if vtype == d.TIMESTAMP_TZ:
            kind = pa.timestamp("us", tz=str(value.tzinfo) if value.tzinfo else "UTC")
        return pa.array([value] * size, type=kind)
    if vtype == d.BOOLEAN:
        values = vector.values
        flags = np.frombuffer(buf, dtype=np.uint8, count=values.count, offset=values.offset) != 0 \
            if isinstance(values, d.FixedSlice) else np.asarray(values) != 0
        return _from_buffer(pa.bool_(), size, np.packbits(flags, bitorder="little"), mask)
    if vtype in (d.INTEGER, d.LONG, d.DOUBLE, d.FLOAT):
        return _numeric(_fixed(buf, vector), ARROW_TYPES[d.TYPE_NAMES[vtype]], mask)
    if vtype == d.INTERVAL_DAY_SECOND:
        return _numeric(_fixed(buf, vector), pa.duration("us"), mask)
    if vtype == d.DATE:
        micros = _fixed(buf, vector)
        days, rest = np.divmod(micros, d.MICROS_PER_DAY)
        valid = ~mask if mask is not None else slice(None)
        if np.any(rest[valid]):
            raise DataError("DATE value is not a whole day")
        if days.size and (np.any(days[valid] < _MIN_DAY) or np.any(days[valid] > _MAX_DAY)):
            raise DataError("DATE value is outside years 1-9999")
        return _numeric(days.astype(np.int32), pa.date32(), mask)
    if vtype == d.DATETIME:
        return _numeric(_fixed(buf, vector), pa.timestamp("us"), mask)
    if vtype == d.TIMESTAMP_TZ:
        zones = {z for z, null in zip(vector.zones or [], mask if mask is not None else [False] * size) if not null}
        tz = "UTC"
        if len(zones) == 1:
            name = d.utf8_text(zones.pop())
            d.zone(name)  # validates it
            tz = "UTC" if name in ("Z", "") else name
        return _numeric(_fixed(buf, vector), pa.timestamp("us", tz=tz), mask)
    if vtype == d.DECIMAL128:
        return _decimal_array(buf, vector.values, mask, vector.scale or 0, size)
    if type_name == "TIME":
        texts = _text_array(vector.values, mask, binary=False).to_pylist()
        return pa.array([None if t is None else datetime.time.fromisoformat(t) for t in texts],
                        type=pa.time64("us"))
    if vtype == d.BINARY:
        return _text_array(vector.values, mask, binary=True)
    return _text_array(vector.values, mask, binary=False)


def chunk_to_batch(data: bytes, columns: Sequence[Column]) -> pa.RecordBatch:
    size, vectors = d.read_chunk(data, raw=True)
    if len(vectors) != len(columns):
        raise DataError(f"chunk has {len(vectors)} columns but the result has {len(columns)}")
    buf = bytes(data)
    arrays = []
    for index, (vector, column) in enumerate(zip(vectors, columns)):
        try:
            arrays.append(vector_array(buf, vector, size, column))
        except (pa.ArrowInvalid, ValueError, OverflowError) as exc:
            raise DataError(f"column {index} ({column.name}): {exc}") from None
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])


def ipc_batches(stream: Any, columns: Sequence[Column]) -> List[pa.RecordBatch]:
    """The record batches of an Arrow IPC stream from QueryRunService.FetchArrow (read without copying), checked
    as the chunk route checks: the types this module gives those columns, valid values (UTF-8 included)."""
    expected = schema_for(columns)
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(stream))
        received = reader.schema
        if len(received) != len(expected) or not all(
                _same_kind(r.type, e.type) for r, e in zip(received, expected)):
            raise DataError(f"Arrow result types {received.types} do not match the result's columns "
                            f"{expected.types}")
        names = [c.name for c in columns]
        batches = []
        for batch in reader:
            batch.validate(full=True)
            batches.append(batch if batch.schema.names == names else
                           pa.RecordBatch.from_arrays(batch.columns, names=names))
        return batches
    except (pa.ArrowException, ValueError, OSError) as exc:  # pyarrow's IO errors are OSErrors
        raise DataError(f"malformed Arrow result from the engine: {exc}") from None


def _same_kind(received: pa.DataType, expected: pa.DataType) -> bool:
    """Equal types; a decimal's scale comes with the values (as a DECIMAL128 vector's does)."""
    if isinstance(expected, pa.Decimal128Type):
        return isinstance(received, pa.Decimal128Type) and received.precision == 38
    return received == expected


def piece_to_batch(piece: Any, columns: Sequence[Column]) -> pa.RecordBatch:
    """The batch of a fetched piece: a chunk's bytes decoded, or an Arrow batch as it came."""
    return chunk_to_batch(piece, columns) if isinstance(piece, (bytes, memoryview)) else piece


def batch_rows(batch: pa.RecordBatch) -> List[tuple]:
    """Row tuples of an Arrow batch of :func:`ipc_batches` (its types convert to the values the row decoders
    give)."""
    return list(zip(*(column.to_pylist() for column in batch.columns)))


def rows_to_batch(rows: Sequence[Sequence[Any]], columns: Sequence[Column]) -> pa.RecordBatch:
    """Rows already decoded to Python values (left over from row-wise fetches) as a batch."""
    arrays = []
    for index, column in enumerate(columns):
        values = [row[index] for row in rows]
        kind = ARROW_TYPES.get(column.type_name.upper(), pa.string())
        if isinstance(kind, pa.Decimal128Type):
            arrays.append(pa.array(values, type=pa.decimal128(38, max(
                (-v.as_tuple().exponent for v in values if v is not None), default=0))))
        elif kind == pa.timestamp("us", tz="UTC"):
            arrays.append(pa.array(values))
        else:
            arrays.append(pa.array(values, type=kind))
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])


def concat(batches: List[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    if not batches:
        return schema.empty_table()
    tables = [pa.Table.from_batches([b]) for b in batches]
    return pa.concat_tables(tables, promote_options="permissive")


def rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """``batches`` re-cut to exactly ``size`` rows each (the last one smaller), without copying more than the
    rows of one output batch at a time."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    pending: List[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, size).combine_chunks().to_batches()[0]
            pending = table.slice(size).to_batches()
            count -= size
    if count:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
