"""Issue 12 items 3 and 4: execute() returns at the first chunk whatever the result size, rowcount is -1 until
known, a small query is one call (QueryRunService.Run) with no prefetch thread and no later fetch, an engine
without Run gets the e6data calls, releases sent without waiting still reach the server, and an engine without
getNextResultBatchV2 is read with getNextResultBatch."""
import threading

import grpc
import pytest

import e6driver
from e6driver import ProgrammingError
from mock_server.query.engine import Engine
from mock_server.query.run_service import QueryRunServicer
from mock_server.query.service import QueryEngineServicer

HUGE = "SELECT range AS n FROM range(1000000000)"  # 10^9 rows: never produced in full


def _rpcs(conn):
    """Names of the RPCs ``conn`` sends from now on (the blocking front-end's one call path)."""
    sent = []
    session = conn.session
    perform = session._perform

    def counting(op):
        sent.append(getattr(op, "method", None))
        return perform(op)

    session._perform = counting
    return sent


def test_execute_of_a_huge_result_returns_at_the_first_chunk(connect, server):
    conn = connect()
    cur = conn.cursor()
    query_id = cur.execute(HUGE)
    assert cur.rowcount == -1  # not known yet
    assert cur.fetchmany(3) == [(0,), (1,), (2,)]
    produced = server.queries.find(query_id).explain_analyze()["row_count"]
    assert 0 < produced < 10_000_000  # bounded by the engine's chunk queue, not by the result
    cur.close()


def test_rowcount_known_at_once_for_a_small_result_and_after_the_end_for_a_large_one(connect):
    cur = connect().cursor()
    cur.execute("SELECT range FROM range(10)")
    assert cur.rowcount == 10
    cur.execute("SELECT range FROM range(1000000000)")  # cannot be counted by the time its first chunk is ready
    assert cur.rowcount == -1
    cur.execute("SELECT range FROM range(300000)")
    assert cur.rowcount in (-1, 300000)  # known at once only if the engine happened to finish first
    assert len(cur.fetchall()) == 300000
    assert cur.rowcount == 300000


def test_a_one_chunk_result_starts_no_thread_and_needs_no_later_fetch(connect, monkeypatch):
    conn = connect()
    conn.cursor().execute("SELECT 1")  # warm: session, capabilities, the releasing thread
    started = []
    start = threading.Thread.start

    def counting_start(thread):
        started.append(thread.name)
        return start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    sent = _rpcs(conn)
    cur = conn.cursor()
    cur.execute("SELECT 42 AS answer, 'x' AS label")
    assert cur.fetchall() == [(42, "x")]
    # prepared, executed, described and fetched, the end in the same answer (releases go without waiting)
    assert [m for m in sent if m and m != "clearOrCancelQuery"] == ["Run"]
    cur.close()
    driver_threads = [name for name in started if name.startswith("e6driver")]  # the engine runs in process
    assert driver_threads == []  # no prefetch thread; the release went to the running releasing thread
    cur = conn.cursor()
    cur.execute("SELECT range FROM range(1000000)")  # 8 MB, more than one fetch: the rest prefetched
    assert len(cur.fetchall()) == 1000000
    cur.close()
    assert [name for name in started if name.startswith("e6driver")] == ["e6driver-prefetch"]


def test_released_queries_reach_the_server(connect, server):
    conn = connect()
    cur = conn.cursor()
    query_id = cur.execute("SELECT range FROM range(5)")
    assert len(cur.fetchall()) == 5
    cur.close()  # read to its end: released without waiting
    with pytest.raises(ProgrammingError, match="not found"):
        conn.cursor().status(query_id)  # a query addressed by id sees the release
    ids = []
    for _ in range(3):
        cur = conn.cursor()
        ids.append(cur.execute("SELECT 1"))
        cur.fetchall()
        cur.close()
    conn.close()  # waits for its queued releases
    assert all(server.queries.find(i) is None for i in ids)


def test_an_engine_without_batch_v2_is_read_with_getnextresultbatch(fresh_server, monkeypatch):
    def unimplemented(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")

    monkeypatch.setattr(QueryEngineServicer, "getNextResultBatchV2", unimplemented)
    srv = fresh_server(users={"alice": "alice-token"})
    host, port = srv.address.rsplit(":", 1)
    with e6driver.connect(host=host, port=int(port), username="alice", password="alice-token") as conn:
        cur = conn.cursor()
        cur.execute("SELECT range FROM range(3000000)")  # 24 MB: more than Run's answer carries
        assert [r[0] for r in cur.fetchall()] == list(range(3000000))
        assert conn.session.batch_v2 is False
        sent = _rpcs(conn)
        cur.execute("SELECT range FROM range(3000000)")
        assert sum(r[0] for r in cur.fetchall()) == 2999999 * 3000000 // 2
        assert "getNextResultBatchV2" not in sent and "getNextResultBatch" in sent


def test_an_engine_without_run_gets_the_e6data_calls(fresh_server, monkeypatch):
    """What an e6data cluster sees: prepare, execute, metadata, one fetch (V2) — and the release."""
    monkeypatch.setattr(Engine, "capabilities", lambda self: {"transactions": True, "savepoints": False,
                                                              "ingest": True, "run": False})
    ran = []
    monkeypatch.setattr(QueryRunServicer, "Run", lambda self, request, context: ran.append(request))
    srv = fresh_server(users={"alice": "alice-token"})
    host, port = srv.address.rsplit(":", 1)
    with e6driver.connect(host=host, port=int(port), username="alice", password="alice-token",
                          catalog="local", database="main") as conn:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        sent = _rpcs(conn)
        cur.execute("SELECT 42 AS answer, 'x' AS label")
        assert cur.fetchall() == [(42, "x")]
        assert [m for m in sent if m and m != "clearOrCancelQuery"] == [
            "prepareStatementV2", "executeStatementV2", "getResultMetadata", "getNextResultBatchV2"]
        assert conn.session.capabilities["run"] is False and ran == []


def test_a_long_statement_answers_run_with_its_id_so_it_can_be_cancelled(connect, server):
    conn = connect()
    cur = conn.cursor()
    ids = []
    cur._note_started = lambda query: ids.append(query.query_id)  # what cancel() from another thread uses
    sent = _rpcs(conn)
    query_id = cur.execute("SELECT count(*) FROM range(3000000000)")  # seconds: longer than Run waits
    assert ids == [query_id] and [m for m in sent if m][:2] == ["Run", "getResultMetadata"]
    assert cur.fetchall() == [(3000000000,)]


def test_tenants_cannot_change_the_streaming_buffer_the_engine_sets(connect):
    cur = connect().cursor()
    with pytest.raises(e6driver.Error, match="not allowed"):
        cur.execute("SET streaming_buffer_size = '1GB'")
