"""``executemany`` of ``INSERT INTO t [(cols)] VALUES (%s, …)`` through the engine's bulk path, when it can be exact.

The one place that decides: :func:`executemany` answers the row count when the rows went as Arrow record batches
through ``IngestService.Append`` (:mod:`e6driver.protocol.ingest`), or None when the caller must keep the
multi-row INSERTs of :mod:`e6driver.batching` — the engine has no bulk path (an e6data cluster), pyarrow is
not installed, the statement is not a plain placeholder-only INSERT, or a column holds values this module cannot
type exactly. Nothing is sent before every column is typed, so a fallback never follows a partial insert.

Exact types (one Python type per column, ``None`` anywhere): ``int`` → int64 (wider ints fall back: the literal
path has HUGEINT), ``float`` → double, ``bool``, ``str``, ``bytes`` → binary, ``Decimal`` → decimal128 with the
precision and scale that hold every value (more than 38 digits, NaN or infinity fall back), ``date`` → date32,
naive ``datetime`` → timestamp[us], aware ``datetime`` → timestamp[us, UTC] (naive and aware mixed fall back),
naive ``time`` → time64[us]. Anything else (timedelta, UUID, numpy scalars, sequences, mixed types) falls back.
"""
from __future__ import annotations

import datetime
import decimal
import re
from collections.abc import Mapping
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from .params import Params
from .protocol import Session
from .protocol import ingest

CHUNK_BYTES = 4 * 1024 * 1024  # Arrow bytes per streamed message (well under the engine's message limit)
MIN_ROWS = 2  # fewer rows: one literal INSERT is as cheap as an RPC

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_NAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}}"
_PLACEHOLDER = r"%(?:s|\([^)]+\)s)"
_INSERT = re.compile(
    rf"(?is)\A\s*INSERT\s+INTO\s+(?P<table>{_NAME})\s*(?:\((?P<columns>\s*{_IDENT}(?:\s*,\s*{_IDENT})*\s*)\))?"
    rf"\s*VALUES\s*\((?P<values>\s*{_PLACEHOLDER}(?:\s*,\s*{_PLACEHOLDER})*\s*)\)\s*;?\s*\Z")


def _identifiers(text: str) -> List[str]:
    return [q[1:-1].replace('""', '"') if q.startswith('"') else q.lower() for q in re.findall(_IDENT, text)]


def parse_insert(operation: str) -> Optional[Tuple[List[str], List[str], List[Optional[str]]]]:
    """(table name parts, column names, placeholder keys: None for ``%s``) of a placeholder-only INSERT."""
    match = _INSERT.match(operation) if "%%" not in operation else None
    if not match:
        return None
    table = _identifiers(match.group("table"))
    columns = _identifiers(match.group("columns")) if match.group("columns") else []
    keys = [p[2:-2] if p.startswith("%(") else None for p in re.findall(_PLACEHOLDER, match.group("values"))]
    if columns and len(columns) != len(keys):
        return None
    if any(k is None for k in keys) and any(k is not None for k in keys):
        return None
    return table, columns, keys


def _columns(keys: List[Optional[str]], params_list: Sequence[Params]) -> Optional[List[List[Any]]]:
    """The parameter sets transposed into one list per placeholder; None if they do not all fit."""
    try:
        if keys and keys[0] is not None:
            if not all(isinstance(p, Mapping) for p in params_list):
                return None
            return [[p[k] for p in params_list] for k in keys]  # type: ignore[index]
        width = len(keys)
        if not all(isinstance(p, (list, tuple)) and len(p) == width for p in params_list):
            return None
        return [list(column) for column in zip(*params_list)]  # type: ignore[arg-type]
    except (KeyError, TypeError):
        return None


def arrow_array(values: List[Any]) -> Any:
    """An Arrow array holding exactly ``values``, or None when they cannot be typed exactly."""
    import pyarrow as pa

    kinds = set(map(type, values))
    kinds.discard(type(None))
    if not kinds:
        return pa.nulls(len(values))
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    if kind is datetime.datetime:
        aware = {v.utcoffset() is not None for v in values if v is not None}
        if len(aware) != 1:
            return None
        arrow_type = pa.timestamp("us", tz="UTC") if aware.pop() else pa.timestamp("us")
    elif kind is datetime.time:
        if any(v.tzinfo is not None for v in values if v is not None):
            return None
        arrow_type = pa.time64("us")
    else:
        arrow_type = _simple_types().get(kind, False)
        if arrow_type is False:
            return None
    if kind is decimal.Decimal:
        return _decimal_array(values)
    try:
        return pa.array(values, type=arrow_type, from_pandas=False)
    except (pa.ArrowException, OverflowError, ValueError, TypeError):
        return None


def _decimal_array(values: List[Any]) -> Any:
    """decimal128(18 or 38, s) when every value is written with the same scale ``s`` (so each keeps its text, as
    on the literal path) and fits; via the values' text, which Arrow parses exactly (never rounds). None else."""
    import pyarrow as pa
    import pyarrow.compute as pc

    strings = [None if v is None else str(v) for v in values]
    if any(s is not None and "E" in s for s in strings):  # str() writes exponents; format(, "f") is slower
        strings = [s if s is None or "E" not in s else format(v, "f") for s, v in zip(strings, values)]
    text = pa.array(strings, pa.string())
    plain = pc.match_substring_regex(text, r"^-?[0-9]+(\.[0-9]+)?$")
    if pc.all(plain).as_py() is False:
        return None  # exponent notation, NaN, infinity
    point = pc.find_substring(text, ".")
    scales = pc.if_else(pc.less(point, 0), 0, pc.subtract(pc.subtract(pc.utf8_length(text), point), 1))
    bounds = pc.min_max(scales).as_py()
    if bounds["min"] != bounds["max"] or bounds["min"] is None or bounds["min"] > 37:
        return None
    scale = bounds["min"]
    for precision in (18, 38):
        if precision > scale:
            try:
                return text.cast(pa.decimal128(precision, scale))
            except pa.ArrowException:
                continue
    return None  # more than 38 digits: beyond the engine's DECIMAL


_SIMPLE: dict = {}


def _simple_types() -> dict:
    """Arrow types of the plain Python types; {} without pyarrow (imported on first use: importing the driver
    loads no pyarrow)."""
    if not _SIMPLE:
        try:
            import pyarrow as pa
        except ImportError:
            return {}
        _SIMPLE.update({int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string(),
                        bytes: pa.binary(), decimal.Decimal: None, datetime.date: pa.date32()})
    return _SIMPLE


def _payloads(batch: Any) -> Iterator[bytes]:
    """IPC streams of slices of ``batch`` of about CHUNK_BYTES each."""
    import pyarrow as pa

    rows = batch.num_rows
    step = max(1, int(rows * CHUNK_BYTES / max(batch.nbytes, 1)))
    for start in range(0, rows, step):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch.slice(start, step))
        yield sink.getvalue().to_pybytes()


def appendable(operation: str, params_list: Sequence[Params]) -> Optional[Tuple[List[str], List[str], Any]]:
    """(table name parts, columns, payloads() of Arrow IPC streams) when ``operation`` and its rows fit the bulk
    path exactly, else None (run it the literal way). No I/O: the blocking and asyncio cursors share it."""
    if len(params_list) < MIN_ROWS or not _simple_types():
        return None
    parsed = parse_insert(operation)
    if parsed is None:
        return None
    table, columns, keys = parsed
    transposed = _columns(keys, params_list)
    if transposed is None:
        return None
    arrays = []
    for values in transposed:
        array = arrow_array(values)
        if array is None:
            return None
        arrays.append(array)
    import pyarrow as pa

    batch = pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
    return list(table), list(columns), lambda: _payloads(batch)


def executemany(session: Session, operation: str, params_list: Sequence[Params], catalog: Optional[str],
                schema: Optional[str]) -> Optional[int]:
    """Rows appended through the bulk path, or None: run the statement the literal way (nothing was sent)."""
    if len(params_list) < MIN_ROWS or not ingest.available(session):
        return None
    planned = appendable(operation, params_list)
    if planned is None:
        return None
    table, columns, payloads = planned
    return ingest.append(session, table, columns, payloads, catalog, schema)
