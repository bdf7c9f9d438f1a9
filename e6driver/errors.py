"""The PEP 249 exception hierarchy and the one mapping from gRPC statuses to it.

Every error the driver raises is one of these; raw ``grpc.RpcError``s never reach the caller. Errors raised for
an RPC keep its gRPC code name, details and the query id, and survive pickling (for multiprocessing users),
together with any attribute a subclass adds (``RateLimitError.retry_after``).
"""
from __future__ import annotations

from typing import Any, Optional, Tuple


class Warning(Exception):  # noqa: A001 - the name is mandated by PEP 249
    """Important warnings such as data truncation."""


class Error(Exception):
    """Base of every driver error. ``replayable`` marks a per-query failure after which running the query again
    is safe when none of its rows has reached the caller (set by the protocol layer)."""

    replayable = False

    def __init__(self, message: str = "", *, grpc_code: Optional[str] = None, details: Optional[str] = None,
                 query_id: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.grpc_code = grpc_code
        self.details = details
        self.query_id = query_id

    def __reduce__(self) -> Tuple[Any, ...]:
        extra = {k: v for k, v in vars(self).items() if k not in _BASE_FIELDS}
        return (_rebuild, (type(self), self.message, self.grpc_code, self.details, self.query_id), extra or None)

    def __str__(self) -> str:
        return self.message


_BASE_FIELDS = frozenset(("message", "grpc_code", "details", "query_id"))


def _rebuild(cls: type, message: str, grpc_code: Optional[str], details: Optional[str],
             query_id: Optional[str]) -> "Error":
    error: Error = Exception.__new__(cls)
    Error.__init__(error, message, grpc_code=grpc_code, details=details, query_id=query_id)
    return error


class InterfaceError(Error):
    """Misuse of the driver itself (closed cursor, bad arguments)."""


class DatabaseError(Error):
    """Errors reported by, or concerning, the database."""


class DataError(DatabaseError):
    """A value could not be represented or decoded (out of range, malformed bytes, bad encoding)."""


class OperationalError(DatabaseError):
    """The database connection or operation failed for reasons outside the programmer's control."""


class IntegrityError(DatabaseError):
    """A constraint was violated."""


class InternalError(DatabaseError):
    """The engine reported an internal failure."""


class ProgrammingError(DatabaseError):
    """Bad SQL, unknown table, wrong number of parameters, unknown query id."""


class NotSupportedError(DatabaseError):
    """The engine or driver does not support the requested operation."""


class ConnectionLostError(OperationalError):
    """The server could not be reached, or the connection to it dropped mid-call (gRPC UNAVAILABLE, a reset or
    closed socket): worth retrying once the network or the server is back."""


class AuthenticationError(OperationalError):
    """The server rejected the user name or password."""


class QueryCancelledError(OperationalError):
    """The query was cancelled (by this client, another client, or the server)."""


class PoolTimeout(OperationalError):
    """No pooled connection became available within the timeout."""


class PoolClosed(InterfaceError):
    """The pool was closed: no connection will become available (unlike :class:`PoolTimeout`, waiting and
    retrying cannot help)."""


class PermissionDeniedError(OperationalError):
    """The user is authenticated but may not do this (e.g. no grant on an object-store bucket)."""


class ObjectNotFoundError(ProgrammingError):
    """The object-store bucket or object does not exist."""


class DatasetNotFoundError(ProgrammingError):
    """The dataset, or the requested version of it, does not exist."""


class RateLimitError(OperationalError):
    """The server refused the call for now; ``retry_after`` is how many seconds to wait (None if not told)."""

    def __init__(self, message: str = "", *, retry_after: Optional[float] = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class UploadError(OperationalError):
    """An upload did not reach the server intact (connection lost, chunk or checksum mismatch).
    ``upload_id`` continues it: ``datasets.update(name, data, upload_id=...)`` (None if not resumable)."""

    def __init__(self, message: str = "", *, upload_id: Optional[str] = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.upload_id = upload_id


class DownloadError(OperationalError):
    """A download did not arrive intact (connection lost, chunk out of order, checksum mismatch, truncated)."""


class ConditionFailedError(IntegrityError):
    """A key-value write's condition was false on the item as stored: nothing was changed (``conn.kv``)."""


# gRPC status code name -> exception class (docs/engine-contract.md, "Errors").
_BY_GRPC_CODE = {
    "INVALID_ARGUMENT": ProgrammingError,
    "NOT_FOUND": ProgrammingError,
    "ALREADY_EXISTS": ProgrammingError,
    "FAILED_PRECONDITION": IntegrityError,
    "OUT_OF_RANGE": DataError,
    "CANCELLED": QueryCancelledError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "UNIMPLEMENTED": NotSupportedError,
    "INTERNAL": InternalError,
    "UNAVAILABLE": ConnectionLostError,
    "DEADLINE_EXCEEDED": OperationalError,
    "RESOURCE_EXHAUSTED": OperationalError,
    "ABORTED": OperationalError,
    "UNKNOWN": OperationalError,
    "DATA_LOSS": DataError,
}


# Details of a call that failed because the transport did (gRPC reports some of these as UNKNOWN or INTERNAL).
_CONNECTION_LOST = ("socket closed", "connection reset", "stream removed", "rst_stream", "broken pipe",
                    "connection refused", "failed to connect", "goaway", "connection aborted")


def connection_lost(code: str, details: str) -> bool:
    """Whether a failed call's status says the connection, not the request, failed."""
    if code == "UNAVAILABLE":
        return True
    lowered = details.lower()
    return code in ("UNKNOWN", "INTERNAL") and any(text in lowered for text in _CONNECTION_LOST)


def grpc_code_name(rpc_error: BaseException) -> str:
    code = getattr(rpc_error, "code", None)
    try:
        return code().name if callable(code) else "UNKNOWN"
    except Exception:  # a channel-level failure may not carry a status
        return "UNKNOWN"


def grpc_details(rpc_error: BaseException) -> str:
    details = getattr(rpc_error, "details", None)
    try:
        return (details() if callable(details) else "") or ""
    except Exception:
        return ""


def grpc_trailer(rpc_error: BaseException, key: str) -> Optional[str]:
    """The value of trailing-metadata entry ``key`` of a failed call, if any."""
    trailers = getattr(rpc_error, "trailing_metadata", None)
    try:
        for name, value in (trailers() if callable(trailers) else None) or ():
            if name == key:
                return value.decode() if isinstance(value, bytes) else value
    except Exception:  # no status, or a channel-level failure
        pass
    return None


def retry_after(rpc_error: BaseException) -> Optional[float]:
    """The server's ``retry-after`` hint (seconds) of a failed call, if it gave a valid one."""
    value = grpc_trailer(rpc_error, "retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


# gRPC core's own refusal of a message over the receiver's max_receive_message_length. The driver receives
# without a limit, so this text always means the server refused the request (the engine: --max-message-bytes).
_GRPC_TOO_LARGE = "Received message larger than max"


def from_rpc_error(rpc_error: BaseException, rpc: str, query_id: Optional[str] = None,
                   cls: Optional[type] = None) -> Error:
    """The driver error for a failed RPC: class by status code (or ``cls``), message naming the call and the
    query. RESOURCE_EXHAUSTED with a ``retry-after`` trailer is a :class:`RateLimitError`."""
    code = grpc_code_name(rpc_error)
    details = grpc_details(rpc_error)
    where = f"{rpc} (query {query_id})" if query_id else rpc
    message = f"{details or code} [{code} in {where}]"
    if code == "RESOURCE_EXHAUSTED" and _GRPC_TOO_LARGE in details:  # gRPC core's text ("SERVER: Received …")
        message = (f"the request is larger than the engine accepts: over its message size limit (server flag "
                   f"--max-message-bytes; gRPC: {details}) [{code} in {where}]")
    wait = retry_after(rpc_error) if code == "RESOURCE_EXHAUSTED" else None
    if cls is None and wait is not None:
        return RateLimitError(message, retry_after=wait, grpc_code=code, details=details, query_id=query_id)
    if cls is None and connection_lost(code, details):
        cls = ConnectionLostError
    cls = cls or _BY_GRPC_CODE.get(code, OperationalError)
    return cls(message, grpc_code=code, details=details, query_id=query_id)


def from_status(code: str, details: str, rpc: str, cls: Optional[type] = None) -> Error:
    """The driver error for a status the engine reported outside a gRPC call (same-host transfers): class by
    status code name (or ``cls``), like :func:`from_rpc_error`."""
    cls = cls or _BY_GRPC_CODE.get(code, OperationalError)
    return cls(f"{details or code} [{code} in {rpc}]", grpc_code=code, details=details)


__all__ = [
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError", "IntegrityError",
    "InternalError", "ProgrammingError", "NotSupportedError", "AuthenticationError", "ConnectionLostError",
    "QueryCancelledError",
    "PoolTimeout", "PermissionDeniedError", "ObjectNotFoundError", "DatasetNotFoundError", "RateLimitError",
    "UploadError", "DownloadError", "ConditionFailedError", "from_rpc_error", "from_status",
]
