"""Object-store files as Arrow data: how catalog ``objects`` hands permitted files to DuckDB.

DuckDB runs with external access disabled (no file system from SQL, see :mod:`mock_server.query.engine`), so the
engine reads the objects itself, on the backend's Arrow filesystem, from the paths the catalog already
resolved and checked, and registers the result on the query's cursor:

* Parquet and CSV/TSV: a lazy :func:`pyarrow.dataset.dataset`; DuckDB scans it with projection (and, for
  Parquet, filter) pushdown. CSV files are seen through :class:`_RenamedFiles`, whose names carry the
  compression suffix pyarrow recognises (``.gz``, ``.zstd``; pyarrow alone would miss ``.zst``), so
  decompression stays native. CSV files need a header row and ``,`` (``.tsv``: tab) as delimiter.
* JSON: read whole into an Arrow table while the query is prepared (pyarrow's JSON scanner can stall
  when DuckDB pulls it from another thread over a Python-level file such as s3fs's). Both JSON lines and
  a top-level JSON array of objects are accepted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.json as pjson
import pyarrow.parquet as pq

from mock_server import errors
from mock_server.limits import DEFAULT_LIMITS, Limits, exceeded

_SUFFIXES = {"gzip": ".gz", "zstd": ".zstd"}  # what pyarrow's datasets detect
_WHITESPACE = b" \t\r\n\xef\xbb\xbf"  # and a UTF-8 byte-order mark


@dataclass(frozen=True)
class ObjectFile:
    path: str  # on the backend's Arrow filesystem
    name: str  # what errors call it: <bucket>/<key>, never a server path
    compression: Optional[str]  # gzip, zstd or None, per object


def object_data(filesystem: pafs.FileSystem, files: List[ObjectFile], kind: str,
                limits: Limits = DEFAULT_LIMITS) -> Any:
    """A dataset (parquet, csv, tsv) or table (json) over ``files`` on ``filesystem``; JSON objects are read
    whole, so their decompressed size is capped by ``limits.max_expanded_bytes``."""
    try:
        if kind == "parquet":
            _check_row_groups(filesystem, files, limits)
            return ds.dataset([f.path for f in files], format="parquet", filesystem=filesystem)
        if kind == "json":
            return _json_table(filesystem, files, limits)
        view: Dict[str, str] = {}
        for number, file in enumerate(files):
            base = file.name.rsplit(".", 1)[0] if file.compression else file.name
            view[f"{number}/{base}{_SUFFIXES[file.compression] if file.compression else ''}"] = file.path
        delimiter = "\t" if kind == "tsv" else ","
        file_format = ds.CsvFileFormat(parse_options=pcsv.ParseOptions(delimiter=delimiter))
        return ds.dataset(list(view), format=file_format,
                          filesystem=pafs.PyFileSystem(_RenamedFiles(filesystem, view)))
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise errors.invalid(f"cannot read the objects as {kind}: {exc}") from exc


def _check_row_groups(filesystem: pafs.FileSystem, files: List[ObjectFile], limits: Limits) -> None:
    """Refuse Parquet files with a row group larger, uncompressed, than ``limits.max_expanded_bytes``: DuckDB
    decodes a row group at a time, so this bounds what one small, well-compressed file can expand to."""
    for file in files:
        try:
            with filesystem.open_input_file(file.path) as handle:
                meta = pq.ParquetFile(handle).metadata
        except (pa.ArrowException, OSError) as exc:  # Arrow's text may name the path: hidden by errors.hide_path
            raise errors.invalid(f"cannot read {file.name} as parquet: {exc}") from exc
        largest = max((meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)), default=0)
        if largest > limits.max_expanded_bytes:
            raise exceeded(limits, "max_expanded_bytes", f"a Parquet row group of {largest} bytes uncompressed")


def _json_table(filesystem: pafs.FileSystem, files: List[ObjectFile], limits: Limits) -> pa.Table:
    tables, budget = [], limits.max_expanded_bytes
    for file in files:
        with filesystem.open_input_stream(file.path, compression=file.compression) as stream:
            data = stream.read(budget + 1)  # never more than the budget left, however well it compresses
        budget -= len(data)
        if budget < 0:
            raise exceeded(limits, "max_expanded_bytes", "JSON objects decompressed")
        if data.lstrip(_WHITESPACE).startswith(b"["):
            records = json.loads(data.decode("utf-8-sig"))
            data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
        tables.append(pjson.read_json(pa.BufferReader(data)))
    return pa.concat_tables(tables, promote_options="permissive")


class _RenamedFiles(pafs.FileSystemHandler):
    """A read-only view of some files of ``base``: ``files`` maps each name in the view to its path."""

    def __init__(self, base: pafs.FileSystem, files: Dict[str, str]) -> None:
        self._base, self._files = base, files

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def get_type_name(self) -> str:
        return "e6-object-files"

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: List[str]) -> List[pafs.FileInfo]:
        return [pafs.FileInfo(p, pafs.FileType.File if p in self._files else pafs.FileType.NotFound)
                for p in paths]

    def get_file_info_selector(self, selector: pafs.FileSelector) -> List[pafs.FileInfo]:
        raise NotImplementedError("object views cannot be listed")

    def _read_only(self, *args: object, **kwargs: object) -> None:
        raise PermissionError("object views are read-only")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = delete_file = _read_only
    move = copy_file = open_output_stream = open_append_stream = _read_only

    def _path(self, name: str) -> str:
        if name not in self._files:
            raise FileNotFoundError(name)
        return self._files[name]

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return self._base.open_input_stream(self._path(path), compression=None)  # decoded by the dataset

    def open_input_file(self, path: str) -> pa.NativeFile:
        return self._base.open_input_file(self._path(path))
