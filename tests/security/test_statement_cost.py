"""Statements that cost the engine far more than their size, sent by an ordinary user: refused quickly with a
message naming the problem, before a worker is held for long, and the engine still serving the others."""
from __future__ import annotations

import pytest

from e6driver.errors import ProgrammingError
from mock_server.query.sandbox import MAX_NAME_PARTS


@pytest.mark.parametrize("sql", [
    "SELECT " + "a." * 2000 + "x",              # DuckDB binds n parts in ~n^2: 4000 took 7 s, 400 000 hours
    "SELECT " + '"a".' * 2000 + "x",
    "SELECT 1 FROM range(1) t WHERE " + "t." * MAX_NAME_PARTS + "x = 1",
])
def test_a_dotted_name_beyond_the_cap_is_refused_at_once(connect, server, still_serves, sql):
    cur = connect("alice").cursor()
    with pytest.raises(ProgrammingError, match=f"more than {MAX_NAME_PARTS} parts"):  # the sandbox's, before binding
        cur.execute(sql)
    still_serves(server)


def test_names_and_method_chains_within_the_cap_still_bind(connect, server):
    cur = connect("alice").cursor()
    cur.execute("CREATE TABLE parts AS SELECT {'a': {'b': 1}} AS s")
    cur.execute("SELECT local.main.parts.s.a.b, 'X'" + ".lower().upper()" * 20 + " FROM local.main.parts")
    assert cur.fetchall() == [(1, "X")]


@pytest.mark.parametrize("sql", [
    "SELECT " + "(" * 200_000 + "1" + ")" * 200_000,    # nesting: DuckDB's max_expression_depth (locked)
    "SELECT " + "NOT " * 200_000 + "true",
    "SELECT " + "[" * 200_000 + "1" + "]" * 200_000,
    "SELECT " + "(SELECT " * 50_000 + "1" + ")" * 50_000,
])
def test_deep_nesting_is_refused_without_taking_the_engine_down(connect, server, still_serves, sql):
    cur = connect("alice", rpc_timeout=60).cursor()
    with pytest.raises(ProgrammingError, match="expression depth"):
        cur.execute(sql)
    still_serves(server)
