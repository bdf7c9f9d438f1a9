"""SQL that writes a store table, or keeps a view over one, is refused naming it (mock_server.catalogs
.check_read_only), however the statement is spelled; the check reads each statement's head once, so a text with
many references costs no more than reading them."""
from __future__ import annotations

import pyarrow as pa
import pytest

import e6driver
from mock_server.catalogs import _HEAD, _statement_heads, check_read_only
from mock_server.query.sql_dialect import tokens as sql_tokens


@pytest.mark.parametrize("sql", [
    "delete /* x */ from datasets.main.guarded", 'DELETE\nFROM "datasets"."main"."guarded"',
    "SELECT 1; TRUNCATE TABLE datasets.main.guarded", "insert -- c\n into datasets.main.guarded values (9)",
    "CREATE TEMPORARY VIEW v AS SELECT * FROM (SELECT * FROM datasets.main.guarded)",
    "create or replace macro m() as table select * from datasets.main.guarded",
])
def test_writes_and_views_are_refused_however_spelled(connect, server, still_serves, sql):
    alice = connect("alice")
    if "guarded" not in alice.get_tables("datasets", "main"):
        alice.datasets.upload("guarded", pa.table({"x": [1]}))
    with pytest.raises(e6driver.ProgrammingError, match="read-only in SQL|a view cannot read"):
        alice.cursor().execute(sql)
    cur = alice.cursor()
    cur.execute("SELECT count(*) FROM datasets.main.guarded")
    assert cur.fetchall() == [(1,)]
    still_serves(server)


def test_the_check_is_linear_in_the_references():
    sql = "SELECT 1 FROM " + ", ".join(f"datasets.main.t{i}" for i in range(20_000))
    head = _statement_heads(sql_tokens(sql))
    for start in range(14, len(sql), len(sql) // 20_000):
        statement = head(start)
        assert len(statement) <= _HEAD + 1  # a bounded head per reference, never the text before it
        check_read_only(statement, "x")
