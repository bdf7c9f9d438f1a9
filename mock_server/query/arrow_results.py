"""Results as Arrow IPC streams for columnar readers (QueryRunService.FetchArrow, protos/e6driver_query.proto).

A result is served as Arrow when every column's Arrow type is one the Thrift route decodes to unchanged, after at
most a lossless widening (SMALLINT travels as an INTEGER vector, so it arrives as int32 either way): a reader
gets the same types and values by both routes (the targets are e6driver.columnar's, held equal by
tests/unit/test_arrow_results.py). Anything else (zoned timestamps, intervals, nested values, TIME, NULL
columns, columns the engine pre-rendered) stays on Thrift chunks.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Union

import pyarrow as pa

from mock_server.query.encode import VECTOR_TYPE_KEY

Piece = Union[pa.RecordBatch, pa.Table]

PASS_THROUGH: Dict[pa.DataType, pa.DataType] = {
    pa.bool_(): pa.bool_(),
    pa.int8(): pa.int32(), pa.int16(): pa.int32(), pa.int32(): pa.int32(),
    pa.uint8(): pa.int32(), pa.uint16(): pa.int32(),
    pa.int64(): pa.int64(), pa.uint32(): pa.int64(),
    pa.float32(): pa.float32(), pa.float64(): pa.float64(),
    pa.string(): pa.string(), pa.large_string(): pa.string(),
    pa.binary(): pa.binary(), pa.large_binary(): pa.binary(),
    pa.date32(): pa.date32(),
    pa.timestamp("us"): pa.timestamp("us"),
}
"""Arrow type of a DuckDB result column → the Arrow type a reader gets (decimals: see :func:`_target`)."""


def _target(field: pa.Field) -> Optional[pa.DataType]:
    if field.metadata and VECTOR_TYPE_KEY in field.metadata:
        return None  # rendered by the engine (e.g. nested values as JSON text)
    if pa.types.is_decimal(field.type) and field.type.bit_width == 128:
        return pa.decimal128(38, field.type.scale)  # a DECIMAL128 vector carries 38 digits and the scale
    return PASS_THROUGH.get(field.type)


def arrow_schema(schema: Optional[pa.Schema]) -> Optional[pa.Schema]:
    """The schema a result is served with as Arrow, or None when it stays on Thrift chunks."""
    if schema is None or not len(schema):
        return None
    fields = []
    for field in schema:
        target = _target(field)
        if target is None:
            return None
        fields.append(pa.field(field.name, target))
    return pa.schema(fields)


def conform(piece: Piece, schema: pa.Schema) -> Piece:
    """A batch (or table of batches) with the served types; casts are lossless widenings, nothing is copied
    otherwise."""
    columns = [column if column.type == kind else column.cast(kind)
               for column, kind in zip(piece.columns, schema.types)]
    make = pa.Table.from_arrays if isinstance(piece, pa.Table) else pa.RecordBatch.from_arrays
    return make(columns, schema=schema)


class Serialized:
    """A piece with the served types, already written as IPC messages: once a result is read as Arrow, the
    query's producer writes them ahead of the fetch that sends them. Keeps the piece too (a Thrift fetch of the
    same query encodes it)."""

    __slots__ = ("piece", "messages", "nbytes")

    def __init__(self, piece: Piece, schema: pa.Schema) -> None:
        self.piece = conform(piece, schema)
        batches = self.piece.to_batches() if isinstance(self.piece, pa.Table) else [self.piece]
        self.messages = [batch.serialize() for batch in batches if batch.num_rows]
        self.nbytes = sum(message.size for message in self.messages)


_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def ipc_stream(pieces: Iterable[Union[Piece, Serialized]], schema: pa.Schema) -> List[Any]:
    """One Arrow IPC stream — schema, the batches, end marker — as the buffers to send one after another
    (the stream's format is its messages laid end to end)."""
    parts: List[Any] = [schema.serialize()]
    for piece in pieces:
        parts += (piece if isinstance(piece, Serialized) else Serialized(piece, schema)).messages
    parts.append(_END_OF_STREAM)
    return parts