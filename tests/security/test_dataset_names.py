"""Dataset names from an attacker: paths, ids, SQL, control characters, lookalikes and sheer size are refused
with the naming rules (never a crash, a file outside the store or another user's dataset), in the API and in
SQL; a dataset of another user stays invisible however it is named."""
from __future__ import annotations

import os
import uuid

import pyarrow as pa
import pytest

import e6driver

from accounts import USERS

TABLE = pa.table({"n": [1, 2]})
BAD_NAMES = [
    "", "../escape", "..", ".", "a/b", "/abs", "a\\b", "nul\x00byte", "new\nline", "tab\tname", " lead", "trail ",
    "UPPER", "sales\u0430", "caf\u00e9", "-lead", "trail-", "a--b", "a.b", "a@1", 'q"uote', "x'; DROP TABLE y; --",
    "1starts_with_digit", "a" * 64, "a" * 1_000_000, str(uuid.uuid4()), "$objects", "sp ace", "a*", "a?b", "%2e%2e"]


@pytest.fixture
def engine_and_users(engine):
    srv = engine()
    conns = {user: e6driver.connect(host="127.0.0.1", port=srv.port, username=user, password=USERS[user])
             for user in ("alice", "bob")}
    yield srv, conns
    for conn in conns.values():
        conn.close()


def test_bad_names_are_refused_with_the_rules(engine_and_users, still_serves, tmp_path):
    srv, users = engine_and_users
    alice = users["alice"]
    for name in BAD_NAMES:
        with pytest.raises(e6driver.ProgrammingError, match="invalid dataset name") as info:
            alice.datasets.upload(name, TABLE)
        assert len(str(info.value)) < 600  # a huge name is not echoed whole
        assert "1-63 characters" in str(info.value)
    assert alice.datasets.list() == []
    root = os.path.join(str(tmp_path), "data0", "datasets")
    assert sorted(e for e in os.listdir(root) if not e.startswith(".")) == []  # no folder was made
    assert not os.path.exists(os.path.join(str(tmp_path), "data0", "escape"))
    still_serves(srv)


def test_longest_and_edge_names_are_accepted(engine_and_users, still_serves):
    srv, users = engine_and_users
    alice = users["alice"]
    for name in ("a" * 63, "_", "a-b", "x-1-y", "_-_", "a1"):
        assert alice.datasets.upload(name, TABLE).name == name
    assert alice.datasets.download("a" * 63).equals(TABLE)
    still_serves(srv)


def test_bad_names_in_other_calls_and_sql(engine_and_users, still_serves):
    srv, users = engine_and_users
    alice = users["alice"]
    for name in ("../escape", "a" * 100_000, "UPPER", "a--b"):
        for call in (lambda: alice.datasets.download(name), lambda: alice.datasets.update(name, TABLE),
                     lambda: alice.datasets.subscribe(name), lambda: alice.datasets.grant(name, "bob", "read")):
            with pytest.raises(e6driver.ProgrammingError, match="invalid dataset name"):
                call()
    alice.datasets.upload("x", TABLE)
    for version in (2 ** 31, 2 ** 40, -1, "1"):
        with pytest.raises(e6driver.ProgrammingError, match="version must be an int"):
            alice.datasets.download("x", version=version)
    cur = alice.cursor()
    with pytest.raises(e6driver.ProgrammingError, match="has no version 99999999999999999999"):
        cur.execute('SELECT * FROM datasets.main."x@99999999999999999999"')
    for sql in ('SELECT * FROM datasets.main."../../etc/passwd"', 'SELECT * FROM datasets.main."a""; DROP x"',
                'SELECT * FROM datasets.main."' + "b" * 5000 + '"', 'SELECT * FROM datasets.main."x@-1"',
                'SELECT * FROM datasets.main."x@99999999999999999999"'):
        with pytest.raises(e6driver.ProgrammingError):
            cur.execute(sql)
            cur.fetchall()
    still_serves(srv)


def test_an_id_shaped_name_cannot_shadow_a_dataset(engine_and_users, still_serves):
    srv, users = engine_and_users
    alice, bob = users["alice"], users["bob"]
    target = bob.datasets.upload("bob-private", TABLE)
    with pytest.raises(e6driver.ProgrammingError, match="invalid dataset name"):
        alice.datasets.upload(target.id, pa.table({"n": [666]}))  # would be read as bob's id
    for given in (target.id, target.id.upper(), "bob-private"):
        with pytest.raises(e6driver.ProgrammingError) as info:
            alice.datasets.download(given)
        assert "bob-private" not in str(info.value) or given == "bob-private"
    assert bob.datasets.download(target.id).equals(TABLE)
    still_serves(srv)
