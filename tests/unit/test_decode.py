"""Chunk decoding (spec §7): values per vector type, NULLs, ranges, exact decimals, and strict refusal of
malformed chunks. Every test runs once per decoder implementation (``decoder`` fixture)."""
from __future__ import annotations

import datetime
import decimal
import math
import os
import subprocess
import sys
import textwrap
from zoneinfo import ZoneInfo

import pytest

from chunkbuilder import (BOOL, BYTE, DATE_CONST, DEC128_DATA, DOUBLE, I16, I32, I64, INT32_DATA, INT64_DATA,
                          LIST, MAP, NUMERIC_CONST, SET, STRING, STRUCT, T_ARRAY, T_BINARY, T_BOOLEAN, T_DATE,
                          T_DATETIME, T_DECIMAL128, T_DOUBLE, T_FLOAT, T_INT96, T_INTEGER, T_INTERVAL, T_LONG,
                          T_MAP, T_NULL, T_STRING, T_STRUCT, T_TIMESTAMP, T_TIMESTAMP_TZ, TIME_DATA, chunk, dec,
                          field, member, struct_, tlist, value, vector)
from decoders import IMPLEMENTATIONS, decoder_module
from e6driver.errors import DataError

DAY = 86_400_000_000
MIN_MICROS = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
MAX_MICROS = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
UTC = datetime.timezone.utc


def typed(values):
    """Values with their exact types, NaN-safe and tz-aware: reprs carry type, digits, exponent and tzinfo."""
    return [(type(v), repr(v)) for v in values]


def column(decoder, vec: bytes, size: int) -> list:
    """The one column of a single-vector chunk, checking that both entry points agree."""
    data = chunk(size, [vec])
    rows = decoder.decode_chunk(data)
    count, columns = decoder.decode_chunk_columns(data)
    assert count == size and len(columns) == 1
    assert all(type(row) is tuple for row in rows)
    assert typed(row[0] for row in rows) == typed(columns[0])
    return columns[0]


def rejects(decoder, data: bytes, *words: str) -> DataError:
    """Both entry points raise DataError; the message names the problem (``words``, case-insensitive)."""
    with pytest.raises(DataError) as caught:
        decoder.decode_chunk(data)
    with pytest.raises(DataError):
        decoder.decode_chunk_columns(data)
    message = str(caught.value).lower()
    for word in words:
        assert word.lower() in message, (word, message)
    return caught.value


# ---------------------------------------------------------------- values per vector type

TYPE_CASES = {
    "boolean": (T_BOOLEAN, [True, False], [True, False]),
    "integer": (T_INTEGER, [-2**31, 2**31 - 1, 0, -1], [-2**31, 2**31 - 1, 0, -1]),
    "long": (T_LONG, [-2**63, 2**63 - 1, 0, 5], [-2**63, 2**63 - 1, 0, 5]),
    "float": (T_FLOAT, [1.5, -0.0, math.inf], [1.5, -0.0, math.inf]),
    "double": (T_DOUBLE, [2.25, -1e308, 5e-324, -math.inf], [2.25, -1e308, 5e-324, -math.inf]),
    "string": (T_STRING, ["", "héllo", "😀 text"], ["", "héllo", "😀 text"]),
    "array": (T_ARRAY, ["[1, 2]"], ["[1, 2]"]),
    "map": (T_MAP, ['{"a": 1}'], ['{"a": 1}']),
    "struct": (T_STRUCT, ['{"x": 1}'], ['{"x": 1}']),
    "binary": (T_BINARY, [b"\x00\xff\xfe", b""], [b"\x00\xff\xfe", b""]),
    "date": (T_DATE, [0, -DAY, 19_000 * DAY], [datetime.date(1970, 1, 1), datetime.date(1969, 12, 31),
                                                datetime.date(2022, 1, 8)]),
    "datetime": (T_DATETIME, [0, 1, -1, 1_700_000_000_123_456],
                 [datetime.datetime(1970, 1, 1), datetime.datetime(1970, 1, 1, 0, 0, 0, 1),
                  datetime.datetime(1969, 12, 31, 23, 59, 59, 999_999),
                  datetime.datetime(2023, 11, 14, 22, 13, 20, 123_456)]),
    "timestamp_tz_utc": (T_TIMESTAMP_TZ, [0, -1], [datetime.datetime(1970, 1, 1, tzinfo=UTC),
                                                   datetime.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)]),
    "interval": (T_INTERVAL, [1, -1, 90_061_000_001, 2**63 - 1, -2**63],
                 [datetime.timedelta(microseconds=1), datetime.timedelta(microseconds=-1),
                  datetime.timedelta(days=1, hours=1, minutes=1, seconds=1, microseconds=1),
                  datetime.timedelta(microseconds=2**63 - 1), datetime.timedelta(microseconds=-2**63)]),
    "decimal": (T_DECIMAL128, [dec(12345), dec(-1), dec(0)],
                [decimal.Decimal("123.45"), decimal.Decimal("-0.01"), decimal.Decimal("0.00")]),
}


def _kwargs(vtype):
    return {"scale": 2} if vtype == T_DECIMAL128 else {}


@pytest.mark.parametrize("case", TYPE_CASES.values(), ids=list(TYPE_CASES))
def test_non_constant_vector_values_and_types(decoder, case):
    vtype, raw, expected = case
    assert typed(column(decoder, vector(vtype, raw, **_kwargs(vtype)), len(raw))) == typed(expected)


@pytest.mark.parametrize("case", TYPE_CASES.values(), ids=list(TYPE_CASES))
def test_constant_vector_repeats_its_one_value(decoder, case):
    vtype, raw, expected = case
    got = column(decoder, vector(vtype, [raw[0]], constant=True, size=3, **_kwargs(vtype)), 3)
    assert typed(got) == typed([expected[0]] * 3)


@pytest.mark.parametrize("case", TYPE_CASES.values(), ids=list(TYPE_CASES))
def test_nulls_in_non_constant_and_constant_vectors(decoder, case):
    vtype, raw, expected = case
    got = column(decoder, vector(vtype, [raw[0], None, raw[-1], None], **_kwargs(vtype)), 4)
    assert typed(got) == typed([expected[0], None, expected[-1], None])
    null_constant = vector(vtype, [raw[0]], [True], constant=True, size=2, **_kwargs(vtype))
    assert column(decoder, null_constant, 2) == [None, None]


def test_nan_passes_through(decoder):
    got = column(decoder, vector(T_DOUBLE, [math.nan, 1.0]), 2)
    assert math.isnan(got[0]) and got[1] == 1.0


def test_null_vector_type_is_all_none_whatever_it_carries(decoder):
    assert column(decoder, vector(T_NULL, [None, None, None]), 3) == [None] * 3
    no_data = struct_(field(I32, 1, value(I32, 2)), field(I32, 2, value(I32, T_NULL)),
                      field(LIST, 3, tlist(BOOL, [True, True])))
    assert column(decoder, no_data, 2) == [None, None]


def test_all_null_vector_may_omit_its_data(decoder):
    no_data = struct_(field(I32, 1, value(I32, 2)), field(I32, 2, value(I32, T_LONG)),
                      field(LIST, 3, tlist(BOOL, [True, True])))
    assert column(decoder, no_data, 2) == [None, None]


GARBAGE_IN_NULL_SLOT = {
    "text_invalid_utf8": (T_STRING, b"\xff\xfe", "ok", "ok"),
    "date_not_midnight": (T_DATE, 12345, DAY, datetime.date(1970, 1, 2)),
    "date_out_of_range": (T_DATE, -10**18, 0, datetime.date(1970, 1, 1)),
    "datetime_out_of_range": (T_DATETIME, 2**63 - 1, 0, datetime.datetime(1970, 1, 1)),
    "decimal_wrong_length": (T_DECIMAL128, b"\x01\x02\x03", dec(7), decimal.Decimal("0.07")),
    "timestamp_tz_out_of_range": (T_TIMESTAMP_TZ, -2**63, 0, datetime.datetime(1970, 1, 1, tzinfo=UTC)),
}


@pytest.mark.parametrize("case", GARBAGE_IN_NULL_SLOT.values(), ids=list(GARBAGE_IN_NULL_SLOT))
def test_placeholders_in_null_slots_are_never_converted(decoder, case):
    vtype, garbage, good, expected = case
    vec = vector(vtype, [garbage, good, garbage], [True, False, True], **_kwargs(vtype))
    assert typed(column(decoder, vec, 3)) == typed([None, expected, None])


def test_unknown_zone_in_a_null_slot_is_never_looked_up(decoder):
    vec = vector(T_TIMESTAMP_TZ, [0, 0], [True, False], zones=["No/Such_Zone", "Z"])
    assert column(decoder, vec, 2) == [None, datetime.datetime(1970, 1, 1, tzinfo=UTC)]


def test_boolean_bytes_other_than_one_are_true(decoder):
    raw = struct_(field(I32, 1, value(I32, 2)), field(I32, 2, value(I32, T_BOOLEAN)),
                  field(LIST, 3, tlist(BOOL, [False, False])),
                  field(STRUCT, 4, struct_(field(STRUCT, 1, struct_(field(LIST, 1, bytes([BOOL, 0, 0, 0, 2, 7, 0])))))))
    assert typed(column(decoder, raw, 2)) == typed([True, False])


# ---------------------------------------------------------------- temporal ranges

def test_date_years_1_and_9999(decoder):
    first, last = MIN_MICROS, (MAX_MICROS + 1) - DAY
    assert column(decoder, vector(T_DATE, [first, last]), 2) == [datetime.date(1, 1, 1), datetime.date(9999, 12, 31)]


@pytest.mark.parametrize("micros", [MIN_MICROS - DAY, MAX_MICROS + 1, -(2**63 // DAY) * DAY])
def test_date_outside_years_1_to_9999_is_refused(decoder, micros):
    rejects(decoder, chunk(1, [vector(T_DATE, [micros])]), "DATE", "1-9999")


@pytest.mark.parametrize("micros", [1, DAY + 1, -1, -DAY + 3_600_000_000])
def test_non_midnight_date_is_refused(decoder, micros):
    rejects(decoder, chunk(1, [vector(T_DATE, [micros])]), "whole day")
    rejects(decoder, chunk(2, [vector(T_DATE, [micros], constant=True, size=2)]), "whole day")


def test_datetime_years_1_and_9999_with_microseconds(decoder):
    got = column(decoder, vector(T_DATETIME, [MIN_MICROS, MIN_MICROS + 1, MAX_MICROS]), 3)
    assert got == [datetime.datetime(1, 1, 1), datetime.datetime(1, 1, 1, 0, 0, 0, 1),
                   datetime.datetime(9999, 12, 31, 23, 59, 59, 999_999)]


def test_negative_epochs_floor_to_the_earlier_second(decoder):
    got = column(decoder, vector(T_DATETIME, [-1_500_000, -86_400_000_001, -2_208_988_800_000_000]), 3)
    assert got == [datetime.datetime(1969, 12, 31, 23, 59, 58, 500_000),
                   datetime.datetime(1969, 12, 30, 23, 59, 59, 999_999), datetime.datetime(1900, 1, 1)]


@pytest.mark.parametrize("micros", [MIN_MICROS - 1, MAX_MICROS + 1, -2**63, 2**63 - 1])
def test_datetime_outside_years_1_to_9999_is_refused(decoder, micros):
    rejects(decoder, chunk(1, [vector(T_DATETIME, [micros])]), "1-9999")
    rejects(decoder, chunk(1, [vector(T_TIMESTAMP_TZ, [micros])]), "1-9999")


@pytest.mark.parametrize("micros, zones", [(MAX_MICROS + 1, None), (MIN_MICROS - 1, ["+05:30"]),
                                           (MAX_MICROS, ["+14:00"]), (MIN_MICROS, ["America/New_York"])])
def test_both_decoders_word_a_timestamp_tz_refusal_alike(micros, zones):
    """One behaviour, one message: the C decoder said "TIMESTAMP value" where the Python one names the type."""
    data = chunk(1, [vector(T_TIMESTAMP_TZ, [micros], zones=zones)])
    messages = {str(rejects(decoder_module(name), data, "TIMESTAMP WITH TIME ZONE", "1-9999"))
                for name in IMPLEMENTATIONS}
    assert len(messages) == 1, messages


KOLKATA = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")


def test_timestamp_tz_in_offset_and_region_zones(decoder):
    zones = ["+05:30", "-08:00", "Z", "UTC", "", "Asia/Kolkata"]
    got = column(decoder, vector(T_TIMESTAMP_TZ, [0] * 6, zones=zones), 6)
    plus530 = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    minus8 = datetime.timezone(-datetime.timedelta(hours=8))
    assert typed(got) == typed([datetime.datetime(1970, 1, 1, 5, 30, tzinfo=plus530),
                                datetime.datetime(1969, 12, 31, 16, 0, tzinfo=minus8),
                                datetime.datetime(1970, 1, 1, tzinfo=UTC), datetime.datetime(1970, 1, 1, tzinfo=UTC),
                                datetime.datetime(1970, 1, 1, tzinfo=UTC),
                                datetime.datetime(1970, 1, 1, 5, 30, tzinfo=KOLKATA)])


def test_timestamp_tz_across_dst_keeps_fold(decoder):
    first, second = 1_636_263_000_000_000, 1_636_266_600_000_000  # 2021-11-07 05:30Z and 06:30Z = 01:30 twice
    got = column(decoder, vector(T_TIMESTAMP_TZ, [first, second], zones=["America/New_York"] * 2), 2)
    assert [(v.hour, v.minute, v.fold, v.utcoffset()) for v in got] == [
        (1, 30, 0, datetime.timedelta(hours=-4)), (1, 30, 1, datetime.timedelta(hours=-5))]


def test_timestamp_tz_constant_with_and_without_zone(decoder):
    with_zone = vector(T_TIMESTAMP_TZ, [3_600_000_000], constant=True, size=2, zones="Asia/Kolkata")
    assert typed(column(decoder, with_zone, 2)) == typed([datetime.datetime(1970, 1, 1, 6, 30, tzinfo=KOLKATA)] * 2)
    without = vector(T_TIMESTAMP_TZ, [3_600_000_000], constant=True, size=1)
    assert typed(column(decoder, without, 1)) == typed([datetime.datetime(1970, 1, 1, 1, tzinfo=UTC)])


def test_timestamp_tz_year_1_and_9999_edges(decoder):
    got = column(decoder, vector(T_TIMESTAMP_TZ, [MIN_MICROS, MAX_MICROS], zones=["+05:30", "-05:00"]), 2)
    assert [v.replace(tzinfo=None) for v in got] == [datetime.datetime(1, 1, 1, 5, 30),
                                                     datetime.datetime(9999, 12, 31, 18, 59, 59, 999_999)]
    rejects(decoder, chunk(1, [vector(T_TIMESTAMP_TZ, [MIN_MICROS], zones=["-00:01"])]), "1-9999")
    rejects(decoder, chunk(1, [vector(T_TIMESTAMP_TZ, [MAX_MICROS], zones=["+00:01"])]), "1-9999")


@pytest.mark.parametrize("zone", ["+0530", "Bogus/Zone", "+24:00", "05:30", "../etc"])
def test_timestamp_tz_unknown_zone_is_refused(decoder, zone):
    rejects(decoder, chunk(1, [vector(T_TIMESTAMP_TZ, [0], zones=[zone])]), "zone")


def test_timestamp_tz_zone_list_must_match_rows(decoder):
    rejects(decoder, chunk(2, [vector(T_TIMESTAMP_TZ, [0, 0], zones=["Z"])]), "zoneData")


def test_timestamp_tz_zone_must_be_utf8(decoder):
    rejects(decoder, chunk(1, [vector(T_TIMESTAMP_TZ, [0], zones=[b"\xff"])]), "UTF-8")


# ---------------------------------------------------------------- decimals

@pytest.mark.parametrize("scale", range(39))
def test_decimal_38_digits_exact_at_every_scale(decoder, scale):
    biggest = 10**38 - 1
    values = [biggest, -biggest, 10**30 + 1, -12_345, 1, 0]
    got = column(decoder, vector(T_DECIMAL128, [dec(v) for v in values], scale=scale), len(values))
    expected = [decimal.Decimal((int(v < 0), tuple(int(c) for c in str(abs(v))), -scale)) for v in values]
    assert typed(got) == typed(expected)
    assert got[0].as_tuple().digits == (9,) * 38


@pytest.mark.parametrize("unscaled", [2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64, -2**64, 2**127 - 1, -2**127])
def test_decimal_around_the_int64_boundary(decoder, unscaled):
    got = column(decoder, vector(T_DECIMAL128, [dec(unscaled)], scale=3), 1)
    assert typed(got) == typed([decimal.Decimal(unscaled).scaleb(-3, decimal.Context(prec=60))])


@pytest.mark.parametrize("scale", [-3, 2**31 - 1, -2**31])
def test_decimal_extreme_scales(decoder, scale):
    got = column(decoder, vector(T_DECIMAL128, [dec(-25)], scale=scale), 1)
    assert typed(got) == typed([decimal.Decimal((1, (2, 5), -scale))])


def test_decimal_constant_vector(decoder):
    got = column(decoder, vector(T_DECIMAL128, [dec(-2_385_536)], constant=True, size=2, scale=4), 2)
    assert typed(got) == typed([decimal.Decimal("-238.5536")] * 2)


def test_decimal_literal_fallback_is_exact_and_ignores_scale(decoder):
    got = column(decoder, vector(T_DECIMAL128, [b"123.45", b"-1e5", b".5"], scale=7), 3)
    assert typed(got) == typed([decimal.Decimal("123.45"), decimal.Decimal("-1e5"), decimal.Decimal(".5")])


@pytest.mark.parametrize("raw", [b"\x01" * 15, b"\x00" * 17, b"", b"NaN", b"1.2.3", b"12 "])
def test_decimal_neither_16_bytes_nor_literal_is_refused(decoder, raw):
    rejects(decoder, chunk(1, [vector(T_DECIMAL128, [raw], scale=2)]), "DECIMAL128")


def test_decimal_literal_beyond_decimal_range_is_a_data_error(decoder):
    # Regression: the pure-Python decoder leaked decimal.InvalidOperation here.
    rejects(decoder, chunk(1, [vector(T_DECIMAL128, [b"1e999999999999999999999"], scale=0)]), "DECIMAL128")


def test_decimal_without_scale_is_refused_unless_all_null(decoder):
    rejects(decoder, chunk(1, [vector(T_DECIMAL128, [dec(1)])]), "scale")
    assert column(decoder, vector(T_DECIMAL128, [dec(1)], [True]), 1) == [None]


# ---------------------------------------------------------------- other values

def test_invalid_utf8_text_is_refused(decoder):
    for bad in (b"\xff", b"ok\xc3", b"\xed\xa0\x80", b"\xc0\xaf"):  # bad start, truncated, surrogate, overlong
        rejects(decoder, chunk(2, [vector(T_STRING, ["fine", bad])]), "UTF-8")
        rejects(decoder, chunk(2, [vector(T_ARRAY, [bad], constant=True, size=2)]), "UTF-8")


def test_binary_keeps_any_bytes(decoder):
    assert column(decoder, vector(T_BINARY, [b"\xff", b"\xc0\xaf"]), 2) == [b"\xff", b"\xc0\xaf"]


def test_integer_constant_outside_32_bits_is_refused(decoder):
    rejects(decoder, chunk(1, [vector(T_INTEGER, [2**31], constant=True, size=1)]), "32-bit")
    rejects(decoder, chunk(1, [vector(T_INTEGER, [-2**31 - 1], constant=True, size=1)]), "32-bit")


# ---------------------------------------------------------------- chunk structure

SPEC_EXAMPLE = bytes.fromhex(
    "08000100000001" "0F00020C00000001" "08000100000001" "08000200000006" "0F0003020000000100"
    "0C0004" "0C0003" "0F00010A000000010000000000000005" "00" "00" "02000500" "00" "00")


def test_spec_7_7_example(decoder):
    assert decoder.decode_chunk(SPEC_EXAMPLE) == [(5,)]
    assert decoder.decode_chunk_columns(SPEC_EXAMPLE) == (1, [[5]])


def test_bytes_like_input(decoder):
    for data in (bytearray(SPEC_EXAMPLE), memoryview(SPEC_EXAMPLE)):
        assert decoder.decode_chunk(data) == [(5,)]


def test_trailing_bytes_after_the_chunk_are_ignored(decoder):
    assert decoder.decode_chunk(SPEC_EXAMPLE + b"\xff\x00garbage") == [(5,)]


def test_many_columns_in_row_order(decoder):
    data = chunk(2, [vector(T_LONG, [1, 2]), vector(T_STRING, ["a", None]), vector(T_BOOLEAN, [None, True])])
    assert decoder.decode_chunk(data) == [(1, "a", None), (2, None, True)]
    assert decoder.decode_chunk_columns(data) == (2, [[1, 2], ["a", None], [None, True]])


def test_chunk_without_vectors(decoder):
    assert decoder.decode_chunk(chunk(0, [])) == []
    assert decoder.decode_chunk_columns(chunk(0, [])) == (0, [])
    assert decoder.decode_chunk(chunk(3, [])) == [(), (), ()]


def test_zero_row_vectors(decoder):
    data = chunk(0, [vector(T_LONG, []), vector(T_DECIMAL128, []), vector(T_STRING, [], constant=True, size=0)])
    assert decoder.decode_chunk(data) == []
    assert decoder.decode_chunk_columns(data) == (0, [[], [], []])


def test_missing_chunk_size_is_refused(decoder):
    rejects(decoder, chunk(None, [vector(T_LONG, [1])]), "size")


def test_negative_chunk_size_is_refused(decoder):
    rejects(decoder, chunk(-1, []), "size")


def test_vector_size_must_equal_chunk_size(decoder):
    rejects(decoder, chunk(2, [vector(T_LONG, [1, 2], size=3)]), "size")
    rejects(decoder, chunk(3, [vector(T_LONG, [1, 2])]), "size")
    no_size = struct_(field(I32, 2, value(I32, T_LONG)), field(LIST, 3, tlist(BOOL, [False])))
    rejects(decoder, chunk(1, [no_size]), "size")


def test_missing_null_set_is_refused(decoder):
    rejects(decoder, chunk(1, [vector(T_LONG, [1], omit_nulls=True)]), "nullSet")
    rejects(decoder, chunk(1, [vector(T_LONG, [1], constant=True, omit_nulls=True)]), "nullSet")


def test_null_set_length_must_match(decoder):
    rejects(decoder, chunk(2, [vector(T_LONG, [1, 2], [False])]), "nullSet")
    rejects(decoder, chunk(2, [vector(T_LONG, [1], [], constant=True, size=2)]), "nullSet")


def test_data_list_length_must_match(decoder):
    rejects(decoder, chunk(3, [vector(T_LONG, [1, 2], [False] * 3, size=3)]), "values")
    rejects(decoder, chunk(1, [vector(T_STRING, ["a", "b"], [False], size=1)]), "values")


def test_missing_data_is_refused_unless_all_null(decoder):
    no_data = struct_(field(I32, 1, value(I32, 1)), field(I32, 2, value(I32, T_LONG)),
                      field(LIST, 3, tlist(BOOL, [False])))
    rejects(decoder, chunk(1, [no_data]), "no data")
    empty_member = vector(T_LONG, [1], data=member(INT64_DATA, None), mid=INT64_DATA)
    rejects(decoder, chunk(1, [empty_member]), "values")


@pytest.mark.parametrize("vtype,mid,constant", [
    (T_LONG, INT32_DATA, False), (T_INTEGER, INT64_DATA, False), (T_LONG, INT64_DATA, True),
    (T_LONG, NUMERIC_CONST, False), (T_DATE, DATE_CONST, False), (T_DATETIME, DEC128_DATA, False),
    (T_TIMESTAMP_TZ, INT64_DATA, False), (T_DECIMAL128, NUMERIC_CONST, True)])
def test_wrong_data_member_for_the_type_is_refused(decoder, vtype, mid, constant):
    raw = [b"\x00" * 16] if mid == DEC128_DATA else [1]
    scale = 0 if mid == DEC128_DATA else None
    rejects(decoder, chunk(1, [vector(vtype, raw, mid=mid, constant=constant, size=1, scale=scale)]), "member")


def with_data(vtype: int, data: bytes, size: int, extra: bytes = b"") -> bytes:
    """A non-NULL, non-constant vector around a hand-made Data union struct."""
    return struct_(field(I32, 1, value(I32, size)), field(I32, 2, value(I32, vtype)),
                   field(LIST, 3, tlist(BOOL, [False] * size)), field(STRUCT, 4, data), extra)


def test_two_data_union_members_are_refused(decoder):
    data = struct_(field(STRUCT, INT64_DATA, member(INT64_DATA, [1])), field(STRUCT, INT32_DATA,
                                                                           member(INT32_DATA, [1])))
    rejects(decoder, chunk(1, [with_data(T_LONG, data, 1)]), "more than one")


def _vector_with_two_data_fields(first: bytes, second: bytes, size: int, constant: bool = False) -> bytes:
    parts = [field(I32, 1, value(I32, size)), field(I32, 2, value(I32, T_LONG)),
             field(LIST, 3, tlist(BOOL, [False] * (1 if constant else size))),
             field(STRUCT, 4, first), field(STRUCT, 4, second)]
    if constant:
        parts.append(field(BOOL, 5, value(BOOL, True)))
    return struct_(*parts)


def test_repeated_data_field_replaces_the_earlier_one(decoder):
    # Regression: the pure-Python decoder kept the first Data's values under the second's member (wrong values,
    # or a TypeError instead of DataError).
    constant = struct_(field(STRUCT, NUMERIC_CONST, member(NUMERIC_CONST, 5)))
    listed = struct_(field(STRUCT, INT64_DATA, member(INT64_DATA, [7, 8])))
    empty_list_member = struct_(field(STRUCT, INT64_DATA, struct_()))
    empty_constant = struct_(field(STRUCT, NUMERIC_CONST, struct_()))
    assert column(decoder, _vector_with_two_data_fields(constant, listed, 2), 2) == [7, 8]
    rejects(decoder, chunk(2, [_vector_with_two_data_fields(constant, empty_list_member, 2)]), "values")
    rejects(decoder, chunk(3, [_vector_with_two_data_fields(listed, empty_constant, 3, constant=True)]), "values")


@pytest.mark.parametrize("vtype", [T_TIMESTAMP, T_INT96, 18, 99, -1, 2**31 - 1])
def test_unsupported_vector_types_are_refused(decoder, vtype):
    mid = TIME_DATA if vtype in (T_TIMESTAMP, T_INT96) else INT64_DATA
    rejects(decoder, chunk(1, [vector(vtype, [0], mid=mid)]), "unsupported")


def test_missing_vector_type_is_refused(decoder):
    rejects(decoder, chunk(1, [vector(None, [1], mid=INT64_DATA)]), "vectorType")


def test_known_field_with_wrong_thrift_type_is_refused(decoder):
    wrong = struct_(field(I64, 1, value(I64, 1)), field(I32, 2, value(I32, T_LONG)))
    rejects(decoder, chunk(1, [wrong]), "type")
    rejects(decoder, field(I64, 1, value(I64, 1)) + b"\x00", "type")


def test_list_with_wrong_element_type_is_refused(decoder):
    raw = struct_(field(I32, 1, value(I32, 1)), field(I32, 2, value(I32, T_LONG)), field(LIST, 3, tlist(I32, [0])))
    rejects(decoder, chunk(1, [raw]), "element type")


@pytest.mark.parametrize("count", [2**31 - 1, 100, -1, -2**31])
def test_list_counts_beyond_the_bytes_are_refused(decoder, count):
    raw = struct_(field(I32, 1, value(I32, 1)), field(I32, 2, value(I32, T_LONG)),
                  field(LIST, 3, tlist(BOOL, [False], count=count)))
    rejects(decoder, chunk(1, [raw]), "element")
    rejects(decoder, field(I32, 1, value(I32, 1)) + field(LIST, 2, tlist(STRUCT, [], count=count)) + b"\x00",
            "element")


def test_negative_string_length_is_refused(decoder):
    good = vector(T_STRING, ["abc"])
    bad = good.replace(b"\x00\x00\x00\x03abc", b"\xff\xff\xff\xfdabc")
    assert bad != good
    rejects(decoder, chunk(1, [bad]), "length")


def test_truncated_and_empty_chunks_are_refused(decoder):
    full = chunk(2, [vector(T_STRING, ["ab", None]), vector(T_DECIMAL128, [dec(1), dec(2)], scale=1)])
    for end in range(len(full)):
        rejects(decoder, full[:end])


UNKNOWN_VALUES = [
    field(BOOL, 90, value(BOOL, True)), field(BYTE, 91, value(BYTE, -3)), field(DOUBLE, 92, value(DOUBLE, 1.5)),
    field(I16, 93, value(I16, 7)), field(I32, 94, value(I32, 7)), field(I64, 95, value(I64, 7)),
    field(STRING, 96, value(STRING, "x")), field(STRUCT, 97, struct_(field(LIST, 1, tlist(STRING, ["a"])))),
    field(LIST, 98, tlist(I64, [1, 2])), field(SET, 99, tlist(STRUCT, [struct_(), struct_()])),
    field(MAP, -5, bytes([STRING, LIST]) + value(I32, 1) + value(STRING, "k") + tlist(BOOL, [True])),
    field(LIST, 100, tlist(99, [], count=0)),  # an empty list of an unknown element type has nothing to skip
]
EXTRAS = b"".join(UNKNOWN_VALUES)


def test_unknown_fields_are_skipped_at_every_level(decoder):
    data_with_extras = struct_(EXTRAS, field(STRUCT, INT64_DATA, member(INT64_DATA, [4])[:-1] + EXTRAS + b"\x00"),
                               EXTRAS)
    vec = with_data(T_LONG, data_with_extras, 1,
                    extra=EXTRAS + field(STRING, 6, value(STRING, "+00:00")) + field(STRING, 7, value(STRING, "fmt")))
    assert decoder.decode_chunk(chunk(1, [vec], extra=EXTRAS)) == [(4,)]
    decimal_member = member(DEC128_DATA, [dec(5)], scale=1)[:-1] + EXTRAS + b"\x00"
    vec = with_data(T_DECIMAL128, struct_(field(STRUCT, DEC128_DATA, decimal_member)), 1)
    assert decoder.decode_chunk(chunk(1, [vec])) == [(decimal.Decimal("0.5"),)]


@pytest.mark.parametrize("ttype", [1, 5, 7, 9, 16, 0x7f])
def test_unknown_thrift_type_in_a_skipped_field_is_refused(decoder, ttype):
    rejects(decoder, chunk(1, [vector(T_LONG, [1])], extra=field(ttype, 50, b"\x00" * 8)), "type")
    rejects(decoder, chunk(1, [vector(T_LONG, [1])], extra=field(LIST, 50, bytes([ttype]) + value(I32, 1) + b"\0")),
            "type")


def _nested_struct(depth: int) -> bytes:
    """An unknown field holding ``depth`` nested structs, the innermost with one i32."""
    inner = struct_(field(I32, 1, value(I32, 1)))
    return field(STRUCT, 77, bytes([STRUCT, 0, 1]) * (depth - 1) + inner + b"\x00" * (depth - 1))


def test_skipping_nests_at_most_64_levels(decoder):
    assert decoder.decode_chunk(chunk(1, [vector(T_LONG, [3])], extra=_nested_struct(60))) == [(3,)]
    rejects(decoder, chunk(1, [vector(T_LONG, [3])], extra=_nested_struct(70)), "nest")
    rejects(decoder, chunk(1, [vector(T_LONG, [3])], extra=_nested_struct(5_000)), "nest")
    deep_list = field(LIST, 77, (bytes([LIST]) + value(I32, 1)) * 80 + bytes([I64]) + value(I32, 1) + b"\0" * 8)
    rejects(decoder, chunk(1, [vector(T_LONG, [3])], extra=deep_list), "nest")


def test_non_bytes_input_is_a_type_error(decoder):
    with pytest.raises(TypeError):
        decoder.decode_chunk("not bytes")


GC_WALK = textwrap.dedent("""
    import gc, importlib, sys
    sys.path.insert(0, sys.argv[2])
    from chunkbuilder import T_LONG, T_TIMESTAMP_TZ, chunk, vector
    decoder = importlib.import_module(sys.argv[1])
    rows = 3000
    data = chunk(rows, [vector(T_TIMESTAMP_TZ, [i * 10**9 for i in range(rows)],
                               zones=["Europe/London", "+05:30", "Asia/Tokyo"] * (rows // 3)),
                        vector(T_LONG, list(range(rows)))])

    def walk(phase, info):  # what any gc callback or other thread may do: look at every young list
        if phase == "start":
            for obj in gc.get_objects(0):
                if type(obj) is list:
                    for item in obj:
                        pass

    gc.callbacks.append(walk)
    gc.set_threshold(50)
    assert decoder.decode_chunk(data)[-1][1] == rows - 1
    assert decoder.decode_chunk_columns(data)[1][1][-1] == rows - 1
""")


def test_half_built_results_are_invisible_to_the_garbage_collector(decoder):
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", GC_WALK, decoder.__name__, tests_dir], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])


def test_chunk_claiming_too_many_rows_is_refused_without_allocating(decoder):
    from chunkbuilder import T_LONG, chunk, vector
    from e6driver._decode import MAX_CHUNK_ROWS

    huge = chunk(2**31 - 1, [vector(T_LONG, [5], size=2**31 - 1, constant=True)])
    with pytest.raises(DataError, match="rows per chunk"):
        decoder.decode_chunk(huge)
    at_limit = chunk(MAX_CHUNK_ROWS, [])
    assert len(decoder.decode_chunk(at_limit)) == MAX_CHUNK_ROWS


def test_a_view_of_a_larger_answer_decodes_as_its_bytes(decoder):
    """The driver hands the decoders views of the answer that brought a chunk: read in place, never past the
    view (the bytes around it are garbage here), same rows and same errors as from bytes."""
    data = chunk(3, [vector(T_LONG, [1, None, 3]), vector(T_STRING, ["a", "b", None])])
    answer = b"\xff" * 11 + data + b"\x0c" * 13
    view = memoryview(answer)[11:11 + len(data)]
    assert decoder.decode_chunk(view) == decoder.decode_chunk(data) == [(1, "a"), (None, "b"), (3, None)]
    assert decoder.decode_chunk_columns(view) == decoder.decode_chunk_columns(data)
    assert decoder.decode_chunk(bytearray(data)) == decoder.decode_chunk(data)
    for cut in (1, len(data) // 2, len(data) - 1):  # a view cut short fails as cut bytes do
        with pytest.raises(DataError) as from_view:
            decoder.decode_chunk(memoryview(answer)[11:11 + cut])
        with pytest.raises(DataError) as from_bytes:
            decoder.decode_chunk(data[:cut])
        assert str(from_view.value) == str(from_bytes.value)
    for wrong in (None, "text"):
        with pytest.raises(TypeError):
            decoder.decode_chunk(wrong)
