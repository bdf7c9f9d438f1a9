"""DuckDB-side type decisions: getColumnsV2 type names and SQL rendering of types Arrow cannot carry.

The wire-side decisions (VectorType, metadata type name) live in :mod:`mock_server.query.encode`; this module
only deals with DuckDB types (``duckdb.DuckDBPyType``), see the table in docs/engine-contract.md.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

from mock_server.query.sql_dialect import quote_identifier, quote_literal

HUGEINT_MAX = 2 ** 127 - 1

_SIMPLE_NAMES = {
    "boolean": "boolean", "tinyint": "tinyint", "utinyint": "smallint", "smallint": "smallint",
    "usmallint": "int", "integer": "int", "uinteger": "bigint", "bigint": "bigint",
    "ubigint": "decimal(38,0)", "hugeint": "decimal(38,0)", "uhugeint": "decimal(38,0)",
    "float": "float", "double": "double", "blob": "binary", "date": "date", "time": "time",
    "timestamp": "timestamp", "timestamp_s": "timestamp", "timestamp_ms": "timestamp",
    "timestamp_ns": "timestamp", "timestamp with time zone": "timestamp_tz", "timestamptz_ns": "timestamp_tz",
    "interval": "interval",
    "null": "null",
}

# Types DuckDB exports to Arrow in a form mock_server.query.encode understands as is.
_NATIVE = {
    "boolean", "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
    "uinteger", "ubigint", "float", "double", "decimal", "varchar", "blob", "date", "time", "timestamp",
    "timestamp_s", "timestamp_ms", "timestamp_ns", "timestamp with time zone", "timestamptz_ns", "uuid", "enum",
    "null",
}
# "tuple": DuckDB's id of an unnamed STRUCT (row(1, 'a'), (1, 2), a Python list parameter): to_json makes it
# a JSON array of its members, as when nested. Its VARCHAR cast would be "(1, a)", not JSON.
_NESTED = {"list": "ARRAY", "array": "ARRAY", "map": "MAP", "struct": "STRUCT", "tuple": "STRUCT",
           "union": "STRUCT"}

_US_PER_DAY = 86_400_000_000

# Rough bytes per value, to size result batches (~2 MiB on the wire).
_WIDTHS = {"boolean": 2, "tinyint": 5, "smallint": 5, "integer": 5, "utinyint": 5, "usmallint": 5,
           "bigint": 9, "uinteger": 9, "float": 9, "double": 9, "date": 9, "timestamp": 9,
           "timestamp_s": 9, "timestamp_ms": 9, "timestamp_ns": 9, "interval": 9,
           "decimal": 21, "hugeint": 21, "uhugeint": 21, "ubigint": 21, "time": 20, "uuid": 41,
           "timestamp with time zone": 17, "timestamptz_ns": 17, "null": 1}


def _children(t: Any) -> list:
    try:
        return list(t.children)
    except Exception:  # non-nested DuckDB types have no children
        return []


def field_type_name(t: Any) -> str:
    """SQL-ish lowercase type name for getColumnsV2 (spec §6.3 vocabulary)."""
    kind = t.id
    if kind in _SIMPLE_NAMES:
        return _SIMPLE_NAMES[kind]
    children = _children(t)
    if kind == "decimal":
        params = dict(children)
        return f"decimal({params['precision']},{params['scale']})"
    if kind in ("list", "array"):
        return f"array<{field_type_name(dict(children)['child'])}>"
    if kind == "map":
        params = dict(children)
        return f"map<{field_type_name(params['key'])},{field_type_name(params['value'])}>"
    if kind == "tuple":  # an unnamed STRUCT: its members' types in order, as its values arrive (a JSON array)
        return "struct<" + ",".join(field_type_name(child) for _, child in children) + ">"
    if kind in ("struct", "union"):
        members = [(name, child) for name, child in children if name != "" or kind == "struct"]
        return "struct<" + ",".join(f"{name}:{field_type_name(child)}" for name, child in members) + ">"
    return "string"


def render_expression(t: Any, position: int, name: str) -> Optional[Tuple[str, Optional[str]]]:
    """SQL projecting column ``position`` (1-based) into an Arrow-friendly form.

    Returns ``None`` when the column can be exported as is, else ``(expression, vector type name)``;
    the vector type name is set for nested values rendered as JSON text.
    """
    kind = t.id
    if kind in _NATIVE:
        return None
    alias = quote_identifier(name)
    if kind == "uhugeint":  # DECIMAL128 carries a signed 128-bit value: UHUGEINT above it fails, naming the value
        too_big = quote_literal(f"column {name!r}: UHUGEINT value ") + f" || #{position} || " + quote_literal(
            f" is above {HUGEINT_MAX} (2^127 - 1), the largest a DECIMAL128 vector carries; cast it to VARCHAR "
            "to read it as text")
        return (f"CASE WHEN #{position} > {HUGEINT_MAX}::UHUGEINT THEN error({too_big}) "
                f"ELSE CAST(#{position} AS HUGEINT) END AS {alias}"), None
    if kind == "interval":
        # DuckDB exports an INTERVAL's time part as Arrow nanoseconds in int64, wrapping silently beyond ~292
        # years (to_microseconds(2^63 - 1) came out as -1 us): whole days go to the day part first. The total
        # stays exact (epoch_us; beyond int64 microseconds, the wire's range, DuckDB raises). Months are left
        # as they are, for the encoder to refuse.
        total = f"epoch_us(#{position})"
        return (f"CASE WHEN datepart('year', #{position}) <> 0 OR datepart('month', #{position}) <> 0 "
                f"THEN #{position} ELSE to_days(CAST({total} // {_US_PER_DAY} AS INTEGER)) + "
                f"to_microseconds({total} % {_US_PER_DAY}) END AS {alias}"), None
    if kind in _NESTED:
        return f"CAST(to_json(#{position}) AS VARCHAR) AS {alias}", _NESTED[kind]
    return f"CAST(#{position} AS VARCHAR) AS {alias}", None


def row_width(types: list) -> int:
    """Estimated wire bytes per row for a list of DuckDB types."""
    return sum(_WIDTHS.get(t.id, 24) for t in types) or 1
