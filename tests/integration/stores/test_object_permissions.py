"""Bucket grants: a user sees only what was granted, the admin sees all, grants survive a restart."""
from __future__ import annotations

import pytest

import e6driver
from e6driver.errors import PermissionDeniedError
from mock_server.server import EngineServer

SQL = 'SELECT count(*) FROM objects."{bucket}"."data/*.csv"'


@pytest.fixture(scope="module")
def buckets(root, alice):
    root.objects.create_bucket("admin-made")
    root.objects.put("admin-made", "data/x.csv", b"n\n1\n")
    alice.objects.create_bucket("alice-owned")
    alice.objects.put("alice-owned", "data/y.csv", b"n\n1\n2\n")
    return "admin-made", "alice-owned"


def test_each_user_sees_only_granted_buckets(buckets, root, alice, bob):
    names = {b.name: b.access for b in root.objects.buckets()}
    assert names["admin-made"] == "admin" and names["alice-owned"] == "admin"
    assert {b.name: b.access for b in alice.objects.buckets()} == {"alice-owned": "write"}
    assert bob.objects.buckets() == []
    assert "admin-made" not in alice.get_schema_names("objects")
    assert bob.get_schema_names("objects") == []
    assert bob.get_tables("objects", "alice-owned") == []


def test_without_a_grant_everything_is_denied(buckets, bob, rows):
    calls = [lambda: bob.objects.get("alice-owned", "data/y.csv"),
             lambda: bob.objects.list("alice-owned"),
             lambda: bob.objects.stat("alice-owned", "data/y.csv"),
             lambda: bob.objects.put("alice-owned", "z", b"1"),
             lambda: bob.objects.delete("alice-owned", "data/y.csv"),
             lambda: bob.objects.grant("alice-owned", "bob", "write"),
             lambda: rows(bob, SQL.format(bucket="alice-owned")),
             lambda: rows(bob, 'SELECT * FROM objects."alice-owned"."$objects"')]
    for call in calls:
        with pytest.raises(PermissionDeniedError, match="bob"):
            call()
    # An unknown bucket looks the same as one without a grant.
    with pytest.raises(PermissionDeniedError):
        bob.objects.list("no-such-bucket")


def test_read_grant_allows_reading_not_writing(buckets, alice, bob, rows):
    assert alice.objects.grant("alice-owned", "bob", "read") == "read"
    try:
        assert bob.objects.get("alice-owned", "data/y.csv") == b"n\n1\n2\n"
        assert rows(bob, SQL.format(bucket="alice-owned")) == [(2,)]
        assert [b.name for b in bob.objects.buckets()] == ["alice-owned"]
        with pytest.raises(PermissionDeniedError):
            bob.objects.put("alice-owned", "data/z.csv", b"n\n3\n")
        with pytest.raises(PermissionDeniedError):
            bob.objects.grant("alice-owned", "bob", "write")  # only owner or admin grants
        assert alice.objects.grant("alice-owned", "bob", "write") == "write"
        bob.objects.put("alice-owned", "data/z.csv", b"n\n3\n")
        assert rows(bob, SQL.format(bucket="alice-owned")) == [(3,)]
    finally:
        assert alice.objects.revoke("alice-owned", "bob") == "none"
    with pytest.raises(PermissionDeniedError):
        bob.objects.get("alice-owned", "data/y.csv")


def test_admin_reads_and_grants_every_bucket(buckets, root, alice, rows):
    assert rows(root, SQL.format(bucket="alice-owned")) >= [(2,)]
    with pytest.raises(PermissionDeniedError):
        alice.objects.get("admin-made", "data/x.csv")
    root.objects.grant("admin-made", "alice", "read")
    assert rows(alice, SQL.format(bucket="admin-made")) == [(1,)]
    with pytest.raises(e6driver.ProgrammingError, match="unknown user"):
        root.objects.grant("admin-made", "mallory", "read")
    with pytest.raises(e6driver.ProgrammingError, match="access must be"):
        root.objects.grant("admin-made", "bob", "owner")


def test_grants_and_objects_survive_a_restart(tmp_path):
    users = {"root": "r", "carol": "c"}
    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password="r") as conn:
            conn.objects.create_bucket("kept")
            conn.objects.put("kept", "k.txt", b"kept")
            conn.objects.grant("kept", "carol", "read")
    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="carol", password="c") as conn:
            assert conn.objects.get("kept", "k.txt") == b"kept"
            assert [(b.name, b.access) for b in conn.objects.buckets()] == [("kept", "read")]
