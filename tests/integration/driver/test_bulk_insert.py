"""executemany through the engine's bulk path (IngestService, Arrow batches): exact types, one transaction per
call, the engine-side proof that it was used, and the multi-row INSERT fallback on an engine without it."""
from __future__ import annotations

import datetime
import decimal
import zoneinfo

import pytest

import e6driver
from e6driver import bulk
from mock_server.server import EngineServer

USER, PASSWORD = "alice", "alice-token"  # a user of the module server (tests/integration/conftest.py)

D = decimal.Decimal
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")
COLUMNS = ("id BIGINT, qty INTEGER, price DOUBLE, amount DECIMAL(38,10), small DECIMAL(12,4), day DATE, "
           "ts TIMESTAMP, at_tz TIMESTAMPTZ, t TIME, ok BOOLEAN, raw BLOB, name VARCHAR")
ROWS = [
    (1, 7, 1.5, D("1234567890123456789012345678.0123456789"), D("-0.0001"), datetime.date(2024, 2, 29),
     datetime.datetime(2024, 3, 10, 2, 30, 0, 123456),
     datetime.datetime(2024, 3, 10, 2, 30, 0, 654321, tzinfo=KOLKATA),
     datetime.time(23, 59, 59, 999999), True, b"\x00\xff'\\", "it's \\ 100% ünïcødé"),
    (2, None, None, None, None, None, None, None, None, None, None, None),
    (3, -(2 ** 31), -0.0, D("-0.0000000001"), D("99999999.9999"), datetime.date(1, 1, 1),
     datetime.datetime(1970, 1, 1), datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc),
     datetime.time(0, 0), False, b"", ""),
]
INSERT = "INSERT INTO {table} (id, qty, price, amount, small, day, ts, at_tz, t, ok, raw, name) " \
         "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def _as_utc(value):
    return value.astimezone(datetime.timezone.utc) if isinstance(value, datetime.datetime) and value.tzinfo else value


def test_every_type_round_trips_exactly_through_the_bulk_path(server, cur, impl):
    cur.execute(f"CREATE OR REPLACE TABLE bulk_types ({COLUMNS})")
    calls = server.ingest.calls
    cur.executemany(INSERT.format(table="bulk_types"), ROWS)
    assert cur.rowcount == len(ROWS)
    assert server.ingest.calls == calls + 1  # the engine appended them: no INSERT text was sent
    cur.execute("SELECT * FROM bulk_types ORDER BY id")
    got = cur.fetchall()
    assert [tuple(_as_utc(v) for v in row) for row in got] == [tuple(_as_utc(v) for v in row) for row in ROWS]
    assert got[0][3] == D("1234567890123456789012345678.0123456789") and got[0][4] == D("-0.0001")


def test_named_parameters_nullable_ints_and_quoted_names(server, cur, impl):
    cur.execute('CREATE OR REPLACE TABLE "Bulk Named" ("Order" INTEGER, v VARCHAR)')
    calls = server.ingest.calls
    cur.executemany('INSERT INTO "Bulk Named" ("Order", v) VALUES (%(o)s, %(v)s)',
                    [{"o": i if i % 3 else None, "v": str(i)} for i in range(1000)])
    assert server.ingest.calls == calls + 1 and cur.rowcount == 1000
    cur.execute('SELECT count(*), count("Order"), sum("Order") FROM "Bulk Named"')
    assert cur.fetchall() == [(1000, 666, sum(i for i in range(1000) if i % 3))]


def test_a_batch_with_a_bad_row_inserts_nothing(server, cur, impl):
    cur.execute("CREATE OR REPLACE TABLE bulk_atomic (id INTEGER NOT NULL, v VARCHAR)")
    rows = [(i, "x" * 100) for i in range(200_000)] + [(None, "bad")]  # several messages, the last one fails
    with pytest.raises(e6driver.IntegrityError):
        cur.executemany("INSERT INTO bulk_atomic VALUES (%s, %s)", rows)
    cur.execute("SELECT count(*) FROM bulk_atomic")
    assert cur.fetchall() == [(0,)]


def test_bulk_insert_joins_the_open_transaction(server, connect, impl):
    conn = connect(autocommit=False)
    cur = conn.cursor()
    cur.execute("CREATE OR REPLACE TABLE bulk_txn (id INTEGER)")
    conn.commit()
    cur.executemany("INSERT INTO bulk_txn VALUES (%s)", [(i,) for i in range(10)])
    conn.rollback()
    cur.execute("SELECT count(*) FROM bulk_txn")
    assert cur.fetchall() == [(0,)]


@pytest.mark.parametrize("values", [
    [D("1.5"), D("2.25")],  # scales differ: each value keeps its own text on the literal path
    [D("NaN"), D("2")],
    [D("1" * 39), D("1")],
    [2 ** 70, 1],  # beyond int64: HUGEINT on the literal path
    [1, 2.5],
    [datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)],
    [datetime.timedelta(seconds=1), None],
    [True, 1],
])
def test_values_without_an_exact_arrow_type_fall_back_to_literals(values):
    assert bulk.arrow_array(values) is None


def test_statements_the_bulk_path_does_not_take(server, cur, impl):
    cur.execute("CREATE OR REPLACE TABLE bulk_other (id INTEGER, v DECIMAL(10,4))")
    calls = server.ingest.calls
    cur.executemany("INSERT INTO bulk_other VALUES (%s, %s + 1)", [(1, D("1")), (2, D("2"))])
    cur.executemany("INSERT INTO bulk_other VALUES (%s, %s)", [(3, D("1.5")), (4, D("2.25"))])
    assert server.ingest.calls == calls
    cur.execute("SELECT id, v FROM bulk_other ORDER BY id")
    assert cur.fetchall() == [(1, D("2.0000")), (2, D("3.0000")), (3, D("1.5000")), (4, D("2.2500"))]


def test_an_engine_without_the_bulk_path_gets_multi_row_inserts(tmp_path, impl):
    with EngineServer("127.0.0.1", 0, users={USER: PASSWORD}, data_dir=str(tmp_path), ingest=False) as srv:
        assert srv.ingest is None
        with e6driver.connect(host="127.0.0.1", port=srv.port, username=USER, password=PASSWORD) as conn:
            cur = conn.cursor()
            cur.execute(f"CREATE TABLE bulk_types ({COLUMNS})")
            cur.executemany(INSERT.format(table="bulk_types"), ROWS)
            assert cur.rowcount == len(ROWS)
            assert conn.session.capabilities.get("ingest") is False
            cur.execute("SELECT * FROM bulk_types ORDER BY id")
            assert [tuple(_as_utc(v) for v in r) for r in cur.fetchall()] == \
                [tuple(_as_utc(v) for v in r) for r in ROWS]


def test_asyncio_executemany_takes_the_bulk_path_too(server, impl):
    import asyncio

    from e6driver import aio
    host, port = server.address.rsplit(":", 1)

    async def main():
        async with aio.connect(host=host, port=int(port), username=USER, password=PASSWORD) as conn:
            cur = conn.cursor()
            await cur.execute(f"CREATE OR REPLACE TABLE bulk_aio ({COLUMNS})")
            calls = server.ingest.calls
            await cur.executemany(INSERT.format(table="bulk_aio"), ROWS)
            appended, used = cur.rowcount, server.ingest.calls - calls
            await cur.execute("SELECT * FROM bulk_aio ORDER BY id")
            return appended, used, await cur.fetchall()
    appended, used, got = asyncio.run(main())
    assert (appended, used) == (len(ROWS), 1)  # one Append call, no INSERT text
    assert [tuple(_as_utc(v) for v in row) for row in got] == [tuple(_as_utc(v) for v in row) for row in ROWS]


def test_asyncio_executemany_with_a_bad_row_inserts_nothing(server, impl):
    import asyncio

    from e6driver import aio
    host, port = server.address.rsplit(":", 1)

    async def main():
        async with aio.connect(host=host, port=int(port), username=USER, password=PASSWORD) as conn:
            cur = conn.cursor()
            await cur.execute("CREATE OR REPLACE TABLE bulk_aio_bad (id INTEGER NOT NULL)")
            with pytest.raises(e6driver.Error):
                await cur.executemany("INSERT INTO bulk_aio_bad (id) VALUES (%s)", [(1,), (None,), (3,)])
            await cur.execute("SELECT count(*) FROM bulk_aio_bad")
            return await cur.fetchall()
    assert asyncio.run(main()) == [(0,)]
