"""The CRC-32 the engine and the driver use (zlib-ng's when installed) is zlib's, value for value: objects and
clients of either kind keep agreeing on checksums."""
from __future__ import annotations

import importlib.util
import zlib

import pytest
from hypothesis import given, strategies as st

from e6driver.stores import _checksums as driver_checksums
from mock_server import checksums as engine_checksums

IMPLEMENTATIONS = [zlib.crc32]
if importlib.util.find_spec("zlib_ng") is not None:
    from zlib_ng import zlib_ng

    IMPLEMENTATIONS.append(zlib_ng.crc32)


def test_the_fast_crc32_is_chosen_when_installed():
    expected = IMPLEMENTATIONS[-1]
    assert engine_checksums.crc32 is expected and driver_checksums.crc32 is expected


@pytest.mark.parametrize("crc32", IMPLEMENTATIONS, ids=lambda f: f.__module__)
@given(data=st.binary(max_size=70_000), start=st.integers(0, 2 ** 32 - 1), cut=st.integers(0, 70_000))
def test_every_implementation_gives_zlibs_values(crc32, data, start, cut):
    assert crc32(data) == zlib.crc32(data)
    assert crc32(data, start) == zlib.crc32(data, start)
    view = memoryview(data)[cut:]
    assert crc32(view, start) == zlib.crc32(view, start)
    assert crc32(bytearray(data[:cut]), crc32(data[cut:])) == zlib.crc32(data[:cut], zlib.crc32(data[cut:]))


@pytest.mark.parametrize("crc32", IMPLEMENTATIONS, ids=lambda f: f.__module__)
def test_large_buffers_and_the_combination_of_pieces(crc32):
    data = bytes(range(256)) * 40_000  # 10 MB: the multi-block path
    assert crc32(data) == zlib.crc32(data)
    head, tail = data[:3_333_333], data[3_333_333:]
    assert engine_checksums.crc32_combine(crc32(head), crc32(tail), len(tail)) == zlib.crc32(data)
