"""Columnar readers get results as Arrow IPC (QueryRunService.FetchArrow) when every column can travel so: the
same types and values as the Thrift chunks decode to, for every type that takes the route, across many chunks,
with the chunks fetched before the switch, a reader that stops early, and results that cannot take it."""
from __future__ import annotations

import pyarrow as pa
import pytest

from e6driver import columnar

pytestmark = pytest.mark.usefixtures("arrow_route")  # every test on both routes: same-host and gRPC

ARROW_READY = """
SELECT CASE WHEN i % 11 = 0 THEN NULL ELSE i % 2 = 0 END AS c_bool,
       CASE WHEN i % 11 = 1 THEN NULL ELSE (i % 100)::TINYINT END AS c_tiny,
       CASE WHEN i % 11 = 2 THEN NULL ELSE (i % 30000)::SMALLINT END AS c_small,
       CASE WHEN i % 11 = 3 THEN NULL ELSE (i * 7)::INTEGER END AS c_int,
       CASE WHEN i % 11 = 4 THEN NULL ELSE i * -3000000001 END::BIGINT AS c_bigint,
       CASE WHEN i % 11 = 5 THEN NULL ELSE (i % 250)::UTINYINT END AS c_utiny,
       CASE WHEN i % 11 = 6 THEN NULL ELSE (i % 60000)::USMALLINT END AS c_usmall,
       CASE WHEN i % 11 = 7 THEN NULL ELSE (i * 1000)::UINTEGER END AS c_uint,
       CASE WHEN i % 11 = 8 THEN NULL ELSE (i * 0.25)::FLOAT END AS c_float,
       CASE WHEN i % 11 = 9 THEN NULL ELSE i / 3.0 END::DOUBLE AS c_double,
       CASE WHEN i % 11 = 10 THEN NULL ELSE 'név-' || i END AS c_text,
       CASE WHEN i % 13 = 0 THEN NULL ELSE ('x' || i)::BLOB END AS c_blob,
       CASE WHEN i % 13 = 1 THEN NULL ELSE DATE '1900-01-01' + (i % 90000)::INTEGER END AS c_date,
       CASE WHEN i % 13 = 2 THEN NULL ELSE TIMESTAMP '1960-01-01' + to_microseconds(i * 1000003) END AS c_ts,
       CASE WHEN i % 13 = 3 THEN NULL ELSE (i / 7.0)::DECIMAL(18,4) END AS c_dec,
       CASE WHEN i % 13 = 4 THEN NULL ELSE (i::HUGEINT * 1000000000000000000000) END AS c_huge
FROM range({rows}) t(i) ORDER BY i
"""


@pytest.fixture
def routes(monkeypatch):
    """Counts the pieces that arrive as Arrow batches (``columnar.ipc_batches``) and as Thrift chunks."""
    seen = {"arrow": 0, "thrift": 0}
    ipc_batches, chunk_to_batch = columnar.ipc_batches, columnar.chunk_to_batch

    def counted_ipc(stream, columns):
        batches = ipc_batches(stream, columns)
        seen["arrow"] += len(batches)
        return batches

    def counted_chunk(data, columns):
        seen["thrift"] += 1
        return chunk_to_batch(data, columns)

    monkeypatch.setattr(columnar, "ipc_batches", counted_ipc)
    monkeypatch.setattr(columnar, "chunk_to_batch", counted_chunk)
    return seen


def _thrift_only(conn):
    from e6driver.protocol.capabilities import capabilities

    conn.session.capabilities = dict(capabilities(conn.session), arrow_results=False)


def _table(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    table = cur.fetch_arrow_table()
    cur.close()
    return table


def test_engine_offers_arrow_results(conn):
    from e6driver.protocol.capabilities import capabilities

    assert capabilities(conn.session).get("arrow_results") is True


@pytest.mark.parametrize("rows", [1, 3000, 250_000])
def test_arrow_route_equals_thrift_route(connect, impl, routes, rows, arrow_route):
    sql = ARROW_READY.format(rows=rows)
    thrift_conn = connect()
    _thrift_only(thrift_conn)
    expected = _table(thrift_conn, sql)
    assert routes["arrow"] == 0
    routes["thrift"] = 0
    got = _table(connect(), sql)
    if rows == 250_000:  # past the first chunks, the rest came as Arrow (by the route under test)
        assert routes["arrow"] > 0
        assert (arrow_route.same_host_parts > 1) == (arrow_route.name == "same-host")
    assert got.schema == expected.schema
    assert got.equals(expected)
    assert got.schema.field("c_small").type == pa.int32() and got.schema.field("c_uint").type == pa.int64()
    assert got.schema.field("c_dec").type == pa.decimal128(38, 4)


def test_all_null_columns_keep_their_types_on_both_routes(connect, routes):
    sql = ("SELECT range AS i, NULL::DECIMAL(18,4) AS d, NULL::DATE AS dt, NULL::SMALLINT AS s, NULL::VARCHAR AS v, "
           "NULL::TIMESTAMP AS ts, CASE WHEN range < 100 THEN 1.5 END::DECIMAL(10,3) AS late "
           "FROM range(200000) ORDER BY 1")
    thrift_conn = connect()
    _thrift_only(thrift_conn)
    expected = _table(thrift_conn, sql)
    got = _table(connect(), sql)
    assert routes["arrow"] > 0
    assert got.schema == expected.schema and got.equals(expected)


def test_rows_after_a_columnar_reader_stopped(connect, impl, routes):
    """Batches fetched as Arrow for a reader that stopped early are handed to fetchall as the same rows."""
    sql = ARROW_READY.format(rows=200_000)
    cur = connect().cursor()
    cur.execute(sql)
    expected = cur.fetchall()
    cur.execute(sql)
    batches = cur.fetch_arrow_batches()
    head = [next(batches) for _ in range(2)]
    rest = cur.fetchall()
    assert routes["arrow"] > 0
    taken = sum(b.num_rows for b in head)
    assert [tuple(r.values()) for b in head for r in b.to_pylist()] + rest == expected
    assert len(rest) == len(expected) - taken


def test_results_that_cannot_travel_as_arrow_stay_on_chunks(conn, routes):
    cur = conn.cursor()
    sql = ("SELECT range AS i, to_microseconds(range) AS iv, [range] AS l, now() AS tz "
           "FROM range(150000) ORDER BY 1")
    cur.execute(sql)
    expected = cur.fetchall()
    cur.execute(sql)
    table = cur.fetch_arrow_table()
    assert routes["arrow"] == 0 and routes["thrift"] > 0
    assert table.num_rows == len(expected) and table.column("i").to_pylist() == [r[0] for r in expected]


def test_malformed_arrow_answers_raise_data_error(conn):
    from e6driver.errors import DataError
    from e6driver.protocol.result_metadata import Column

    columns = [Column("a", "LONG", "", "")]
    good = pa.BufferOutputStream()
    with pa.ipc.new_stream(good, pa.schema([("a", pa.int64())])) as writer:
        writer.write_batch(pa.record_batch([pa.array([1, 2, 3])], names=["a"]))
    raw = good.getvalue().to_pybytes()
    assert [b.num_rows for b in columnar.ipc_batches(memoryview(raw), columns)] == [3]
    for bad in (b"", b"\x00" * 7, raw[:len(raw) // 2], raw[:40] + b"\xff" * 16 + raw[56:]):
        with pytest.raises(DataError):
            columnar.ipc_batches(memoryview(bad), columns)
    with pytest.raises(DataError, match="do not match"):
        columnar.ipc_batches(memoryview(raw), [Column("a", "DOUBLE", "", "")])


def test_mutated_arrow_streams_never_crash():
    """Every corrupted stream either reads as valid batches of the expected types or raises DataError."""
    import random

    from e6driver.errors import DataError
    from e6driver.protocol.result_metadata import Column

    columns = [Column("s", "STRING", "", ""), Column("n", "LONG", "", "")]
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, pa.schema([("s", pa.string()), ("n", pa.int64())])) as writer:
        writer.write_batch(pa.record_batch([pa.array(["ab", None, "ccc"] * 20), pa.array(range(60))],
                                           names=["s", "n"]))
    raw = bytearray(sink.getvalue().to_pybytes())
    rng = random.Random(1234)
    for _ in range(400):
        bad = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        try:
            batches = columnar.ipc_batches(memoryview(bytes(bad)), columns)
        except DataError:
            continue
        for batch in batches:
            batch.validate(full=True)
            batch.to_pylist()


def test_cancel_from_another_thread_stops_an_arrow_fetch(connect):
    import threading
    import time

    from e6driver import QueryCancelledError

    conn = connect()
    cursor = conn.cursor()
    query_id = cursor.execute("SELECT range FROM range(1000000000)")
    timer = threading.Timer(0.3, conn.cursor().cancel, args=(query_id,))
    timer.start()
    started = time.monotonic()
    with pytest.raises(QueryCancelledError):
        for _ in cursor.fetch_arrow_batches():
            pass
    assert time.monotonic() - started < 10
    timer.join()
    status = conn.cursor().status(query_id)
    assert status.status and status.rowCount < 1000000000  # the engine stopped it


def test_a_first_columnar_fetch_does_not_import_pandas(server):
    """pyarrow's pa.array on numpy input imports pandas on its first call (0.3 s): the columnar decoders build
    arrays from buffers instead, so a process that never uses pandas never loads it."""
    import subprocess
    import sys

    host, port = server.address.rsplit(":", 1)
    code = f"""
import sys, e6driver
conn = e6driver.connect(host={host!r}, port={port}, username="alice", password="alice-token")
cur = conn.cursor()
cur.execute("SELECT range AS n, range % 2 = 0 AS b, range * 0.5 AS h, DATE '2020-01-01' + range::INTEGER AS d,"
            " TIMESTAMP '2020-01-01' + to_microseconds(range) AS t FROM range(100000)")
table = cur.fetch_arrow_table()
assert table.num_rows == 100000
print("pandas" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
