"""Path traversal through the object store, as an ordinary user with one bucket of her own would try it."""
from __future__ import annotations

import hashlib
import os

import pytest

from e6driver.errors import DatabaseError, OperationalError, ProgrammingError

TRAVERSALS = ["../", "../bob-private/", "../../", "../../../", "a/../../", "./", "a//b", "/etc/", "a\\..\\",
              "..", "a/..", "a/./b", "x\x00y"]


@pytest.fixture
def buckets(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.objects.create_bucket("alice-own")
    alice.objects.put("alice-own", "data/a.csv", b"n\n1\n")
    bob.objects.create_bucket("bob-private")
    bob.objects.put("bob-private", "secret.csv", b"secret\n42\n")
    return alice, bob


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


@pytest.mark.parametrize("prefix", TRAVERSALS)
def test_listing_prefix_cannot_leave_the_bucket(buckets, server, still_serves, prefix):
    alice, _ = buckets
    data_dir = os.path.dirname(server.object_stores.backend.root)
    before = _tree(data_dir)
    with pytest.raises(ProgrammingError) as info:
        list(alice.objects.list("alice-own", prefix=prefix))
    assert data_dir not in str(info.value)
    assert _tree(data_dir) == before  # nothing written anywhere, no sidecar next to any file
    still_serves(server)


def test_listing_writes_no_file_even_for_objects_written_behind_the_stores_back(buckets, server):
    alice, _ = buckets
    root = server.object_stores.backend.root
    with open(os.path.join(root, "alice-own", "dropped.csv"), "wb") as handle:
        handle.write(b"n\n2\n")
    before = _tree(os.path.dirname(root))
    keys = {o.key: o.etag for o in alice.objects.list("alice-own")}
    assert keys["dropped.csv"] == hashlib.md5(b"n\n2\n").hexdigest()
    assert _tree(os.path.dirname(root)) == before


@pytest.mark.parametrize("key", ["../bob-private/secret.csv", "a/../../master.key", "/etc/passwd",
                                 "..\\bob-private\\secret.csv", "./secret.csv"])
def test_keys_cannot_leave_the_bucket(buckets, server, still_serves, key):
    alice, _ = buckets
    for call in (lambda: alice.objects.get("alice-own", key), lambda: alice.objects.stat("alice-own", key),
                 lambda: alice.objects.put("alice-own", key, b"x"), lambda: alice.objects.delete("alice-own", key)):
        with pytest.raises(ProgrammingError):
            call()
    assert bob_secret_intact(buckets)
    still_serves(server)


def bob_secret_intact(buckets) -> bool:
    _, bob = buckets
    return bob.objects.get("bob-private", "secret.csv") == b"secret\n42\n"


@pytest.mark.parametrize("pattern", ["../bob-private/", "../bob-private/*.csv", "../../", "a/../../*"])
def test_registered_table_prefix_cannot_leave_the_bucket(buckets, server, still_serves, pattern):
    alice, _ = buckets
    with pytest.raises(ProgrammingError):
        alice.objects.register_table("alice-own", "stolen", pattern, format="csv")
    cur = alice.cursor()
    with pytest.raises(DatabaseError):
        cur.execute(f'SELECT * FROM objects."alice-own"."{pattern}"')
    still_serves(server)


def test_symlink_out_of_the_bucket_is_not_followed(buckets, server, still_serves):
    alice, _ = buckets
    root = server.object_stores.backend.root
    os.symlink(os.path.join(root, "bob-private"), os.path.join(root, "alice-own", "link"))
    os.symlink(os.path.join(root, "bob-private", "secret.csv"), os.path.join(root, "alice-own", "file.csv"))
    keys = [o.key for o in alice.objects.list("alice-own")]
    assert "file.csv" not in keys and not any(k.startswith("link/") for k in keys)
    for key in ("link/secret.csv", "file.csv"):
        with pytest.raises(OperationalError) as info:
            alice.objects.get("alice-own", key)
        assert "outside the bucket" in str(info.value) and root not in str(info.value)
    with pytest.raises(DatabaseError):
        list(alice.objects.list("alice-own", prefix="link/"))
    cur = alice.cursor()
    with pytest.raises(DatabaseError) as info:
        cur.execute('SELECT * FROM objects."alice-own"."link/*.csv"')
    assert root not in str(info.value)
    still_serves(server)


def test_sidecar_clash_stores_both_and_listing_keeps_working(buckets, server, still_serves):
    alice, _ = buckets
    alice.objects.put("alice-own", "p.json/q", b"1")
    alice.objects.put("alice-own", "p", b"2")
    alice.objects.put("alice-own", "r", b"3")
    alice.objects.put("alice-own", "r.json/s", b"4")
    listed = {o.key: o.size for o in alice.objects.list("alice-own")}
    assert {"p.json/q": 1, "p": 1, "r": 1, "r.json/s": 1}.items() <= listed.items()
    assert alice.objects.get("alice-own", "p") == b"2"
    # An object clash (a key under an existing object) is refused and stores nothing.
    with pytest.raises(DatabaseError):
        alice.objects.put("alice-own", "p/child", b"5")
    assert "p/child" not in {o.key for o in alice.objects.list("alice-own")}
    still_serves(server)


def test_errors_never_show_server_paths(buckets, server):
    alice, _ = buckets
    data_dir = os.path.dirname(server.object_stores.backend.root)
    alice.objects.put("alice-own", "bad.parquet", b"not parquet at all")
    cur = alice.cursor()
    with pytest.raises(DatabaseError) as info:
        cur.execute('SELECT * FROM objects."alice-own"."bad.parquet"')
        cur.fetchall()
    assert data_dir not in str(info.value) and "/tmp" not in str(info.value)
    assert "bad.parquet" in str(info.value)


def test_links_that_stay_inside_are_followed_and_a_link_put_under_a_key_later_is_caught(buckets, server,
                                                                                          still_serves):
    """The store checks each level below the bucket for a symbolic link (one lstat a level) and resolves fully
    only when it meets one: a link inside the bucket to inside the bucket still works; a directory of a key
    replaced by a link out of the bucket after the key was written is refused on the next access."""
    alice, _ = buckets
    root = server.object_stores.backend.root
    os.symlink(os.path.join(root, "alice-own", "data"), os.path.join(root, "alice-own", "alias"))
    assert alice.objects.get("alice-own", "alias/a.csv") == b"n\n1\n"
    alice.objects.put("alice-own", "later/x/k.csv", b"mine\n")
    os.rename(os.path.join(root, "alice-own", "later", "x"), os.path.join(root, "alice-own", "moved"))
    os.symlink(os.path.join(root, "bob-private"), os.path.join(root, "alice-own", "later", "x"))
    os.link(os.path.join(root, "bob-private", "secret.csv"), os.path.join(root, "bob-private", "k.csv"))
    for call in (lambda: alice.objects.get("alice-own", "later/x/k.csv"),
                 lambda: alice.objects.put("alice-own", "later/x/k.csv", b"overwrite")):
        with pytest.raises(OperationalError, match="outside the bucket"):
            call()
    assert bob_secret_intact(buckets)
    with open(os.path.join(root, "bob-private", "k.csv"), "rb") as handle:
        assert handle.read() == b"secret\n42\n"
    still_serves(server)
