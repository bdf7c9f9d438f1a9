"""Catastrophic globs over one's own bucket: matched without backtracking, long patterns refused."""
from __future__ import annotations

import pytest

import e6driver
from e6driver.errors import DatabaseError, OperationalError
from mock_server.objects.globs import MAX_GLOB_CHARS, compile_glob

from accounts import USERS


def test_backtracking_pattern_is_matched_by_counting_not_by_trying(server, connect, still_serves):
    alice = connect("alice")
    alice.objects.create_bucket("alice-globs")
    key = "a" * 240 + ".csv"
    alice.objects.put("alice-globs", key, b"n\n1\n")
    pattern = "*a" * 40 + "*b.csv"  # exponential for a backtracking regex
    cur = alice.cursor()
    with pytest.raises(DatabaseError, match="no objects"):
        cur.execute(f'SELECT * FROM objects."alice-globs"."{pattern}"')
    cur.execute(f'SELECT count(*) FROM objects."alice-globs"."{"*a" * 40}*.csv"')
    assert cur.fetchall() == [(1,)]
    with pytest.raises(DatabaseError, match="longer than"):
        alice.objects.put("alice-globs", "b" * 300, b"x")  # a file name the file system cannot hold
    still_serves(server)


def test_overlong_glob_is_refused_naming_the_limit(server, connect, still_serves):
    alice = connect("alice")
    alice.objects.create_bucket("alice-long")
    alice.objects.put("alice-long", "x.csv", b"n\n1\n")
    cur = alice.cursor()
    with pytest.raises(OperationalError, match="max_glob_chars"):
        cur.execute(f'SELECT * FROM objects."alice-long"."{"*" * (MAX_GLOB_CHARS + 1)}.csv"')
    still_serves(server)


def test_the_glob_length_cap_is_a_server_flag(engine, still_serves):
    from mock_server.__main__ import parse_args
    from mock_server.limits import Limits

    assert parse_args([]).limits.max_glob_chars == MAX_GLOB_CHARS == 256
    assert parse_args(["--max-glob-chars", "12"]).limits.max_glob_chars == 12
    srv = engine(limits=Limits(max_glob_chars=12))
    with e6driver.connect(host="127.0.0.1", port=srv.port, username="alice", password=USERS["alice"]) as alice:
        alice.objects.create_bucket("alice-short")
        alice.objects.put("alice-short", "x.csv", b"n\n1\n")
        cur = alice.cursor()
        cur.execute('SELECT n FROM objects."alice-short"."*.csv"')  # 5 characters
        assert cur.fetchall() == [(1,)]
        with pytest.raises(OperationalError, match=r"max_glob_chars=12 \(server flag --max-glob-chars\)"):
            cur.execute('SELECT n FROM objects."alice-short"."x*?????????.csv"')
    still_serves(srv)


def test_reading_a_key_by_its_name_keeps_the_glob_rules(engine, still_serves):
    """A name that is both a key and a glob reads the object of that name if there is one (a lookup, not a glob,
    so the glob cap does not apply to it); otherwise it is a glob under every rule: capped, no '..'."""
    from mock_server.limits import Limits

    srv = engine(limits=Limits(max_glob_chars=12))
    with e6driver.connect(host="127.0.0.1", port=srv.port, username="alice", password=USERS["alice"]) as alice:
        alice.objects.create_bucket("alice-exact")
        alice.objects.put("alice-exact", "data[2024].csv", b"n\n1\n")  # 14 characters
        cur = alice.cursor()
        cur.execute('SELECT n FROM objects."alice-exact"."data[2024].csv"')  # read (rows decoded elsewhere)
        assert cur.description[0][0] == "n"
        with pytest.raises(OperationalError, match="max_glob_chars=12"):
            cur.execute('SELECT n FROM objects."alice-exact"."data[2025].csv"')
        with pytest.raises(DatabaseError, match="'..' segment"):
            cur.execute('SELECT n FROM objects."alice-exact"."../d[1].csv"')
    still_serves(srv)


@pytest.mark.parametrize("pattern, key, expected", [
    ("*a" * 60 + "*b", "a" * 1000, False),
    ("*a" * 60 + "*", "a" * 1000, True),
    ("**/" * 30 + "x", "/".join("a" * 30) + "/x", True),
    ("**/" * 30 + "y", "/".join("a" * 300) + "/x", False),
    ("**.csv", "a/b/c.csv", True),
    ("logs**", "logs2/x/y", True),
    ("[!a]?", "ba", True),
    ("[]]x", "]x", True),
])
def test_matcher_semantics_on_hostile_shapes(pattern, key, expected):
    assert compile_glob(pattern).match(key) is expected
