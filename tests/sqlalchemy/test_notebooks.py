"""Notebook and dataframe tools against the local engine: jupysql (%sql, %sqlplot histogram and boxplot), polars
``read_database`` (DB-API connection and SQLAlchemy engine), pandas ``read_sql`` with the pyarrow backend."""
import datetime
import decimal
import pickle

import matplotlib
import pandas as pd
import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from IPython.core.interactiveshell import InteractiveShell

import e6driver
from local_engine import PASSWORD, USER

matplotlib.use("Agg")

ROWS = 1000  # nb_numbers: x = 0..999, g = x mod 7


@pytest.fixture(scope="module")
def numbers(engine_server, url):
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE OR REPLACE TABLE nb_numbers AS SELECT range AS x, range - 7 * (range // 7) AS g, "
            "CAST(CAST(range AS DECIMAL(10,2)) * 0.25 AS DECIMAL(12,2)) AS amount, DATE '2024-01-01' + CAST(range AS INTEGER) AS day, "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(range) AS ts, 'n' || range AS label "
            f"FROM range({ROWS})")
    yield engine
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE nb_numbers")
    engine.dispose()


@pytest.fixture(scope="module")
def shell(numbers, url):
    ipython = InteractiveShell.instance()
    ipython.run_line_magic("load_ext", "sql")
    ipython.run_line_magic("config", "SqlMagic.displaylimit = 5")
    ipython.run_line_magic("sql", url + " --alias notebook")
    yield ipython
    ipython.run_line_magic("sql", "--close notebook")


def test_sql_magic_runs_queries(shell):
    result = shell.run_cell_magic("sql", "", "SELECT g, count(*) AS n FROM nb_numbers GROUP BY g ORDER BY g")
    frame = result.DataFrame()
    assert list(frame["g"]) == list(range(7)) and frame["n"].sum() == ROWS


def test_sqlplot_histogram(shell):
    import matplotlib.pyplot as plt

    ax = shell.run_line_magic("sqlplot", "histogram --table nb_numbers --column x --bins 10")
    heights = [patch.get_height() for patch in ax.patches]
    assert len(heights) == 10 and sum(heights) == ROWS
    plt.close("all")


def test_sqlplot_boxplot_uses_window_percentiles(shell):
    # jupysql sends percentile_disc(p) WITHIN GROUP (ORDER BY x) OVER () for engines it does not know.
    import matplotlib.pyplot as plt

    ax = shell.run_line_magic("sqlplot", "boxplot --table nb_numbers --column x")
    medians = [line for line in ax.lines if len(set(line.get_ydata())) == 1 and len(line.get_ydata()) == 2]
    assert any(line.get_ydata()[0] == 499 for line in medians)  # percentile_disc(0.5) of 0..999
    plt.close("all")


EXPECTED_FIRST = (0, 0, decimal.Decimal("0"), datetime.date(2024, 1, 1), "n0")


def test_polars_from_a_dbapi_cursor_uses_the_arrow_path(numbers, engine_server):
    # polars.read_database(query, dbapi_connection) serves Arrow only for drivers it lists, and takes the value
    # cursor.execute() returns (the query id, as in the official client) for the result: use the cursor's
    # Arrow output (README: "Use with ... polars").
    host, port = engine_server.address.rsplit(":", 1)
    with e6driver.connect(host=host, port=int(port), username=USER, password=PASSWORD, catalog="local",
                          database="main") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT x, g, amount, day, label, ts FROM nb_numbers ORDER BY x")
        frame = pl.from_arrow(cursor.fetch_arrow_table())
        cursor.execute("SELECT x FROM nb_numbers")
        batches = [pl.from_arrow(batch) for batch in cursor.fetch_arrow_batches()]
    assert frame.height == ROWS and frame.row(0)[:5] == EXPECTED_FIRST
    assert frame.schema["x"] == pl.Int64 and frame.schema["day"] == pl.Date
    assert isinstance(frame.schema["amount"], pl.Decimal) and frame["amount"][999] == decimal.Decimal("249.75")
    assert frame["ts"][1] == datetime.datetime(2024, 1, 1, 0, 0, 1, tzinfo=datetime.timezone.utc)
    assert sum(batch.height for batch in batches) == ROWS


def test_polars_read_database_with_a_dbapi_connection_reads_the_arrow_path(numbers, engine_server, monkeypatch):
    # e6driver registers with polars' Arrow drivers (e6driver/dataframes.py): no rows are built, types are exact
    # without overrides; cursor.execute() still returns the query id (as in the official client).
    def no_rows(self, *args):
        raise AssertionError("polars read rows instead of the Arrow path")
    monkeypatch.setattr(e6driver.Cursor, "fetchall", no_rows)
    monkeypatch.setattr(e6driver.Cursor, "fetchmany", no_rows)
    host, port = engine_server.address.rsplit(":", 1)
    with e6driver.connect(host=host, port=int(port), username=USER, password=PASSWORD, catalog="local",
                          database="main") as conn:
        frame = pl.read_database("SELECT x, g, amount, day, label, ts FROM nb_numbers ORDER BY x", conn)
        batches = list(pl.read_database("SELECT x FROM nb_numbers ORDER BY x", conn, iter_batches=True,
                                        batch_size=300))
        cursor = conn.cursor()
        query_id = cursor.execute("SELECT 1")
        assert query_id == cursor.query_id
    assert frame.height == ROWS and frame.row(0)[:5] == EXPECTED_FIRST
    assert frame.schema["x"] == pl.Int64 and frame.schema["g"] == pl.Int64 and frame.schema["day"] == pl.Date
    assert frame.schema["ts"] == pl.Datetime("us", "UTC") and frame["amount"][999] == decimal.Decimal("249.75")
    assert [batch.height for batch in batches] == [300, 300, 300, 100]
    assert pl.concat(batches)["x"].to_list() == list(range(ROWS))
    assert type(pickle.loads(pickle.dumps(query_id))) is str


EVERY_TYPE = ("SELECT CAST(1 AS BIGINT) AS big, CAST(2 AS INTEGER) AS i, CAST(1.25 AS DECIMAL(12,2)) AS d, 'x' AS s, "
              "DATE '2024-01-02' AS day, TIMESTAMP '2024-01-02 03:04:05' AS ts, "
              "TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tstz, true AS b, [1, 2, 3] AS arr, "
              "CAST(1.5 AS DOUBLE) AS dbl, CAST(1.5 AS REAL) AS fl")


def test_polars_dtypes_of_every_type_with_a_dbapi_connection(engine_server):
    # From the Arrow path: the result metadata carries a decimal's scale, not its precision (so 38); arrays
    # arrive as JSON text, as through fetchall().
    host, port = engine_server.address.rsplit(":", 1)
    with e6driver.connect(host=host, port=int(port), username=USER, password=PASSWORD) as conn:
        frame = pl.read_database(EVERY_TYPE, conn)
    assert dict(frame.schema) == {
        "big": pl.Int64, "i": pl.Int32, "d": pl.Decimal(38, 2), "s": pl.String, "day": pl.Date,
        "ts": pl.Datetime("us"), "tstz": pl.Datetime("us", "UTC"), "b": pl.Boolean, "arr": pl.String,
        "dbl": pl.Float64, "fl": pl.Float32}
    assert frame.row(0) == (1, 2, decimal.Decimal("1.25"), "x", datetime.date(2024, 1, 2),
                            datetime.datetime(2024, 1, 2, 3, 4, 5),
                            datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), True, "[1,2,3]",
                            1.5, 1.5)


def test_polars_read_database_with_a_sqlalchemy_engine_reads_the_arrow_path(numbers, engine_server, monkeypatch):
    # polars executes through SQLAlchemy, then e6driver hands it the DB-API cursor's Arrow methods (as polars does
    # for duckdb_engine): no schema_overrides, no rows built, the same frame as from a DB-API connection.
    host, port = engine_server.address.rsplit(":", 1)
    with e6driver.connect(host=host, port=int(port), username=USER, password=PASSWORD) as conn:
        dbapi = pl.read_database(EVERY_TYPE, conn)

    def no_rows(self, *args):
        raise AssertionError("polars read rows instead of the Arrow path")
    monkeypatch.setattr(e6driver.Cursor, "fetchall", no_rows)
    monkeypatch.setattr(e6driver.Cursor, "fetchmany", no_rows)
    frame = pl.read_database(EVERY_TYPE, numbers)
    assert frame.equals(dbapi) and frame.schema == dbapi.schema
    assert frame.schema["d"] == pl.Decimal(38, 2) and frame.schema["tstz"] == pl.Datetime("us", "UTC")
    assert frame["arr"][0] == "[1,2,3]"  # nested values arrive as JSON text on both routes

    numbers_frame = pl.read_database("SELECT x, g, amount, day, label FROM nb_numbers ORDER BY x", numbers)
    assert numbers_frame.height == ROWS and numbers_frame.row(0) == EXPECTED_FIRST
    assert numbers_frame["amount"][999] == decimal.Decimal("249.75")
    with numbers.connect() as conn:
        again = pl.read_database(sa.text("SELECT count(*) AS n FROM nb_numbers WHERE g = :g").bindparams(g=3), conn)
        batches = list(pl.read_database("SELECT x FROM nb_numbers ORDER BY x", conn, iter_batches=True,
                                        batch_size=400))
    assert again["n"][0] == 143
    assert [batch.height for batch in batches] == [400, 400, 200]
    with Session(numbers) as session:
        assert pl.read_database("SELECT max(amount) AS m FROM nb_numbers", session)["m"][0] == decimal.Decimal("249.75")


def test_polars_with_another_dialects_engine_still_reads_rows(tmp_path):
    # The Arrow hand-over applies to e6driver cursors only: SQLite through SQLAlchemy keeps polars' row path.
    sqlite = sa.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with sqlite.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER, s TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    frame = pl.read_database("SELECT x, s FROM t ORDER BY x", sqlite)
    assert frame.to_dict(as_series=False) == {"x": [1, 2], "s": ["a", "b"]}
    sqlite.dispose()


@pytest.mark.skipif(tuple(int(p) for p in pd.__version__.split(".")[:2]) >= (2, 2) and sa.__version__.startswith("1."),
                    reason="pandas 2.2+ works only with SQLAlchemy 2 (it takes a 1.4 engine for a DB-API connection)")
def test_pandas_read_sql_with_the_pyarrow_backend(numbers):
    frame = pd.read_sql("SELECT x, amount, day, ts, label FROM nb_numbers ORDER BY x", numbers,
                        dtype_backend="pyarrow")
    assert len(frame) == ROWS
    assert all(isinstance(dtype, pd.ArrowDtype) for dtype in frame.dtypes)
    # pandas builds these frames from rows: it turns DATE into string and DECIMAL into double (as with any
    # SQLAlchemy driver but ADBC: pandas takes Arrow only from adbc_driver_manager connections, README "pandas").
    assert str(frame.dtypes["x"]) == "int64[pyarrow]" and frame["amount"].iloc[999] == 249.75
    assert str(frame["day"].iloc[1]) == "2024-01-02"
    assert frame["ts"].iloc[1] == pd.Timestamp("2024-01-01 00:00:01", tz="UTC")


def test_pandas_with_arrow_dtypes_from_the_cursor_builds_no_rows(numbers, engine_server, monkeypatch):
    # The route README gives pandas users for exact Arrow types: the cursor's Arrow path, no Python rows.
    def no_rows(self, *args):
        raise AssertionError("rows were built")
    monkeypatch.setattr(e6driver.Cursor, "fetchall", no_rows)
    monkeypatch.setattr(e6driver.Cursor, "fetchmany", no_rows)
    monkeypatch.setattr(e6driver.Cursor, "fetchone", no_rows)
    host, port = engine_server.address.rsplit(":", 1)
    with e6driver.connect(host=host, port=int(port), username=USER, password=PASSWORD, catalog="local",
                          database="main") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT x, amount, day, ts FROM nb_numbers ORDER BY x")
        frame = cursor.fetch_df(dtype_backend="pyarrow")
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        "x": "int64[pyarrow]", "amount": "decimal128(38, 2)[pyarrow]", "day": "date32[day][pyarrow]",
        "ts": "timestamp[us, tz=UTC][pyarrow]"}
    assert len(frame) == ROWS and frame["amount"].iloc[999] == decimal.Decimal("249.75")
    assert frame["day"].iloc[1] == datetime.date(2024, 1, 2)
