"""Streaming fetch, prefetch threads, cancel, Ctrl-C and timeouts against the local engine."""
from __future__ import annotations

import threading
import time

import pytest

from e6driver import OperationalError, ProgrammingError, QueryCancelledError
from e6driver.protocol import ServerQuery


def _prefetch_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "e6driver-prefetch" and t.is_alive())


def test_large_result_by_iteration(cur):
    cur.execute("SELECT range AS i, 'row ' || range AS s FROM range(200000) ORDER BY i")
    count = total = 0
    for i, s in cur:
        count += 1
        total += i
    assert count == 200000 and total == sum(range(200000))
    assert cur.rowcount == 200000


def test_fetchall_buffer_yields_chunks_in_order(cur):
    cur.execute("SELECT range, repeat('x', 100) FROM range(100000) ORDER BY 1")
    cur.fetchmany(3)
    batches = list(cur.fetchall_buffer())
    assert len(batches) > 1
    rows = [r[0] for batch in batches for r in batch]
    assert rows == list(range(3, 100000))


def test_fetchall_buffer_rejects_a_foreign_query(cur):
    cur.execute("SELECT 1")
    with pytest.raises(ProgrammingError):
        next(cur.fetchall_buffer("not-this-query"))


@pytest.mark.parametrize("prefetch", [0, 1, 4])
def test_prefetch_depths_give_the_same_rows(connect, impl, prefetch):
    with connect(prefetch=prefetch) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT range FROM range(50000) ORDER BY 1")
        assert cursor.fetchall() == [(i,) for i in range(50000)]


def test_prefetch_threads_end_with_their_queries(connect, impl):
    before = _prefetch_threads()
    with connect() as conn:
        for _ in range(5):
            cursor = conn.cursor()
            cursor.execute("SELECT range FROM range(1000000)")
            cursor.fetchmany(10)
            cursor.close()
        cursor = conn.cursor()
        cursor.execute("SELECT range FROM range(100000)")
        cursor.fetchall()
    deadline = time.monotonic() + 5
    while _prefetch_threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _prefetch_threads() == before


def test_cancel_stops_the_query_on_the_server(cur, conn):
    query_id = cur.execute("SELECT range FROM range(1000000000)")
    cur.fetchone()
    cur.cancel()
    with pytest.raises(QueryCancelledError):
        cur.fetchone()
    status = conn.cursor().status(query_id)
    assert status.status  # finished: the engine stopped it
    assert status.rowCount < 1000000000
    cur.clear()


def test_cancel_from_another_thread_during_fetch(connect, impl):
    conn = connect()
    cursor = conn.cursor()
    query_id = cursor.execute("SELECT range FROM range(1000000000)")
    other = conn.cursor()
    timer = threading.Timer(0.3, other.cancel, args=(query_id,))
    timer.start()
    started = time.monotonic()
    with pytest.raises(QueryCancelledError):
        for _ in cursor:
            pass
    assert time.monotonic() - started < 10
    timer.join()


def test_keyboard_interrupt_during_fetch_releases_the_query(cur, conn, monkeypatch):
    query_id = cur.execute("SELECT range FROM range(1000000000)")
    cur.fetchone()

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(ServerQuery, "next_chunk", interrupted)  # Ctrl-C while the next chunk is awaited
    with pytest.raises(KeyboardInterrupt):
        cur.fetchall()
    with pytest.raises(ProgrammingError, match="not found"):
        conn.cursor().status(query_id)


def test_query_timeout_cancels_a_long_query(connect, impl):
    with connect(query_timeout=0.5) as conn:
        cursor = conn.cursor()
        started = time.monotonic()
        with pytest.raises(OperationalError, match="query_timeout"):
            cursor.execute("SELECT sum(range) FROM range(100000000000)")
        assert time.monotonic() - started < 5
        cursor.execute("SELECT 1")  # the connection stays usable
        assert cursor.fetchall() == [(1,)]


def test_zero_column_statement_has_no_result_set_to_stream(cur):
    cur.execute("CREATE OR REPLACE TABLE stream_ddl (a INTEGER)")
    assert cur.description is None
    with pytest.raises(ProgrammingError, match="did not produce a result set"):
        list(cur.fetchall_buffer())
    cur.execute("DROP TABLE stream_ddl")


def test_rpc_timeout_bounds_each_call(connect, impl):
    with connect(rpc_timeout=0.5) as conn:
        cursor = conn.cursor()
        started = time.monotonic()
        with pytest.raises(OperationalError) as info:
            cursor.execute("SELECT sum(range) FROM range(100000000000)")
        assert info.value.grpc_code == "DEADLINE_EXCEEDED" and time.monotonic() - started < 5
    with connect() as conn:  # the abandoned query was released: the engine answers promptly
        cursor = conn.cursor()
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == [(1,)]
