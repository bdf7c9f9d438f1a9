"""A stored version as the Arrow IPC stream downloads carry, produced batch by batch from the encrypted file.

Batches come from :func:`batches` (one row group decoded at a time), so a
download holds a bounded slice of the version in memory whatever its size. The stream's size is needed before its
first byte leaves (the client checks the transfer against it and reports progress in it):
:func:`stream_size` writes the same stream to a counting sink, once per version (kept with its metadata).
"""
from __future__ import annotations

from typing import Iterator, List

import pyarrow as pa
import pyarrow.parquet as pq

BATCH_ROWS = 64 * 1024  # rows per record batch: clients write them as they come
# What the stream's bytes depend on besides the data: a size measured under another encoding is measured again.
ENCODING = f"pyarrow {pa.__version__}, row groups in batches of {BATCH_ROWS}"


def batches(source: pq.ParquetFile) -> Iterator[pa.RecordBatch]:
    """The file's rows, one row group decoded at a time (the writer bounds its decoded size), in batches of at most
    :data:`BATCH_ROWS` rows. (``iter_batches`` was not used: its memory grew over a file's row groups.)"""
    for index in range(source.metadata.num_row_groups):
        group = source.read_row_group(index, use_threads=True)
        yield from group.to_batches(max_chunksize=BATCH_ROWS)
        del group


class _Pending:
    """A write-only sink whose bytes are taken out in pieces while the writer goes on."""

    def __init__(self) -> None:
        self.parts: List[bytes] = []
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts, self.size = [], 0
        return data

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def ipc_pieces(source: pq.ParquetFile, piece: int) -> Iterator[bytes]:
    """The version's IPC stream in pieces of about ``piece`` bytes or more (the last one shorter)."""
    pending = _Pending()
    with pa.ipc.new_stream(pa.PythonFile(pending, mode="w"), source.schema_arrow) as writer:
        for batch in batches(source):
            writer.write_batch(batch)
            if pending.size >= piece:
                yield pending.take()
    if pending.size:
        yield pending.take()


def stream_size(source: pq.ParquetFile) -> int:
    """Bytes of :func:`ipc_pieces`' stream for ``source`` (decoded, counted, not kept)."""
    sink = pa.MockOutputStream()
    with pa.ipc.new_stream(sink, source.schema_arrow) as writer:
        for batch in batches(source):
            writer.write_batch(batch)
    return sink.size()
