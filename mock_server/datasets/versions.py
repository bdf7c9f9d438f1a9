"""A stored version file opened for reading, whichever its format: Parquet modular encryption
(:mod:`mock_server.datasets.modular`, read by Arrow's C++ reader) or the first formats' encrypted segments
(:class:`mock_server.datasets.crypto.SegmentFile`, read through Python).

Arrow's messages name the file they read; a version file is opened by its name within its dataset's folder
(``v3.e6ds``), or as an open file, so no message carries the server's paths.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, List, Optional, Tuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from mock_server.datasets.crypto import DecryptionError, SegmentFile, unwrap_data_key
from mock_server.datasets.modular import VersionCrypto, is_modular


class StoredVersion:
    """One version file of ``dataset``: :meth:`parquet` for reading row groups, :meth:`dataset` for SQL.
    DecryptionError (or OSError from Arrow) when the file, its key or a part read is not what was written."""

    def __init__(self, path: str, crypto: VersionCrypto, master: bytes, wrapped: Optional[bytes],
                 dataset: str, version: int) -> None:
        self._path, self._crypto, self._context = path, crypto, (dataset, version)
        with open(path, "rb") as handle:
            head = handle.read(4)
        self.modular = is_modular(head)
        self._segments: Optional[SegmentFile] = None
        self._opened: List[Any] = []  # files opened for parquet(): closed with this
        if not self.modular:  # a segment file: its data key is wrapped in the metadata
            if not wrapped:
                raise DecryptionError("not an encrypted dataset file")
            self._segments = SegmentFile(path, unwrap_data_key(master, wrapped, dataset, version), dataset, version)

    def _plain(self) -> Any:
        assert self._segments is not None
        return pa.PythonFile(self._segments, mode="r")

    def parquet(self) -> pq.ParquetFile:
        """The version as a Parquet file; its footer read and authenticated now."""
        if self._segments is not None:
            return pq.ParquetFile(self._plain())
        source = pa.OSFile(self._path)
        self._opened.append(source)
        return pq.ParquetFile(source, decryption_properties=self._crypto.decryption(*self._context))

    def dataset(self) -> ds.Dataset:
        """An Arrow dataset over the version from which a scan decrypts and decodes only the row groups and
        columns it asks for; the footer read and authenticated now, not mid-query. One fragment per row group, so
        a scan decodes several at once (a segment file: one fragment, read through one Python file)."""
        if self._segments is not None:  # one fragment: its reads go through one Python file
            parquet = ds.ParquetFileFormat()
            fragment = parquet.make_fragment(self._plain())
            fragment.ensure_complete_metadata()
            return _Scanned([fragment], fragment.physical_schema, parquet).named(*self._context)
        parquet = self._crypto.file_format(*self._context)
        folder, name = os.path.split(self._path)
        fragment = parquet.make_fragment(name, filesystem=pafs.SubTreeFileSystem(folder, pafs.LocalFileSystem()))
        fragment.ensure_complete_metadata()
        return _Scanned(fragment.split_by_row_group(), fragment.physical_schema, parquet).named(*self._context)

    def close(self) -> None:
        """Release the files :meth:`parquet` opened (a dataset's scans open their own)."""
        for source in self._opened:
            source.close()
        if self._segments is not None:
            self._segments.close()

    def __enter__(self) -> "StoredVersion":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_KEEP = "__e6_keep"  # the filter's value per row, computed as a column


class _Scanned(ds.FileSystemDataset):
    """DuckDB pushes a query's columns and filter into :meth:`scanner` and reads what ``to_reader()`` gives.
    Arrow's filter step took about a fifth more CPU than computing the filter as one more column and dropping rows
    by it, so a filtered scan does that, over the row groups whose statistics do not exclude the filter."""

    version = ("", 0)  # (dataset, version), for error texts

    def named(self, dataset: str, version: int) -> "_Scanned":
        self.version = (dataset, version)
        return self

    def scanner(self, columns: Any = None, filter: Any = None, **options: Any) -> Any:  # noqa: A002 - Arrow's name
        names = self.schema.names
        if filter is None or not columns or _KEEP in names or \
                not all(isinstance(c, str) and c in names for c in columns):
            return _NamedScan(super().scanner(columns=columns, filter=filter, **options), self.version)
        return _NamedScan(_FilteredScan(self, list(columns), filter, options), self.version)


class _NamedScan:
    """A scan whose read failures name the dataset and version (DuckDB's text named only the stream it had
    registered, and Arrow's "Failed decryption finalization" not what failed)."""

    def __init__(self, scan: Any, version: Tuple[str, int]) -> None:
        self._scan, self._version = scan, version

    def to_reader(self) -> pa.RecordBatchReader:
        reader = self._scan.to_reader()

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from reader
            except (DecryptionError, OSError, pa.ArrowInvalid) as exc:
                raise OSError(unreadable(*self._version, exc)) from None
        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def to_table(self) -> pa.Table:
        return self.to_reader().read_all()

    def __getattr__(self, name: str) -> Any:  # the rest of a scanner's API (projected_schema, count_rows, ...)
        return getattr(self._scan, name)


def unreadable(dataset: str, version: int, exc: BaseException) -> str:
    """The text of a version file that fails to decrypt or decode."""
    reason = str(getattr(exc, "strerror", None) or exc)
    if "decrypt" in reason.lower() and "authentication" not in reason:  # Arrow's words for a GCM failure
        reason = f"a part of it failed authentication (damaged or altered): {reason}"
    return f"dataset {dataset!r} version {version} cannot be read: {reason}"


class _FilteredScan:
    """A scan of ``columns`` keeping the rows where ``condition`` is true (null counts as false, as in SQL)."""

    def __init__(self, dataset: ds.FileSystemDataset, columns: List[str], condition: Any, options: Any) -> None:
        self._dataset, self._columns, self._condition, self._options = dataset, columns, condition, options

    def to_reader(self) -> pa.RecordBatchReader:
        dataset = self._dataset
        subsets = [fragment.subset(self._condition, schema=dataset.schema) for fragment in dataset.get_fragments()]
        pruned = ds.FileSystemDataset([f for f in subsets if f.num_row_groups], dataset.schema, dataset.format)
        # ^ the row groups whose statistics do not exclude the condition
        projection = {name: pc.field(name) for name in self._columns}
        projection[_KEEP] = self._condition
        reader = pruned.scanner(columns=projection, **self._options).to_reader()
        kept = list(range(len(self._columns)))
        schema = pa.schema([reader.schema.field(i) for i in kept])

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                yield batch.filter(batch.column(len(kept))).select(kept)
        return pa.RecordBatchReader.from_batches(schema, batches())
