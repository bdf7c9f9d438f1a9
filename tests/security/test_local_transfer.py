"""Attacks on the same-host transfer socket (mock_server.local_transfer): a local user talking to it directly,
with any bytes and any descriptors. Nothing is read or written without credentials and a grant, no
descriptor makes the engine block, read a device or write into someone's data, every descriptor received is
closed, and the engine keeps serving."""
from __future__ import annotations

import os
import socket

import pytest

import e6driver

from e6driver._proto import e6driver_local_pb2 as local_pb
from e6driver._proto import e6driver_stores_pb2 as st_pb
from mock_server.limits import Limits

from accounts import USERS

pytestmark = pytest.mark.skipif(not hasattr(socket, "send_fds") or not os.path.exists("/proc/self/fd"),
                                reason="same-host transfers need Linux")


def _auth(user):
    return st_pb.Auth(user=user, password=USERS[user])


def _send(server, data, fds=()):
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.connect("\0" + server.local_transfer.name)
        socket.send_fds(conn, [data], list(fds))
        reply, got_fds, _, _ = socket.recv_fds(conn, 1 << 20, 16)
    assert got_fds == []  # the engine never hands out a descriptor
    return local_pb.LocalReply.FromString(reply)


def _request(server, user, op, bucket, keys, fds, **extra):
    message = local_pb.LocalRequest(op=op, auth=_auth(user) if user else None, bucket=bucket, keys=keys, **extra)
    return _send(server, message.SerializeToString(), fds)


def _open_on(path):
    """Descriptors of this process open on ``path`` (the engine runs in this process: its own count too)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                found.append(fd)
        except OSError:
            pass
    return found


@pytest.fixture
def bucket(connect, tmp_path):
    conn = connect("bob")
    conn.objects.create_bucket("bob-data")
    source = tmp_path / "secret.txt"
    source.write_bytes(b"bob's secret")
    conn.objects.put_file("bob-data", "secret.txt", source)
    return "bob-data"


def test_no_credentials_or_wrong_ones_move_nothing(server, bucket, tmp_path):
    target = open(tmp_path / "t", "w+b")
    with target:
        assert _request(server, None, "get", bucket, ["secret.txt"], [target.fileno()]).code == "UNAUTHENTICATED"
        bad = local_pb.LocalRequest(op="get", auth=st_pb.Auth(user="bob", password="guess"), bucket=bucket,
                                    keys=["secret.txt"])
        assert _send(server, bad.SerializeToString(), [target.fileno()]).code == "UNAUTHENTICATED"
    assert (tmp_path / "t").read_bytes() == b""


def test_another_users_bucket_is_refused_both_ways(server, bucket, tmp_path, still_serves):
    with open(tmp_path / "t", "w+b") as target:
        reply = _request(server, "alice", "get", bucket, ["secret.txt"], [target.fileno()])
    assert reply.code == "PERMISSION_DENIED" and (tmp_path / "t").read_bytes() == b""
    (tmp_path / "evil").write_bytes(b"overwritten")
    with open(tmp_path / "evil", "rb") as source:
        reply = _request(server, "alice", "put", bucket, ["secret.txt"], [source.fileno()])
    assert reply.code == "PERMISSION_DENIED"
    with open(tmp_path / "check", "w+b") as target:
        assert not _request(server, "bob", "get", bucket, ["secret.txt"], [target.fileno()]).code
    assert (tmp_path / "check").read_bytes() == b"bob's secret"
    still_serves(server)


def test_keys_that_leave_the_bucket_are_refused(server, bucket, connect, tmp_path):
    connect("alice").objects.create_bucket("alice-own")
    (tmp_path / "s").write_bytes(b"x")
    for key in ("../bob-data/secret.txt", "/etc/passwd", "a/./b", "a\\b", "x\x00y"):
        for op in ("put", "get"):
            mode = "rb" if op == "put" else "w+b"
            with open(tmp_path / f"s{op}", "ab"):
                pass
            with open(tmp_path / ("s" if op == "put" else f"s{op}"), mode) as handle:
                reply = _request(server, "alice", op, "alice-own", [key], [handle.fileno()])
            assert not reply.code and reply.results[0].code == "INVALID_ARGUMENT", (key, op)
    assert (tmp_path / "sget").read_bytes() == b""


def test_descriptors_that_are_not_regular_files_are_refused_at_once(server, connect, tmp_path, still_serves):
    connect("alice").objects.create_bucket("alice-own")
    read_end, write_end = os.pipe()  # a put from a pipe nobody writes would block a thread forever
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with open("/dev/zero", "rb") as zero, open("/dev/null", "wb") as null:
            directory = os.open(str(tmp_path), os.O_RDONLY)
            try:
                for fd in (read_end, zero.fileno(), directory, listener.fileno()):
                    result = _request(server, "alice", "put", "alice-own", ["x.bin"], [fd]).results[0]
                    assert result.code == "INVALID_ARGUMENT" and "not a regular file" in result.message
                for fd in (write_end, null.fileno()):
                    result = _request(server, "alice", "get", "alice-own", ["x.bin"], [fd]).results[0]
                    assert result.code in ("INVALID_ARGUMENT", "NOT_FOUND")
            finally:
                os.close(directory)
    finally:
        os.close(read_end)
        os.close(write_end)
        listener.close()
    still_serves(server)


def test_a_get_never_writes_into_a_file_that_is_not_empty_or_not_meant_for_it(server, connect, tmp_path):
    objects = connect("alice").objects
    objects.create_bucket("alice-own")
    objects.put("alice-own", "obj", b"object content")
    precious = tmp_path / "precious.txt"
    precious.write_bytes(b"keep me")
    with open(precious, "r+b") as handle:
        result = _request(server, "alice", "get", "alice-own", ["obj"], [handle.fileno()]).results[0]
    assert result.code == "INVALID_ARGUMENT" and "not empty" in result.message
    assert precious.read_bytes() == b"keep me"
    (tmp_path / "empty").write_bytes(b"")
    with open(tmp_path / "empty", "rb") as read_only:
        result = _request(server, "alice", "get", "alice-own", ["obj"], [read_only.fileno()]).results[0]
    assert result.code == "INVALID_ARGUMENT"
    with open(tmp_path / "empty", "ab") as appending:
        result = _request(server, "alice", "get", "alice-own", ["obj"], [appending.fileno()]).results[0]
    assert result.code == "INVALID_ARGUMENT" and (tmp_path / "empty").read_bytes() == b""
    with open(tmp_path / "wo", "wb") as write_only:  # a put needs to read its source
        result = _request(server, "alice", "put", "alice-own", ["wo"], [write_only.fileno()]).results[0]
    assert result.code == "INVALID_ARGUMENT" and objects.stat("alice-own", "wo") is None


def test_malformed_requests_are_refused_and_every_descriptor_closed(server, tmp_path, still_serves):
    (tmp_path / "f").write_bytes(b"f")
    with open(tmp_path / "f", "rb") as handle:
        fds = [handle.fileno()] * 3
        assert _send(server, b"\xff\xff\xff garbage", fds).code == "INVALID_ARGUMENT"
        mismatch = local_pb.LocalRequest(op="put", auth=_auth("alice"), bucket="b", keys=["only-one"])
        assert _send(server, mismatch.SerializeToString(), fds).code == "INVALID_ARGUMENT"
        unknown = local_pb.LocalRequest(op="chmod", auth=_auth("alice"), bucket="b", keys=["k"])
        assert _send(server, unknown.SerializeToString(), fds[:1]).code == "UNIMPLEMENTED"
        assert _send(server, b"x" * (70 * 1024), fds).code == "INVALID_ARGUMENT"  # over 64 KiB: truncated
        many = [os.dup(handle.fileno()) for _ in range(250)]  # over 200 descriptors
        try:
            too_many = local_pb.LocalRequest(op="put", auth=_auth("alice"), bucket="b", keys=["k"] * 250)
            assert _send(server, too_many.SerializeToString(), many).code == "INVALID_ARGUMENT"
        finally:
            for fd in many:
                os.close(fd)
    assert _open_on(tmp_path / "f") == []  # ours are closed, and the engine kept none of the ~260 it got
    still_serves(server)


def test_connections_over_the_limit_are_refused_and_the_engine_recovers(engine, tmp_path, still_serves,
                                                                       monkeypatch):
    monkeypatch.setattr("mock_server.local_transfer.EVICT_IDLE_SECONDS", 600.0)  # none counts as idle here
    server = engine(limits=Limits(max_local_transfers=2))
    held = []
    try:
        for _ in range(2):  # idle connections hold their slots
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            conn.connect("\0" + server.local_transfer.name)
            held.append(conn)
        import time
        time.sleep(0.2)
        refused = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        refused.settimeout(10)
        refused.connect("\0" + server.local_transfer.name)
        reply = local_pb.LocalReply.FromString(refused.recv(1 << 16))
        refused.close()
        assert reply.code == "RESOURCE_EXHAUSTED" and "max_local_transfers" in reply.message
    finally:
        for conn in held:
            conn.close()
    time.sleep(0.2)
    (tmp_path / "f").write_bytes(b"after")
    with open(tmp_path / "f", "rb") as handle:
        reply = _request(server, "alice", "put", "nobucket", ["k"], [handle.fileno()])
    assert reply.code in ("NOT_FOUND", "PERMISSION_DENIED")  # served again
    still_serves(server)


def test_idle_connections_cannot_lock_other_clients_out(engine, connect, tmp_path, still_serves):
    """Connections that never send a request hold every slot: once they have been idle a moment, each newcomer
    takes the slot of the one idle longest, whose wait ends; a driver's transfer still goes on the socket."""
    from mock_server.local_transfer import EVICT_IDLE_SECONDS
    import time

    server = engine(limits=Limits(max_local_transfers=2))
    held = []
    try:
        for _ in range(2):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            conn.connect("\0" + server.local_transfer.name)
            conn.settimeout(10)
            held.append(conn)
        time.sleep(EVICT_IDLE_SECONDS + 0.3)
        (tmp_path / "f").write_bytes(b"through the socket")
        served = sum(server.local_transfer.served.values())
        alice = e6driver.connect(host="127.0.0.1", port=server.port, username="alice", password=USERS["alice"],
                                 connect_timeout=20)
        try:
            alice.objects.create_bucket("alice-idle")
            alice.objects.put_file("alice-idle", "f", tmp_path / "f")
        finally:
            alice.close()
        assert sum(server.local_transfer.served.values()) == served + 1  # not refused into gRPC
        assert held[0].recv(16) == b""  # the idlest was evicted: its wait ended
        with pytest.raises(OSError):  # and it can send nothing more
            held[0].send(local_pb.LocalRequest(op="put").SerializeToString())
    finally:
        for conn in held:
            conn.close()
    still_serves(server)


def test_objects_over_the_size_limit_are_refused(engine, tmp_path, connect):
    server = engine(limits=Limits(max_object_bytes=1000))
    import e6driver

    with e6driver.connect(host="127.0.0.1", port=server.port, username="alice", password=USERS["alice"]) as conn:
        conn.objects.create_bucket("small")
    (tmp_path / "big").write_bytes(b"x" * 1001)
    with open(tmp_path / "big", "rb") as handle:
        result = _request(server, "alice", "put", "small", ["big"], [handle.fileno()]).results[0]
    assert result.code == "RESOURCE_EXHAUSTED" and "max_object_bytes" in result.message


def test_links_out_of_the_bucket_are_refused_in_every_file_of_a_request(server, bucket, connect, tmp_path,
                                                                        still_serves):
    """A request of many files checks each directory for links once: a link met by any file of it (a directory
    or the object itself, before or after plain keys of the same directories) is refused, never followed."""
    objects = connect("alice").objects
    objects.create_bucket("alice-own")
    objects.put("alice-own", "plain/x", b"x")
    root = server.object_stores.backend.root
    os.symlink(os.path.join(root, bucket), os.path.join(root, "alice-own", "plain", "link"))
    os.symlink(os.path.join(root, bucket, "secret.txt"), os.path.join(root, "alice-own", "plain", "file"))
    keys = ["plain/a", "plain/link/secret.txt", "plain/b", "plain/link/new.txt", "plain/file", "plain/c"]
    (tmp_path / "evil").write_bytes(b"overwritten")
    handles = [open(tmp_path / "evil", "rb") for _ in keys]
    try:
        reply = _request(server, "alice", "put", "alice-own", keys, [h.fileno() for h in handles])
    finally:
        for handle in handles:
            handle.close()
    assert [r.code for r in reply.results] == ["", "PERMISSION_DENIED", "", "PERMISSION_DENIED",
                                               "PERMISSION_DENIED", ""]
    assert sorted(os.listdir(os.path.join(root, bucket))) == ["secret.txt"]
    targets = [open(tmp_path / f"get{n}", "w+b") for n in range(3)]
    try:
        reply = _request(server, "alice", "get", "alice-own", ["plain/a", "plain/link/secret.txt", "plain/file"],
                         [t.fileno() for t in targets])
    finally:
        for target in targets:
            target.close()
    assert [r.code for r in reply.results] == ["", "PERMISSION_DENIED", "PERMISSION_DENIED"]
    assert [(tmp_path / f"get{n}").read_bytes() for n in range(3)] == [b"overwritten", b"", b""]
    with open(tmp_path / "check", "w+b") as target:
        assert not _request(server, "bob", "get", bucket, ["secret.txt"], [target.fileno()]).results[0].code
    assert (tmp_path / "check").read_bytes() == b"bob's secret"
    still_serves(server)
