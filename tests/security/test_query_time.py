"""A statement that executes for ever, kept from being idle by a client that polls it: stopped after
``--max-query-seconds`` of execution with RESOURCE_EXHAUSTED naming the flag; the time a slow reader of a big
result takes is not counted."""
from __future__ import annotations

import time

import pytest

import e6driver
from e6driver.errors import OperationalError
from mock_server.__main__ import parse_args
from mock_server.limits import Limits

from accounts import USERS


def _connect(server, user="alice"):
    # query_timeout: were the engine's limit gone, the test fails in a minute instead of hanging
    return e6driver.connect(host="127.0.0.1", port=server.port, username=user, password=USERS[user],
                            connect_timeout=20, query_timeout=60)


def test_a_statement_executing_past_the_limit_is_stopped_naming_the_flag(engine, still_serves):
    srv = engine(limits=Limits(max_query_seconds=2), sweep_interval=0.5)
    with _connect(srv) as conn:
        cur = conn.cursor()
        started = time.monotonic()
        with pytest.raises(OperationalError, match=r"max_query_seconds=2 \(server flag --max-query-seconds\)"):
            cur.execute("SELECT count(*) FROM range(10000000000000) t(x) WHERE x % 7 = 3")  # hours of CPU
            cur.fetchall()
        assert time.monotonic() - started < 30
        with pytest.raises(OperationalError, match="max_query_seconds"):
            cur.execute("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r")
            cur.fetchall()
        cur.execute("SELECT 42")
        assert cur.fetchall() == [(42,)]
    still_serves(srv)


def test_a_slow_reader_of_a_big_result_is_not_stopped(engine):
    srv = engine(limits=Limits(max_query_seconds=2), sweep_interval=0.5)
    with _connect(srv) as conn:
        cur = conn.cursor()
        cur.execute("SELECT x, x::VARCHAR AS s FROM range(3000000) t(x)")
        first = cur.fetchmany(10)
        time.sleep(4)   # the producer waits for the reader meanwhile
        rest = cur.fetchall()
        assert len(first) + len(rest) == 3000000


def test_the_query_time_limit_is_a_server_flag():
    assert parse_args([]).limits.max_query_seconds == 3600
    assert parse_args(["--max-query-seconds", "5"]).limits.max_query_seconds == 5
