"""Local files of datasets: what an upload sends for the inputs it accepts, and downloads written to disk by
format, batch by batch as the Arrow stream arrives.

Formats by extension (upload and download): ``.parquet``/``.pq`` Parquet, ``.csv`` CSV, ``.arrow``/``.feather``
/``.ipc`` Arrow IPC file (Feather v2), ``.arrows`` Arrow IPC stream, ``.jsonl``/``.ndjson``/``.json`` JSON lines
(one object per line; an upload may also be a top-level array of objects).
"""
from __future__ import annotations

import base64
import datetime
import decimal
import json
import os
import shutil
from typing import Any, BinaryIO, Callable, Dict, Iterable, Iterator, Optional, Tuple

from . import _checksums
from .. import errors

# extension -> format; format names are also what ``download(..., format=...)`` takes
EXTENSIONS: Dict[str, str] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".arrow": "arrow",
                              ".feather": "arrow", ".ipc": "arrow", ".arrows": "arrows", ".jsonl": "json",
                              ".ndjson": "json", ".json": "json"}
FORMATS = ("parquet", "csv", "arrow", "arrows", "json")
_ALIASES = {"feather": "arrow", "ipc": "arrow", "jsonl": "json", "ndjson": "json", "pq": "parquet"}
_IPC_FILE_MAGIC = b"ARROW1"
UPLOAD_BATCH_ROWS = 64 * 1024  # rows per record batch of an uploaded table: what the engine holds decoded at once
Progress = Optional[Callable[[int, Optional[int]], None]]


def file_format(path: str, fmt: Optional[str] = None) -> str:
    """The format of ``path``: ``fmt`` if given, else from its extension; ProgrammingError otherwise."""
    if fmt is not None:
        wanted = _ALIASES.get(str(fmt).lower(), str(fmt).lower())
        if wanted not in FORMATS:
            raise errors.ProgrammingError(f"unknown dataset file format {fmt!r}: use one of {', '.join(FORMATS)}")
        return wanted
    found = EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if found is None:
        raise errors.ProgrammingError(
            f"cannot tell the file format of {path!r} from its extension: use one of "
            f"{', '.join(sorted(EXTENSIONS))} or pass format= ({', '.join(FORMATS)})")
    return found


def payload(data: Any) -> Tuple[bytes, str]:
    """(bytes, wire format) an upload sends for ``data``: a file path, a pyarrow Table or RecordBatch, a
    pandas DataFrame, or a list of dicts (records)."""
    import pyarrow as pa

    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        fmt = file_format(path)
        with open(path, "rb") as handle:
            raw = handle.read()
        if fmt == "arrow" and raw.startswith(_IPC_FILE_MAGIC):  # the server takes the stream form
            data = pa.ipc.open_file(pa.BufferReader(raw)).read_all()
        else:
            return raw, "arrow" if fmt == "arrows" else fmt
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        data = pa.Table.from_pylist(data)
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if not isinstance(data, pa.Table) and type(data).__name__ == "DataFrame":
        data = pa.Table.from_pandas(data, preserve_index=False)
    if not isinstance(data, pa.Table):
        raise errors.InterfaceError(f"cannot upload a {type(data).__name__}: pass a pyarrow Table, a pandas "
                                    "DataFrame, a list of dicts or a file path")
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data, max_chunksize=UPLOAD_BATCH_ROWS)  # the engine decodes one batch at a time
    return sink.getvalue().to_pybytes(), "arrow"


class ChunkStream:
    """A readable binary file over a download's chunks (checked for order and CRC as they arrive), so Arrow
    can decode the stream while it downloads; ``progress(bytes_done, bytes_total)`` after every chunk."""

    def __init__(self, chunks: Iterable[Any], dataset: str, progress: Progress = None) -> None:
        self._chunks: Iterator[Any] = iter(chunks)
        self._dataset, self._progress = dataset, progress
        self._buffer, self._pos = b"", 0
        self.offset, self.total = 0, None  # type: int, Optional[int]
        self.closed = False

    def _next(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            if self.total is None or self.offset != self.total:
                raise errors.DownloadError(f"dataset {self._dataset}: download ended after {self.offset} of "
                                           f"{self.total} bytes")
            return False
        if chunk.offset != self.offset or _checksums.crc32(chunk.data) != chunk.crc32:
            raise errors.DownloadError(f"dataset {self._dataset}: damaged chunk at offset {chunk.offset}")
        if self.total is None:
            self.total = chunk.total
        self._buffer, self._pos = chunk.data, 0
        self.offset += len(chunk.data)
        if self._progress is not None:
            self._progress(self.offset, self.total)
        return True

    def read(self, size: int = -1) -> bytes:
        parts = []
        while size != 0:
            if self._pos >= len(self._buffer) and not self._next():
                break
            end = len(self._buffer) if size < 0 else min(len(self._buffer), self._pos + size)
            parts.append(self._buffer[self._pos:end])
            size -= (end - self._pos) if size > 0 else 0
            self._pos = end
        return b"".join(parts)

    def finish(self) -> None:
        """Read to the end (checks the download was complete)."""
        while self._next():
            pass

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact; a JSON number could lose digits
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_stream(stream: ChunkStream, out: BinaryIO, fmt: str) -> None:
    """Write the Arrow IPC stream ``stream`` to ``out`` in ``fmt``, one record batch at a time."""
    import pyarrow as pa

    if fmt == "arrows":
        shutil.copyfileobj(stream, out, 1024 * 1024)  # type: ignore[arg-type]
        return
    try:
        reader = pa.ipc.open_stream(stream)
        if fmt == "json":
            for batch in reader:
                for row in batch.to_pylist():
                    out.write(json.dumps(row, ensure_ascii=False, default=_json_value).encode("utf-8") + b"\n")
        else:
            with _writer(out, fmt, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
    except pa.ArrowInvalid as exc:
        raise errors.DownloadError(f"the downloaded bytes are not an Arrow stream: {exc}") from None
    stream.finish()


def _writer(out: BinaryIO, fmt: str, schema: Any) -> Any:
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(out, schema, compression="zstd")
    if fmt == "csv":
        import pyarrow.csv as pcsv

        return pcsv.CSVWriter(out, schema)
    return pa.ipc.new_file(out, schema)
