"""e6driver: a PEP 249 driver for e6data-protocol SQL engines (and the local engine in ``mock_server``)."""
from __future__ import annotations

from typing import Any

from ._impl import IMPL as __impl__, decode_chunk, decode_chunk_columns
from .connection import Connection
from .cursor import Cursor
from .errors import (AuthenticationError, ConditionFailedError, ConnectionLostError, DatabaseError, DataError,
                     DatasetNotFoundError, DownloadError, Error, IntegrityError, InterfaceError, InternalError,
                     NotSupportedError, ObjectNotFoundError, OperationalError, PermissionDeniedError, PoolClosed,
                     PoolTimeout, ProgrammingError, QueryCancelledError, RateLimitError, UploadError, Warning)
from .pool import ConnectionPool
from .stores.streams import StreamNotFoundError
from .types import (BINARY, DATETIME, NUMBER, ROWID, STRING, Binary, Date, DateFromTicks, Time, TimeFromTicks,
                    Timestamp, TimestampFromTicks, VectorType)

__version__ = "0.1.0"
apilevel = "2.0"
threadsafety = 2  # connections may be shared between threads; cursors may not
paramstyle = "pyformat"


def connect(*args: Any, **kwargs: Any) -> Connection:
    """Open a connection; arguments are those of :class:`Connection` (the official client's names)."""
    return Connection(*args, **kwargs)


__all__ = [
    "__impl__", "__version__", "apilevel", "threadsafety", "paramstyle", "connect", "Connection", "Cursor",
    "ConnectionPool", "decode_chunk", "decode_chunk_columns", "Warning", "Error", "InterfaceError",
    "DatabaseError", "DataError", "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
    "NotSupportedError", "AuthenticationError", "ConnectionLostError", "QueryCancelledError", "PoolTimeout",
    "PoolClosed", "PermissionDeniedError",
    "ObjectNotFoundError", "DatasetNotFoundError", "StreamNotFoundError", "ConditionFailedError", "RateLimitError",
    "UploadError", "DownloadError", "STRING", "BINARY",
    "NUMBER", "DATETIME", "ROWID", "Date", "Time", "Timestamp", "DateFromTicks", "TimeFromTicks",
    "TimestampFromTicks", "Binary", "VectorType",
]
