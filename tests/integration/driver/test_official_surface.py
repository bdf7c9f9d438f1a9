"""The rest of the official client's 3.0.2 surface (issue 13): constructor, arraysize, metadata, fetch_batch,
update_mete_data, close(timeout=), client, check_strategy_change, debug logging."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from e6driver import ProgrammingError
from e6driver.cursor import Cursor

ROWS = "SELECT range AS n FROM range(20000)"  # more than one 8192-row chunk


def test_official_cursor_constructor_and_arraysize(connect):
    conn = connect(catalog="local", database="main")
    cursor = Cursor(conn, 7, "main", "local")
    assert (cursor.arraysize, cursor.database, cursor.catalog_name) == (7, "main", "local")
    cursor.execute("SELECT range FROM range(20)")
    assert len(cursor.fetchmany()) == 7
    assert Cursor(conn).arraysize == 1  # PEP 249's default, unlike the official client's 1000


def test_arraysize_from_connect_and_cursor(connect):
    conn = connect(arraysize=1000)
    assert conn.cursor().arraysize == 1000
    cur = conn.cursor(arraysize=3)
    cur.execute("SELECT range FROM range(10)")
    assert cur.fetchmany() == [(0,), (1,), (2,)]


def test_fetch_batch_returns_chunks_then_none(cur):
    cur.execute(ROWS)
    first = cur.fetchone()
    seen = [first]
    while True:
        rows = cur.fetch_batch()
        if rows is None:
            break
        assert rows
        seen.extend(rows)
    assert [r[0] for r in seen] == list(range(20000))
    assert cur.fetch_batch() is None


def test_update_mete_data_reads_the_metadata_again(cur):
    cur.execute("SELECT 1 AS a, 'x' AS b")
    cur.description = None
    cur.update_mete_data()
    assert [d[0] for d in cur.description] == ["a", "b"] and cur.rowcount == 1
    assert cur.fetchall() == [(1, "x")]


def test_metadata_carries_routing_and_colour_but_no_password(connect):
    conn = connect(cluster_name="Cluster-A")
    cur = conn.cursor()
    cur.execute("SELECT 1")
    headers = dict(cur.metadata)
    assert headers["cluster-name"] == "cluster-a"
    assert headers.get("strategy") in (None, "blue", "green")
    assert all("alice-token" not in value for value in headers.values())


def test_close_with_timeout_releases_the_query(connect):
    conn = connect()
    cur = conn.cursor()
    query_id = cur.execute(ROWS)
    cur.close(timeout=5)
    with pytest.raises(ProgrammingError, match="not found"):
        conn.cursor().status(query_id)


def test_client_is_the_engine_stub_and_strategy_check_is_idle(connect):
    conn = connect()
    assert hasattr(conn.client, "authenticate") and hasattr(conn.client, "prepareStatementV2")
    conn.cursor().execute("SELECT 1")
    assert conn.check_strategy_change() is False  # nothing announced


def test_debug_true_shows_rpcs_and_query_ids_on_stderr_never_the_password(server):
    host, port = server.address.rsplit(":", 1)
    script = textwrap.dedent(f"""
        import e6driver
        with e6driver.connect(host={host!r}, port={port}, username="alice", password="alice-token",
                              debug=True) as conn:
            cur = conn.cursor()
            print(cur.execute("SELECT 42"))
            print(cur.fetchall())
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    query_id = done.stdout.splitlines()[0]
    assert "[(42,)]" in done.stdout
    # the local engine runs a query in one call (QueryRunService.Run); its id shows on the calls that follow
    assert "Run colour=" in done.stderr and query_id in done.stderr and "authenticated user" in done.stderr
    assert "alice-token" not in done.stderr


def test_debug_false_attaches_nothing(connect):
    before = list(logging.getLogger("e6driver").handlers)
    connect(debug=False)
    assert logging.getLogger("e6driver").handlers == before
