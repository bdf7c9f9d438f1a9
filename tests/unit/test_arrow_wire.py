"""FetchArrow's hand-written wire bytes: the engine's writer and the driver's reader agree with the generated
protobuf classes, malformed answers raise DataError; the Arrow types the engine serves are the driver's."""
from __future__ import annotations

import random

import pyarrow as pa
import pytest

from e6driver import columnar
from e6driver._proto import e6driver_query_pb2 as run_pb
from e6driver.errors import DataError
from e6driver.protocol.answers import ArrowAnswer, BatchAnswer
from mock_server.query import wire_bytes
from mock_server.query.arrow_results import PASS_THROUGH, arrow_schema
from mock_server.query.encode import VECTOR_TYPE_KEY, classify

CASES = [
    (b"", [], False),
    (b"\x00" * 300, [], True),
    (b"", [b"chunk-1", b"", b"c" * 70000], False),
    (bytes(range(256)) * 1000, [], False),
]


@pytest.mark.parametrize("ipc, chunks, end", CASES)
def test_writer_is_read_by_protobuf(ipc, chunks, end):
    pieces = wire_bytes.bytes_field(1, ipc) + wire_bytes.repeated_bytes_field(2, chunks) + \
        wire_bytes.bool_field(3, end)
    prepared = wire_bytes.Prepared(pieces, strategy_field=4)
    parsed = run_pb.FetchArrowResponse.FromString(prepared.data)
    assert (parsed.ipc_stream, list(parsed.batches), parsed.end_of_stream) == (ipc, chunks, end)
    assert parsed.new_strategy == ""
    announced = prepared.with_new_strategy("blue").with_new_strategy("green")  # the last one counts
    assert run_pb.FetchArrowResponse.FromString(announced.data).new_strategy == "green"
    assert ArrowAnswer(announced.data).new_strategy == "green" and ArrowAnswer(prepared.data).new_strategy is None


def test_batch_v2_answer_as_protobuf_writes_it():
    """getNextResultBatchV2's hand-written answer is the generated class's, byte for byte."""
    from e6driver._proto import e6x_engine_pb2 as pb

    chunks = [b"a" * 200, b"", b"z" * 5]
    prepared = wire_bytes.Prepared(wire_bytes.repeated_bytes_field(1, chunks) + wire_bytes.string_field(2, "sid")
                                   + wire_bytes.bool_field(4, True), strategy_field=3)
    expected = pb.GetNextResultBatchV2Response(resultBatches=chunks, sessionId="sid", endOfStream=True)
    assert prepared.data == expected.SerializeToString()
    expected.new_strategy = "blue"
    announced = prepared.with_new_strategy("blue").data
    assert pb.GetNextResultBatchV2Response.FromString(announced) == expected
    answer = BatchAnswer(announced)  # the driver's reader
    assert ([bytes(c) for c in answer.resultBatches], answer.endOfStream, answer.new_strategy) == \
        (chunks, True, "blue")


@pytest.mark.parametrize("ipc, chunks, end", CASES)
def test_reader_reads_protobuf(ipc, chunks, end):
    data = run_pb.FetchArrowResponse(ipc_stream=ipc, batches=chunks, end_of_stream=end).SerializeToString()
    got_ipc, got_chunks, got_end, _ = ArrowAnswer(data + b"\x28\x05").fields()  # + an unknown varint field 5
    assert (bytes(got_ipc) if got_ipc is not None else b"", [bytes(c) for c in got_chunks], got_end) == \
        (ipc, chunks, end)


def test_truncated_or_garbled_answers_raise_data_error():
    data = run_pb.FetchArrowResponse(ipc_stream=b"x" * 1000, batches=[b"abc"], end_of_stream=True) \
        .SerializeToString()
    for cut in range(1, len(data)):
        for answer in (ArrowAnswer(data[:cut]), BatchAnswer(data[:cut])):
            try:
                answer.fields() if isinstance(answer, ArrowAnswer) else answer.resultBatches
            except DataError:
                pass
    rng = random.Random(7)
    for _ in range(500):
        bad = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        for answer in (ArrowAnswer(bad), BatchAnswer(bad)):
            try:
                answer.fields() if isinstance(answer, ArrowAnswer) else answer.resultBatches
            except DataError:
                pass
    with pytest.raises(DataError):
        ArrowAnswer(b"\x0a\xff\xff\xff\xff\x0f").fields()  # a field longer than the answer
    with pytest.raises(DataError):
        BatchAnswer(b"\x0b").resultBatches  # wire type 3 (groups) is not used
    with pytest.raises(DataError):
        BatchAnswer(b"\x18\x01").new_strategy  # a number where text belongs


@pytest.mark.parametrize("source", list(PASS_THROUGH))
def test_served_types_are_what_chunks_decode_to(source):
    """The one mapping: what the engine serves as Arrow is columnar.ARROW_TYPES of the column's wire type."""
    field = pa.field("c", source)
    served = arrow_schema(pa.schema([field])).field("c").type
    assert served == columnar.ARROW_TYPES[classify(field)[1]]


def test_decimals_keep_their_scale_and_others_stay_on_chunks():
    assert arrow_schema(pa.schema([("d", pa.decimal128(18, 4))])).field("d").type == pa.decimal128(38, 4)
    for kind in (pa.timestamp("us", tz="UTC"), pa.timestamp("ns"), pa.month_day_nano_interval(),
                 pa.list_(pa.int32()), pa.time64("us"), pa.null(), pa.dictionary(pa.int8(), pa.string())):
        assert arrow_schema(pa.schema([("a", pa.int64()), ("x", kind)])) is None, kind
    rendered = pa.field("j", pa.string(), metadata={VECTOR_TYPE_KEY: b"ARRAY"})
    assert arrow_schema(pa.schema([rendered])) is None
