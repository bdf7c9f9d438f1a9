"""Engine errors and their gRPC status codes (docs/engine-contract.md, "Errors")."""
from __future__ import annotations

import functools
import logging
import os
import re
import threading
from typing import Any, Callable, Dict, Iterator

import duckdb
import grpc

log = logging.getLogger(__name__)

ACCESS_DENIED = "Access denied: session expired or unknown"

_RESERVED = re.compile(r"(?i)access denied|status:\s*(?=456|503)")
# DuckDB's "LINE n: <sql>" context (and its caret line) when the line holds a positional reference "#1" outside
# quotes: the engine's own projection of a result (mock_server.query.typemap), SQL the user never wrote (a user's
# '#1' in a string keeps its context).
_ENGINE_SQL_CONTEXT = re.compile(r"\s*LINE \d+: (?:[^'\n]*'[^'\n]*')*[^'\n]*#\d[^\n]*(\n *\^+ *)?")
# DuckDB's words around a failure of a store table the engine registered (its message names what failed): the
# registered name means nothing to the user, and the Python traceback it appends holds the server's paths.
_REGISTERED_STREAM = re.compile(r"reading the stream registered as '__e6_\w+' failed: ")
_PYTHON_TRACEBACK = re.compile(r"\. Detail: Python exception: Traceback \(most recent call last\):.*", re.DOTALL)


_hidden_paths: Dict[str, str] = {}
_hidden_lock = threading.Lock()


def hide_path(path: str, label: str) -> None:
    """Replace the server directory ``path`` (and its resolved form) by ``label`` in every error text the
    engine sends (``label`` "" for the object root: ``<root>/bucket/key`` reads ``bucket/key``)."""
    with _hidden_lock:
        for form in {os.path.abspath(path), os.path.realpath(path)}:
            _hidden_paths[form.rstrip(os.sep) + os.sep] = label + "/" if label else ""
            _hidden_paths[form.rstrip(os.sep)] = label or "."


def _hide_paths(message: str) -> str:
    with _hidden_lock:
        paths = sorted(_hidden_paths.items(), key=lambda item: -len(item[0]))
    for path, label in paths:
        if path in message:
            message = message.replace(path, label)
    return message


def sanitize(message: str) -> str:
    """Keep texts that drive client retry logic (spec §5.2) out of ordinary error details, and the server's
    own directories (:func:`hide_path`) out of every error text."""
    message = _hide_paths(message)
    return _RESERVED.sub(lambda m: "access refused" if m.group(0)[0] in "aA" else "status ", message)


class EngineError(Exception):
    """An error with the gRPC status the server answers with."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        message = _hide_paths(message)
        super().__init__(message)
        self.code = code
        self.message = message


class CodedError(Exception):
    """Base of the errors a module raises without building an :class:`EngineError`; ``code`` is the status
    :func:`from_exception` answers with (so this module need not know the modules that raise them)."""

    code = grpc.StatusCode.INTERNAL


def rpc_method(method: Callable) -> Callable:
    """Decorate a servicer method: EngineErrors (and unexpected failures) become gRPC status codes."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except EngineError as exc:
            failure = exc
        except Exception as exc:  # noqa: BLE001 - never leak a stack trace to the client
            log.exception("%s failed", method.__name__)
            failure = EngineError(grpc.StatusCode.INTERNAL, sanitize(str(exc)))
        context.abort(failure.code, failure.message)

    return wrapper


def rpc_stream(method: Callable) -> Callable:
    """:func:`rpc_method` for server-streaming methods: errors raised while iterating abort the stream."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from method(self, request, context)
        except EngineError as exc:
            context.abort(exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001
            log.exception("%s failed", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, sanitize(str(exc)))

    return wrapper


def session_denied() -> EngineError:
    """The one error that makes the official client re-authenticate and replay ``execute``."""
    return EngineError(grpc.StatusCode.INTERNAL, ACCESS_DENIED)


def bad_credentials() -> EngineError:
    return EngineError(grpc.StatusCode.UNAUTHENTICATED, "invalid user name or password")


def query_not_found(query_id: str) -> EngineError:
    return EngineError(grpc.StatusCode.NOT_FOUND, f"query {query_id} not found")


def query_cancelled(query_id: str) -> EngineError:
    return EngineError(grpc.StatusCode.CANCELLED, f"query {query_id} was cancelled")


def not_executed(query_id: str) -> EngineError:
    return EngineError(grpc.StatusCode.FAILED_PRECONDITION, f"query {query_id} has not been executed")


def shutting_down() -> EngineError:
    return EngineError(grpc.StatusCode.UNAVAILABLE, "the engine is shutting down")


def invalid(message: str) -> EngineError:
    return EngineError(grpc.StatusCode.INVALID_ARGUMENT, sanitize(message))


def from_exception(exc: BaseException) -> EngineError:
    """Map a DuckDB exception (or a :class:`CodedError`) to an :class:`EngineError`."""
    if isinstance(exc, EngineError):
        return exc
    text = _PYTHON_TRACEBACK.sub("", _REGISTERED_STREAM.sub("", _ENGINE_SQL_CONTEXT.sub("", str(exc))))
    message = sanitize(text or type(exc).__name__)
    if isinstance(exc, CodedError):
        code = exc.code
    elif isinstance(exc, (duckdb.ConversionException, duckdb.OutOfRangeException,
                        duckdb.InvalidInputException, duckdb.DataError)):
        code = grpc.StatusCode.OUT_OF_RANGE
    elif isinstance(exc, (duckdb.ConstraintException, duckdb.IntegrityError)):
        code = grpc.StatusCode.FAILED_PRECONDITION
    elif isinstance(exc, duckdb.PermissionException):  # external access is off (mock_server.query.engine)
        code = grpc.StatusCode.PERMISSION_DENIED
        message += "; SQL cannot use the server's files: read objects through catalog objects"
    elif isinstance(exc, (duckdb.ProgrammingError, duckdb.TransactionException)):
        # A COMMIT without a transaction, a second BEGIN, a statement after a failed one: the SQL's mistake in
        # the session's state, not the engine's (it was INTERNAL, logged with a traceback).
        code = grpc.StatusCode.INVALID_ARGUMENT
    elif isinstance(exc, duckdb.OutOfMemoryException) and "max_temp_directory_size" in message:
        code = grpc.StatusCode.RESOURCE_EXHAUSTED  # DuckDB's advice (a PRAGMA) is refused to SQL: name the flag
        message = message.split("\n")[0] + (" (over the engine's spill limit max_spill_bytes, server flag "
                                             "--max-spill-bytes: DuckDB's files beyond --memory-limit)")
    elif isinstance(exc, duckdb.OutOfMemoryException):
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
        message += " (over the engine's memory limit memory_limit, server flag --memory-limit)"
    elif isinstance(exc, duckdb.InterruptException):
        code = grpc.StatusCode.CANCELLED
    elif isinstance(exc, duckdb.NotSupportedError):
        code = grpc.StatusCode.UNIMPLEMENTED
    else:
        code = grpc.StatusCode.INTERNAL
    return EngineError(code, message)
