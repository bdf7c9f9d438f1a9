"""The decoded size of an Arrow IPC stream, read from its messages' metadata before any batch is decoded.

A record batch (or dictionary batch) message lists the offset and length of each of its body buffers. In a
compressed stream (LZ4/ZSTD) every non-empty buffer starts with its uncompressed length (int64; -1: stored
uncompressed), so the size a batch expands to is known from a few bytes — a small compressed upload cannot
make the server decompress past ``max_expanded_bytes`` before the check. The message metadata is a
flatbuffer (Arrow's ``Message.fbs``); only the few fields needed are read here, bounds-checked.
"""
from __future__ import annotations

import struct
from typing import Any, Iterator, Optional, Tuple

import pyarrow as pa

_HEADER_DICTIONARY_BATCH = 2  # MessageHeader union values (Message.fbs)
_HEADER_RECORD_BATCH = 3
_MESSAGE_HEADER_TYPE, _MESSAGE_HEADER = 1, 2  # Message fields
_BATCH_BUFFERS, _BATCH_COMPRESSION = 2, 3  # RecordBatch fields
_DICTIONARY_DATA = 1  # DictionaryBatch field
_BUFFER = struct.Struct("<qq")  # Buffer struct: offset, length


class MalformedStream(ValueError):
    """The stream's metadata does not describe its body."""


class _Table:
    """One flatbuffer table inside ``data`` at ``pos``."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos
        self.vtable = pos - _unpack("<i", data, pos)
        self.vtable_size = _unpack("<H", data, self.vtable)

    def _field(self, index: int) -> Optional[int]:
        slot = 4 + 2 * index
        if slot + 2 > self.vtable_size:
            return None
        offset = _unpack("<H", self.data, self.vtable + slot)
        return self.pos + offset if offset else None

    def ubyte(self, index: int) -> int:
        where = self._field(index)
        return 0 if where is None else _unpack("<B", self.data, where)

    def table(self, index: int) -> Optional["_Table"]:
        where = self._field(index)
        return None if where is None else _Table(self.data, where + _unpack("<I", self.data, where))

    def structs(self, index: int, layout: struct.Struct) -> Iterator[Tuple[int, ...]]:
        where = self._field(index)
        if where is None:
            return
        vector = where + _unpack("<I", self.data, where)
        for i in range(_unpack("<I", self.data, vector)):
            yield _unpack_struct(layout, self.data, vector + 4 + i * layout.size)


def _unpack(fmt: str, data: bytes, pos: int) -> int:
    return _unpack_struct(struct.Struct(fmt), data, pos)[0]


def _unpack_struct(layout: struct.Struct, data: bytes, pos: int) -> Tuple[int, ...]:
    if pos < 0 or pos + layout.size > len(data):
        raise MalformedStream("the IPC message metadata points outside itself")
    return layout.unpack_from(data, pos)


def _batch_size(batch: _Table, body: memoryview) -> int:
    """Bytes the batch's buffers take once decompressed."""
    compressed = batch.table(_BATCH_COMPRESSION) is not None
    total = 0
    for offset, length in batch.structs(_BATCH_BUFFERS, _BUFFER):
        if offset < 0 or length < 0 or offset + length > len(body):
            raise MalformedStream("an IPC buffer lies outside its message body")
        if not compressed or length == 0:
            total += length
            continue
        if length < 8:
            raise MalformedStream("a compressed IPC buffer is shorter than its length prefix")
        expanded = struct.unpack_from("<q", body, offset)[0]
        if expanded < -1:
            raise MalformedStream("a compressed IPC buffer has a negative length")
        total += length - 8 if expanded == -1 else expanded
    return total


def expanded_size(data: Any, cap: int) -> int:
    """The bytes the Arrow IPC stream ``data`` (bytes, or an Arrow file read message by message) decodes to (its
    batches' buffers, dictionaries included), counting stops past ``cap``. MalformedStream when its metadata is
    inconsistent; pyarrow's errors when the stream cannot be framed."""
    total = 0
    source = pa.BufferReader(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    for message in pa.ipc.MessageReader.open_stream(source):
        if message.type not in ("record batch", "dictionary"):
            continue
        root = message.metadata.to_pybytes()
        header = _Table(root, _unpack("<I", root, 0))
        kind = header.ubyte(_MESSAGE_HEADER_TYPE)
        batch = header.table(_MESSAGE_HEADER)
        if batch is not None and kind == _HEADER_DICTIONARY_BATCH:
            batch = batch.table(_DICTIONARY_DATA)
        if batch is None or kind not in (_HEADER_RECORD_BATCH, _HEADER_DICTIONARY_BATCH):
            raise MalformedStream("an IPC batch message without its batch")
        body = memoryview(message.body) if message.body is not None else memoryview(b"")
        total += _batch_size(batch, body)
        if total > cap:
            break
    return total
