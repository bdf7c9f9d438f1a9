"""polars reads Arrow (not rows) from the DB-API drivers it lists in its registry of Arrow drivers. e6driver adds
itself there once polars is loaded, so ``pl.read_database(query, e6driver_connection)`` takes the cursor's
``fetch_arrow_table`` / ``fetch_arrow_batches`` (exact types from the Arrow path: Int64, Decimal, aware Datetime)
instead of building Python rows and inferring types from ``cursor.description``.

Given a SQLAlchemy engine, connection or session, polars executes through SQLAlchemy and then reads rows, except
for drivers it special-cases by name (duckdb_engine: it reads the Arrow methods of the DB-API cursor behind the
SQLAlchemy result). e6driver gives its own results the same treatment: after polars' executor has run a statement
through SQLAlchemy, a result whose DB-API cursor is an e6driver cursor is read through that cursor's Arrow methods,
so the frame is the one a DB-API connection gives. Results of other dialects are left to polars.

Both hooks are polars' own internals (``polars.io.database._arrow_registry`` and ``._executor``): when a polars
release moves or reshapes them, nothing is registered and polars reads rows as it does for any driver.
"""
from __future__ import annotations

import functools
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)

POLARS_REGISTRY = "polars.io.database._arrow_registry"
POLARS_EXECUTOR = "polars.io.database._executor"
DRIVER = "e6driver"  # polars names a DB-API driver by its connection class's top-level module
ARROW_METHODS = {"fetch_all": "fetch_arrow_table", "fetch_batches": "fetch_arrow_batches",
                 "exact_batch_size": True, "repeat_batch_calls": False, "minimum_version": None}
_registered = False


def register_with_polars() -> None:
    """Add e6driver to polars' Arrow drivers if polars is loaded (cheap when it is not, or already done)."""
    global _registered
    if _registered:
        return
    module = sys.modules.get(POLARS_REGISTRY)
    if module is None:
        return
    registry = getattr(module, "ARROW_DRIVER_REGISTRY", None)
    if isinstance(registry, dict):
        registry.setdefault(DRIVER, [dict(ARROW_METHODS)])
        _read_sqlalchemy_results_as_arrow(sys.modules.get(POLARS_EXECUTOR))
    else:
        log.debug("polars has no Arrow driver registry here; it reads e6driver results as rows")
    _registered = True


def _read_sqlalchemy_results_as_arrow(executor_module: Any) -> None:
    executor = getattr(executor_module, "ConnectionExecutor", None)
    execute = getattr(executor, "execute", None)
    if execute is None or getattr(execute, "_e6driver_arrow", False):
        if execute is None:
            log.debug("polars has no ConnectionExecutor.execute here; SQLAlchemy results are read as rows")
        return

    @functools.wraps(execute)
    def execute_then_read_arrow(self, *args, **kwargs):
        done = execute(self, *args, **kwargs)
        cursor = _e6driver_cursor(self)
        if cursor is not None:
            self.result, self.driver_name = cursor, DRIVER
        return done

    execute_then_read_arrow._e6driver_arrow = True  # type: ignore[attr-defined]
    executor.execute = execute_then_read_arrow


def _e6driver_cursor(executor: Any) -> Any:
    """The e6driver cursor behind a SQLAlchemy result polars' executor holds, if it is one with rows."""
    if getattr(executor, "driver_name", None) != "sqlalchemy":
        return None
    from .cursor import Cursor

    cursor = getattr(getattr(executor, "result", None), "cursor", None)
    return cursor if isinstance(cursor, Cursor) and cursor.description is not None else None
