"""The decoded size of an Arrow IPC upload, read from its metadata, and uploads whose length prefixes lie."""
from __future__ import annotations

import struct

import grpc
import pyarrow as pa
import pytest

from mock_server.datasets.ipc_size import expanded_size
from mock_server.datasets.formats import read_table
from mock_server.errors import EngineError
from mock_server.limits import Limits

TABLE = pa.table({"s": ["y" * 1000 + str(i % 7) for i in range(5000)], "n": list(range(5000)),
                  "d": pa.array(["a", "b"] * 2500).dictionary_encode(), "l": [[1, 2]] * 5000})


def _stream(table: pa.Table, compression, max_chunksize=None) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as writer:
        writer.write_table(table, max_chunksize=max_chunksize)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize("compression", [None, "zstd", "lz4"])
def test_the_size_is_the_decoded_buffers_size_whatever_the_compression(compression):
    data = _stream(TABLE, compression, max_chunksize=2000)
    size = expanded_size(data, 1 << 40)
    assert TABLE.nbytes <= size <= TABLE.nbytes + 4096  # the buffers, padded to 8 bytes
    assert expanded_size(data, 100) < size  # counting stops past the cap


def _with_first_prefix(claimed: int) -> bytes:
    """A zstd stream of one batch whose first compressed buffer (the offsets of ``s``) claims ``claimed``."""
    table = pa.table({"s": ["y" * 100] * 100})
    data = bytearray(_stream(table, "zstd"))
    message = list(pa.ipc.MessageReader.open_stream(pa.BufferReader(bytes(data))))[-1]
    body = message.body.to_pybytes()
    start = bytes(data).rindex(body)
    actual = struct.unpack_from("<q", data, start)[0]
    assert actual == 101 * 4  # the offsets buffer comes first (the validity buffer is empty)
    struct.pack_into("<q", data, start, claimed)
    return bytes(data)


def test_a_prefix_claiming_more_is_refused_as_too_large():
    with pytest.raises(EngineError) as info:
        read_table(_with_first_prefix(1 << 40), "arrow", Limits())
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_expanded_bytes" in info.value.message


@pytest.mark.parametrize("claimed", [8, -7])
def test_a_prefix_claiming_less_or_nonsense_is_an_invalid_upload(claimed):
    with pytest.raises(EngineError) as info:
        read_table(_with_first_prefix(claimed), "arrow", Limits())
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_truncated_streams_are_invalid_uploads():
    data = _stream(pa.table({"n": [1, 2, 3]}), "zstd")
    for cut in (4, 20, len(data) // 2, len(data) - 9):
        with pytest.raises(EngineError) as info:
            read_table(data[:cut], "arrow", Limits())
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
