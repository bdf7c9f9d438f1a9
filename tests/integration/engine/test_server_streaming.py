"""Cancel, clear of running queries, idle TTL, and streaming a large result in bounded memory."""
from __future__ import annotations

import re
import struct
import threading
import time

import grpc
import pytest

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver.protocol.result_metadata import parse_result_metadata
from mock_server.server import EngineServer

ENDLESS = "select count(*) as n from range(100000000) a, range(100000) b"  # ~1e13 rows: runs until stopped


def _wait_until(predicate, limit: float = 30.0) -> bool:
    """Poll ``predicate`` (a safety net against hangs, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_cancel_interrupts_a_running_query(client, stub, expect_error):
    handle = client.start(ENDLESS)
    outcome = {}

    def blocked_metadata():
        try:
            client.metadata(handle)
            outcome["code"] = grpc.StatusCode.OK
        except grpc.RpcError as err:
            outcome["code"] = err.code()

    waiter = threading.Thread(target=blocked_metadata)
    waiter.start()
    time.sleep(0.3)  # let the query get going; metadata is blocked meanwhile
    assert waiter.is_alive(), "metadata must block while the query runs"
    stub.cancelQuery(pb.CancelQueryRequest(**handle))
    waiter.join(30)
    assert outcome.get("code") == grpc.StatusCode.CANCELLED
    assert _wait_until(lambda: stub.status(pb.StatusRequest(**handle)).status)
    assert expect_error(client.fetch, handle).code() == grpc.StatusCode.CANCELLED
    stub.cancelQuery(pb.CancelQueryRequest(**handle))  # idempotent
    client.clear(handle)
    assert client.query("select 1 as still_working")[1] == [(1,)]


def test_clear_stops_a_running_query(client, server):
    handle = client.start(ENDLESS)
    time.sleep(0.2)
    query = server.queries.find(handle["queryId"])
    client.clear(handle)
    assert server.queries.find(handle["queryId"]) is None
    assert _wait_until(lambda: query.finished)


def test_idle_queries_and_sessions_expire():
    with EngineServer(users={"u": "p"}, session_ttl=0.5, query_ttl=0.5, sweep_interval=0.1) as srv:
        with grpc.insecure_channel(srv.address) as channel:
            from e6driver._proto import e6x_engine_pb2_grpc

            stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
            session = stub.authenticate(pb.AuthenticateRequest(user="u", password="p")).sessionId
            resp = stub.prepareStatement(pb.PrepareStatementRequest(sessionId=session, queryString="select 1"))
            assert len(srv.queries) == 1
            assert _wait_until(lambda: len(srv.queries) == 0 and len(srv.sessions) == 0)
            with pytest.raises(grpc.RpcError) as info:
                stub.getResultMetadata(pb.GetResultMetadataRequest(
                    engineIP=resp.engineIP, sessionId=session, queryId=resp.queryId))
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.RpcError) as info:
                stub.prepareStatement(pb.PrepareStatementRequest(sessionId=session, queryString="select 1"))
            assert info.value.code() == grpc.StatusCode.INTERNAL
            assert "Access denied" in info.value.details()


def _peak_rss_kib() -> int:
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+)", status.read()).group(1))


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def test_large_result_streams_in_bounded_memory(client):
    if not _reset_peak_rss():
        pytest.skip("cannot reset the peak RSS counter on this platform")
    rows = 20_000_000
    handle = client.start(f"select range as a, range * 2 as b from range({rows})")
    count, columns = parse_result_metadata(client.metadata(handle))
    assert count == -1  # still streaming: the row count is not known yet
    assert [c[1] for c in columns] == ["LONG", "LONG"]
    _reset_peak_rss()
    baseline = _peak_rss_kib()
    seen = chunks = 0
    largest = 0
    while True:
        raw = client.fetch(handle)
        if not raw:
            break
        chunks += 1
        largest = max(largest, len(raw))
        assert raw[:3] == b"\x08\x00\x01"  # Chunk.size comes first
        seen += struct.unpack_from(">i", raw, 3)[0]
    growth_mib = (_peak_rss_kib() - baseline) / 1024
    assert seen == rows
    assert parse_result_metadata(client.metadata(handle))[0] == rows  # exact once exhausted
    client.clear(handle)
    assert chunks > 10 and largest < 8 * 1024 * 1024
    # The whole result is ~360 MiB encoded (plus ~320 MiB as Arrow); streaming keeps a few chunks.
    assert growth_mib < 150, f"peak RSS grew by {growth_mib:.0f} MiB"


def test_wide_rows_are_split_into_bounded_chunks(client, decode):
    handle = client.start("select range as i, repeat('x', 10000) as wide from range(3000)")
    client.metadata(handle)
    sizes, total = [], 0
    while True:
        raw = client.fetch(handle)
        if not raw:
            break
        sizes.append(len(raw))
        rows = decode(raw)[1]
        assert all(len(r[1]) == 10000 for r in rows)
        total += len(rows)
    client.clear(handle)
    assert total == 3000
    assert len(sizes) > 1 and max(sizes) < 6 * 1024 * 1024


def test_a_call_waiting_for_chunks_of_a_cleared_query_ends():
    """Clearing a finished query drops its queued chunks and end marker (release, expiry, engine stop): a call
    still reading it must end with an error, not wait forever (it would hold a server thread, and the engine's
    process could not exit)."""
    import threading

    from mock_server import errors as engine_errors
    from mock_server.query.engine import Engine
    from mock_server.query.queries import QueryRegistry

    engine = Engine(None)
    registry = QueryRegistry(engine)
    try:
        query = registry.create("u", "", "SELECT range FROM range(10)", "", "")
        query.execute()
        assert query.wait_ready(10.0)
        deadline = time.monotonic() + 10
        while not query.finished and time.monotonic() < deadline:
            time.sleep(0.01)
        assert query.finished
        registry.remove(query.id)  # cleared while nothing was read
        outcome = []

        def read():
            try:
                outcome.append(query.next_chunks(1 << 20))
            except engine_errors.EngineError as exc:
                outcome.append(exc)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(10.0)
        assert not reader.is_alive() and isinstance(outcome[0], engine_errors.EngineError)
    finally:
        registry.close()
        engine.close()
