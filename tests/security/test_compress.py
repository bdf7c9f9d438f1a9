"""conn.objects.compress and named-table format filters, attacked by an ordinary user: another user's bucket,
prefix tricks, read-only grants, foreign objects under the target name, and server paths in error texts."""
from __future__ import annotations

import os

import pytest

from e6driver.errors import (DatabaseError, ObjectNotFoundError, OperationalError, PermissionDeniedError,
                             ProgrammingError)

from test_paths import TRAVERSALS, _tree


@pytest.fixture
def buckets(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.objects.create_bucket("alice-own")
    alice.objects.put("alice-own", "data/a.csv", "n\n" + "1\n" * 5000)
    bob.objects.create_bucket("bob-private")
    bob.objects.put("bob-private", "secret.csv", "secret\n" + "42\n" * 5000)
    return alice, bob


def test_compress_on_another_users_bucket_is_refused(buckets, server, still_serves):
    alice, bob = buckets
    data_dir = os.path.dirname(server.object_stores.backend.root)
    before = _tree(data_dir)
    for dry_run in (True, False):
        with pytest.raises(PermissionDeniedError):
            alice.objects.compress("bob-private", "", dry_run=dry_run)
    bob.objects.grant("bob-private", "alice", "read")  # reading is not enough: compression rewrites objects
    with pytest.raises(PermissionDeniedError):
        alice.objects.compress("bob-private", "", dry_run=False)
    assert _tree(data_dir) == before
    assert bob.objects.get("bob-private", "secret.csv").startswith(b"secret\n")
    with pytest.raises((PermissionDeniedError, ObjectNotFoundError)):
        alice.objects.compress("no-such-bucket-anywhere", "")
    still_serves(server)


@pytest.mark.parametrize("prefix", TRAVERSALS)
def test_compress_prefix_cannot_leave_the_bucket(buckets, server, still_serves, prefix):
    alice, _ = buckets
    data_dir = os.path.dirname(server.object_stores.backend.root)
    before = _tree(data_dir)
    with pytest.raises(ProgrammingError) as info:
        alice.objects.compress("alice-own", prefix, dry_run=False)
    assert data_dir not in str(info.value)
    assert _tree(data_dir) == before
    still_serves(server)


def test_compress_never_overwrites_an_object_under_the_target_name(buckets):
    alice, _ = buckets
    alice.objects.put("alice-own", "data/a.csv.zst", b"planted")
    report = alice.objects.compress("alice-own", "data/", dry_run=False)
    assert [o.action for o in report.objects if o.key == "data/a.csv"] == ["failed"]
    assert alice.objects.get("alice-own", "data/a.csv.zst") == b"planted"
    assert alice.objects.get("alice-own", "data/a.csv").startswith(b"n\n1\n")


def test_compress_symlink_out_of_the_bucket_is_not_followed(buckets, server, tmp_path):
    alice, bob = buckets
    root = server.object_stores.backend.root
    os.symlink(os.path.join(root, "bob-private", "secret.csv"), os.path.join(root, "alice-own", "data", "link.csv"))
    report = alice.objects.compress("alice-own", "data/", dry_run=False)
    assert "data/link.csv" not in {o.key for o in report.objects}  # listing skips links leaving the bucket
    assert not os.path.exists(os.path.join(root, "alice-own", "data", "link.csv.zst"))
    assert bob.objects.get("bob-private", "secret.csv").startswith(b"secret\n")


def test_format_filter_errors_show_no_server_path(buckets, server):
    alice, _ = buckets
    data_dir = os.path.dirname(server.object_stores.backend.root)
    alice.objects.put("alice-own", "tbl/good.csv", "n\n1\n")
    alice.objects.put("alice-own", "tbl/notes.txt", "free text, not csv,,\n\"\n")
    alice.objects.put("alice-own", "tbl/bad.csv", "n,m\n1\n\"open")
    alice.objects.register_table("alice-own", "t", "tbl/", format="csv")
    alice.objects.register_table("alice-own", "g", "tbl/*", format="csv")  # a glob takes every match as csv
    for table in ("t", "g"):
        cur = alice.cursor()
        with pytest.raises(DatabaseError) as info:
            cur.execute('SELECT * FROM objects."alice-own".' + table)
            cur.fetchall()
        assert data_dir not in str(info.value) and "alice-own/tbl/" in str(info.value), str(info.value)


def test_compressions_at_once_per_user_are_capped(buckets, server, monkeypatch, still_serves):
    import threading
    import time

    from mock_server.objects.compress import MAX_COMPRESSIONS_PER_USER, PAUSE_ENV

    alice, bob = buckets
    names = [f"alice-job-{n}" for n in range(MAX_COMPRESSIONS_PER_USER + 1)]
    for name in names:
        alice.objects.create_bucket(name)
        alice.objects.put(name, "a.csv", "id\n" + "1\n" * 600_000)  # two read chunks: two pauses
    monkeypatch.setenv(PAUSE_ENV, "write:1")
    spool = server.object_stores.backend.spool_dir()
    jobs = [threading.Thread(target=alice.objects.compress, args=(n, ""), kwargs={"dry_run": False, "codec": "gzip"})
            for n in names[:-1]]
    for job in jobs:
        job.start()
    deadline = time.monotonic() + 30
    while len(os.listdir(spool)) < len(jobs):  # every job is spooling its copy
        assert time.monotonic() < deadline, "the jobs were never seen running"
        time.sleep(0.001)
    with pytest.raises(OperationalError, match="compressions") as info:
        alice.objects.compress(names[-1], "", dry_run=False)
    assert info.value.grpc_code == "RESOURCE_EXHAUSTED"
    assert bob.objects.compress("bob-private", "", dry_run=True).files == 1  # other users are not held up
    monkeypatch.delenv(PAUSE_ENV)
    for job in jobs:
        job.join(60)
    assert alice.objects.compress(names[-1], "", dry_run=False).files == 1
    still_serves(server)


def test_compressed_copy_lookup_keeps_key_rules(buckets):
    alice, _ = buckets
    longest = "k/" + "x" * 246 + ".csv"  # a valid key whose copy's name would be too long for a level
    cur = alice.cursor()
    with pytest.raises(ProgrammingError, match="no objects in bucket 'alice-own' match"):
        cur.execute(f'SELECT * FROM objects."alice-own"."{longest}"')
    with pytest.raises(ProgrammingError, match="'..' segment"):
        cur.execute('SELECT * FROM objects."alice-own"."../bob-private/secret.csv"')
