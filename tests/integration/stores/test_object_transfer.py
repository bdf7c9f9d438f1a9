"""Directory trees up and down: skip what is already there (size + MD5), conflicts, dry runs, progress."""
from __future__ import annotations

import os

import pytest

import e6driver

BUCKET = "tree-bucket"


@pytest.fixture(params=["same-host", "grpc"])
def store(root, request):
    """The connection's object store, moving files by same-host requests or (as from another machine) gRPC."""
    root.objects.create_bucket(BUCKET)
    root.objects.local_transfer = None if request.param == "same-host" else False
    yield root.objects
    root.objects.local_transfer = None
    for info in root.objects.list(BUCKET):
        root.objects.delete(BUCKET, info.key)


@pytest.fixture
def tree(tmp_path):
    base = tmp_path / "tree"
    files = {"a.csv": b"a\n1\n", "sub/b.json": b'{"b": 2}\n', "sub/deeper/c.bin": os.urandom(2_500_000),
             "empty.txt": b""}
    for name, data in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return base, files


def test_upload_tree_then_again_skips_everything(store, tree):
    base, files = tree
    calls = []
    report = store.upload(base, BUCKET, "in", progress=lambda done, total: calls.append((done, total)))
    total = sum(len(d) for d in files.values())
    assert sorted(report.transferred) == sorted(f"in/{k}" for k in files)
    assert report.bytes_transferred == total and report.skipped == [] and report.conflicts == []
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    for name, data in files.items():
        assert store.get(BUCKET, f"in/{name}") == data
    again = store.upload(base, BUCKET, "in", progress=False)
    assert again.transferred == [] and sorted(again.skipped) == sorted(f"in/{k}" for k in files)
    assert again.bytes_transferred == 0


def test_changed_files_conflict_unless_overwrite(store, tree):
    base, files = tree
    store.upload(base, BUCKET, "in", progress=False)
    (base / "a.csv").write_bytes(b"a\n2\n")  # same size, other content: the checksum tells
    (base / "new.txt").write_bytes(b"new")
    plan = store.upload(base, BUCKET, "in", dry_run=True, progress=False)
    assert plan.dry_run and plan.conflicts == ["in/a.csv"] and plan.transferred == ["in/new.txt"]
    assert store.stat(BUCKET, "in/new.txt") is None  # a dry run moves nothing
    report = store.upload(base, BUCKET, "in", progress=False)
    assert report.conflicts == ["in/a.csv"] and report.transferred == ["in/new.txt"]
    assert store.get(BUCKET, "in/a.csv") == b"a\n1\n"
    report = store.upload(base, BUCKET, "in", overwrite=True, progress=False)
    assert report.transferred == ["in/a.csv"]
    assert store.get(BUCKET, "in/a.csv") == b"a\n2\n"


def test_single_file_upload(store, tree):
    base, _ = tree
    report = store.upload(base / "a.csv", BUCKET, "one/", progress=False)
    assert report.transferred == ["one/a.csv"]


def test_download_tree_skip_and_conflict(store, tree, tmp_path):
    base, files = tree
    store.upload(base, BUCKET, "in", progress=False, workers=2)
    out = tmp_path / "out"
    seen = []
    report = store.download(BUCKET, "in", out, progress=lambda d, t: seen.append((d, t)), workers=3)
    assert sorted(report.transferred) == sorted(f"in/{k}" for k in files)
    for name, data in files.items():
        assert (out / name).read_bytes() == data
    assert seen[-1][0] == seen[-1][1] == sum(len(d) for d in files.values())
    again = store.download(BUCKET, "in/", out, progress=False)
    assert again.transferred == [] and len(again.skipped) == len(files)
    (out / "a.csv").write_bytes(b"local change")
    assert store.download(BUCKET, "in", out, progress=False).conflicts == ["in/a.csv"]
    assert (out / "a.csv").read_bytes() == b"local change"
    assert store.download(BUCKET, "in", out, overwrite=True, progress=False).transferred == ["in/a.csv"]
    assert (out / "a.csv").read_bytes() == files["a.csv"]
    single = store.download(BUCKET, "in/sub/b.json", out, progress=False)
    assert single.skipped == ["in/sub/b.json"] or single.transferred == ["in/sub/b.json"]
    assert (out / "b.json").read_bytes() == files["sub/b.json"]


def test_tqdm_progress_bar(store, tree, capsys):
    pytest.importorskip("tqdm")
    base, _ = tree
    store.upload(base, BUCKET, "bar", progress=True)
    assert f"upload {BUCKET}" in capsys.readouterr().err


def test_failures_are_raised_after_the_others_finish(store, tmp_path, connect):
    bob = connect("bob")
    (tmp_path / "f.txt").write_bytes(b"x")
    with pytest.raises(e6driver.errors.PermissionDeniedError):
        bob.objects.upload(tmp_path, BUCKET, "denied", progress=False)
    with pytest.raises(e6driver.InterfaceError, match="neither a file nor a directory"):
        store.upload(tmp_path / "missing", BUCKET, "x", progress=False)
