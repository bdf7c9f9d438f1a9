"""Apache Superset engine spec, registered under the ``superset.db_engine_specs`` entry point.

Superset is optional: without it the spec still loads (its base is ``object``) so its SQL snippets can be
tested; the core driver never imports this module.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Dict, Optional

try:  # pragma: no cover - exercised only where Superset is installed
    from superset.db_engine_specs.base import BaseEngineSpec
except ImportError:  # Superset not installed
    BaseEngineSpec = object  # type: ignore[assignment,misc]


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

    _time_grain_expressions: Dict[Optional[str], str] = {
        None: "{col}",
        "PT1S": "DATE_TRUNC('second', {col})",
        "PT1M": "DATE_TRUNC('minute', {col})",
        "PT1H": "DATE_TRUNC('hour', {col})",
        "P1D": "DATE_TRUNC('day', {col})",
        "P1W": "DATE_TRUNC('week', {col})",
        "P1M": "DATE_TRUNC('month', {col})",
        "P3M": "DATE_TRUNC('quarter', {col})",
        "P1Y": "DATE_TRUNC('year', {col})",
    }

    @classmethod
    def epoch_to_dttm(cls) -> str:
        return "TO_TIMESTAMP({col})"

    @classmethod
    def epoch_ms_to_dttm(cls) -> str:
        return "TO_TIMESTAMP({col} / 1000)"

    @classmethod
    def convert_dttm(cls, target_type: str, dttm: datetime, db_extra: Optional[Dict[str, Any]] = None) -> Optional[str]:
        kind = target_type.strip().upper()
        if kind == "DATE":
            day = dttm.date() if isinstance(dttm, datetime) else dttm
            return f"DATE '{day.isoformat()}'" if isinstance(day, date) else None
        if kind in ("TIMESTAMP", "DATETIME", "TIMESTAMP_TZ"):
            return f"TIMESTAMP '{dttm.isoformat(sep=' ', timespec='microseconds')}'"
        return None

    @classmethod
    def get_cancel_query_id(cls, cursor: Any, query: Any) -> Optional[str]:
        return getattr(cursor, "query_id", None)

    @classmethod
    def cancel_query(cls, cursor: Any, query: Any, cancel_query_id: str) -> bool:
        try:
            cursor.cancel(cancel_query_id)
        except Exception:  # noqa: BLE001 - Superset only needs to know whether it worked
            return False
        return True

    @classmethod
    def has_implicit_cancel(cls) -> bool:
        return False
