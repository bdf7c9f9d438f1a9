"""Finding object-store/dataset table names in SQL text, and key globs."""
from __future__ import annotations

import pytest

from mock_server.catalogs import find_references
from mock_server.objects.globs import compile_glob as glob_regex, literal_prefix

BOTH = ("objects", "datasets")


def names(sql, catalog="", schema=""):
    return [(c, s, n) for _, _, c, s, n in find_references(sql, catalog, schema, BOTH)]


@pytest.mark.parametrize("sql, expected", [
    ('SELECT * FROM objects.logs."a/*.csv"', [("objects", "logs", "a/*.csv")]),
    ('select * from OBJECTS."my-bucket"."$objects" t', [("objects", "my-bucket", "$objects")]),
    ("SELECT * FROM datasets.main.sales JOIN datasets.main.\"sales@1\" USING (id)",
     [("datasets", "main", "sales"), ("datasets", "main", "sales@1")]),
    ('SELECT \'objects.a."b"\' -- objects.a."b"\n', []),
    ('/* objects.a."b" */ SELECT "objects.a.b"', []),
    ('SELECT x.objects.a.b FROM t', []),  # part of a longer dotted name
    ('SELECT * FROM local.main.t', []),
    ('SELECT E\'it\\\'s objects.a."b"\' FROM objects.b1."k.csv"', [("objects", "b1", "k.csv")]),
])
def test_three_part_names_anywhere_outside_literals_and_comments(sql, expected):
    assert names(sql) == expected


def test_relative_names_only_in_the_catalog_and_after_from_or_join():
    assert names('SELECT * FROM "x.csv"', "objects", "logs") == [("objects", "logs", "x.csv")]
    assert names('SELECT * FROM logs."x.csv" JOIN "y.csv" ON true', "objects", "b") == [
        ("objects", "logs", "x.csv"), ("objects", "b", "y.csv")]
    assert names('SELECT "x.csv" FROM t', "objects", "logs") == []  # a column, not a table
    assert names('SELECT * FROM "x.csv"', "local", "main") == []
    assert names("WITH t AS (SELECT 1) SELECT * FROM t", "objects", "logs") == []  # bare: a CTE


def test_unquoted_relative_names_only_when_the_catalog_knows_them():
    def known(catalog, schema, name):
        return (catalog, schema, name) in {("datasets", "main", "sales"), ("objects", "b", "events")}

    def found(sql, catalog, schema):
        return [(c, s, n) for _, _, c, s, n in find_references(sql, catalog, schema, BOTH, known)]

    assert found("SELECT sales.id FROM sales JOIN t ON true", "datasets", "main") == [("datasets", "main", "sales")]
    assert found("SELECT * FROM b.events, other", "objects", "x") == [("objects", "b", "events")]
    assert found("WITH t AS (SELECT 1) SELECT * FROM t", "datasets", "main") == []
    assert found("WITH sales AS (SELECT 1) SELECT * FROM sales", "datasets", "main") == []  # the CTE wins
    assert found("SELECT * FROM sales(1)", "datasets", "main") == []  # a function call
    assert found("SELECT * FROM sales", "local", "main") == []


@pytest.mark.parametrize("pattern, matches, misses", [
    ("logs/*.csv", ["logs/a.csv"], ["logs/x/a.csv", "logs/a.csv.gz", "other/a.csv"]),
    ("logs/**/*.csv", ["logs/a.csv", "logs/x/y/a.csv"], ["logs/a.json"]),
    ("logs/202?/[0-1]*.parquet", ["logs/2024/01.parquet"], ["logs/2024/21.parquet", "logs/20245/0.parquet"]),
    ("a/[!x]*", ["a/b"], ["a/x"]),
    ("a+b(c).csv", ["a+b(c).csv"], ["aab(c).csv"]),
])
def test_glob_semantics(pattern, matches, misses):
    regex = glob_regex(pattern)
    assert all(regex.match(k) for k in matches)
    assert not any(regex.match(k) for k in misses)


def test_literal_prefix():
    assert literal_prefix("logs/2024/*.csv") == "logs/2024/"
    assert literal_prefix("a/b.csv") == "a/b.csv"
    assert literal_prefix("x?/[ab]") == "x"


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM kv.users u JOIN kv.orders ON true", [("kv", "main", "users"), ("kv", "main", "orders")]),
    ('SELECT * FROM KV."my-items" JOIN kv.main.b USING (k)', [("kv", "main", "my-items"), ("kv", "main", "b")]),
    ("SELECT kv.f(1), x.kv.t FROM t", []),  # a function call; part of a longer name
    ("CALL kv.main.f()", []),  # a three-part function name
    ("USE kv.main", []),  # a location: the sandbox's to judge
    ("SELECT 'kv.users' -- kv.users\n", []),
    # a table (or alias) named kv: kv.<name> outside FROM/JOIN is its column
    ("SELECT kv.v, kv.w FROM kv WHERE kv.v > 1", []),
    ("SELECT kv.v FROM kv JOIN kv.items i ON i.v = kv.v", [("kv", "main", "items")]),
    ("SELECT kv.v FROM t AS kv", []),
])
def test_two_part_names_of_plugged_in_catalogs(sql, expected):
    found = find_references(sql, "", "", BOTH + ("kv",), short={"kv": "main"})
    assert [(c, s, n) for _, _, c, s, n in found] == expected
