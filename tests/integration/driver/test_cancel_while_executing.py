"""The query id is known while execute() still runs, so another connection can cancel a long query (what
Superset's Stop button does: it records the id from the executing cursor and cancels from a new connection)."""
import asyncio
import threading
import time

import pytest

import e6driver
import e6driver.aio

LONG_QUERY = "SELECT count(*) FROM range(100000000000) AS a(x) WHERE x % 7 = 3"  # minutes of work


def test_another_connection_cancels_an_executing_query(connect):
    running = connect()
    cursor = running.cursor()
    outcome = {}

    def execute():
        try:
            cursor.execute(LONG_QUERY)
            outcome["rows"] = cursor.fetchall()
        except e6driver.Error as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=execute, daemon=True)
    worker.start()
    pause = threading.Event()  # never set: a sleep the loop bounds
    for _ in range(3000):  # the id appears once the server has prepared the query (bounded: 60 s)
        if cursor.query_id is not None or not worker.is_alive():
            break
        pause.wait(0.02)
    query_id = cursor.query_id
    assert query_id is not None and worker.is_alive(), "the query id must be visible while execute() runs"
    canceller = connect()
    canceller.cursor().cancel(query_id)
    worker.join(120)
    assert not worker.is_alive()
    assert "rows" not in outcome and isinstance(outcome["error"], e6driver.OperationalError)
    assert query_id in str(outcome["error"]) or "cancel" in str(outcome["error"]).lower()


def test_query_id_is_none_before_any_execute_and_after_close(connect):
    cursor = connect().cursor()
    assert cursor.query_id is None
    query_id = cursor.execute("SELECT 1")
    assert cursor.query_id == query_id
    cursor.close()
    assert cursor.query_id is None


def _when_executing(cursor, action) -> threading.Thread:
    """Run ``action`` in a thread as soon as the cursor's query has an id (execute() still running)."""
    def wait_then_act():
        pause = threading.Event()
        for _ in range(3000):  # bounded: 60 s
            if cursor.query_id is not None:
                break
            pause.wait(0.02)
        pause.wait(0.3)  # well inside the execution
        action()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def test_cancel_of_the_same_cursor_from_another_thread_stops_its_execute(connect, impl):
    cursor = connect(query_timeout=60).cursor()  # bounds the test if cancel does not reach the server
    failures = []

    def cancel():
        try:
            cursor.cancel()
        except e6driver.Error as exc:
            failures.append(exc)

    canceller = _when_executing(cursor, cancel)
    started = time.monotonic()
    with pytest.raises(e6driver.QueryCancelledError):
        cursor.execute(LONG_QUERY)
    assert time.monotonic() - started < 20  # the query itself runs for minutes
    canceller.join(10)
    assert failures == []
    cursor.execute("SELECT 42")  # the cursor is usable again, and the cancel is forgotten
    assert cursor.fetchall() == [(42,)]


def test_cancel_before_any_execute_is_a_programming_error(connect):
    with pytest.raises(e6driver.ProgrammingError, match="no query has been executed"):
        connect().cursor().cancel()


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.05])
def test_a_cancel_racing_the_end_of_a_query_is_harmless(conn, delay):
    cursor = conn.cursor()
    failures = []

    def cancel():
        try:
            cursor.cancel()
        except e6driver.ProgrammingError:
            pass  # the query ended and was released first: nothing to cancel
        except e6driver.Error as exc:
            failures.append(exc)

    for _ in range(5):
        timer = threading.Timer(delay, cancel)
        timer.start()
        try:
            cursor.execute("SELECT sum(range) FROM range(200000)")
            rows = cursor.fetchall()
        except e6driver.QueryCancelledError:
            pass
        else:
            assert rows == [(sum(range(200000)),)]
        timer.join(10)
        assert failures == []
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == [(1,)]


def _aio_connect(server):
    """An asyncio connection to the module's engine; query_timeout bounds a test whose stop does not arrive."""
    host, port = server.address.rsplit(":", 1)
    return e6driver.aio.connect(host=host, port=int(port), username="alice", password="alice-token",
                                query_timeout=60)


async def _executing(cursor) -> None:
    """Return well inside the execution of the asyncio cursor's query (its id is known: bounded, 60 s)."""
    for _ in range(3000):
        if cursor.query_id is not None:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)


def test_cancel_from_another_task_stops_an_awaited_execute(server, impl):
    async def main():
        async with _aio_connect(server) as conn:
            cursor = conn.cursor()

            async def cancel_when_executing():
                await _executing(cursor)
                await cursor.cancel()

            canceller = asyncio.ensure_future(cancel_when_executing())
            started = time.monotonic()
            with pytest.raises(e6driver.QueryCancelledError):
                await cursor.execute(LONG_QUERY)
            elapsed = time.monotonic() - started
            await canceller
            with pytest.raises(e6driver.ProgrammingError, match="no query has been executed"):
                await conn.cursor().cancel()
            await cursor.execute("SELECT 42")
            return elapsed, await cursor.fetchall()

    elapsed, rows = asyncio.run(main())
    assert elapsed < 20 and rows == [(42,)]


@pytest.mark.parametrize("action", ["clear", "close"])
def test_clear_or_close_from_another_thread_stops_the_executing_query(connect, server, impl, action):
    """Both did nothing while execute() ran (the query only became the cursor's when execute returned): the
    query ran to query_timeout and, after close(), stayed open on the server with the closed cursor."""
    cursor = connect(query_timeout=60).cursor()  # bounds the test if the call does not reach the server
    seen = []

    def act():
        seen.append(cursor.query_id)
        getattr(cursor, action)()

    actor = _when_executing(cursor, act)
    started = time.monotonic()
    expected = e6driver.QueryCancelledError if action == "clear" else (e6driver.QueryCancelledError,
                                                                         e6driver.InterfaceError)
    with pytest.raises(expected):
        cursor.execute(LONG_QUERY)
    assert time.monotonic() - started < 20  # the query itself runs for minutes
    actor.join(10)
    assert not actor.is_alive() and cursor.closed == (action == "close")
    assert server.queries.find(seen[0]) is None  # released on the server, not left to its TTL
    if action == "clear":
        cursor.execute("SELECT 42")  # cleared, not closed: the cursor is usable again
        assert cursor.fetchall() == [(42,)]



@pytest.mark.parametrize("stop", ["cancel the task", "cursor.cancel()"])
def test_a_query_stopped_during_an_awaited_execute_is_released_when_the_connection_closes_at_once(server, stop):
    """Its release ran in a task of its own that the connection's close did not wait for: leaving ``async with``
    right away left the query open on the server (counted against the user's open queries until its TTL)."""
    async def main():
        async with _aio_connect(server) as conn:
            cursor = conn.cursor()
            task = asyncio.ensure_future(cursor.execute(LONG_QUERY))
            await _executing(cursor)
            query_id = cursor.query_id
            if stop == "cursor.cancel()":
                await cursor.cancel()
            else:
                task.cancel()
            with pytest.raises((asyncio.CancelledError, e6driver.QueryCancelledError)):
                await task
        return query_id

    query_id = asyncio.run(main())
    assert query_id is not None and server.queries.find(query_id) is None


def test_close_from_another_task_stops_an_awaited_execute(server, impl):
    async def main():
        async with _aio_connect(server) as conn:
            cursor = conn.cursor()
            seen = []

            async def close_when_executing():
                await _executing(cursor)
                seen.append(cursor.query_id)
                await cursor.close()

            closer = asyncio.ensure_future(close_when_executing())
            started = time.monotonic()
            with pytest.raises((e6driver.QueryCancelledError, e6driver.InterfaceError)):
                await cursor.execute(LONG_QUERY)
            await closer
            return time.monotonic() - started, seen[0]

    elapsed, query_id = asyncio.run(main())
    assert elapsed < 20 and server.queries.find(query_id) is None


BIG_RESULT = "SELECT range FROM range(20000000)"  # read for many seconds, prefetched ahead


@pytest.mark.parametrize("action, error", [("cancel", e6driver.QueryCancelledError),
                                           ("close", e6driver.InterfaceError)])
def test_cancel_or_close_from_another_thread_stops_a_running_fetch_with_an_error(connect, impl, action, error):
    """The reader waited forever on the prefetch queue the cancel had emptied (cancel), or took the dropped rest
    of the result as its end and returned part of the rows without an error (close)."""
    cursor = connect().cursor()
    cursor.execute(BIG_RESULT)
    outcome = {}

    def fetch():
        try:
            outcome["rows"] = len(cursor.fetchall())
        except e6driver.Error as exc:
            outcome["error"] = exc

    reader = threading.Thread(target=fetch, daemon=True)
    reader.start()
    reader.join(0.5)
    assert reader.is_alive()  # still reading
    getattr(cursor, action)()
    reader.join(20)
    assert not reader.is_alive() and "rows" not in outcome and isinstance(outcome["error"], error)


@pytest.mark.parametrize("action, error", [("cancel", e6driver.QueryCancelledError),
                                           ("close", e6driver.InterfaceError)])
def test_cancel_or_close_from_another_task_stops_an_awaited_fetch_with_an_error(server, impl, action, error):
    """The awaiting task waited forever on the queue whose producer the cancel or close had stopped."""
    async def main():
        async with _aio_connect(server) as conn:
            cursor = conn.cursor()
            await cursor.execute(BIG_RESULT)
            reader = asyncio.ensure_future(cursor.fetchall())
            await asyncio.sleep(0.5)
            assert not reader.done()
            await getattr(cursor, action)()
            with pytest.raises(error):
                await asyncio.wait_for(reader, 20)

    asyncio.run(main())
