"""The driver through blue-green switches, session expiry, suspension and restarts of a real local engine."""
from __future__ import annotations

import logging
import threading

import pytest

import e6driver
from e6driver import OperationalError
from e6driver.protocol import bluegreen
from mock_server.server import EngineServer

from ports import free_port

USER, PASSWORD = "alice", "alice-token"


def _connect(srv: EngineServer, **options) -> e6driver.Connection:
    host, port = srv.address.rsplit(":", 1)
    return e6driver.connect(host=host, port=int(port), username=USER, password=PASSWORD, **options)


def _state(srv):
    return bluegreen.REGISTRY.for_endpoint(srv.address)


def test_detects_green_on_first_use(engine):
    srv = engine(strategy="green")
    with _connect(srv) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == [(1,)]
        assert _state(srv).active == "green"


def test_in_flight_query_finishes_on_old_colour_and_new_work_moves(engine):
    srv = engine(strategy="blue")
    with _connect(srv) as conn:
        old = conn.cursor()
        old.execute("SELECT range FROM range(300000) ORDER BY 1")
        first = old.fetchmany(10)
        assert srv.switch_strategy("green")
        other = conn.cursor()
        other.execute("SELECT 42")  # blue refused with 456 → detects green, no error reaches the caller
        assert other.fetchall() == [(42,)]
        rest = old.fetchall()  # the blue query keeps streaming
        assert [r[0] for r in first + rest] == list(range(300000))
        old.close()
        assert _state(srv).active == "green"
        other.execute("SELECT 43")
        assert other.fetchall() == [(43,)]


def test_pending_switch_applies_when_the_last_query_closes(engine):
    srv = engine(strategy="blue")
    with _connect(srv) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT range FROM range(200000)")
        cursor.fetchone()
        srv.switch_strategy("green")
        cursor.status()  # the response to a blue call announces green → pending while the query is open
        assert _state(srv).active == "blue" and _state(srv).pending == "green"
        cursor.close()
        assert _state(srv).active == "green" and _state(srv).pending is None


def test_an_arrow_fetch_learns_of_a_switch_and_finishes_on_its_colour(engine, monkeypatch, arrow_route):
    """FetchArrow answers are written by hand (gRPC) or told on the same-host socket: the engine appends the
    announcement, the driver reads it."""
    from e6driver.protocol import answers, local_transfer

    announced = []
    for answer_class in (answers.ArrowAnswer, local_transfer.ArrowPart):
        read = answer_class.new_strategy.fget
        monkeypatch.setattr(answer_class, "new_strategy", property(
            lambda answer, read=read: announced.append(read(answer)) or announced[-1]))
    srv = engine(strategy="blue")
    with _connect(srv) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT range AS n FROM range(5000000)")  # ~10 answers; the driver fetches 2 ahead
        batches = cursor.fetch_arrow_batches()
        first = next(batches)
        srv.switch_strategy("green")
        rest = list(batches)  # sent as blue: the later answers announce green, pending while the query is open
        assert "green" in announced
        assert _state(srv).pending == "green"
        assert sum(b.num_rows for b in [first] + rest) == 5000000
        cursor.close()
        assert _state(srv).active == "green" and _state(srv).pending is None


def test_cancel_uses_the_query_colour(engine):
    srv = engine(strategy="blue")
    with _connect(srv) as conn:
        cursor = conn.cursor()
        query_id = cursor.execute("SELECT range FROM range(100000000)")
        srv.switch_strategy("green")
        conn.cursor().execute("SELECT 1")
        cursor.cancel(query_id)  # sent as blue: the server still knows the query under its own colour
        with pytest.raises(e6driver.QueryCancelledError):
            cursor.fetchall()


def test_several_switches_back_and_forth(engine):
    srv = engine(strategy="blue")
    with _connect(srv) as conn:
        cursor = conn.cursor()
        for colour in ["green", "blue", "green", "blue", "green"]:
            srv.switch_strategy(colour)
            cursor.execute("SELECT count(*) FROM range(1000)")
            assert cursor.fetchall() == [(1000,)]
        assert _state(srv).active == "green"


def test_expired_session_is_renewed_transparently(engine, caplog):
    srv = engine()
    with _connect(srv) as conn:
        cursor = conn.cursor()
        cursor.execute("SET TimeZone = 'Asia/Tokyo'")
        assert srv.expire_sessions() >= 1
        with caplog.at_level(logging.WARNING, logger="e6driver"):
            cursor.execute("SELECT 2")
        assert cursor.fetchall() == [(2,)]
        assert conn.get_schema_names()
    # the state the old session held is gone, and the renewal says so (it was an INFO line)
    assert any("without the old one's SET values, temporary tables" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


def test_expiry_while_streaming_keeps_the_query(engine):
    srv = engine()
    with _connect(srv) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT range FROM range(300000) ORDER BY 1")
        head = cursor.fetchmany(3)
        srv.expire_sessions()
        rest = cursor.fetchall()
        assert [r[0] for r in head + rest] == list(range(300000))


def test_auto_resume_of_a_suspended_cluster(engine):
    srv = engine(resume_seconds=0.3)
    srv.suspend()
    with _connect(srv, auto_resume=True, auto_resume_timeout=10) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT 7")
        assert cursor.fetchall() == [(7,)]


def test_suspended_without_auto_resume_is_operational_error(engine):
    srv = engine(resume_seconds=0.3)
    srv.suspend()
    with pytest.raises(OperationalError, match="suspended"):
        _connect(srv, auto_resume=False)
    with _connect(srv, auto_resume=False, lazy=True) as conn:
        with pytest.raises(OperationalError, match="suspended"):
            conn.cursor().execute("SELECT 7")


def test_restart_before_delivery_replays_and_after_delivery_fails_clearly(engine):
    port = free_port()
    srv = engine(port)
    with _connect(srv, connect_timeout=15, prefetch=0) as conn:
        setup = conn.cursor()
        setup.execute("CREATE OR REPLACE TABLE restart_t AS SELECT range AS i FROM range(300000)")
        waiting = conn.cursor()
        waiting.execute("SELECT i FROM restart_t ORDER BY i")  # executed, nothing delivered yet
        delivering = conn.cursor()
        # ~33 MB: far more than one fetch brings (a V2 fetch carries every ready chunk up to 4 MB)
        delivering_id = delivering.execute("SELECT i, repeat('x', 100) AS pad FROM restart_t ORDER BY i")
        delivering.fetchmany(100)
        srv.stop(0)
        srv = engine(port)  # same port, same data dir
        rows = waiting.fetchall()
        assert [r[0] for r in rows] == list(range(300000))  # replayed, exact, no duplicates
        with pytest.raises(OperationalError) as info:
            delivering.fetchall()
        assert delivering_id in str(info.value) and info.value.query_id == delivering_id
        setup.execute("SELECT count(*) FROM restart_t")
        assert setup.fetchall() == [(300000,)]


def test_a_server_gone_mid_delivery_is_a_connection_lost_error(engine):
    srv = engine()
    with _connect(srv, connect_timeout=1, prefetch=0) as conn:
        cur = conn.cursor()
        query_id = cur.execute("SELECT range, repeat('x', 100) AS pad FROM range(300000)")  # ~33 MB
        cur.fetchmany(100)
        srv.stop(0)
        with pytest.raises(e6driver.ConnectionLostError) as info:  # catchable as such, not a bare OperationalError
            cur.fetchall()
        assert query_id in str(info.value) and "100 rows had been delivered" in str(info.value)


def test_many_threads_share_one_connection_across_a_switch(engine):
    srv = engine(strategy="blue")
    conn = _connect(srv)
    failures = []

    def work():
        try:
            cursor = conn.cursor()
            for _ in range(10):
                cursor.execute("SELECT sum(range) FROM range(10000)")
                assert cursor.fetchall() == [(sum(range(10000)),)]
            cursor.close()
        except Exception as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    srv.switch_strategy("green")
    for thread in threads:
        thread.join()
    conn.close()
    assert failures == []
