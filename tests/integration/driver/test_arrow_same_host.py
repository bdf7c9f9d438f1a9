"""Arrow results by same-host transfer: what happens when the socket goes away between parts (the rest comes
over gRPC, no row lost or repeated), when the engine goes away in the middle of an answer (a clear error, never
a silently shorter result), and with the switch off."""
from __future__ import annotations

import pyarrow as pa
import pytest

import e6driver
from e6driver.protocol import local_transfer
from mock_server import local_transfer as engine_side
from mock_server.query import local_arrow


SQL = "SELECT range AS n, (range * 0.5)::DOUBLE AS x FROM range(600000)"


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr(local_arrow, "PART_BYTES", 256 * 1024)


USER, PASSWORD = "alice", "alice-token"  # the user the ``engine`` fixture's engines know


def _connect(srv, **options):
    return e6driver.connect(host="127.0.0.1", port=srv.port, username=USER, password=PASSWORD, **options)


def _expected(rows=600000):
    return pa.table({"n": pa.array(range(rows), pa.int64()), "x": pa.array([i * 0.5 for i in range(rows)])})


def test_the_default_route_on_this_machine_is_same_host(connect, server, small_parts):
    before = server.local_transfer.served["arrow"]
    cur = connect().cursor()
    cur.execute(SQL)
    assert cur.fetch_arrow_table().equals(_expected())
    assert server.local_transfer.served["arrow"] - before > 3


def test_the_switch_off_keeps_arrow_on_grpc(connect, server, monkeypatch):
    monkeypatch.setenv("E6DRIVER_LOCAL_TRANSFER", "0")
    before = server.local_transfer.served["arrow"]
    cur = connect().cursor()
    cur.execute(SQL)
    assert cur.fetch_arrow_table().equals(_expected())
    assert server.local_transfer.served["arrow"] == before


def test_a_socket_gone_between_parts_sends_the_rest_over_grpc(engine, small_parts):
    srv = engine()
    with _connect(srv, prefetch=0) as conn:
        cur = conn.cursor()  # no fetch ahead: nothing is in flight when the socket goes
        cur.execute(SQL)
        batches = cur.fetch_arrow_batches()
        first = [next(batches)]
        assert srv.local_transfer.served["arrow"] >= 1
        srv.local_transfer.stop()  # the name no longer answers: the next parts come over gRPC
        got = pa.Table.from_batches(first + list(batches))
    assert got.equals(_expected())


def test_an_engine_gone_in_the_middle_of_an_answer_is_an_error(engine, small_parts, monkeypatch):
    """The engine took the part and never answered: fetching on would skip its rows, so the fetch fails."""
    srv = engine()
    answer = engine_side.LocalTransferServer._answer
    calls = []

    def vanishing(self, data, fds, flags):
        reply = answer(self, data, fds, flags)
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionResetError("the engine went away mid-answer")  # ends the connection, no reply
        return reply

    monkeypatch.setattr(engine_side.LocalTransferServer, "_answer", vanishing)
    monkeypatch.setattr("threading.excepthook", lambda args: None)  # the engine thread's end is expected
    with _connect(srv, prefetch=0) as conn:
        cur = conn.cursor()
        cur.execute(SQL)
        with pytest.raises(e6driver.OperationalError, match="lost"):
            cur.fetch_arrow_table()


def test_the_answer_is_mapped_not_copied(connect, server):
    """The batches' buffers live in the memfd the engine wrote (the process did not copy them)."""
    parts = []
    fetch = local_transfer.fetch_arrow

    def spy(*args, **kwargs):
        parts.append(fetch(*args, **kwargs))
        return parts[-1]

    local_transfer.fetch_arrow, saved = spy, local_transfer.fetch_arrow
    try:
        cur = connect().cursor()
        cur.execute(SQL)
        table = cur.fetch_arrow_table()
    finally:
        local_transfer.fetch_arrow = saved
    mapped = [p.fields()[0] for p in parts if p.fields()[0] is not None]
    assert mapped and table.num_rows == 600000
    start = pa.py_buffer(mapped[-1]).address
    end = start + len(mapped[-1])
    assert any(start <= chunk.buffers()[1].address < end for chunk in table.column("n").chunks)
