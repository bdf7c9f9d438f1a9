"""pandas through the dialect and through a raw DB-API connection: read_sql, chunked reads, to_sql round trips."""
import datetime
import decimal
import tracemalloc
import warnings

import pytest
import sqlalchemy as sa

pd = pytest.importorskip("pandas")

_PANDAS_VERSION = tuple(int(part) for part in pd.__version__.split(".")[:2])
if _PANDAS_VERSION >= (2, 2) and int(sa.__version__.split(".")[0]) < 2:
    pytest.skip("pandas 2.2+ works only with SQLAlchemy 2 (it takes a 1.4 engine for a DB-API connection)",
                allow_module_level=True)

import e6driver  # noqa: E402
from local_engine import PASSWORD, USER  # noqa: E402


def _frame():
    """ints, floats, strings, dates, timestamps and decimals, each with a NULL."""
    return pd.DataFrame({
        "id": [1, 2, 3, 4],
        "qty": pd.array([10, None, -3, 2**40], dtype="Int64"),
        "price": [1.5, float("nan"), -0.25, 1e300],
        "name": ["a", None, "it's \\ 100%", "ünïcødé"],
        "day": [datetime.date(2024, 2, 29), None, datetime.date(1900, 1, 1), datetime.date(9999, 12, 31)],
        "at": pd.to_datetime(["2024-03-10 02:30:00.123456", None, "1970-01-01 00:00:00.000000",
                             "2038-01-19 03:14:08.000001"]),
        "amount": [decimal.Decimal("12.3400"), None, decimal.Decimal("-0.0001"), decimal.Decimal("99999999.9999")],
    })


DTYPES = {"amount": sa.Numeric(12, 4)}  # pandas would store Decimal objects as text without a hint


def _read_back(engine, table):
    frame = pd.read_sql(sa.text(f"SELECT * FROM {table} ORDER BY id"), engine,
                        dtype={"qty": "Int64"}, parse_dates=["at"], coerce_float=False)
    return frame


def _assert_round_trip(written, read):
    assert list(read.columns) == list(written.columns)
    assert read["id"].tolist() == written["id"].tolist()
    assert read["qty"].tolist() == written["qty"].tolist()
    assert read["price"].iloc[[0, 2, 3]].tolist() == written["price"].iloc[[0, 2, 3]].tolist()
    assert pd.isna(read["price"].iloc[1])
    assert read["name"].tolist()[0::2] == written["name"].tolist()[0::2] and read["name"].tolist()[3] == "ünïcødé"
    assert pd.isna(read["name"].iloc[1])
    assert read["day"].tolist() == [datetime.date(2024, 2, 29), None, datetime.date(1900, 1, 1),
                                    datetime.date(9999, 12, 31)]
    assert read["at"].dt.tz is None
    assert read["at"].tolist()[0::2] == written["at"].tolist()[0::2] and read["at"].iloc[3] == written["at"].iloc[3]
    assert pd.isna(read["at"].iloc[1])
    assert read["amount"].tolist() == written["amount"].tolist()
    assert all(isinstance(v, decimal.Decimal) for v in read["amount"].dropna())


@pytest.fixture
def table_name(engine):
    name = "pandas_roundtrip"
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    yield name
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


@pytest.mark.parametrize("method", [None, "multi"], ids=["executemany", "multi"])
def test_to_sql_round_trips_every_column_kind(engine, table_name, method):
    written = _frame()
    count = written.to_sql(table_name, engine, index=False, method=method, dtype=DTYPES, chunksize=3)
    assert count == len(written)
    _assert_round_trip(written, _read_back(engine, table_name))


def test_to_sql_reflects_back_as_the_types_it_created(engine, table_name):
    _frame().to_sql(table_name, engine, index=False, dtype=DTYPES)
    columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(table_name)}
    assert isinstance(columns["id"], sa.BigInteger) and isinstance(columns["qty"], sa.BigInteger)
    assert isinstance(columns["price"], sa.Float) and isinstance(columns["name"], sa.String)
    assert isinstance(columns["day"], sa.Date) and isinstance(columns["at"], sa.DateTime)
    assert isinstance(columns["amount"], sa.Numeric) and (columns["amount"].precision, columns["amount"].scale) == (12, 4)


def test_to_sql_if_exists_append_and_replace(engine, table_name):
    frame = _frame()
    frame.to_sql(table_name, engine, index=False, dtype=DTYPES)
    frame.assign(id=frame["id"] + 10).to_sql(table_name, engine, index=False, if_exists="append", dtype=DTYPES)
    assert pd.read_sql(sa.text(f"SELECT count(*) AS n FROM {table_name}"), engine)["n"].iloc[0] == 8
    frame.head(1).to_sql(table_name, engine, index=False, if_exists="replace", dtype=DTYPES)
    assert pd.read_sql_table(table_name, engine)["id"].tolist() == [1]


def test_read_sql_with_bound_parameters(engine, table_name):
    _frame().to_sql(table_name, engine, index=False, dtype=DTYPES)
    frame = pd.read_sql(sa.text(f"SELECT id, name FROM {table_name} WHERE day >= :since ORDER BY id"), engine,
                        params={"since": datetime.date(2000, 1, 1)})
    assert frame["id"].tolist() == [1, 4]


def test_read_sql_through_a_raw_dbapi_connection(engine_server, engine, table_name):
    _frame().to_sql(table_name, engine, index=False, dtype=DTYPES)
    host, port = engine_server.address.rsplit(":", 1)
    connection = e6driver.connect(host=host, port=int(port), username=USER, password=PASSWORD, catalog="local",
                                  database="main")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pandas: "other DBAPI2 objects are not tested"
            frame = pd.read_sql(f"SELECT id, name, amount FROM {table_name} WHERE id > %(low)s ORDER BY id",
                                connection, params={"low": 1}, coerce_float=False)
            empty = pd.read_sql(f"SELECT id, name FROM {table_name} WHERE 1 = 0", connection)
    finally:
        connection.close()
    assert frame["id"].tolist() == [2, 3, 4]
    assert frame["amount"].tolist() == [None, decimal.Decimal("-0.0001"), decimal.Decimal("99999999.9999")]
    assert list(empty.columns) == ["id", "name"] and len(empty) == 0


def test_read_sql_chunksize_yields_every_row_once_in_bounded_chunks(engine):
    query = sa.text("SELECT range AS n, 'row ' || range AS label FROM range(25000) ORDER BY n")
    chunks = list(pd.read_sql(query, engine, chunksize=4000))
    assert [len(c) for c in chunks] == [4000] * 6 + [1000]
    together = pd.concat(chunks, ignore_index=True)
    assert together["n"].tolist() == list(range(25000))
    assert together["label"].iloc[-1] == "row 24999"


def test_first_chunk_of_a_huge_result_does_not_load_the_whole_result(engine):
    """A 2-million-row result (~380 MiB as Python rows): one chunk holds a few wire chunks, not the result."""
    query = sa.text("SELECT range AS n, range * 2 AS m FROM range(2000000)")
    tracemalloc.start()
    try:
        with engine.connect() as connection:
            chunks = pd.read_sql(query, connection, chunksize=1000)
            first = next(chunks)
            chunks.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(first) == 1000
    assert peak < 120 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB while reading one chunk"


def test_fetch_df_with_pyarrow_and_nullable_dtypes_from_the_arrow_path(engine_server):
    sql = ("SELECT * FROM (VALUES (1::BIGINT, 1.25::DECIMAL(12,2), TIMESTAMPTZ '2024-01-02 03:04:05+00', 'x', true), "
           "(NULL, NULL, NULL, NULL, NULL)) t(i, d, ts, s, b)")
    host, port = engine_server.address.rsplit(":", 1)
    with e6driver.connect(host=host, port=int(port), username=USER, password=PASSWORD) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        arrow = cur.fetch_df(dtype_backend="pyarrow")
        cur.execute(sql)
        nullable = cur.fetch_df(dtype_backend="numpy_nullable")
        cur.execute(sql)
        with pytest.raises(e6driver.ProgrammingError, match="dtype_backend"):
            cur.fetch_df(dtype_backend="polars")
    assert all(isinstance(t, pd.ArrowDtype) for t in arrow.dtypes)
    assert str(arrow["i"].dtype) == "int64[pyarrow]" and arrow["d"][0] == decimal.Decimal("1.25")
    assert arrow["ts"][0] == pd.Timestamp("2024-01-02 03:04:05", tz="UTC") and arrow["i"].isna().tolist() == [False, True]
    assert str(nullable["i"].dtype) == "Int64" and str(nullable["b"].dtype) == "boolean"
    assert nullable["i"].isna().tolist() == [False, True]
