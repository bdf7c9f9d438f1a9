"""Property tests: the pure-Python and C chunk decoders agree on every input.

On random chunks (valid and slightly invalid) and on mutations of valid ones, both decoders return the same
values with the same types, or both raise DataError; no other exception, no crash. A subprocess feeds the C
decoder thousands of random byte strings and must exit cleanly (a segfault would kill it).
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from chunkbuilder import (BOOL, BYTE, CONST_ELEMENT, DEC128_CONST, DEC128_DATA, DOUBLE, I16, I32, I64, INT64_DATA,
                          LIST, LIST_ELEMENT, MAP, MEMBERS, NUMERIC_CONST, STRING, STRUCT, T_ARRAY, T_BINARY, T_BOOLEAN,
                          T_DATE, T_DATETIME, T_DECIMAL128, T_DOUBLE, T_FLOAT, T_INTEGER, T_INTERVAL, T_LONG, T_MAP,
                          T_NULL, T_STRING, T_STRUCT, T_TIMESTAMP_TZ, TIME_CONST, TIME_DATA, chunk, dec, vector)
from decoders import decoder_module
from e6driver import _decode
from e6driver.errors import DataError

DAY = 86_400_000_000
MIN_MICROS = -62_135_596_800_000_000
MAX_MICROS = 253_402_300_799_999_999
MAX_ROWS = 10_000  # a tiny constant vector may claim 2**31 rows; keep such chunks out of memory's way
TYPES = [T_BOOLEAN, T_INTEGER, T_LONG, T_INTERVAL, T_FLOAT, T_DOUBLE, T_STRING, T_ARRAY, T_MAP, T_STRUCT, T_BINARY,
         T_DATE, T_DATETIME, T_TIMESTAMP_TZ, T_DECIMAL128, T_NULL]
GOOD_ZONES = ["Z", "UTC", "", "+05:30", "-08:00", "+23:59", "-00:00", "Asia/Kolkata", "America/New_York",
              "Europe/London", "Australia/Lord_Howe"]
BAD_ZONES = ["+0530", "+24:00", "No/Such_Zone", "05:30", b"\xff\xfe", "../../etc/passwd"]
BAD_DECIMALS = [b"", b"\x00" * 15, b"\x00" * 17, b"NaN", b"1.2.3", b"1e999999999999999999999", b"\xff"]

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def c_decoder():
    return decoder_module("c")


# ---------------------------------------------------------------- strategies

def raw_value(vtype: int, valid: bool) -> st.SearchStrategy:
    """One wire value of ``vtype``: only decodable ones when ``valid``, else sometimes out of range or malformed."""
    micros_ok = st.one_of(st.integers(MIN_MICROS + 2 * DAY, MAX_MICROS - 2 * DAY), st.integers(-10**13, 10**13))
    micros = micros_ok if valid else st.one_of(micros_ok, st.integers(-2**63, 2**63 - 1),
                                               st.sampled_from([MIN_MICROS, MAX_MICROS, MIN_MICROS - 1, MAX_MICROS + 1]))
    if vtype == T_BOOLEAN:
        return st.booleans()
    if vtype == T_INTEGER:
        return st.integers(-2**31, 2**31 - 1)
    if vtype in (T_LONG, T_INTERVAL):
        return st.integers(-2**63, 2**63 - 1)
    if vtype in (T_FLOAT, T_DOUBLE):
        return st.floats(allow_nan=True, allow_infinity=True)
    if vtype in (T_STRING, T_ARRAY, T_MAP, T_STRUCT):
        return st.text(max_size=8) if valid else st.one_of(st.text(max_size=8), st.binary(max_size=6))
    if vtype == T_BINARY:
        return st.binary(max_size=8)
    if vtype == T_DATE:
        days = st.integers(MIN_MICROS // DAY, MAX_MICROS // DAY).map(lambda d: d * DAY)
        return days if valid else st.one_of(days, micros)
    if vtype in (T_DATETIME, T_TIMESTAMP_TZ):
        return micros
    if vtype == T_DECIMAL128:
        unscaled = st.one_of(st.integers(-2**63, 2**63), st.integers(-2**127, 2**127 - 1)).map(dec)
        literal = st.from_regex(rb"\A[+-]?\d{1,20}(\.\d{0,20})?([eE][+-]?\d{1,3})?\Z")
        return st.one_of(unscaled, literal) if valid else st.one_of(unscaled, literal, st.sampled_from(BAD_DECIMALS))
    if vtype == T_NULL:
        return st.none()
    raise AssertionError(vtype)


@st.composite
def column(draw, size: int, valid: bool) -> bytes:
    """One Vector of ``size`` rows; NULL slots carry arbitrary (even undecodable) placeholders."""
    vtype = draw(st.sampled_from(TYPES))
    kwargs = {}
    if vtype == T_DECIMAL128:
        scales = st.integers(-5, 40) if valid else st.one_of(st.none(), st.integers(-5, 40),
                                                           st.sampled_from([2**31 - 1, -2**31]))
        kwargs["scale"] = draw(scales)
    zone = st.sampled_from(GOOD_ZONES if valid else GOOD_ZONES + BAD_ZONES)
    if draw(st.integers(0, 3)) == 0:  # constant vector
        if vtype == T_TIMESTAMP_TZ:
            kwargs["zones"] = draw(st.one_of(st.none(), zone))
        value = draw(raw_value(vtype, valid))
        return vector(vtype, [value], [draw(st.booleans())], constant=True, size=size, **kwargs)
    nulls = draw(st.lists(st.integers(0, 4).map(lambda r: r == 0), min_size=size, max_size=size))
    garbage = raw_value(vtype, False)
    values = [draw(garbage if null else raw_value(vtype, valid)) for null in nulls]
    if vtype == T_TIMESTAMP_TZ and draw(st.booleans()):
        kwargs["zones"] = [draw(st.sampled_from(GOOD_ZONES + BAD_ZONES) if null else zone) for null in nulls]
    return vector(vtype, values, nulls, **kwargs)


@st.composite
def chunks(draw, valid: bool, max_rows: int = 6, max_columns: int = 5) -> bytes:
    size = draw(st.integers(0, max_rows))
    return chunk(size, [draw(column(size, valid)) for _ in range(draw(st.integers(0, max_columns)))])


MUTATIONS = st.lists(st.tuples(st.sampled_from(["flip", "byte", "int32", "cut", "insert", "delete"]),
                               st.floats(0, 1, exclude_max=True), st.integers(0, 255),
                               st.sampled_from([0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x40000000, 0x1000,
                                                16, 1, 0])),
                     min_size=1, max_size=4)


def mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for op, where, byte, word in mutations:
        pos = int(where * (len(buf) + 1))
        if op == "flip" and pos < len(buf):
            buf[pos] ^= 1 << (byte % 8)
        elif op == "byte" and pos < len(buf):
            buf[pos] = byte
        elif op == "int32":
            buf[pos:pos + 4] = word.to_bytes(4, "big")
        elif op == "cut":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = bytes([byte]) * (1 + byte % 5)
        elif op == "delete":
            del buf[pos:pos + 1 + byte % 5]
    return bytes(buf)


# Structure-aware random Thrift: chunks, vectors, Data unions and members built from the right field ids with
# random (often wrong) types, counts, duplicates, orders and values.

SMALL_I32 = st.sampled_from([-1, 0, 1, 2, 3, 5, 6, 7, 8, 9, 14, 15, 16, 17, 18, 2**31 - 1, -2**31])
SMALL_I64 = st.sampled_from([0, 1, -1, DAY, -DAY, 12_345, MIN_MICROS, MAX_MICROS, 2**63 - 1, -2**63])
SOME_BYTES = st.sampled_from([b"", b"ab", b"\xff", b"Z", b"+05:30", b"Asia/Kolkata", b"1.5", dec(5), dec(-2**70)])


def _fixed(ttype: int) -> st.SearchStrategy:
    if ttype == BOOL:
        return st.sampled_from([b"\x00", b"\x01", b"\x02"])
    if ttype == BYTE:
        return st.binary(min_size=1, max_size=1)
    if ttype == I16:
        return st.binary(min_size=2, max_size=2)
    if ttype == I32:
        return SMALL_I32.map(lambda v: struct.pack(">i", v))
    if ttype == I64:
        return SMALL_I64.map(lambda v: struct.pack(">q", v))
    if ttype == DOUBLE:
        return st.floats().map(lambda v: struct.pack(">d", v))
    return SOME_BYTES.map(lambda v: struct.pack(">i", len(v)) + v)  # STRING


@st.composite
def thrift_list(draw, element: "int | None" = None, items: "st.SearchStrategy | None" = None) -> bytes:
    """A list of ``element`` (random if None) holding ``items`` (a strategy of encoded-element lists); its count
    is sometimes wrong."""
    element = draw(st.sampled_from([BOOL, I32, I64, DOUBLE, STRING])) if element is None else element
    values = draw(st.lists(_fixed(element), max_size=4) if items is None else items)
    count = draw(st.one_of(st.just(len(values)), st.just(len(values)), SMALL_I32))
    return struct.pack(">bi", element, count) + b"".join(values)


@st.composite
def thrift_value(draw, depth: int = 0):
    """(type, encoded value) of a random Thrift value, nesting a little."""
    ttype = draw(st.sampled_from([BOOL, BYTE, I16, I32, I64, DOUBLE, STRING] +
                                 ([LIST, STRUCT, MAP] if depth < 2 else [])))
    if ttype == LIST:
        return ttype, draw(thrift_list())
    if ttype == MAP:
        values = draw(st.lists(st.tuples(_fixed(I32), _fixed(STRING)), max_size=3))
        return ttype, struct.pack(">bbi", I32, STRING, len(values)) + b"".join(k + v for k, v in values)
    if ttype == STRUCT:
        fields = draw(st.lists(st.tuples(st.integers(-2, 20), thrift_value(depth + 1)), max_size=3))
        return ttype, b"".join(struct.pack(">bh", t, fid) + v for fid, (t, v) in fields) + b"\x00"
    return ttype, draw(_fixed(ttype))


def fields_of(choices: "list[st.SearchStrategy]", max_fields: int) -> st.SearchStrategy:
    """A struct whose fields are drawn from ``choices`` (each a strategy of encoded fields), any order, repeats."""
    return st.lists(st.one_of(*choices), max_size=max_fields).map(lambda fs: b"".join(fs) + b"\x00")


def one_field(fid: "int | st.SearchStrategy", ttype: int, payload: st.SearchStrategy) -> st.SearchStrategy:
    fids = fid if isinstance(fid, st.SearchStrategy) else st.just(fid)
    return st.tuples(fids, payload).map(lambda fp: struct.pack(">bh", ttype, fp[0]) + fp[1])


ANY_FIELD = st.tuples(st.integers(-3, 30), thrift_value()).map(lambda f: struct.pack(">bh", f[1][0], f[0]) + f[1][1])
MEMBER = fields_of([one_field(1, LIST, thrift_list()), one_field(st.sampled_from([1, 2]), LIST, thrift_list(STRING)),
                    one_field(1, BOOL, _fixed(BOOL)), one_field(1, I64, _fixed(I64)),
                    one_field(1, DOUBLE, _fixed(DOUBLE)), one_field(st.sampled_from([1, 2]), STRING, _fixed(STRING)),
                    one_field(1, BYTE, _fixed(BYTE)), one_field(2, I32, _fixed(I32)), ANY_FIELD], 4)
DATA = fields_of([one_field(st.integers(1, 18), STRUCT, MEMBER), ANY_FIELD], 2)
VECTOR_EXTRAS = st.lists(st.one_of(ANY_FIELD, one_field(4, STRUCT, DATA), one_field(5, BOOL, _fixed(BOOL)),
                                   one_field(st.sampled_from([1, 2]), I32, _fixed(I32)),
                                   one_field(3, LIST, thrift_list(BOOL))), max_size=2)
USUALLY = st.integers(0, 9).map(lambda r: r > 0)


def field_bytes(ttype: int, fid: int, payload: bytes) -> bytes:
    return struct.pack(">bh", ttype, fid) + payload


@st.composite
def natural_member(draw, vtype: int, size: int, constant: bool) -> bytes:
    """The Data union member a vector of ``vtype`` should carry, with occasional wrong counts and extra fields."""
    mid = MEMBERS.get(vtype, (INT64_DATA, NUMERIC_CONST))[1 if constant else 0]
    parts = []
    if draw(USUALLY):
        if mid in LIST_ELEMENT:
            count = size if draw(USUALLY) else draw(st.integers(0, 4))
            items = st.lists(_fixed(LIST_ELEMENT[mid]), min_size=count, max_size=count)
            parts.append(field_bytes(LIST, 1, draw(thrift_list(LIST_ELEMENT[mid], items))))
        else:
            parts.append(field_bytes(CONST_ELEMENT[mid], 1, draw(_fixed(CONST_ELEMENT[mid]))))
    if mid in (DEC128_DATA, DEC128_CONST) and draw(USUALLY):
        parts.append(field_bytes(I32, 2, struct.pack(">i", draw(st.integers(-3, 40)))))
    if mid == TIME_DATA and draw(st.booleans()):
        count = size if draw(USUALLY) else draw(st.integers(0, 4))
        items = st.lists(_fixed(STRING), min_size=count, max_size=count)
        parts.append(field_bytes(LIST, 2, draw(thrift_list(STRING, items))))
    if mid == TIME_CONST and draw(st.booleans()):
        parts.append(field_bytes(STRING, 2, draw(_fixed(STRING))))
    parts += draw(st.lists(ANY_FIELD, max_size=1))
    return field_bytes(STRUCT, mid, b"".join(draw(st.permutations(parts))) + b"\x00")


@st.composite
def vector_struct(draw, size: int) -> bytes:
    """A Vector that is usually well formed, with random omissions, extra or repeated fields and field order."""
    vtype = draw(st.sampled_from(TYPES + [-1, 4, 10, 18]))
    constant = draw(st.integers(0, 3).map(lambda r: r == 0))
    parts = []
    if draw(USUALLY):
        parts.append(field_bytes(I32, 1, struct.pack(">i", size if draw(USUALLY) else draw(st.integers(0, 4)))))
    if draw(USUALLY):
        parts.append(field_bytes(I32, 2, struct.pack(">i", vtype)))
    if draw(USUALLY):
        count = (1 if constant else size) if draw(USUALLY) else draw(st.integers(0, 4))
        nulls = st.lists(st.integers(0, 3).map(lambda r: b"\x01" if r == 0 else b"\x00"), min_size=count,
                         max_size=count)
        parts.append(field_bytes(LIST, 3, draw(thrift_list(BOOL, nulls))))
    if draw(USUALLY):
        parts.append(field_bytes(STRUCT, 4, draw(natural_member(vtype, size, constant)) + b"\x00"))
    if constant:
        parts.append(field_bytes(BOOL, 5, b"\x01"))
    parts += draw(VECTOR_EXTRAS)
    return b"".join(draw(st.permutations(parts))) + b"\x00"


@st.composite
def chunk_struct(draw) -> bytes:
    size = draw(st.integers(0, 3))
    vectors = draw(st.lists(vector_struct(size), max_size=3))
    parts = [field_bytes(LIST, 2, struct.pack(">bi", STRUCT, len(vectors)) + b"".join(vectors))]
    if draw(USUALLY):
        parts.append(field_bytes(I32, 1, struct.pack(">i", size)))
    parts += draw(st.lists(ANY_FIELD, max_size=1))
    return b"".join(draw(st.permutations(parts))) + b"\x00"


# ---------------------------------------------------------------- comparison

def typed(value):
    """Exact, NaN-safe identity of a decoded value: type plus repr (digits and exponent of a Decimal, tzinfo
    and fold of a datetime, sign of a zero)."""
    return type(value), repr(value)


def outcome(decoder, data: bytes):
    """What one decoder makes of ``data``: its rows and columns (as typed values), or DataError."""
    try:
        rows = decoder.decode_chunk(data)
    except DataError:
        rows_result = "DataError"
    else:
        rows_result = [tuple(typed(v) for v in row) for row in rows]
    try:
        size, columns = decoder.decode_chunk_columns(data)
    except DataError:
        columns_result = "DataError"
    else:
        columns_result = (size, [[typed(v) for v in col] for col in columns])
    assert (rows_result == "DataError") == (columns_result == "DataError")
    return rows_result, columns_result


def bounded(data: bytes) -> bool:
    """False for a chunk that parses and claims more rows than a test should materialise."""
    try:
        size, _ = _decode.read_chunk(data)
    except DataError:
        return True
    return size <= MAX_ROWS


def assert_agree(c_decoder, data: bytes):
    expected = outcome(_decode, data)
    assert outcome(c_decoder, data) == expected
    return expected


# ---------------------------------------------------------------- properties

@SETTINGS
@given(data=chunks(valid=True))
def test_valid_chunks_decode_identically(c_decoder, data):
    rows, (size, columns) = assert_agree(c_decoder, data)
    assert rows != "DataError"
    assert len(rows) == size and all(len(row) == len(columns) for row in rows)


@SETTINGS
@given(data=chunks(valid=False))
def test_chunks_with_bad_values_agree(c_decoder, data):
    assert_agree(c_decoder, data)


@SETTINGS
@given(data=chunks(valid=True, max_rows=3, max_columns=3), mutations=MUTATIONS)
def test_mutated_chunks_agree(c_decoder, data, mutations):
    mutated = mutate(data, mutations)
    assume(bounded(mutated))
    assert_agree(c_decoder, mutated)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=chunks(valid=True, max_rows=3, max_columns=3))
def test_every_truncation_is_a_data_error(c_decoder, data):
    for end in range(len(data)):
        assert assert_agree(c_decoder, data[:end]) == ("DataError", "DataError")


@SETTINGS
@given(data=st.binary(max_size=64))
def test_random_bytes_agree(c_decoder, data):
    assume(bounded(data))
    assert_agree(c_decoder, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(data=chunk_struct())
def test_random_thrift_structures_agree(c_decoder, data):
    assume(bounded(data))
    assert_agree(c_decoder, data)


RANDOM_BYTES_SCRIPT = textwrap.dedent("""
    import random, sys
    sys.path.insert(0, sys.argv[1])
    from chunkbuilder import T_DECIMAL128, T_LONG, T_STRING, T_TIMESTAMP_TZ, chunk, dec, vector
    from e6driver import _cdecode, _decode
    from e6driver.errors import DataError

    rnd = random.Random(20240601)
    seeds = [chunk(3, [vector(T_LONG, [1, None, -5]), vector(T_STRING, ["a", "bc", None]),
                       vector(T_DECIMAL128, [dec(1), dec(-2**100), None], scale=3),
                       vector(T_TIMESTAMP_TZ, [0, 1, 2], zones=["Z", "Asia/Kolkata", "+05:30"])]),
             chunk(2, [vector(T_LONG, [7], constant=True, size=2)])]
    decoded = 0
    for i in range(6000):
        if i % 2:
            data = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randint(1, 6)):
                data[rnd.randrange(len(data))] = rnd.choice((0, 1, 0x7F, 0x80, 0xFF, rnd.randrange(256)))
            data = bytes(data[:rnd.randint(0, len(data))] if rnd.random() < 0.3 else data)
        else:
            data = bytes(rnd.choice((8, 11, 12, 15, 0, rnd.randrange(256))) for _ in range(rnd.randint(0, 80)))
        try:
            size, _ = _decode.read_chunk(data)
            if size > 10_000:
                continue
        except DataError:
            pass
        for decode in (_cdecode.decode_chunk, _cdecode.decode_chunk_columns):
            try:
                decode(data)
                decoded += 1
            except DataError:
                pass
    print("decoded", decoded)
""")


def test_c_decoder_survives_random_bytes_in_a_subprocess(c_decoder):
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", RANDOM_BYTES_SCRIPT, tests_dir], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.startswith("decoded")
