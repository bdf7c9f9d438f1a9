"""pandas ``read_sql`` on the Arrow path through e6driver.adbc: pandas reads Arrow only from ADBC connections."""
import datetime
import decimal

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("adbc_driver_manager", reason="the adbc extra")
if tuple(int(part) for part in pd.__version__.split(".")[:2]) < (2, 2):
    pytest.skip("pandas reads ADBC connections from 2.2 on", allow_module_level=True)

from adbc_driver_manager import dbapi as adbc_dbapi  # noqa: E402

import e6driver  # noqa: E402
import e6driver.adbc  # noqa: E402
from local_engine import PASSWORD, USER  # noqa: E402

QUERY = ("SELECT range AS x, CAST(range * 0.25 AS DECIMAL(12, 2)) AS amount, DATE '2024-01-01' + CAST(range AS INTEGER) "
         "AS day, TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(range) AS ts, [range, range + 1] AS pair, "
         "'n' || range AS label FROM range(2000) ORDER BY x")


@pytest.fixture
def conn(engine_server):
    host, port = engine_server.address.rsplit(":", 1)
    with e6driver.adbc.connect(host=host, port=int(port), username=USER, password=PASSWORD, catalog="local",
                               database="main") as connection:
        yield connection


@pytest.fixture
def no_rows(monkeypatch):
    """Fail any row fetch of an e6driver cursor; count the Arrow-table fetches."""
    calls = []

    def refuse(self, *args):
        raise AssertionError("rows were built")
    for name in ("fetchone", "fetchmany", "fetchall"):
        monkeypatch.setattr(e6driver.Cursor, name, refuse)
    fetch_arrow_table = e6driver.Cursor.fetch_arrow_table

    def counted(self):
        calls.append(self)
        return fetch_arrow_table(self)
    monkeypatch.setattr(e6driver.Cursor, "fetch_arrow_table", counted)
    return calls


def test_read_sql_with_the_pyarrow_backend_reads_the_arrow_path(conn, no_rows):
    assert isinstance(conn, adbc_dbapi.Connection)  # what pandas.io.sql.pandasSQL_builder checks
    frame = pd.read_sql(QUERY, conn, dtype_backend="pyarrow")
    assert len(no_rows) == 1
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        "x": "int64[pyarrow]", "amount": "decimal128(38, 2)[pyarrow]", "day": "date32[day][pyarrow]",
        "ts": "timestamp[us, tz=UTC][pyarrow]", "pair": "string[pyarrow]", "label": "string[pyarrow]"}
    assert len(frame) == 2000 and frame["x"].tolist() == list(range(2000))
    assert frame["amount"].iloc[3] == decimal.Decimal("0.75") and frame["day"].iloc[1] == datetime.date(2024, 1, 2)
    assert frame["ts"].iloc[1] == pd.Timestamp("2024-01-01 00:00:01", tz="UTC")
    assert frame["pair"].iloc[2] == "[2,3]"  # nested values are JSON text, as from every e6driver fetch


def test_read_sql_matches_the_cursors_own_arrow_frame(conn, engine_server):
    frame = pd.read_sql(QUERY, conn, dtype_backend="pyarrow")
    host, port = engine_server.address.rsplit(":", 1)
    with e6driver.connect(host=host, port=int(port), username=USER, password=PASSWORD) as plain:
        cursor = plain.cursor()
        cursor.execute(QUERY)
        expected = cursor.fetch_df(dtype_backend="pyarrow")
    pd.testing.assert_frame_equal(frame, expected)


def test_read_sql_of_a_table_name_and_the_catalog_calls(conn, no_rows):
    cursor = conn.cursor()
    cursor.execute("CREATE OR REPLACE TABLE adbc_trips AS SELECT range AS id, range * 1.5 AS km FROM range(3)")
    try:
        frame = pd.read_sql("adbc_trips", conn, dtype_backend="pyarrow")  # pandas finds it by adbc_get_objects
        assert frame["id"].tolist() == [0, 1, 2] and str(frame.dtypes["km"]).endswith("[pyarrow]")
        objects = conn.adbc_get_objects(depth="all", catalog_filter="local", db_schema_filter="main",
                                        table_name_filter="adbc\\_tr%").read_all().to_pylist()
        assert [c["catalog_name"] for c in objects] == ["local"]
        tables = objects[0]["catalog_db_schemas"][0]["db_schema_tables"]
        assert [t["table_name"] for t in tables] == ["adbc_trips"]
        assert [(c["column_name"], c["ordinal_position"]) for c in tables[0]["table_columns"]] == [("id", 1), ("km", 2)]
        assert conn.adbc_get_objects(depth="tables", table_name_filter="nope%").read_all()[
            "catalog_db_schemas"].to_pylist()[0][0]["db_schema_tables"] == []
        assert conn.adbc_get_table_schema("adbc_trips").names == ["id", "km"]
    finally:
        cursor.execute("DROP TABLE adbc_trips")
        cursor.close()


def test_what_e6driver_cannot_serve_is_refused_clearly(conn):
    with pytest.raises(e6driver.NotSupportedError, match="adbc_ingest.*SQLAlchemy engine"):
        pd.DataFrame({"a": [1]}).to_sql("adbc_never", conn, index=False)
    cursor = conn.cursor()
    for call in (lambda: cursor.adbc_prepare("SELECT 1"), lambda: cursor.adbc_execute_partitions("SELECT 1"),
                 lambda: conn.adbc_clone(), lambda: conn.adbc_connection, lambda: cursor.callproc("p", [])):
        with pytest.raises(e6driver.NotSupportedError):
            call()
    with pytest.raises(e6driver.ProgrammingError, match="depth"):
        conn.adbc_get_objects(depth="everything")


def test_dbapi_calls_and_close(engine_server):
    host, port = engine_server.address.rsplit(":", 1)
    conn = e6driver.adbc.connect(host=host, port=int(port), username=USER, password=PASSWORD)
    with conn.cursor() as cursor:
        cursor.execute("SELECT %(a)s AS a, 'x' AS b", {"a": 2})
        assert [d[0] for d in cursor.description] == ["a", "b"] and cursor.fetchall() == [(2, "x")]
        cursor.execute("SELECT range AS n FROM range(3)")
        assert cursor.fetch_record_batch().read_all()["n"].to_pylist() == [0, 1, 2]
    assert conn.adbc_current_catalog == conn.e6driver_connection.catalog_name
    conn.close()
    assert conn.e6driver_connection.closed
