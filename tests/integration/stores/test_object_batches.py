"""Small files move in batches (PutBatch / GetBatch): many files per call, each stored atomically on its own,
one file's failure reported without stopping the rest of its batch."""
from __future__ import annotations

import hashlib
import os

import pytest

import e6driver
from e6driver.stores import _batches
from test_object_transfer import BUCKET, store  # noqa: F401 - the bucket fixture, emptied after each test
from etags import stored_etag


def _tree(base, count):
    files = {}
    for number in range(count):
        name = f"d{number % 7}/f{number:04d}.bin"
        files[name] = b"" if number % 50 == 0 else os.urandom(number * 37 % 5000)
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
    return files


def test_many_small_files_round_trip(store, tmp_path):
    files = _tree(tmp_path / "src", 600)
    files["big.bin"] = os.urandom(_batches.BATCH_FILE_MAX + 1)  # one call of its own, next to the batches
    (tmp_path / "src" / "big.bin").write_bytes(files["big.bin"])
    calls = []
    report = store.upload(tmp_path / "src", BUCKET, "many", progress=lambda d, t: calls.append((d, t)))
    total = sum(len(d) for d in files.values())
    assert len(report.transferred) == len(files) and report.bytes_transferred == total
    assert calls[-1] == (total, total)
    remote = {o.key: o for o in store.list(BUCKET, "many/")}
    assert len(remote) == len(files)
    for name, data in files.items():
        assert remote[f"many/{name}"].etag == stored_etag(data)
        assert remote[f"many/{name}"].size == len(data)
    assert store.get(BUCKET, "many/d0/f0000.bin") == b""  # empty files are objects too
    out = tmp_path / "out"
    got = store.download(BUCKET, "many", out, progress=False, workers=3)
    assert len(got.transferred) == len(files) and got.bytes_transferred == total
    for name, data in files.items():
        assert (out / name).read_bytes() == data
    assert not [p for p in out.rglob(".e6get-*")]  # no temporary file left
    assert store.upload(tmp_path / "src", BUCKET, "many", progress=False).transferred == []
    assert store.download(BUCKET, "many", out, progress=False).transferred == []


def test_a_file_failing_mid_batch_does_not_stop_the_others(store, tmp_path):
    store.put(BUCKET, "mixed/sub", b"an object where the tree has a directory")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"a")
    (src / "sub" / "b.txt").write_bytes(b"b")  # key mixed/sub/b.txt lies under the object mixed/sub
    (src / "z.txt").write_bytes(b"z")
    with pytest.raises(e6driver.IntegrityError, match="lies under an existing object"):
        store.upload(src, BUCKET, "mixed", progress=False, workers=1)  # one batch holds all three
    assert store.get(BUCKET, "mixed/a.txt") == b"a" and store.get(BUCKET, "mixed/z.txt") == b"z"
    assert store.stat(BUCKET, "mixed/sub/b.txt") is None
    assert store.get(BUCKET, "mixed/sub") == b"an object where the tree has a directory"


def test_unreadable_local_file_mid_batch(store, tmp_path):
    (tmp_path / "a").write_bytes(b"1")
    (tmp_path / "c").write_bytes(b"3")
    (tmp_path / "not-a-file").mkdir()
    outcomes = _batches.put_files(store, BUCKET, [("r/a", str(tmp_path / "a"), 1),
                                                  ("r/b", str(tmp_path / "not-a-file"), 0),
                                                  ("r/c", str(tmp_path / "c"), 1)])
    assert isinstance(outcomes["r/b"], OSError)
    assert outcomes["r/a"].etag == stored_etag(b"1") and outcomes["r/c"].size == 1
    assert [o.key for o in store.list(BUCKET, "r/")] == ["r/a", "r/c"]


def test_local_write_failure_mid_batch(store, tmp_path):
    for name in ("w/a.txt", "w/sub/b.txt", "w/z.txt"):
        store.put(BUCKET, name, name.encode())
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_bytes(b"a local file where the download needs a directory")
    with pytest.raises(OSError):
        store.download(BUCKET, "w", out, progress=False, workers=1)
    assert (out / "a.txt").read_bytes() == b"w/a.txt" and (out / "z.txt").read_bytes() == b"w/z.txt"
    assert (out / "sub").read_bytes() == b"a local file where the download needs a directory"
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "sub", "z.txt"]


def test_missing_and_too_large_objects_fail_alone_in_a_get_batch(store, tmp_path):
    store.put(BUCKET, "g/small", b"s")
    store.put(BUCKET, "g/large", os.urandom(_batches.GET_OBJECT_MAX + 1))
    items = [(key, str(tmp_path / key.replace("/", "_")), 1) for key in ("g/small", "g/gone", "g/large")]
    outcomes = _batches.get_files(store, BUCKET, items)
    assert outcomes["g/small"].size == 1 and (tmp_path / "g_small").read_bytes() == b"s"
    assert isinstance(outcomes["g/gone"], e6driver.errors.ObjectNotFoundError)
    assert not (tmp_path / "g_gone").exists()
    if store.local_transfer is False:  # GetBatch carries objects up to GET_OBJECT_MAX
        assert isinstance(outcomes["g/large"], e6driver.IntegrityError) and not (tmp_path / "g_large").exists()
    else:  # same-host requests copy objects of any size
        assert outcomes["g/large"].size == (tmp_path / "g_large").stat().st_size == _batches.GET_OBJECT_MAX + 1


def test_batches_need_the_same_grants(store, connect, tmp_path):
    bob = connect("bob")
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(e6driver.errors.PermissionDeniedError):
        _batches.put_files(bob.objects, BUCKET, [("b/f", str(tmp_path / "f"), 1)])
    store.put(BUCKET, "b/secret", b"s")
    with pytest.raises(e6driver.errors.PermissionDeniedError):
        _batches.get_files(bob.objects, BUCKET, [("b/secret", str(tmp_path / "secret"), 1)])
    assert not (tmp_path / "secret").exists()


def test_concurrent_puts_and_deletes_in_one_directory(store):
    """Puts (a batch's run concurrently) racing deletes that prune the same directory: no put fails."""
    from concurrent.futures import ThreadPoolExecutor

    def churn(worker):
        for round_ in range(25):
            key = f"race/shared/k{worker}"
            assert store.put(BUCKET, key, f"{worker}-{round_}").size == len(f"{worker}-{round_}")
            assert store.get(BUCKET, key) == f"{worker}-{round_}".encode()
            assert store.delete(BUCKET, key)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(churn, range(6)))
    assert store.list(BUCKET, "race/") == []


def test_description_travels_with_the_file(store, server):
    """Etag and content type live in an xattr of the object's file (no sidecar write per put); a file changed
    in place behind the store's back (xattr kept, size/mtime not) is described afresh."""
    from mock_server.objects import descriptions
    from mock_server.objects.store import XATTR_META

    root = server.object_stores.backend.root
    store.put(BUCKET, "x/desc.csv", b"a,b\n1,2\n", content_type="text/csv")
    path = os.path.join(root, BUCKET, "x", "desc.csv")
    try:
        described = os.getxattr(path, XATTR_META)
    except OSError:
        pytest.skip("no user xattrs on this filesystem: sidecars are used")
    assert descriptions.decode(described)["etag"] == stored_etag(b"a,b\n1,2\n")
    assert len(described) <= 52  # kept inside an ext4 inode: no attribute block per object
    info = store.stat(BUCKET, "x/desc.csv")
    assert info.content_type == "text/csv" and info.etag == stored_etag(b"a,b\n1,2\n")
    with open(path, "r+b") as handle:  # same inode: the old xattr stays, but no longer matches
        handle.write(b"A,B,C\n1,2,3\n")
    assert store.stat(BUCKET, "x/desc.csv").etag == hashlib.md5(b"A,B,C\n1,2,3\n").hexdigest()
    assert store.get(BUCKET, "x/desc.csv") == b"A,B,C\n1,2,3\n"
