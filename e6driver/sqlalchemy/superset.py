"""Apache Superset engine spec, registered under the ``superset.db_engine_specs`` entry point.

Superset is optional: without it the spec still loads (its base is ``object``) so its SQL snippets can be
tested; the core driver never imports this module. With Superset installed:

* SQL Lab parses and re-renders statements with sqlglot, choosing the dialect by engine name; ours map to
  DuckDB's (the local engine's SQL: ``[1, 2]`` lists, ``{'a': 1}`` structs, ``MAP {…}``), registered at import
  unless the operator chose another in ``SQLGLOT_DIALECTS_EXTENSIONS``;
* Stop cancels on the server: the query runs on a worker thread while SQL Lab records the query id as soon as
  the server assigns it (``Cursor.query_id`` is set before ``execute`` returns), and ``cancel_query`` cancels
  it from another connection;
* driver errors become Superset's typed errors (credentials, unknown table/column, syntax, unreachable engine).
"""
from __future__ import annotations

import json
import logging
import re
import threading
from datetime import date, datetime, time
from typing import Any, Dict, Optional, Pattern, Tuple

from e6driver.errors import QueryCancelledError

log = logging.getLogger(__name__)

try:  # pragma: no cover - exercised only where Superset is installed
    from superset.db_engine_specs.base import BaseEngineSpec
    from superset.errors import SupersetErrorType
except ImportError:  # Superset not installed
    BaseEngineSpec = object  # type: ignore[assignment,misc]
    SupersetErrorType = None  # type: ignore[assignment,misc]

SQLGLOT_DIALECT = "duckdb"
TEST_CONNECT_TIMEOUT = 2.0  # seconds Superset's "Test connection" keeps retrying an unreachable engine
STOPPED_STATUS_CHECKS = 50  # x 0.1 s: how long a cancelled statement waits for Superset to mark it STOPPED
ENGINE_NAMES = ("e6driver", "e6data")  # the spec's engine and the URL backends Superset looks dialects up by


def register_sqlglot_dialect() -> None:
    """Map our engine names to sqlglot's DuckDB dialect in Superset (an operator's own choice is kept)."""
    try:
        from sqlglot import Dialects
        from superset.sql.parse import SQLGLOT_DIALECTS
    except ImportError:
        return
    for name in ENGINE_NAMES:
        SQLGLOT_DIALECTS.setdefault(name, Dialects(SQLGLOT_DIALECT))


def _error(kind: str, message: str) -> Tuple[str, Any, Dict[str, Any]]:
    return message, getattr(SupersetErrorType, kind, kind), {}


# Patterns of the driver's and the engine's messages → (message shown, Superset error type, extra).
CUSTOM_ERRORS: Dict[Pattern[str], Tuple[str, Any, Dict[str, Any]]] = {  # first match wins: order matters
    re.compile(r"authentication failed for user '(?P<username>[^']*)'"): _error(
        "CONNECTION_ACCESS_DENIED_ERROR", 'Either the username "%(username)s" or the password is incorrect.'),
    re.compile(r'because schema "(?P<schema>[^"]+)" does not exist'): _error(
        "SCHEMA_DOES_NOT_EXIST_ERROR", 'The schema "%(schema)s" does not exist.'),
    re.compile(r'No catalog \+ schema named "(?P<catalog>[^"]+)" found'): _error(
        "CONNECTION_UNKNOWN_DATABASE_ERROR", 'The catalog or schema "%(catalog)s" does not exist.'),
    re.compile(r'Table with name "?(?P<table>[^"\s!]+)"? does not exist'): _error(
        "TABLE_DOES_NOT_EXIST_ERROR", 'The table "%(table)s" does not exist.'),
    re.compile(r'Referenced column "(?P<column_name>[^"]+)" not found'): _error(
        "COLUMN_DOES_NOT_EXIST_ERROR", 'We can\'t seem to resolve the column "%(column_name)s".'),
    re.compile(r'syntax error at or near "(?P<near>[^"]*)"'): _error(
        "SYNTAX_ERROR", 'Please check your query for syntax errors near "%(near)s".'),
    re.compile(r"Connection refused"): _error(
        "CONNECTION_PORT_CLOSED_ERROR", "The engine refused the connection: check the host and port."),
    re.compile(r"hostname lookup error|Domain name not found|DNS resolution failed"): _error(
        "CONNECTION_INVALID_HOSTNAME_ERROR", "The engine's hostname cannot be resolved."),
}

# Time grains (ISO 8601 durations, Superset's names) as the local engine's SQL.
TIME_GRAINS: Dict[Optional[str], str] = {
    None: "{col}",
    "PT1S": "DATE_TRUNC('second', {col})",
    "PT5S": "TIME_BUCKET(INTERVAL '5 seconds', {col})",
    "PT30S": "TIME_BUCKET(INTERVAL '30 seconds', {col})",
    "PT1M": "DATE_TRUNC('minute', {col})",
    "PT5M": "TIME_BUCKET(INTERVAL '5 minutes', {col})",
    "PT10M": "TIME_BUCKET(INTERVAL '10 minutes', {col})",
    "PT15M": "TIME_BUCKET(INTERVAL '15 minutes', {col})",
    "PT30M": "TIME_BUCKET(INTERVAL '30 minutes', {col})",
    "PT0.5H": "TIME_BUCKET(INTERVAL '30 minutes', {col})",
    "PT1H": "DATE_TRUNC('hour', {col})",
    "PT6H": "TIME_BUCKET(INTERVAL '6 hours', {col})",
    "P1D": "DATE_TRUNC('day', {col})",
    "P1W": "DATE_TRUNC('week', {col})",
    "1969-12-28T00:00:00Z/P1W": "DATE_TRUNC('week', {col} + INTERVAL 1 DAY) - INTERVAL 1 DAY",
    "1969-12-29T00:00:00Z/P1W": "DATE_TRUNC('week', {col})",
    "P1W/1970-01-03T00:00:00Z": "DATE_TRUNC('week', {col} + INTERVAL 1 DAY) + INTERVAL 5 DAY",
    "P1W/1970-01-04T00:00:00Z": "DATE_TRUNC('week', {col}) + INTERVAL 6 DAY",
    "P1M": "DATE_TRUNC('month', {col})",
    "P3M": "DATE_TRUNC('quarter', {col})",
    "P0.25Y": "DATE_TRUNC('quarter', {col})",
    "P1Y": "DATE_TRUNC('year', {col})",
}

_TZ_TYPES = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMP_TZ")
_NAIVE_TYPES = ("TIMESTAMP", "DATETIME", "TIMESTAMP WITHOUT TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS",
                "TIMESTAMP_S")


class E6EngineSpec(BaseEngineSpec):  # type: ignore[misc,valid-type]
    engine = "e6driver"
    engine_aliases = {"e6data"}
    engine_name = "e6data (e6driver)"
    default_driver = "e6driver"
    sqlalchemy_uri_placeholder = "e6driver://user:token@host:port/database?catalog=catalog"
    allows_joins = True
    allows_subqueries = True
    allows_alias_in_select = True
    allows_alias_in_orderby = True
    has_query_id_before_execute = False

    _time_grain_expressions = TIME_GRAINS
    custom_errors = CUSTOM_ERRORS

    @classmethod
    def epoch_to_dttm(cls) -> str:
        return "TO_TIMESTAMP({col})"

    @classmethod
    def epoch_ms_to_dttm(cls) -> str:
        return "TO_TIMESTAMP({col} / 1000)"

    @classmethod
    def convert_dttm(cls, target_type: str, dttm: datetime, db_extra: Optional[Dict[str, Any]] = None) -> Optional[str]:
        """A literal of the column's temporal type for ``dttm`` (naive datetimes are UTC, as Superset's are)."""
        kind = re.sub(r"\(\d+\)", "", " ".join(target_type.strip().upper().split()))
        if kind == "DATE":
            day = dttm.date() if isinstance(dttm, datetime) else dttm
            return f"DATE '{day.isoformat()}'" if isinstance(day, date) else None
        if not isinstance(dttm, datetime):
            return None
        if kind in _TZ_TYPES:
            offset = dttm.strftime("%z") or "+0000"
            text = dttm.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            return f"TIMESTAMPTZ '{text}{offset[:3]}:{offset[3:]}'"
        if kind in _NAIVE_TYPES:
            return f"TIMESTAMP '{dttm.replace(tzinfo=None).isoformat(sep=' ', timespec='microseconds')}'"
        if kind in ("TIME", "TIME WITHOUT TIME ZONE"):
            moment: time = dttm.time()
            return f"TIME '{moment.isoformat(timespec='microseconds')}'"
        return None

    @classmethod
    def mutate_db_for_connection_test(cls, database: Any) -> None:  # pragma: no cover - Superset
        """Test connection fails fast on a refused port: at most ``TEST_CONNECT_TIMEOUT`` seconds of retrying
        (``connect()`` authenticates, so a wrong password or an unreachable engine fails right there)."""
        if "connect_timeout" in database.url_object.query:
            return
        extra = json.loads(database.extra or "{}")
        connect_args = extra.setdefault("engine_params", {}).setdefault("connect_args", {})
        connect_args.setdefault("connect_timeout", TEST_CONNECT_TIMEOUT)
        database.extra = json.dumps(extra)

    # ---- Stop: the query id is recorded while the query runs, and cancelled from another connection
    @classmethod
    def get_cancel_query_id(cls, cursor: Any, query: Any) -> Optional[str]:
        return getattr(cursor, "query_id", None)

    @classmethod
    def cancel_query(cls, cursor: Any, query: Any, cancel_query_id: str) -> bool:
        try:
            cursor.cancel(cancel_query_id)
        except Exception as exc:  # noqa: BLE001 - Superset only needs to know whether it worked
            log.info("cancelling query %s failed: %s", cancel_query_id, exc)
            return False
        return True

    @classmethod
    def has_implicit_cancel(cls) -> bool:
        return False

    @classmethod
    def execute_with_cursor(cls, cursor: Any, sql: str, query: Any) -> None:  # pragma: no cover - Superset
        """Run the statement on a worker thread while this thread records the query id for Stop as soon as the
        engine assigns it; then hand the cursor to Superset as usual. The worker only calls the driver (no
        Flask context, no metadata session), so Superset's session stays on this thread."""
        from superset.constants import QUERY_CANCEL_KEY
        from superset.extensions import db

        if cls.arraysize:
            cursor.arraysize = cls.arraysize
        failure = []
        finished = threading.Event()

        def run() -> None:
            try:
                cursor.execute(sql)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
                failure.append(exc)
            finally:
                finished.set()

        threading.Thread(target=run, name=f"superset-e6driver-{query.id}", daemon=True).start()
        recorded = None
        while True:
            done = finished.wait(0.1)
            query_id = cursor.query_id
            if query_id and query_id != recorded:
                query.set_extra_json_key(QUERY_CANCEL_KEY, query_id)
                db.session.commit()
                recorded = query_id
            if done:
                break
        if failure:
            if isinstance(failure[0], QueryCancelledError):
                cls._await_stopped_status(query)
            raise cls.get_dbapi_mapped_exception(failure[0]) from failure[0]
        cls.handle_cursor(cursor, query)

    @classmethod
    def _await_stopped_status(cls, query: Any) -> None:  # pragma: no cover - Superset
        """Stop cancels on the engine before it marks the query STOPPED; the engine answers at once, so give
        Superset's stop request a moment to commit, or SQL Lab reports a database error instead of "stopped"."""
        from superset.common.db_query_status import QueryStatus
        from superset.extensions import db

        pause = threading.Event()
        for _ in range(STOPPED_STATUS_CHECKS):
            db.session.refresh(query)
            if query.status == QueryStatus.STOPPED:
                return
            pause.wait(0.1)


register_sqlglot_dialect()
