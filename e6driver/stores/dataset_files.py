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
import hashlib
import json
import os
import shutil
import tempfile
from typing import Any, BinaryIO, Callable, Dict, Iterable, Iterator, Optional

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
_HASH_BLOCK = 1024 * 1024
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


class Payload:
    """What an upload sends: ``size`` bytes in wire format ``fmt``, read by offset (a resumed upload starts where
    the server stopped), and their SHA-256 (the server checks the whole upload against it)."""

    def __init__(self, fmt: str, size: int) -> None:
        self.fmt, self.size = fmt, size

    def read(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def sha256(self) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Release what it holds (idempotent)."""

    def __enter__(self) -> "Payload":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BytesPayload(Payload):
    """An upload built in memory (from a table, a DataFrame or records)."""

    def __init__(self, data: bytes, fmt: str) -> None:
        super().__init__(fmt, len(data))
        self._data = data

    def read(self, offset: int, length: int) -> bytes:
        return self._data[offset:offset + length]

    def sha256(self) -> bytes:
        return hashlib.sha256(self._data).digest()


class FilePayload(Payload):
    """An upload read from a file as it is sent: memory stays at a chunk or two whatever the file's size. The
    SHA-256 is a first pass over the file; if the file changes after it, the server refuses the upload."""

    def __init__(self, path: str, fmt: str, owned: bool = False) -> None:
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._path, self._owned = path, owned  # owned: a temporary file, removed by close()
        super().__init__(fmt, os.fstat(self._fd).st_size)
        self._digest: Optional[bytes] = None

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, min(length, max(0, self.size - offset)), offset)
        if offset + len(data) < min(self.size, offset + length):
            raise errors.UploadError(f"{self._path!r} became shorter while it was being uploaded")
        return data

    def sha256(self) -> bytes:
        if self._digest is None:
            digest, offset = hashlib.sha256(), 0
            while offset < self.size:
                block = self.read(offset, _HASH_BLOCK)
                digest.update(block)
                offset += len(block)
            self._digest = digest.digest()
        return self._digest

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            if self._owned:
                os.unlink(self._path)


def payload(data: Any) -> Payload:
    """What an upload sends for ``data``: a file path (streamed from the file; an Arrow IPC file is first
    rewritten as an IPC stream in a temporary file, batch by batch), a pyarrow Table or RecordBatch, a pandas
    DataFrame, or a list of dicts (records)."""
    import pyarrow as pa

    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        fmt = file_format(path)
        with open(path, "rb") as handle:
            ipc_file = fmt == "arrow" and handle.read(len(_IPC_FILE_MAGIC)) == _IPC_FILE_MAGIC
        if not ipc_file:
            return FilePayload(path, "arrow" if fmt in ("arrow", "arrows") else fmt)
        return FilePayload(_ipc_stream_copy(path), "arrow", owned=True)  # the server takes the stream form
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
    return BytesPayload(sink.getvalue().to_pybytes(), "arrow")


def _ipc_stream_copy(path: str) -> str:
    """The Arrow IPC file ``path`` rewritten as an IPC stream in a new temporary file (one batch in memory at a
    time); its path."""
    import pyarrow as pa

    fd, copy = tempfile.mkstemp(prefix="e6driver-upload-", suffix=".arrows")
    try:
        with os.fdopen(fd, "wb") as out, pa.memory_map(path) as source:
            reader = pa.ipc.open_file(source)
            with pa.ipc.new_stream(out, reader.schema) as writer:
                for index in range(reader.num_record_batches):
                    for batch in pa.Table.from_batches([reader.get_batch(index)]).to_batches(UPLOAD_BATCH_ROWS):
                        writer.write_batch(batch)
    except BaseException:
        os.unlink(copy)
        raise
    return copy


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
        if fmt == "csv":
            _check_csv_columns(reader.schema)
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


def _check_csv_columns(schema: Any) -> None:
    """ProgrammingError naming the columns CSV cannot hold (lists, structs, maps, month intervals: columns with
    no text form), before anything is written: the downloaded bytes are fine, the format is not."""
    import pyarrow as pa

    refused = []
    for field in schema:
        try:
            pa.array([], field.type).cast(pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            refused.append(f"{field.name!r} ({field.type})")
    if refused:
        raise errors.ProgrammingError(f"CSV cannot hold column{'s' if len(refused) > 1 else ''} "
                                      f"{', '.join(refused)}: download as parquet, arrow or json instead")


def _writer(out: BinaryIO, fmt: str, schema: Any) -> Any:
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(out, schema, compression="zstd")
    if fmt == "csv":
        import pyarrow.csv as pcsv

        return pcsv.CSVWriter(out, schema)
    return pa.ipc.new_file(out, schema)
