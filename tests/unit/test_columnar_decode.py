"""Columnar decoding (chunks → Arrow) and the string-buffer helper both decoders provide."""
from __future__ import annotations

import datetime
import decimal
import struct

import pytest
from hypothesis import given, settings, strategies as st

pa = pytest.importorskip("pyarrow")

from chunkbuilder import (T_BINARY, T_DATE, T_DECIMAL128, T_LONG, T_STRING, chunk, dec, vector)  # noqa: E402
from e6driver import DataError, _decode  # noqa: E402
from e6driver.protocol.result_metadata import Column  # noqa: E402


@pytest.fixture
def columnar(decoder, monkeypatch):
    """Columnar parsing with the string buffers of one implementation."""
    from e6driver import columnar as module
    monkeypatch.setattr(_decode, "string_buffers", decoder.string_list_buffers)
    return module


def _col(name, type_name):
    return Column(name, type_name, "", "")


def test_types_and_nulls(columnar):
    data = chunk(3, [
        vector(T_LONG, [1, None, -3]),
        vector(T_STRING, ["a", None, "ü"]),
        vector(T_BINARY, [b"\x00", b"", None]),
        vector(T_DATE, [0, None, -86_400_000_000]),
        vector(T_DECIMAL128, [dec(12345), None, dec(-1)], scale=2),
    ])
    batch = columnar.chunk_to_batch(data, [_col("l", "LONG"), _col("s", "STRING"), _col("b", "BINARY"),
                                           _col("d", "DATE"), _col("m", "DECIMAL128")])
    assert batch.to_pylist() == [
        {"l": 1, "s": "a", "b": b"\x00", "d": datetime.date(1970, 1, 1), "m": decimal.Decimal("123.45")},
        {"l": None, "s": None, "b": b"", "d": None, "m": None},
        {"l": -3, "s": "ü", "b": None, "d": datetime.date(1969, 12, 31), "m": decimal.Decimal("-0.01")},
    ]
    assert batch.schema.field("s").type == pa.string() and batch.schema.field("m").type == pa.decimal128(38, 2)


def test_invalid_utf8_is_data_error(columnar):
    data = chunk(1, [vector(T_STRING, [b"\xff\xfe"])])
    with pytest.raises(DataError, match="UTF-8"):
        columnar.chunk_to_batch(data, [_col("s", "STRING")])


def test_non_midnight_date_is_data_error(columnar):
    with pytest.raises(DataError, match="whole day"):
        columnar.chunk_to_batch(chunk(1, [vector(T_DATE, [1])]), [_col("d", "DATE")])


def _string_list_body(items):
    return b"".join(struct.pack(">i", len(i)) + i for i in items)


@given(st.lists(st.binary(max_size=12), max_size=20), st.binary(max_size=4))
@settings(max_examples=150, deadline=None)
def test_string_buffers_agree_between_implementations(items, tail):
    from decoders import decoder_module
    body = b"\x07" + _string_list_body(items) + tail
    expected_values = b"".join(items)
    for name in ("python", "c"):
        offsets, values, end = decoder_module(name).string_list_buffers(body, 1, len(items))
        assert values == expected_values and end == len(body) - len(tail)
        assert list(struct.unpack(f"<{len(items) + 1}i", offsets)) == [
            sum(len(i) for i in items[:k]) for k in range(len(items) + 1)]


@pytest.mark.parametrize("body, count", [(b"\x00\x00\x00\x05abc", 1), (b"\x00\x00", 1), (b"\xff\xff\xff\xff", 1),
                                         (b"", 3)])
def test_string_buffers_refuse_malformed_lists(decoder, body, count):
    with pytest.raises(DataError):
        decoder.string_list_buffers(body, 0, count)


def test_rebatch_cuts_exact_sizes_and_keeps_every_row_in_order():
    import pyarrow as pa

    from e6driver.columnar import rebatch
    sizes = [5, 0, 1, 17, 3]
    start, batches = 0, []
    for n in sizes:
        batches.append(pa.record_batch({"x": pa.array(range(start, start + n), pa.int64())}))
        start += n
    out = list(rebatch(iter(batches), 4))
    assert [b.num_rows for b in out] == [4, 4, 4, 4, 4, 4, 2]
    assert [v for b in out for v in b.column(0).to_pylist()] == list(range(26))
    assert list(rebatch(iter([]), 3)) == []
    with pytest.raises(ValueError):
        list(rebatch(iter(batches), 0))
