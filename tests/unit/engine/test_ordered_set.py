"""Ordered-set percentiles as window functions: rewritten to DuckDB's quantile functions, nothing else touched."""
import duckdb
import pytest

from mock_server.query.ordered_set import window_percentiles


@pytest.mark.parametrize("sql, expected", [
    ('SELECT percentile_disc(0.25) WITHIN GROUP (ORDER BY "x") OVER () FROM t',
     'SELECT quantile_disc("x", 0.25) OVER () FROM t'),
    ("SELECT PERCENTILE_CONT(0.5) within group (order by abs(x - 1) ASC) over (partition by g) FROM t",
     "SELECT quantile_cont(abs(x - 1), 0.5) over (partition by g) FROM t"),
    ("SELECT percentile_disc([0.25, 0.75]) WITHIN GROUP (ORDER BY x) OVER w FROM t WINDOW w AS ()",
     "SELECT quantile_disc(x, [0.25, 0.75]) OVER w FROM t WINDOW w AS ()"),
])
def test_window_form_is_rewritten(sql, expected):
    assert window_percentiles(sql) == expected


@pytest.mark.parametrize("sql", [
    "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM t",  # the aggregate form: DuckDB runs it
    "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x DESC) OVER () FROM t",  # not the same quantile
    "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x, y) OVER () FROM t",
    "SELECT 'percentile_disc(0.5) WITHIN GROUP (ORDER BY x) OVER ()' AS text",  # data, not SQL
    "SELECT \"percentile_disc(0.5) WITHIN GROUP (ORDER BY x) OVER ()\" FROM t",
    "SELECT percentile_disc() WITHIN GROUP (ORDER BY x) OVER () FROM t",
    "SELECT percentile_disc(0.5 WITHIN GROUP (ORDER BY x) OVER () FROM t",
])
def test_other_shapes_are_left_alone(sql):
    assert window_percentiles(sql) == sql


def test_rewritten_window_percentiles_match_the_aggregate():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS x, range % 3 AS g FROM range(101)")
    windowed = con.execute(window_percentiles(
        "SELECT DISTINCT percentile_disc(0.25) WITHIN GROUP (ORDER BY x) OVER (), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY x) OVER () FROM t")).fetchall()
    aggregate = con.execute("SELECT percentile_disc(0.25) WITHIN GROUP (ORDER BY x), "
                            "percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t").fetchall()
    assert windowed == aggregate == [(25, 50.0)]
