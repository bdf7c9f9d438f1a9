"""Same-host transfers: put_file/get_file on the engine's machine move content by the kernel (no gRPC
messages), store and return exactly what the gRPC route does, fail the same way, and step aside (gRPC) when
they cannot be used."""
from __future__ import annotations

import os
import zlib

import pytest

import e6driver
from e6driver.protocol import local_transfer
from etags import stored_etag

BUCKET = "local-bucket"
PAYLOAD = os.urandom(3 * 1024 * 1024) + bytes(range(256)) * 40_000
BIG = os.urandom(20 * 1024 * 1024 + 12345)  # three copy steps and a partial one


@pytest.fixture(scope="module")
def store(root):
    root.objects.create_bucket(BUCKET)
    return root.objects


def _served(server, op):
    return server.local_transfer.served[op]


def _no_leftovers(directory):
    return not [p for p in os.listdir(directory) if p.startswith(".e6get-")]


@pytest.mark.parametrize("payload", [b"", b"x", PAYLOAD, BIG], ids=["empty", "one-byte", "3MiB", "20MiB"])
def test_round_trip_moves_by_the_kernel_and_matches_grpc(store, server, tmp_path, payload):
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    puts, gets = _served(server, "put"), _served(server, "get")
    info = store.put_file(BUCKET, "k/obj.bin", source)
    assert _served(server, "put") == puts + 1
    assert (info.size, info.crc32, info.etag) == (len(payload), zlib.crc32(payload), stored_etag(payload))
    target = tmp_path / "out" / "obj.bin"
    got = store.get_file(BUCKET, "k/obj.bin", target)
    assert _served(server, "get") == gets + 1
    assert target.read_bytes() == payload and got == store.stat(BUCKET, "k/obj.bin")
    assert _no_leftovers(target.parent)
    assert store.get(BUCKET, "k/obj.bin") == payload  # the gRPC route reads what the kernel stored

    store.local_transfer = False  # the same file through gRPC: the same description
    try:
        again = store.put_file(BUCKET, "k/grpc.bin", source)
        store.get_file(BUCKET, "k/grpc.bin", tmp_path / "grpc.bin")
    finally:
        store.local_transfer = None
    assert _served(server, "put") == puts + 1 and _served(server, "get") == gets + 1
    assert (again.size, again.crc32, again.etag) == (info.size, info.crc32, info.etag)
    assert (tmp_path / "grpc.bin").read_bytes() == payload


def test_progress_is_reported_once_done(store, tmp_path):
    source = tmp_path / "p.bin"
    source.write_bytes(PAYLOAD)
    calls = []
    store.put_file(BUCKET, "p.bin", source, progress=lambda done, total: calls.append((done, total)))
    store.get_file(BUCKET, "p.bin", tmp_path / "back.bin", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(len(PAYLOAD), len(PAYLOAD))] * 2


def test_errors_are_the_grpc_routes(store, server, alice, tmp_path):
    source = tmp_path / "s.bin"
    source.write_bytes(b"abc")
    served = dict(server.local_transfer.served)
    with pytest.raises(e6driver.ObjectNotFoundError):
        store.get_file(BUCKET, "missing.bin", tmp_path / "m.bin")
    assert not (tmp_path / "m.bin").exists() and _no_leftovers(tmp_path)
    with pytest.raises(e6driver.ProgrammingError, match="'..' segment"):
        store.put_file(BUCKET, "a/../b", source)
    store.put_file(BUCKET, "once.bin", source)
    with pytest.raises(e6driver.ProgrammingError, match="already exists"):
        store.put_file(BUCKET, "once.bin", source, if_absent=True)
    with pytest.raises(e6driver.PermissionDeniedError):
        alice.objects.put_file(BUCKET, "intruder.bin", source)
    with pytest.raises(e6driver.PermissionDeniedError):
        alice.objects.get_file(BUCKET, "once.bin", tmp_path / "stolen.bin")
    assert not (tmp_path / "stolen.bin").exists() and _no_leftovers(tmp_path)
    assert store.stat(BUCKET, "intruder.bin") is None
    assert sum(server.local_transfer.served.values()) > sum(served.values())  # they went the same-host way


def test_damaged_object_fails_and_writes_nothing(store, server, tmp_path):
    store.put(BUCKET, "rot.bin", BIG)
    path = os.path.join(server.object_stores.backend.root, BUCKET, "rot.bin")
    stat = os.stat(path)
    with open(path, "r+b") as handle:  # bit rot: same size and mtime, other bytes
        handle.seek(len(BIG) - 10)
        handle.write(b"\xff" * 10 if BIG[-10:] != b"\xff" * 10 else b"\x00" * 10)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    target = tmp_path / "rot.bin"
    with pytest.raises(e6driver.DataError, match="does not match the checksum recorded"):
        store.get_file(BUCKET, "rot.bin", target)
    assert not target.exists() and _no_leftovers(tmp_path)


def test_off_switches_and_remote_hosts_use_grpc(server, connect, monkeypatch, tmp_path):
    conn = connect("root")
    assert local_transfer.socket_name(conn.session) == server.local_transfer.name
    assert local_transfer.socket_name(conn.session, wanted=False) is None
    monkeypatch.setenv("E6DRIVER_LOCAL_TRANSFER", "0")
    assert local_transfer.socket_name(conn.session) is None
    monkeypatch.delenv("E6DRIVER_LOCAL_TRANSFER")
    for host, local in [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
                        ("10.0.0.5", False), ("example.com", False), ("0.0.0.0", False)]:
        assert local_transfer._loopback(host) is local, host
    source = tmp_path / "x.bin"
    source.write_bytes(b"by grpc")
    puts = _served(server, "put")
    conn.objects.local_transfer = False
    conn.objects.create_bucket(BUCKET)
    assert conn.objects.put_file(BUCKET, "off.bin", source).size == 7
    assert _served(server, "put") == puts


def test_engine_without_it_and_a_vanished_socket_fall_back_to_grpc(tmp_path):
    from mock_server.server import EngineServer

    source = tmp_path / "f.bin"
    source.write_bytes(PAYLOAD)
    with EngineServer(data_dir=str(tmp_path / "d1"), users={"u": "p"}, local_transfer=False) as srv:
        assert srv.local_transfer is None
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="u", password="p") as conn:
            assert local_transfer.socket_name(conn.session) is None
            conn.objects.create_bucket("plain")
            assert conn.objects.put_file("plain", "f.bin", source).crc32 == zlib.crc32(PAYLOAD)
    with EngineServer(data_dir=str(tmp_path / "d2"), users={"u": "p"}) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="u", password="p") as conn:
            conn.objects.create_bucket("gone")
            assert local_transfer.socket_name(conn.session) == srv.local_transfer.name
            srv.local_transfer.stop()  # the socket goes away after the client learnt its name
            assert conn.objects.put_file("gone", "f.bin", source).crc32 == zlib.crc32(PAYLOAD)
            conn.objects.get_file("gone", "f.bin", tmp_path / "back.bin")
            assert (tmp_path / "back.bin").read_bytes() == PAYLOAD


def test_busy_engine_sends_the_rest_through_grpc(tmp_path):
    from mock_server.limits import Limits
    from mock_server.server import EngineServer

    source = tmp_path / "f.bin"
    source.write_bytes(b"busy")
    with EngineServer(data_dir=str(tmp_path / "d"), users={"u": "p"},
                      limits=Limits(max_local_transfers_per_user=1)) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="u", password="p") as conn:
            conn.objects.create_bucket("busy")
            srv.local_transfer._per_user["u"] = 1  # one of u's transfers is running
            assert conn.objects.put_file("busy", "f.bin", source).size == 4
            assert srv.local_transfer.served["put"] == 0
            srv.local_transfer._per_user.clear()
            assert conn.objects.put_file("busy", "g.bin", source).size == 4
            assert srv.local_transfer.served["put"] == 1


def _many(store, keys, sources, if_absent=False):
    """One same-host put request of several files: each key's ObjectInfo or error."""
    name = store._local_socket()
    handles = [open(path, "rb") for path in sources]
    try:
        return store._local_many(name, "put", BUCKET, keys, [h.fileno() for h in handles], if_absent=if_absent)
    finally:
        for handle in handles:
            handle.close()


def test_one_request_stores_each_file_on_its_own(store, server, tmp_path):
    contents = [b"new deep", b"replacing", b"prefix", b"under", b"twice-1", b"twice-2", os.urandom(2_000_000)]
    sources = []
    for number, data in enumerate(contents):
        sources.append(tmp_path / f"s{number}")
        sources[-1].write_bytes(data)
    store.put(BUCKET, "many/old.bin", b"old content")
    store.put(BUCKET, "many/dir/child", b"makes many/dir a prefix")
    store.put(BUCKET, "many/file", b"an object")
    keys = ["many/new/deeper/still/a.bin", "many/old.bin", "many/dir", "many/file/under", "many/twice", "many/twice",
            "many/big.bin"]
    results = _many(store, keys, sources)
    assert [type(r).__name__ for r in results] == ["ObjectInfo", "ObjectInfo", "IntegrityError", "IntegrityError",
                                                   "ObjectInfo", "ObjectInfo", "ObjectInfo"]
    assert "prefix of other objects" in str(results[2]) and "lies under an existing object" in str(results[3])
    for key, data in [(keys[0], contents[0]), (keys[1], contents[1]), ("many/twice", contents[5]),
                      ("many/big.bin", contents[6])]:
        assert store.get(BUCKET, key) == data  # checked against the recorded CRC-32
        assert store.stat(BUCKET, key).etag == stored_etag(data)
    assert store.get(BUCKET, "many/file") == b"an object" and store.stat(BUCKET, "many/dir") is None
    spool = os.path.join(server.object_stores.backend.root, ".tmp")
    assert [f for _, _, files in os.walk(spool) for f in files] == []  # every spool file renamed or removed


def test_if_absent_in_one_request(store, tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    store.put(BUCKET, "absent/taken", b"first")
    results = _many(store, ["absent/taken", "absent/free"], [tmp_path / "a", tmp_path / "b"], if_absent=True)
    assert isinstance(results[0], e6driver.ProgrammingError) and "already exists" in str(results[0])
    assert results[1].size == 1
    assert store.get(BUCKET, "absent/taken") == b"first" and store.get(BUCKET, "absent/free") == b"b"


def test_without_user_xattrs_a_sidecar_describes_each_file(store, monkeypatch, tmp_path):
    from mock_server.objects import local_puts

    monkeypatch.setattr(local_puts, "_set_xattr_meta", lambda path, meta: False)
    (tmp_path / "a").write_bytes(b"side,car\n")
    (tmp_path / "b").write_bytes(b"x" * 70_000)
    results = _many(store, ["side/a.csv", "side/b.bin"], [tmp_path / "a", tmp_path / "b"])
    assert [r.etag for r in results] == [stored_etag(b"side,car\n"), stored_etag(b"x" * 70_000)]
    assert store.stat(BUCKET, "side/a.csv").content_type == "text/csv"
    assert store.stat(BUCKET, "side/b.bin").etag == stored_etag(b"x" * 70_000)  # from the sidecar, not an MD5


def test_leftover_spool_files_are_removed_at_start(tmp_path):
    from mock_server.objects.store import LocalObjectBackend

    root = tmp_path / "objects"
    for name in (".tmp/put-1", ".tmp/s0/put-2", ".tmp/s3/put-3"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"half a put")
    backend = LocalObjectBackend(str(root))
    assert [f for _, _, files in os.walk(root / ".tmp") for f in files] == []
    # the old spool directories are gone too: each is made afresh (placed where the filesystem churns least)
    assert os.listdir(root / ".tmp") == [os.path.basename(backend.spool_dir())]


def test_a_group_of_files_goes_in_requests_of_equal_size(store, server, monkeypatch, tmp_path):
    """250 files (one worker's group): two requests of 125, not 200 and then 50."""
    from mock_server.objects import local_puts

    sizes = []
    put_files = local_puts.put_files
    monkeypatch.setattr(local_puts, "put_files", lambda backend, bucket, files, if_absent: (
        sizes.append(len(files)), put_files(backend, bucket, files, if_absent))[1])
    tree = tmp_path / "tree"
    tree.mkdir()
    for number in range(250):
        (tree / f"f{number:03d}").write_bytes(b"%d" % number)
    served = _served(server, "put"), _served(server, "get")
    store.upload(tree, BUCKET, prefix="equal", progress=False, workers=1)
    assert sizes == [125, 125] and _served(server, "put") == served[0] + 2
    store.download(BUCKET, "equal", tmp_path / "back", progress=False, workers=1)
    assert _served(server, "get") == served[1] + 2
    assert all((tmp_path / "back" / f"f{n:03d}").read_bytes() == b"%d" % n for n in range(250))
