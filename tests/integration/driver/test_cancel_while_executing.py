"""The query id is known while execute() still runs, so another connection can cancel a long query (what
Superset's Stop button does: it records the id from the executing cursor and cancels from a new connection)."""
import threading

import pytest

import e6driver

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
