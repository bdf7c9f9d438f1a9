"""The engine's SQL rewrite puts a unary minus inside a literal cast with '::' (docs/engine-contract.md, "SQL
dialect"). Hostile text cannot use it to change what a statement means beyond that: it only ever adds brackets
around a minus and its number, never inside a string, identifier, comment or dollar-quoted text, and never
changes how many statements there are."""
from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings, strategies as st

from mock_server.query.sql_dialect import DialectError, rewrite


def _bare(sql: str) -> str:
    return "".join(ch for ch in sql if ch not in "() \t\n")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="-:0123456789.eE x;,(*/+\n", max_size=40))
def test_the_rewrite_only_adds_brackets(sql):
    try:
        out = rewrite(sql)
    except DialectError:
        return
    assert _bare(out) == _bare(sql.strip().removesuffix(";").rstrip()) or _bare(out) == _bare(sql.strip())
    try:
        before = len(duckdb.extract_statements(sql))
    except duckdb.Error:
        return
    assert len(duckdb.extract_statements(out)) == before


@pytest.mark.parametrize("sql", [
    "select '-1::int'", 'select "-1::int" from t', "select 1 -- -1::int", "select /* -1::int */ 1",
    "select $$-1::int$$", "select $q$ -1::int $q$", r"select E'\'-1::int'",
])
def test_minus_signs_in_quoted_text_and_comments_are_left_alone(sql):
    assert rewrite(sql) == sql


def test_a_folded_literal_cannot_end_a_statement(connect, server, still_serves):
    cur = connect("alice").cursor()
    cur.execute("SELECT -1::INTEGER; SELECT -2::INTEGER AS two")
    assert cur.fetchall() == [(-2,)]
    still_serves(server)
