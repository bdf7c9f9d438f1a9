"""Arrow → Thrift Chunk encoder, checked against spec bytes and an independent test-only reader."""
from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from e6driver.types import VectorType
from mock_server.query.encode import EncodeError, VECTOR_TYPE_KEY, column_types, encode_chunk
from thrift_reader import read_struct


def chunk_of(**columns):
    raw = encode_chunk(pa.record_batch(columns))
    chunk, end = read_struct(raw)
    assert end == len(raw)
    for vector in chunk[2]:
        assert vector[1] == chunk[1] and len(vector[3]) == chunk[1] and vector[5] is False
    return chunk


def single(arr):
    """(vectorType, nullSet, data member id, member struct) of a one-column chunk."""
    vector = chunk_of(c=arr)[2][0]
    (member, body), = vector[4].items()
    return vector[2], vector[3], member, body


def test_spec_example_one_long_row():
    expected = bytes.fromhex(
        "08000100000001" "0F00020C00000001" "08000100000001" "08000200000006" "0F0003020000000100"
        "0C0004" "0C0003" "0F00010A000000010000000000000005" "00" "00" "02000500" "00" "00")
    assert encode_chunk(pa.record_batch({"x": pa.array([5], pa.int64())})) == expected


@pytest.mark.parametrize("arr, vtype, member, data", [
    (pa.array([True, None, False]), VectorType.BOOLEAN, 1, [True, False, False]),
    (pa.array([1, None, -128], pa.int8()), VectorType.INTEGER, 2, [1, 0, -128]),
    (pa.array([65535, None, 0], pa.uint16()), VectorType.INTEGER, 2, [65535, 0, 0]),
    (pa.array([2**31 - 1, None, -2**31], pa.int32()), VectorType.INTEGER, 2, [2**31 - 1, 0, -2**31]),
    (pa.array([2**63 - 1, None, -2**63], pa.int64()), VectorType.LONG, 3, [2**63 - 1, 0, -2**63]),
    (pa.array([2**32 - 1, None, 0], pa.uint32()), VectorType.LONG, 3, [2**32 - 1, 0, 0]),
    (pa.array([1.5, None, -2.0], pa.float32()), VectorType.FLOAT, 5, [1.5, 0.0, -2.0]),
    (pa.array([1e300, None, -0.5]), VectorType.DOUBLE, 6, [1e300, 0.0, -0.5]),
    (pa.array(["é", None, ""]), VectorType.STRING, 7, ["é".encode(), b"", b""]),
    (pa.array(["ab", None, "c"], pa.large_string()), VectorType.STRING, 7, [b"ab", b"", b"c"]),
    (pa.array([b"\x00\xff", None, b""], pa.binary()), VectorType.BINARY, 7, [b"\x00\xff", b"", b""]),
    (pa.array([datetime.date(1969, 12, 31), None, datetime.date(1970, 1, 2)]), VectorType.DATE, 4,
     [-86_400_000_000, 0, 86_400_000_000]),
])
def test_fixed_and_text_columns(arr, vtype, member, data):
    got_type, nulls, got_member, body = single(arr)
    assert (got_type, got_member) == (vtype, member)
    assert nulls == [False, True, False]
    assert body[1] == data


def test_string_view_and_dictionary_columns():
    if hasattr(pa, "string_view"):
        assert single(pa.array(["x", None, "yz"], pa.string_view()))[3][1] == [b"x", b"", b"yz"]
    dictionary = pa.array(["a", "b", None, "a"]).dictionary_encode()
    vtype, nulls, _, body = single(dictionary)
    assert vtype == VectorType.STRING and body[1] == [b"a", b"b", b"", b"a"] and nulls[2] is True


def test_sliced_arrays_respect_offsets():
    strings = pa.array(["skip", "me", "keep", None, "this"]).slice(2)
    assert single(strings)[3][1] == [b"keep", b"", b"this"]
    ints = pa.array([9, 9, 1, None, 3], pa.int64()).slice(2)
    assert single(ints)[3][1] == [1, 0, 3]
    decimals = pa.array([decimal.Decimal("9"), decimal.Decimal("-1.5"), None], pa.decimal128(5, 1)).slice(1)
    assert single(decimals)[3][1] == [(-15).to_bytes(16, "big", signed=True), bytes(16)]


def test_decimal_is_16_byte_big_endian_unscaled_with_scale():
    values = [decimal.Decimal("-12345678901234567890.123456789012345678"), None, decimal.Decimal("0.000000000000000001")]
    vtype, nulls, member, body = single(pa.array(values, pa.decimal128(38, 18)))
    assert (vtype, member, body[2]) == (VectorType.DECIMAL128, 17, 18)
    assert [int.from_bytes(b, "big", signed=True) for b in body[1]] == [
        -12345678901234567890123456789012345678, 0, 1]


def test_uint64_becomes_decimal_scale_zero():
    vtype, _, _, body = single(pa.array([2**64 - 1, None, 7], pa.uint64()))
    assert vtype == VectorType.DECIMAL128 and body[2] == 0
    assert [int.from_bytes(b, "big", signed=True) for b in body[1]] == [2**64 - 1, 0, 7]


@pytest.mark.parametrize("unit, raw, micros", [
    ("s", 2, 2_000_000), ("ms", -1, -1000), ("us", 123, 123), ("ns", -1, -1), ("ns", 1999, 1),
])
def test_timestamps_are_microseconds(unit, raw, micros):
    vtype, _, member, body = single(pa.array([raw, None, 0], pa.timestamp(unit)))
    assert (vtype, member) == (VectorType.DATETIME, 16)
    assert body[1] == [micros, 0, 0] and 2 not in body


def test_timestamptz_carries_the_zone_per_row():
    arr = pa.array([0, None, 5], pa.timestamp("us", tz="Asia/Kolkata"))  # DuckDB: the session TimeZone
    raw = encode_chunk(pa.record_batch({"t": arr}), zone="UTC")
    vector = read_struct(raw)[0][2][0]
    assert vector[2] == VectorType.TIMESTAMP_TZ
    assert vector[4][16] == {1: [0, 0, 5], 2: [b"Asia/Kolkata"] * 3}
    assert column_types(pa.schema([pa.field("t", arr.type)]), "UTC") == [
        ("t", "TIMESTAMP_TZ", "Asia/Kolkata", "")]


def test_time_is_text_with_metadata_name_time():
    arr = pa.array([datetime.time(1, 2, 3, 4), None, datetime.time(23, 59, 59, 999999)])
    vtype, _, member, body = single(arr)
    assert (vtype, member) == (VectorType.STRING, 7)
    assert body[1] == [b"01:02:03.000004", b"00:00:00.000000", b"23:59:59.999999"]
    assert column_types(pa.schema([pa.field("t", arr.type)]))[0][1] == "TIME"


def test_day_second_interval_and_month_part_error():
    arr = pa.array([pa.MonthDayNano([0, 2, 3_000]), None, pa.MonthDayNano([0, -1, -1_000])],
                   pa.month_day_nano_interval())
    vtype, _, member, body = single(arr)
    assert (vtype, member) == (VectorType.INTERVAL_DAY_SECOND, 3)
    assert body[1] == [2 * 86_400_000_000 + 3, 0, -86_400_000_000 - 1]
    with pytest.raises(EncodeError, match="'months'"):
        encode_chunk(pa.record_batch({"months": pa.array([pa.MonthDayNano([1, 0, 0])],
                                                         pa.month_day_nano_interval())}))


def test_null_column_and_nested_fallback():
    vtype, nulls, member, body = single(pa.nulls(3))
    assert (vtype, nulls, member, body) == (VectorType.NULL, [True] * 3, 10, {1: 0})
    vtype, nulls, _, body = single(pa.array([[1, 2], None, []]))
    assert vtype == VectorType.ARRAY and body[1] == [b"[1, 2]", b"", b"[]"] and nulls[1]
    vtype, _, _, body = single(pa.array([{"a": 1}, None, {"a": None}]))
    assert vtype == VectorType.STRUCT and body[1][0] == b'{"a": 1}'


def test_pre_rendered_json_column_keeps_its_vector_type():
    field = pa.field("m", pa.string(), metadata={VECTOR_TYPE_KEY: b"MAP"})
    batch = pa.record_batch([pa.array(['{"k":1}'])], schema=pa.schema([field]))
    vector = read_struct(encode_chunk(batch))[0][2][0]
    assert vector[2] == VectorType.MAP and vector[4][7][1] == [b'{"k":1}']
    assert column_types(batch.schema)[0] == ("m", "MAP", "", "")


def test_many_columns_in_one_chunk():
    chunk = chunk_of(a=pa.array([1, 2]), b=pa.array(["x", "y"]), c=pa.array([None, True]))
    assert chunk[1] == 2 and [v[2] for v in chunk[2]] == [VectorType.LONG, VectorType.STRING,
                                                          VectorType.BOOLEAN]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=20)), min_size=1, max_size=30),
       st.integers(min_value=0, max_value=5))
def test_strings_round_trip(values, offset):
    arr = pa.array(values, pa.string()).slice(min(offset, len(values) - 1))
    expected = arr.to_pylist()
    _, nulls, _, body = single(arr)
    assert [None if n else v.decode() for v, n in zip(body[1], nulls)] == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1)), min_size=1,
                max_size=50))
def test_int64_round_trip(values):
    _, nulls, _, body = single(pa.array(values, pa.int64()))
    assert [None if n else v for v, n in zip(body[1], nulls)] == values
