"""Backslash-escape rewriting of string literals (spec §10, docs/engine-contract.md)."""
from __future__ import annotations

import math

import duckdb
import pytest
from hypothesis import given, settings, strategies as st

from mock_server.query.sql_dialect import DialectError, rewrite, tokens


def pyformat_escape(value: str) -> str:
    """What the official client sends for a str parameter (spec §10 table)."""
    escaped = (value.replace("\\", "\\\\").replace("'", "\\'").replace("\r", "\\r")
               .replace("\n", "\\n").replace("\t", "\\t"))
    return f"'{escaped}'"


@pytest.mark.parametrize("sql, expected", [
    (r"select 'it\'s'", "select 'it''s'"),
    (r"select 'a\\b'", r"select 'a\b'"),
    (r"select 'a\nb\tc\rd'", "select 'a\nb\tc\rd'"),
    (r"select '\q'", "select 'q'"),
    (r"select '\b\0\Z\%'", "select 'b0Z%'"),
    ("select 'x''y'", "select 'x''y'"),
    ("select 1;", "select 1"),
    ("  select 1 ;  ", "select 1"),
    ("select 1;;", "select 1;"),
])
def test_rewrites(sql, expected):
    assert rewrite(sql) == expected


@pytest.mark.parametrize("sql", [
    r"select E'a\nb\'c'",
    r"select e'\\'",
    r'select "we\ird""name" from t',
    r"select 1 -- it\'s a comment",
    r"select /* it\'s /* nested */ still */ 1",
    r"select $$it\'s$$, $tag$a\b$tag$",
    r"select X'00ff', x'AB', b'101'",
    r"select 1 where name like'%a'",
])
def test_leaves_other_text_alone(sql):
    assert rewrite(sql) == sql


@pytest.mark.parametrize("sql", [
    r"select 'abc\'; drop table t; --",
    "select 'open",
    'select "open',
    "select /* open",
    "select $x$ open",
    "select E'open",
])
def test_unterminated_text_is_rejected(sql):
    with pytest.raises(DialectError):
        rewrite(sql)


def test_identifier_ending_in_e_is_not_an_e_prefix():
    assert rewrite(r"select name'a\'b'") == "select name'a''b'"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_any_parameter_value_round_trips_as_one_literal(value):
    """Whatever the value, the rewritten SQL is one literal that DuckDB reads back verbatim."""
    sql = f"select {pyformat_escape(value)} as v"
    statements = duckdb.extract_statements(rewrite(sql))
    assert len(statements) == 1
    assert duckdb.execute(rewrite(sql)).fetchall() == [(value,)]


@pytest.mark.parametrize("value", [
    "\\'; drop table t; --", "'", "\\", "\\\\'", "'' or 1=1 --", "$$", "*/", "\n;select 2",
])
def test_hostile_values_stay_inside_their_literal(value):
    sql = rewrite(f"select {pyformat_escape(value)} as v")
    assert len(duckdb.extract_statements(sql)) == 1
    assert duckdb.execute(sql).fetchall() == [(value,)]


def test_duckdb_accepts_hex_blob_literal():
    assert duckdb.execute(rewrite("select X'00ff'")).fetchall() == [(b"\x00\xff",)]


@pytest.mark.parametrize("sql, expected", [
    ("select -170141183460469231731687303715884105728::HUGEINT",
     "select (-170141183460469231731687303715884105728)::HUGEINT"),
    ("select -128 :: tinyint, f(-1_000::double)", "select (-128) :: tinyint, f((-1_000)::double)"),
    ("select 5 - -1::int", "select 5 - (-1)::int"),
    ("select case when b then -1::int else - 2::int end", "select case when b then (-1)::int else (-2)::int end"),
])
def test_unary_minus_goes_inside_a_literal_cast(sql, expected):
    """'::' binds tighter than unary minus: the positive literal was cast first and each type's minimum
    overflowed; the sign now belongs to the literal."""
    assert rewrite(sql) == expected


@pytest.mark.parametrize("sql", [
    "select x -1::int", "select 1 -1::int", "select null -1::int", "select (x) -1::int", "select a[2] -1::int",
    "select 'a' -1::int", 'select "and" -1::int', "select x /* and */ -1::int", "select x -- and\n-1::int",
    "select ? -1::int", "select -x::int", "select -1", "select 1e-1::int", "select a[1:-1]",
    "select -0::double, -0.0::double, -1.5e3::double, -.5::double",  # zeros keep their sign; no fraction needs it
])
def test_binary_minus_and_other_minus_signs_are_left_alone(sql):
    assert rewrite(sql) == sql


@pytest.mark.parametrize("sql, value", [
    ("select -170141183460469231731687303715884105728::HUGEINT", -2 ** 127),
    ("select -9223372036854775808::BIGINT", -2 ** 63),
    ("select 3 -1::int", 2),
    ("select - 0.5::int", -1),
])
def test_duckdb_reads_the_rewritten_minus(sql, value):
    assert duckdb.execute(rewrite(sql)).fetchall() == [(value,)]


def test_a_negative_zero_keeps_its_sign():
    (value,) = duckdb.execute(rewrite("select -0.0::double")).fetchone()
    assert math.copysign(1.0, value) == -1.0


def test_a_line_comment_ends_at_a_carriage_return_as_in_duckdb():
    """Our scanner ended "--" comments only at \\n: what followed a \\r was comment text to it and SQL to DuckDB."""
    sql = "select 1 -- note\r, 'a\\tb' AS s"
    assert rewrite(sql) == "select 1 -- note\r, 'a\tb' AS s"
    assert duckdb.execute(rewrite(sql)).fetchall() == [(1, "a\tb")]
    assert [t.text for t in tokens("select 1 -- x\r, y")] == ["select", "1", ",", "y"]
