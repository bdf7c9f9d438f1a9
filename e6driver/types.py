"""The one table of e6data types: wire VectorType codes, metadata type names and DB-API type objects."""
from __future__ import annotations

import datetime
import enum
from typing import Any, List, Optional, Tuple, Union


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


class DBAPITypeObject(frozenset):
    """A PEP 249 type object: compares equal to every metadata type name (``description[i][1]``) it covers."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other.upper() in self
        return frozenset.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return frozenset.__hash__(self)


# Metadata type names (spec §6.3, docs/engine-contract.md) grouped by PEP 249 type object.
STRING = DBAPITypeObject({"STRING", "CHAR", "VARCHAR", "ARRAY", "MAP", "STRUCT"})
BINARY = DBAPITypeObject({"BINARY"})
NUMBER = DBAPITypeObject({"LONG", "INTEGER", "INT", "SHORT", "BYTE", "DOUBLE", "FLOAT", "BOOLEAN",
                          "DECIMAL128"})
DATETIME = DBAPITypeObject({"DATE", "DATETIME", "TIMESTAMP", "TIMESTAMP_TZ", "INT96", "TIME",
                            "INTERVAL_DAY_SECOND"})
ROWID = DBAPITypeObject(set())

# PEP 249 ``internal_size`` of the fixed-width types: dataframe libraries size integers and floats by it (polars
# reads the e6data name LONG as 32-bit without it).
INTERNAL_SIZES = {"INTEGER": 4, "LONG": 8, "FLOAT": 4, "DOUBLE": 8}


def description(columns: Any) -> Optional[List[Tuple[Any, ...]]]:
    """``cursor.description`` of a result's columns (objects with ``name`` and ``type_name``); None without a
    result set. Shared by the blocking and asyncio cursors."""
    if not columns:
        return None
    return [(c.name, c.type_name, None, INTERNAL_SIZES.get(c.type_name.upper()), None, None, True) for c in columns]


def Date(year: int, month: int, day: int) -> datetime.date:
    return datetime.date(year, month, day)


def Time(hour: int, minute: int, second: int) -> datetime.time:
    return datetime.time(hour, minute, second)


def Timestamp(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, second)


def DateFromTicks(ticks: float) -> datetime.date:
    return datetime.date.fromtimestamp(ticks)


def TimeFromTicks(ticks: float) -> datetime.time:
    return datetime.datetime.fromtimestamp(ticks).time()


def TimestampFromTicks(ticks: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ticks)


def Binary(value: Union[bytes, bytearray, memoryview, str]) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)
