"""The Superset engine spec loads from its entry point without Superset, and its SQL is well-formed."""
import sys
from datetime import date, datetime
from importlib import metadata

import pytest


@pytest.fixture(scope="module")
def spec():
    (entry,) = [ep for ep in metadata.entry_points(group="superset.db_engine_specs") if ep.name == "e6driver"]
    return entry.load()


def test_loads_without_superset(spec):
    assert "superset" not in sys.modules
    assert spec.engine == "e6driver"


def test_time_grains_cover_superset_iso_durations(spec):
    grains = spec._time_grain_expressions
    assert {None, "PT1S", "PT1M", "PT1H", "P1D", "P1W", "P1M", "P3M", "P1Y"} <= set(grains)
    assert grains["P1M"].format(col="ts") == "DATE_TRUNC('month', ts)"


def test_convert_dttm(spec):
    moment = datetime(2024, 2, 29, 13, 5, 7, 123456)
    assert spec.convert_dttm("DATE", moment) == "DATE '2024-02-29'"
    assert spec.convert_dttm("date", date(2024, 1, 2)) == "DATE '2024-01-02'"
    assert spec.convert_dttm("TIMESTAMP", moment) == "TIMESTAMP '2024-02-29 13:05:07.123456'"
    assert spec.convert_dttm("VARCHAR", moment) is None


def test_cancel_uses_the_cursor_query_id(spec):
    class FakeCursor:
        query_id = "q-1"
        cancelled = None

        def cancel(self, query_id):
            self.cancelled = query_id

    cursor = FakeCursor()
    assert spec.get_cancel_query_id(cursor, None) == "q-1"
    assert spec.cancel_query(cursor, None, "q-1") is True
    assert cursor.cancelled == "q-1"
