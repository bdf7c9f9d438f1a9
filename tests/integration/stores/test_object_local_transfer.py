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
