"""Same-host requests stay inside the engine's limits whatever the caller asks: many files with long keys go as
several requests (the engine reads 64 KiB and 200 descriptors per request)."""
from __future__ import annotations

import pytest

import e6driver
from e6driver.protocol import local_transfer

BUCKET = "long-keys"


def test_many_long_keys_are_split_into_requests(root, server, tmp_path):
    store = root.objects
    store.create_bucket(BUCKET)
    source = tmp_path / "tree"
    names = []
    for number in range(260):  # over 200 files, ~900-byte keys: ~230 KB of keys in all
        name = f"{number:03d}-" + "k" * 200
        path = source / ("d" * 200) / ("e" * 200) / ("f" * 200) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
        names.append(path)
    served = server.local_transfer.served["put"]
    report = store.upload(source, BUCKET, progress=False)
    assert len(report.transferred) == 260 and server.local_transfer.served["put"] - served >= 4
    assert all(len(key.encode()) > 800 for key in report.transferred)
    out = tmp_path / "out"
    store.download(BUCKET, "", out, progress=False)
    for path in names:
        assert (out / path.relative_to(source)).read_bytes() == path.name.encode()


def test_a_split_request_keeps_keys_and_files_paired(root, tmp_path):
    store = root.objects
    store.create_bucket(BUCKET)
    name = local_transfer.socket_name(root.session)
    handles = []
    for number in range(5):
        path = tmp_path / f"f{number}"
        path.write_bytes(b"%d" % number)
        handles.append(open(path, "rb"))
    try:
        keys = [f"pair/{n}/" + "x" * 30000 for n in range(5)]  # ~150 KB: split down to one key a request
        results = store._local_many(name, "put", BUCKET, keys, [h.fileno() for h in handles])
    finally:
        for handle in handles:
            handle.close()
    assert [type(r) for r in results] == [e6driver.ProgrammingError] * 5  # a level over 250 bytes: refused alone
    keys = [f"pair/{n}/" + "/".join(["y" * 200] * 4) for n in range(5)]
    handles = [open(tmp_path / f"f{n}", "rb") for n in range(5)]
    try:
        results = store._local_many(name, "put", BUCKET, keys, [h.fileno() for h in handles])
    finally:
        for handle in handles:
            handle.close()
    assert [store.get(BUCKET, r.key) for r in results] == [b"%d" % n for n in range(5)]
    assert [r.key for r in results] == keys


def test_an_if_absent_put_lost_on_the_way_is_not_sent_again(root, tmp_path, monkeypatch):
    """The engine may have stored it before the answer was lost: sent again through gRPC it would be refused
    as existing, so the caller is told the outcome is unknown instead."""
    store = root.objects
    store.create_bucket(BUCKET)
    (tmp_path / "f").write_bytes(b"x")

    def lost(*args, **kwargs):
        raise local_transfer.Lost("the engine closed the same-host transfer connection without an answer")

    monkeypatch.setattr(local_transfer, "exchange", lost)
    with pytest.raises(e6driver.OperationalError, match="unknown"):
        store.put_file(BUCKET, "lost/once.bin", tmp_path / "f", if_absent=True)
    assert store.put_file(BUCKET, "lost/again.bin", tmp_path / "f").size == 1  # without if_absent: over gRPC
