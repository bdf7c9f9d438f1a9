"""The Superset engine spec loads from its entry point without Superset, and its SQL is well-formed."""
import sys
from datetime import date, datetime, timedelta, timezone
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


def test_convert_dttm_every_temporal_type(spec):
    moment = datetime(2024, 2, 29, 13, 5, 7, 123456)
    assert spec.convert_dttm("TIMESTAMP WITH TIME ZONE", moment) == "TIMESTAMPTZ '2024-02-29 13:05:07.123456+00:00'"
    assert spec.convert_dttm("timestamptz", moment.replace(tzinfo=timezone(timedelta(hours=5, minutes=30)))) \
        == "TIMESTAMPTZ '2024-02-29 13:05:07.123456+05:30'"
    assert spec.convert_dttm("TIMESTAMP_TZ", moment).startswith("TIMESTAMPTZ '")
    assert spec.convert_dttm("DATETIME", moment) == "TIMESTAMP '2024-02-29 13:05:07.123456'"
    assert spec.convert_dttm("TIME", moment) == "TIME '13:05:07.123456'"
    assert spec.convert_dttm("INTERVAL", moment) is None


TEMPORAL_COLUMNS = {"d": "DATE", "ts": "TIMESTAMP", "tstz": "TIMESTAMP WITH TIME ZONE", "t": "TIME"}


@pytest.fixture
def temporal_table(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE OR REPLACE TABLE sset_times AS SELECT DATE '2024-02-29' AS d, "
                             "TIMESTAMP '2024-02-29 13:05:07' AS ts, TIMESTAMPTZ '2024-02-29 13:05:07+00' AS tstz, "
                             "TIME '13:05:07' AS t")
    yield engine
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE sset_times")


def test_every_time_grain_runs_on_every_timestamp_type(spec, temporal_table):
    with temporal_table.connect() as conn:
        for grain, expression in spec._time_grain_expressions.items():
            for column in ("d", "ts", "tstz"):
                (value,) = conn.exec_driver_sql(f"SELECT {expression.format(col=column)} FROM sset_times").one()
                assert value is not None, (grain, column)


def test_convert_dttm_literals_compare_with_their_columns(spec, temporal_table):
    moment = datetime(2024, 2, 29, 13, 5, 7)
    with temporal_table.connect() as conn:
        for column, kind in TEMPORAL_COLUMNS.items():
            literal = spec.convert_dttm(kind, moment)
            (count,) = conn.exec_driver_sql(f"SELECT count(*) FROM sset_times WHERE {column} = {literal}").one()
            assert count == 1, (kind, literal)


def test_custom_errors_match_the_engine_messages(spec, engine):
    import e6driver

    def kind_of(message):
        for pattern, (_, kind, _) in spec.custom_errors.items():
            if pattern.search(message):
                return kind
        return None

    cases = {"SELECT * FROM sset_nosuch": "TABLE_DOES_NOT_EXIST_ERROR",
             "SELECT nocol FROM range(1)": "COLUMN_DOES_NOT_EXIST_ERROR",
             "SELEC 1": "SYNTAX_ERROR",
             "SELECT * FROM local.sset_noschema.t": "SCHEMA_DOES_NOT_EXIST_ERROR"}
    raw = engine.raw_connection()
    try:
        for sql, kind in cases.items():
            with pytest.raises(e6driver.Error) as info:
                raw.cursor().execute(sql)
            assert str(kind_of(str(info.value))) == kind, (sql, str(info.value))
    finally:
        raw.close()
    with pytest.raises(e6driver.Error) as info:
        e6driver.connect(host="127.0.0.1", port=1, username="u", password="p", connect_timeout=2)  # loaded CI: room
    assert str(kind_of(str(info.value))) == "CONNECTION_PORT_CLOSED_ERROR"
    url = engine.url
    with pytest.raises(e6driver.AuthenticationError) as info:
        e6driver.connect(host=url.host, port=url.port, username="admin", password="wrong")
    assert str(kind_of(str(info.value))) == "CONNECTION_ACCESS_DENIED_ERROR"


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
