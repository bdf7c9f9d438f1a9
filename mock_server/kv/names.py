"""What a key-value table name, item key and attribute name may be.

Table names are lower-case letters, digits, ``_`` and ``-`` (``kv.<table>`` in SQL, quoted when it has a
``-``: ``kv."bobs-burgers"``). Attribute names are
identifiers too, so an expression never needs quoting and a SQL column never needs escaping beyond quotes;
names starting with ``__`` are the system's (``__name`` is the item's key) and the expression keywords are
reserved. Keys are any text without control characters, bounded by ``max_kv_key_bytes``.
"""
from __future__ import annotations

import re

from mock_server import errors
from mock_server.limits import Limits, exceeded

KEY_COLUMN = "__name"  # the key, in expressions and as the SQL column
RESERVED = frozenset(("and", "or", "not", "in", "true", "false", "set", "remove"))
MAX_TABLE_CHARS = 63
MAX_ATTRIBUTE_CHARS = 255
_TABLE = re.compile(r"[a-z_][a-z0-9_-]*\Z")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_table(name: str) -> str:
    if not name or len(name) > MAX_TABLE_CHARS or not _TABLE.match(name):
        raise errors.invalid(f"bad key-value table name {name[:80]!r}: use 1-{MAX_TABLE_CHARS} lower-case "
                             "letters, digits, _ and -, starting with a letter or _")
    return name


def check_key(key: str, limits: Limits) -> str:
    if not key:
        raise errors.invalid("an item key must not be empty")
    if _CONTROL.search(key):
        raise errors.invalid(f"item key {key[:80]!r} contains a control character")
    size = len(key.encode("utf-8"))
    if size > limits.max_kv_key_bytes:
        raise exceeded(limits, "max_kv_key_bytes", f"item key of {size} bytes")
    return key


def check_attribute(name: str) -> str:
    """A name an item may store (``__name`` and other ``__`` names are the system's)."""
    if not name or len(name) > MAX_ATTRIBUTE_CHARS or not _ATTRIBUTE.match(name):
        raise errors.invalid(f"bad attribute name {name[:80]!r}: use 1-{MAX_ATTRIBUTE_CHARS} letters, digits "
                             "and _, not starting with a digit")
    if name.startswith("__"):
        raise errors.invalid(f"attribute name {name!r}: names starting with __ are reserved ({KEY_COLUMN} is "
                             "the item's key)")
    if name.lower() in RESERVED:
        raise errors.invalid(f"attribute name {name!r} is a reserved word of expressions "
                             f"({', '.join(sorted(RESERVED))})")
    return name


def check_projection(name: str) -> str:
    """A name a read may ask for: an attribute's, or the key's."""
    return name if name == KEY_COLUMN else check_attribute(name)
