"""The PEP 249 exception hierarchy and the one mapping from gRPC statuses to it.

Every error the driver raises is one of these; raw ``grpc.RpcError``s never reach the caller. Errors raised for
an RPC keep its gRPC code name, details and the query id, and survive pickling (for multiprocessing users).
"""
from __future__ import annotations

from typing import Any, Optional, Tuple


class Warning(Exception):  # noqa: A001 - the name is mandated by PEP 249
    """Important warnings such as data truncation."""


class Error(Exception):
    """Base of every driver error."""

    def __init__(self, message: str = "", *, grpc_code: Optional[str] = None, details: Optional[str] = None,
                 query_id: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.grpc_code = grpc_code
        self.details = details
        self.query_id = query_id

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.grpc_code, self.details, self.query_id))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type, message: str, grpc_code: Optional[str], details: Optional[str],
             query_id: Optional[str]) -> "Error":
    error = cls.__new__(cls)
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


class AuthenticationError(OperationalError):
    """The server rejected the user name or password."""


class QueryCancelledError(OperationalError):
    """The query was cancelled (by this client, another client, or the server)."""


class PoolTimeout(OperationalError):
    """No pooled connection became available within the timeout."""


class PermissionDeniedError(OperationalError):
    """The user is authenticated but may not do this (e.g. no grant on an object-store bucket)."""


class ObjectNotFoundError(ProgrammingError):
    """The object-store bucket or object does not exist."""


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
    "UNAVAILABLE": OperationalError,
    "DEADLINE_EXCEEDED": OperationalError,
    "RESOURCE_EXHAUSTED": OperationalError,
    "ABORTED": OperationalError,
    "UNKNOWN": OperationalError,
    "DATA_LOSS": DataError,
}


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


def from_rpc_error(rpc_error: BaseException, rpc: str, query_id: Optional[str] = None) -> Error:
    """The driver error for a failed RPC: class by status code, message naming the call and the query."""
    code = grpc_code_name(rpc_error)
    details = grpc_details(rpc_error)
    cls = _BY_GRPC_CODE.get(code, OperationalError)
    where = f"{rpc} (query {query_id})" if query_id else rpc
    message = f"{details or code} [{code} in {where}]"
    return cls(message, grpc_code=code, details=details, query_id=query_id)


__all__ = [
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError", "IntegrityError",
    "InternalError", "ProgrammingError", "NotSupportedError", "AuthenticationError", "QueryCancelledError",
    "PoolTimeout", "PermissionDeniedError", "ObjectNotFoundError", "from_rpc_error",
]
