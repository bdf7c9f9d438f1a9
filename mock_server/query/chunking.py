"""A result's DuckDB batches as wire chunks: the first chunk is DuckDB's first (small) batch, so the time to the
first chunk does not grow with the chunk size; later batches are joined to about TARGET_CHUNK_BYTES; every chunk
is split to at most ~MAX_CHUNK_BYTES. A joined chunk is a ``pa.Table`` of the batches, not copied into one: the
Thrift encoder joins each column as it encodes it, an Arrow reader takes the batches as they are."""
from __future__ import annotations

import collections
from typing import Any, Deque, Iterator, List, Optional, Union

import pyarrow as pa

Piece = Union[pa.RecordBatch, pa.Table]

MAX_CHUNK_BYTES = 4 * 1024 * 1024
READS_PER_CHUNK = 4  # DuckDB batches per wire chunk


class Chunks:
    """The stream's batches (with the schema's vector-type overrides) as wire chunks: the first is DuckDB's first
    batch, the others join batches up to ``rows`` rows; all split to at most ~MAX_CHUNK_BYTES. :meth:`more`
    says whether another chunk follows, reading at most one small batch ahead."""

    def __init__(self, stream: Any, schema: Optional[pa.Schema], rows: int) -> None:
        self._stream = stream
        self._schema = schema
        self._rows = rows
        self._pending: Deque[Piece] = collections.deque()  # pieces ready to hand out
        self._ahead: List[pa.RecordBatch] = []  # batches read, not yet handed out
        self._first = True
        self._ended = False

    def __iter__(self) -> "Chunks":
        return self

    def _read(self) -> bool:
        """One more non-empty batch into ``_ahead``; False at the end of the stream."""
        while not self._ended:
            try:
                batch = next(self._stream)
            except StopIteration:
                self._ended = True
                break
            if batch.num_rows:
                if self._schema is not None:
                    batch = pa.RecordBatch.from_arrays(batch.columns, schema=self._schema)
                self._ahead.append(batch)
                return True
        return False

    def more(self) -> bool:
        return bool(self._pending or self._ahead) or self._read()

    def __next__(self) -> Piece:
        if not self._pending:
            if not self._ahead and not self._read():
                raise StopIteration
            if not self._first:
                while sum(b.num_rows for b in self._ahead) < self._rows and self._read():
                    pass
            self._first = False
            ahead, self._ahead = self._ahead, []
            self._pending.extend(_split(ahead[0] if len(ahead) == 1 else pa.Table.from_batches(ahead)))
        return self._pending.popleft()

    def close(self) -> None:
        self._stream.close()


def _split(batch: Piece) -> Iterator[Piece]:
    """Slices of at most ~MAX_CHUNK_BYTES (wide text values can make a batch much larger than planned)."""
    pieces = -(-batch.nbytes // MAX_CHUNK_BYTES)
    if pieces <= 1 or batch.num_rows <= 1:
        yield batch
        return
    step = -(-batch.num_rows // pieces)
    for start in range(0, batch.num_rows, step):
        yield batch.slice(start, step)
