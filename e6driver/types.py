"""The one table of e6data types: wire VectorType codes, metadata type names and DB-API type objects."""
from __future__ import annotations

import enum


class VectorType(enum.IntEnum):
    """Physical column type of a Thrift result vector (spec §7.2)."""

    BINARY = 0
    BOOLEAN = 1
    DOUBLE = 2
    FLOAT = 3
    INT96 = 4
    INTEGER = 5
    LONG = 6
    STRING = 7
    DATE = 8
    DATETIME = 9
    TIMESTAMP = 10
    STRUCT = 11
    MAP = 12
    ARRAY = 13
    NULL = 14
    TIMESTAMP_TZ = 15
    DECIMAL128 = 16
    INTERVAL_DAY_SECOND = 17
