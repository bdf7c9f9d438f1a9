"""The asyncio API against the local engine: values under both decoders, streaming, cancel on task
cancellation, timeouts, blue-green switch mid-fetch, session expiry, suspension, pool, and hundreds of
concurrent queries on one event loop without a thread per query."""
from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from typing import Any, Coroutine, Iterator

import pytest

import e6driver
from e6driver import AuthenticationError, OperationalError, PoolTimeout, ProgrammingError, QueryCancelledError
from e6driver import aio
from e6driver.protocol import bluegreen
from mock_server.server import EngineServer
from value_cases import VALUE_CASES

USER, PASSWORD = "alice", "alice-token"


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture
def address(server) -> dict:
    host, port = server.address.rsplit(":", 1)
    return dict(host=host, port=int(port), username=USER, password=PASSWORD)


def _args(srv: EngineServer, **options: Any) -> dict:
    host, port = srv.address.rsplit(":", 1)
    return dict(host=host, port=int(port), username=USER, password=PASSWORD, **options)


@pytest.mark.parametrize("sql, expected", VALUE_CASES)
def test_values_match_the_blocking_cursor(address, impl, sql, expected):
    async def main():
        async with aio.connect(**address) as conn:
            cur = conn.cursor()
            await cur.execute(sql)
            return await cur.fetchall()
    assert run(main()) == [expected]


def test_streaming_fetchone_fetchmany_fetchall_and_async_for(address, impl):
    async def main():
        async with aio.connect(**address, prefetch=1) as conn:
            cur = conn.cursor()
            await cur.execute("SELECT range AS n, 'v' || range AS s FROM range(50000)")
            first = await cur.fetchone()
            some = await cur.fetchmany(1000)
            rest = await cur.fetchall()
            cur2 = conn.cursor()
            await cur2.execute("SELECT range FROM range(20000)")
            iterated = [row[0] async for row in cur2]
            return first, some, rest, iterated, cur.rowcount
    first, some, rest, iterated, rowcount = run(main())
    assert [r[0] for r in [first] + some + rest] == list(range(50000))
    assert rest[-1] == (49999, "v49999") and rowcount == 50000
    assert iterated == list(range(20000))


def test_parameters_executemany_and_no_result_set(address):
    async def main():
        async with aio.connect(**address) as conn:
            cur = conn.cursor()
            await cur.execute("CREATE OR REPLACE TABLE aio_many (id INTEGER, label VARCHAR)")
            with pytest.raises(ProgrammingError, match="did not produce a result set"):
                await cur.fetchall()
            await cur.executemany("INSERT INTO aio_many VALUES (%s, %s)", [(i, f"it's {i}") for i in range(10)])
            count = cur.rowcount
            await cur.execute("SELECT label FROM aio_many WHERE id = %(id)s", {"id": 7})
            row = await cur.fetchall()
            await cur.execute("DROP TABLE aio_many")
            return count, row
    assert run(main()) == (10, [("it's 7",)])


def test_arrow_and_pandas(address):
    async def main():
        async with aio.connect(**address) as conn:
            cur = await conn.execute("SELECT range AS n, range * 0.5 AS half FROM range(30000)")
            table = await cur.fetch_arrow_table()
            cur = await conn.execute("SELECT 1 AS a")
            frame = await cur.fetch_df()
            return table, frame
    table, frame = run(main())
    assert table.num_rows == 30000 and table.column("n").to_pylist()[-1] == 29999
    assert frame["a"].tolist() == [1]


def test_arrow_results_route_matches_rows(address, monkeypatch, arrow_route):
    """The asyncio cursor's columnar reads take the Arrow results route too (same-host or gRPC); rows left by a
    reader that stopped early come out as the same tuples."""
    from e6driver import columnar

    arrow_pieces = []
    ipc_batches = columnar.ipc_batches
    monkeypatch.setattr(columnar, "ipc_batches", lambda stream, columns: arrow_pieces.append(1) or
                        ipc_batches(stream, columns))
    sql = "SELECT range AS n, (range / 7)::DECIMAL(18,3) AS d, 'v' || range AS s FROM range(400000) ORDER BY 1"

    async def main():
        async with aio.connect(**address) as conn:
            expected = await (await conn.execute(sql)).fetchall()
            table = await (await conn.execute(sql)).fetch_arrow_table()
            cur = await conn.execute(sql)
            batches = cur.fetch_arrow_batches()
            head = await batches.__anext__()
            rest = await cur.fetchall()
            return expected, table, head, rest
    expected, table, head, rest = run(main())
    assert arrow_pieces
    assert (arrow_route.same_host_parts > 1) == (arrow_route.name == "same-host")
    assert [tuple(r.values()) for r in table.to_pylist()] == expected
    assert [tuple(r.values()) for r in head.to_pylist()] + rest == expected


def test_wrong_password_fails_at_connect(address):
    async def main():
        await aio.connect(**dict(address, password="nope"))
    with pytest.raises(AuthenticationError):
        run(main())


def test_cancelling_the_task_stops_the_query_on_the_server(address):
    async def main():
        async with aio.connect(**address) as conn:
            cur = conn.cursor()
            await cur.execute("SELECT range FROM range(1000000000)")
            query_id = cur.query_id
            await cur.fetchone()
            task = asyncio.ensure_future(cur.fetchall())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(100):  # the release runs in a task of its own; give it the loop
                await asyncio.sleep(0.05)
                try:
                    await conn.cursor().status(query_id)
                except ProgrammingError as exc:
                    return str(exc)
            return "still known"
    assert "not found" in run(main())


def test_cursor_cancel_and_query_timeout(address):
    async def main():
        async with aio.connect(**address) as conn:
            cur = conn.cursor()
            await cur.execute("SELECT range FROM range(1000000000)")
            await cur.cancel()
            with pytest.raises(QueryCancelledError):
                await cur.fetchall()
        async with aio.connect(**address, query_timeout=0.5) as conn:
            cur = conn.cursor()
            with pytest.raises(OperationalError, match="query_timeout"):
                await cur.execute("SELECT sum(range) FROM range(100000000000)")
                await cur.fetchall()
    run(main())


def test_blue_green_switch_mid_fetch(engine):
    srv = engine(strategy="blue")

    async def main():
        async with aio.connect(**_args(srv)) as conn:
            old = conn.cursor()
            await old.execute("SELECT range FROM range(300000) ORDER BY 1")
            first = await old.fetchmany(10)
            assert srv.switch_strategy("green")
            other = conn.cursor()
            await other.execute("SELECT 42")
            assert await other.fetchall() == [(42,)]
            rest = await old.fetchall()
            await old.close()
            return [r[0] for r in first + rest]
    assert run(main()) == list(range(300000))
    assert bluegreen.REGISTRY.for_endpoint(srv.address).active == "green"


def test_expired_session_is_renewed_and_suspended_cluster_resumed(engine):
    srv = engine(resume_seconds=0.5)

    async def main():
        async with aio.connect(**_args(srv)) as conn:
            cur = conn.cursor()
            await cur.execute("SELECT 1")
            await cur.fetchall()
            assert srv.expire_sessions() >= 1
            await cur.execute("SELECT 2")
            two = await cur.fetchall()
            srv.suspend()
            await cur.execute("SELECT 3")
            return two, await cur.fetchall()
    assert run(main()) == ([(2,)], [(3,)])


@pytest.fixture
def engine_process(tmp_path) -> Iterator[dict]:
    """The engine in a process of its own, so this process's threads are the client's alone."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--host", "127.0.0.1", "--port", "0", "--user", USER, "--password",
         PASSWORD, "--data-dir", str(tmp_path), "--max-open-queries-per-user", "400", "--max-open-queries", "400",
         "--log-level", "WARNING"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"listening on (\S+):(\d+)", line)
        assert match, f"engine did not start: {line!r}"
        yield dict(host=match.group(1), port=int(match.group(2)), username=USER, password=PASSWORD)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_hundreds_of_concurrent_queries_on_one_loop_without_a_thread_each(engine_process):
    async def main():
        async with aio.connect(**engine_process) as conn:
            threads = []

            async def one(i: int) -> int:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT %s * 2", (i,))
                    threads.append(threading.active_count())
                    return (await cur.fetchall())[0][0]
            before = threading.active_count()
            results = await asyncio.gather(*(one(i) for i in range(300)))
            return results, before, max(threads)
    results, before, peak = run(main())
    assert results == [i * 2 for i in range(300)]
    assert peak - before <= 2  # grpc.aio's own poller at most; no thread per query


def test_pool_hands_out_checked_connections_and_times_out(address):
    async def main():
        async with aio.AsyncConnectionPool(max_size=2, **address) as pool:
            async def one(i: int) -> int:
                async with pool.connection() as conn:
                    cur = await conn.execute("SELECT %s", (i,))
                    value = (await cur.fetchall())[0][0]
                    await cur.close()
                    return value
            results = await asyncio.gather(*(one(i) for i in range(40)))
            held = [await pool.get_connection(), await pool.get_connection()]
            with pytest.raises(PoolTimeout):
                await pool.get_connection(timeout=0.2)
            for conn in held:
                await pool.return_connection(conn)
            return results, pool.get_statistics()
    results, stats = run(main())
    assert results == list(range(40))
    assert stats["created_connections"] == 2 and stats["timeouts"] == 1


def test_a_closed_pool_says_so_with_its_own_error(address):
    """It was a bare InterfaceError here and a PoolTimeout in the blocking pool (a retry-on-timeout loop spun)."""
    async def main():
        pool = aio.AsyncConnectionPool(max_size=1, **address)
        await pool.close()
        with pytest.raises(e6driver.PoolClosed, match="closed") as raised:
            await pool.get_connection()
        assert not isinstance(raised.value, PoolTimeout)
    run(main())


def test_pool_a_connection_returned_twice_goes_to_one_borrower_and_is_counted_once(address):
    """A second return listed it idle twice (two borrowers shared one connection) and, once closed, took two
    connections off the open count (the pool then opened more than its capacity)."""
    async def main():
        async with aio.AsyncConnectionPool(max_size=2, timeout=0.2, **address) as pool:
            conn = await pool.get_connection()
            await pool.return_connection(conn)
            await pool.return_connection(conn)
            first, second = await pool.get_connection(), await pool.get_connection()
            shared = first is second
            await first.close()  # broken by its borrower: discarded on return, once
            await pool.return_connection(first)
            await pool.return_connection(first)
            stats = pool.get_statistics()
            await pool.return_connection(second)
            return shared, stats
    shared, stats = run(main())
    assert not shared and stats["open_connections"] == 1 and stats["discarded_connections"] == 1


def test_pool_closes_a_borrowers_cursors_when_the_connection_returns(address, server):
    """They stayed open: the borrower's unread query held on the server (and a pending blue-green switch), and
    its cursor went on reading on the next borrower's connection."""
    async def main():
        async with aio.AsyncConnectionPool(max_size=1, **address) as pool:
            async with pool.connection() as conn:
                cur = conn.cursor()
                query_id = await cur.execute("SELECT range FROM range(100000000)")
                await cur.fetchone()
            still_open = server.queries.find(query_id) is not None
            async with pool.connection() as again:
                with pytest.raises(e6driver.InterfaceError, match="cursor is closed"):
                    await cur.fetchone()
                same = again is conn
            return still_open, same
    still_open, same = run(main())
    assert same and not still_open


def test_same_rules_object_as_the_blocking_driver():
    # One source of the rules: both front-ends run SessionRules' plans.
    from e6driver.protocol.aio import AsyncSession
    from e6driver.protocol.session import Session, SessionRules
    assert issubclass(AsyncSession, SessionRules) and issubclass(Session, SessionRules)
    assert AsyncSession.call_plan is Session.call_plan is SessionRules.call_plan
    assert e6driver.aio.AsyncConnection.__init__.__defaults__ is not None


ASYNC_FETCHES = {
    "fetchone": lambda cur: cur.fetchone(),
    "fetchmany": lambda cur: cur.fetchmany(3),
    "fetchall": lambda cur: cur.fetchall(),
    "anext": lambda cur: cur.__anext__(),
    "fetch_arrow_table": lambda cur: cur.fetch_arrow_table(),
    "fetch_df": lambda cur: cur.fetch_df(),
}


@pytest.mark.parametrize("fetch", ASYNC_FETCHES.values(), ids=ASYNC_FETCHES.keys())
def test_fetching_without_a_result_set_raises(address, fetch):
    async def main():
        async with aio.connect(**address) as conn:
            cur = conn.cursor()
            with pytest.raises(ProgrammingError, match="no query has been executed"):
                await fetch(cur)
            await cur.execute("CREATE OR REPLACE TABLE aio_ddl (a INTEGER)")
            with pytest.raises(ProgrammingError, match="did not produce a result set"):
                await fetch(cur)
            await cur.executemany("INSERT INTO aio_ddl VALUES (%s)", [(1,), (2,)])
            with pytest.raises(ProgrammingError, match="did not produce a result set"):
                await fetch(cur)
            with pytest.raises(ProgrammingError):
                await cur.execute("SELECT * FROM no_such_table_anywhere")
            with pytest.raises(ProgrammingError, match="last operation failed"):
                await fetch(cur)
            await cur.execute("DROP TABLE aio_ddl")
    run(main())


def test_a_small_query_is_one_call_on_an_engine_with_run(address):
    async def main():
        async with aio.connect(**address) as conn:
            cur = conn.cursor()
            await cur.execute("SELECT 1")  # warm: session and capabilities
            session = conn.session
            sent, perform = [], session._perform

            async def counting(op):
                sent.append(getattr(op, "method", None))
                return await perform(op)

            session._perform = counting
            await cur.execute("SELECT 42 AS answer, 'x' AS label")
            rows = await cur.fetchall()
            return rows, [m for m in sent if m and m != "clearOrCancelQuery"], session.capabilities
    rows, sent, capabilities = run(main())
    assert rows == [(42, "x")] and sent == ["Run"] and capabilities["run"] is True


def test_closing_a_fully_read_cursor_releases_without_waiting_and_the_release_reaches_the_server(address, server):
    async def main():
        conn = await aio.connect(**address)
        cur = conn.cursor()
        query_id = await cur.execute("SELECT range FROM range(10)")
        assert len(await cur.fetchall()) == 10
        session = conn.session
        sent_before = len(session._releases)
        await cur.close()
        queued = len(session._releases) - sent_before  # the release went to a task of its own
        other = conn.cursor()
        with pytest.raises(e6driver.Error, match="not found"):  # addressed by id: the release is sent first
            await other.status(query_id)
        await conn.close()
        return query_id, queued
    query_id, queued = run(main())
    assert queued == 1
    assert server.queries.find(query_id) is None


def test_endpoint_and_credentials_from_the_environment_as_the_blocking_connection(server, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env of the working directory
    host, port = server.address.rsplit(":", 1)
    for name in ("E6DRIVER_ACCESS_TOKEN", "E6DRIVER_ENV_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("E6DRIVER_HOST", host)
    monkeypatch.setenv("E6DRIVER_PORT", port)
    monkeypatch.setenv("E6DRIVER_USER", USER)
    monkeypatch.setenv("E6DRIVER_PASSWORD", PASSWORD)

    async def main(**arguments):
        async with aio.connect(**arguments) as conn:
            cur = conn.cursor()
            await cur.execute("SELECT 1")
            return (conn.host, conn.port), await cur.fetchall()
    assert run(main()) == ((host, int(port)), [(1,)])
    monkeypatch.setenv("E6DRIVER_PASSWORD", "wrong")
    with pytest.raises(AuthenticationError):
        run(main())
    assert run(main(username=USER, password=PASSWORD))[0] == (host, int(port))  # arguments win


def test_description_matches_the_blocking_cursor(address):
    sql = "SELECT 1::BIGINT AS b, 2::INT AS i, 1.5::DOUBLE AS d, 'x' AS s"

    async def main():
        async with aio.connect(**address) as conn:
            cur = conn.cursor()
            await cur.execute(sql)
            return cur.description
    with e6driver.connect(**address) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        expected = cur.description
    assert run(main()) == expected
    assert [d[3] for d in expected] == [8, 4, 8, None]  # internal_size: what dataframe libraries size by
