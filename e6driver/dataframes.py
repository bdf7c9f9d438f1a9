"""polars reads Arrow (not rows) from the DB-API drivers it lists in its registry of Arrow drivers. e6driver adds
itself there once polars is loaded, so ``pl.read_database(query, e6driver_connection)`` takes the cursor's
``fetch_arrow_table`` / ``fetch_arrow_batches`` (exact types from the Arrow path: Int64, Decimal, aware Datetime)
instead of building Python rows and inferring types from ``cursor.description``.

The registry is polars' own module (``polars.io.database._arrow_registry``): when a polars release moves or
reshapes it, nothing is registered and polars keeps reading rows, which also works.
"""
from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

POLARS_REGISTRY = "polars.io.database._arrow_registry"
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
    else:
        log.debug("polars has no Arrow driver registry here; it reads e6driver results as rows")
    _registered = True
