"""Uploaded payloads decoded to Arrow, within the server's limits, and schema comparison between versions.

Formats: ``arrow`` (an IPC stream), ``parquet``, ``csv`` and ``json`` (JSON lines: one object per line; a
top-level array of objects is accepted too). :func:`read_rows` decodes Arrow, Parquet and CSV batch by batch as a
new version is written, so publishing holds about a row group of the upload (JSON is decoded whole). Every
decoder refuses a payload whose decoded size would pass ``limits.max_expanded_bytes`` — from metadata before
decoding where the format has it (Parquet, Arrow), batch by batch otherwise (CSV), and for JSON from an estimate
made before Arrow builds anything: rows × distinct key paths × 8 bytes + the text, since every key seen in any row
becomes a column of every row.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

import grpc
import pyarrow as pa
import pyarrow.parquet as pq

from mock_server.datasets.ipc_size import MalformedStream, expanded_size
from mock_server.datasets.stream import batches
from mock_server.errors import EngineError
from mock_server.limits import DEFAULT_LIMITS, Limits, check_rows, exceeded

FORMATS = ("arrow", "parquet", "csv", "json")
_JSON_BLOCK = 1 << 20  # pyarrow's JSON block; raised to the longest line (an object may not straddle blocks)
_WHITESPACE = b" \t\r\n\xef\xbb\xbf"


def _invalid(message: str) -> EngineError:
    return EngineError(grpc.StatusCode.INVALID_ARGUMENT, message)


class UploadRows:
    """An upload's rows as record batches decoded as they are taken (:attr:`schema` known up front), within the
    limits; a payload that turns out malformed part way is INVALID_ARGUMENT when its batch is reached."""

    def __init__(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], fmt: str, hint: str = "") -> None:
        self.schema = schema
        self._batches = batches
        self._fmt = fmt
        self._hint = hint

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._batches
        except _MALFORMED as exc:
            raise _invalid(f"cannot read the upload as {self._fmt or 'arrow'}: {exc}{self._hint}") from None

    def read_all(self) -> pa.Table:
        return pa.Table.from_batches(list(self), schema=self.schema)


_MALFORMED = (pa.ArrowInvalid, OSError, MalformedStream, ValueError)


def read_rows(data: Any, fmt: str, limits: Limits = DEFAULT_LIMITS,
              current: Optional[pa.Schema] = None) -> UploadRows:
    """An uploaded payload (bytes, or a seekable binary file) as :class:`UploadRows`, refused once its decoded size
    passes ``limits.max_expanded_bytes`` or a row passes ``limits.max_row_bytes`` (see the module doc). Arrow,
    Parquet and CSV are decoded batch by batch as the rows are taken (Arrow's size is checked on a first pass over
    its messages' metadata); JSON is decoded whole. ``current``: the schema of the version the upload updates,
    whose column types a CSV or JSON upload's columns of the same names take (:func:`_csv_reader`,
    :func:`_as_current_types`)."""
    hint = ""
    buffered = isinstance(data, (bytes, bytearray, memoryview))

    def source() -> Any:
        if buffered:
            return pa.BufferReader(data)
        data.seek(0)
        return pa.PythonFile(data, "r")
    try:
        if fmt in ("", "arrow"):
            expanded = expanded_size(source(), limits.max_expanded_bytes)  # from the metadata, nothing decoded yet
            if expanded > limits.max_expanded_bytes:
                raise exceeded(limits, "max_expanded_bytes", f"Arrow IPC upload of over {expanded} bytes decoded")
            reader = pa.ipc.open_stream(source())
            return UploadRows(reader.schema, _bounded(reader, limits), fmt)
        if fmt == "parquet":
            parquet = pq.ParquetFile(source())
            meta = parquet.metadata
            expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            if expanded > limits.max_expanded_bytes:
                raise exceeded(limits, "max_expanded_bytes", f"Parquet upload of {expanded} bytes uncompressed")
            return UploadRows(parquet.schema_arrow, _bounded(batches(parquet), limits, expanded=False), fmt)
        if fmt == "csv":
            typed = _csv_types(current)
            if typed:
                hint = (" (a CSV update is read with the current version's column types; pass "
                        "allow_schema_change=True to publish other types)")
            reader = _csv_reader(source, typed)
            return UploadRows(reader.schema, _bounded(reader, limits), fmt, hint)
        if fmt == "json":
            table = _as_current_types(_json_table(data if buffered else source().read(), limits), current)
            return UploadRows(table.schema, iter(table.to_batches()), fmt)
    except _MALFORMED as exc:
        raise _invalid(f"cannot read the upload as {fmt or 'arrow'}: {exc}{hint}") from None
    raise _invalid(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")


def read_table(data: Any, fmt: str, limits: Limits = DEFAULT_LIMITS) -> pa.Table:
    """An uploaded payload decoded whole (see :func:`read_rows`)."""
    return read_rows(data, fmt, limits).read_all()


def _csv_types(current: Optional[pa.Schema]) -> Dict[str, pa.DataType]:
    """The column types of ``current`` a CSV field can be read as (not nested or binary ones)."""
    readable = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_boolean,
                pa.types.is_string, pa.types.is_large_string, pa.types.is_timestamp, pa.types.is_date,
                pa.types.is_time)
    return {f.name: f.type for f in current or () if any(check(f.type) for check in readable)}


def _csv_reader(source: Callable[[], Any], typed: Dict[str, pa.DataType]) -> Any:
    """A CSV reader. CSV carries no types: a column of the version being updated is read as its type there
    (``typed``), so the update has the same schema whatever its values look like, and a column without a value in
    the first block (all of them in a header-only file) is a string, as DuckDB's CSV sniffer types it, not Arrow's
    ``null`` (no later version could match that, SQL saw NULL columns, and a value after the first MiB failed the
    upload). An empty field is null, except in a string column (Arrow's rule: there it is "")."""
    import pyarrow.csv as pcsv

    def open_csv() -> Any:
        return pcsv.open_csv(source(), convert_options=pcsv.ConvertOptions(column_types=dict(typed)))
    reader = open_csv()
    untyped = {f.name: pa.string() for f in reader.schema if pa.types.is_null(f.type)}
    if untyped:
        reader.close()
        typed = {**typed, **untyped}
        reader = open_csv()
    return reader


def _as_current_types(table: pa.Table, current: Optional[pa.Schema]) -> pa.Table:
    """``table`` (a JSON upload) with each column the version it updates has cast to that column's type where the
    cast is exact. JSON has no dates, timestamps or decimals: they come as text or are inferred as timestamps, so
    a version downloaded as JSON could not update itself. A column that does not cast is left for the schema
    check to name."""
    for field in current or ():
        index = table.schema.get_field_index(field.name)
        if index < 0 or table.schema.field(index).type == field.type:
            continue
        try:
            table = table.set_column(index, field.name, table.column(index).cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return table


def _bounded(reader: Any, limits: Limits, expanded: bool = True) -> Iterator[pa.RecordBatch]:
    """The batches of ``reader`` while their total size stays within ``limits.max_expanded_bytes`` (unless
    ``expanded`` is False: checked before, from metadata) and each row within ``limits.max_row_bytes``."""
    total = 0
    for batch in reader:
        total += batch.nbytes
        if expanded and total > limits.max_expanded_bytes:
            raise exceeded(limits, "max_expanded_bytes", "upload decoded")
        check_rows(limits, batch, "the upload")
        yield batch


def _key_paths(value: Any, prefix: str, out: Set[str]) -> None:
    """Every key path of a JSON value (nested objects become struct fields, each a column of its own)."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}\x00{key}"
            out.add(path)
            _key_paths(item, path, out)
    elif isinstance(value, list):
        for item in value:
            _key_paths(item, prefix + "\x00[]", out)


def _json_table(data: bytes, limits: Limits) -> pa.Table:
    try:
        return _json_records(data, limits)
    except RecursionError:
        raise _invalid("cannot read the upload as json: values nested too deeply") from None


def _json_records(data: bytes, limits: Limits) -> pa.Table:
    import pyarrow.json as pjson

    if data.lstrip(_WHITESPACE).startswith(b"["):  # a top-level array: re-written as JSON lines
        records = json.loads(data.decode("utf-8-sig"))
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise _invalid("a JSON upload is an array of objects or JSON lines (one object per line)")
        lines: List[bytes] = [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in records]
    else:
        lines = [line for line in data.split(b"\n") if line.strip()]
    paths: Set[str] = set()
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise _invalid(f"cannot read the upload as json: line {number}: {exc}") from None
        if not isinstance(record, dict):
            raise _invalid(f"cannot read the upload as json: line {number} is not an object")
        _key_paths(record, "", paths)
    estimate = len(lines) * len(paths) * 8 + len(data)
    if estimate > limits.max_expanded_bytes:
        raise exceeded(limits, "max_expanded_bytes", f"JSON upload of {len(lines)} rows × {len(paths)} columns "
                       "decoded")
    if not lines:
        raise _invalid("cannot read the upload as json: it has no rows")
    text = b"\n".join(lines) + b"\n"
    block = max(_JSON_BLOCK, max(len(line) for line in lines) + 2)
    table = pjson.read_json(pa.BufferReader(text), read_options=pjson.ReadOptions(block_size=block))
    check_rows(limits, table, "the upload")
    return table


def sql_unreadable(schema: pa.Schema) -> List[str]:
    """One phrase per column of ``schema`` holding an Arrow type DuckDB has none for (halffloat, decimal256, also
    nested): SQL could not read a version holding it ('Unsupported Internal Arrow Type e')."""
    def unreadable(t: pa.DataType) -> bool:
        if pa.types.is_float16(t) or pa.types.is_decimal256(t):
            return True
        inner = [t.field(i).type for i in range(t.num_fields)]
        if pa.types.is_dictionary(t) or pa.types.is_run_end_encoded(t):
            inner.append(t.value_type)
        return any(unreadable(child) for child in inner)
    return [f"column {f.name!r} has Arrow type {f.type}" for f in schema if unreadable(f.type)]


def logical_type(t: pa.DataType) -> pa.DataType:
    """``t`` with Arrow's layout variants of one SQL type made one: large and view strings, binaries and lists
    (pandas 3 makes strings large_string, a table string: both VARCHAR)."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t) or \
            pa.types.is_list(t):
        return pa.list_(logical_type(t.value_type))
    return t


def schema_difference(old: pa.Schema, new: pa.Schema) -> List[str]:
    """How ``new`` differs from ``old`` by column name and type (order and nullability ignored, layout variants of
    a type alike: :func:`logical_type`; a column of Arrow's null type, which had no value to type it, matches any):
    one phrase per differing column, empty when they match."""
    before = {f.name: logical_type(f.type) for f in old}
    after = {f.name: logical_type(f.type) for f in new}
    out = [f"{name!r} missing" for name in before if name not in after]
    out += [f"{name!r} added ({after[name]})" for name in after if name not in before]
    out += [f"{name!r} changed from {before[name]} to {after[name]}" for name in before
            if name in after and before[name] != after[name] and not pa.types.is_null(before[name])
            and not pa.types.is_null(after[name])]
    return out
