"""Attribute values: their five types, how an item's attributes are stored (JSON), and the SQL column types.

An attribute value is an ``int`` (64-bit), ``float``, ``str``, ``bool`` or ``bytes``. Stored as JSON, ints,
floats, strings and bools keep their JSON form (``1`` and ``1.0`` stay apart); bytes become ``{"b64": ...}``
(the only JSON object an item can hold, so decoding is unambiguous).

A table's SQL column for an attribute has the widest type of every value it was ever given: bool < int <
float among numbers, and ``string`` for any other mix (values then shown as text, bytes in base64).
"""
from __future__ import annotations

import base64
import json
import math
from typing import Any, Dict, List, Optional

import pyarrow as pa

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
TYPES = ("bool", "int", "float", "string", "bytes")
_NUMBERS = ("bool", "int", "float")  # in widening order
ARROW_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "string": pa.string(),
               "bytes": pa.binary()}

Attributes = Dict[str, Any]


def type_of(value: Any) -> Optional[str]:
    """The attribute type of a Python value, None for a value no attribute can hold."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if INT64_MIN <= value <= INT64_MAX else None
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    return None


def widen(current: str, new: str) -> str:
    """The column type holding values of both types."""
    if current == new:
        return current
    if current in _NUMBERS and new in _NUMBERS:
        return max(current, new, key=_NUMBERS.index)
    return "string"


def encode(attributes: Attributes) -> str:
    """The stored JSON of an item's attributes (names sorted, so equal items store equal text)."""
    return json.dumps({k: _to_json(v) for k, v in attributes.items()}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def decode(text: str) -> Attributes:
    return {k: _from_json(v) for k, v in json.loads(text).items()}


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value


def as_text(value: Any) -> str:
    """A value in a ``string`` column whose attribute also held other types."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, str) else repr(value)


def column_value(value: Any, column_type: str) -> Any:
    """``value`` as its column's (possibly wider) type; None stays None (the item lacks the attribute)."""
    if value is None:
        return None
    if column_type == "string":
        return as_text(value)
    if column_type == "float" and not isinstance(value, float):
        return float(value)
    if column_type == "int" and isinstance(value, bool):
        return int(value)
    return value


def arrow_column(values: List[Any], column_type: str) -> pa.Array:
    return pa.array([column_value(v, column_type) for v in values], ARROW_TYPES[column_type])
