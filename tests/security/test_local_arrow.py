"""Attacks on the same-host Arrow fetch (op "arrow" of mock_server.local_transfer): a local user who learnt
another user's query id, or sends a bad session or bad descriptors, gets nothing and takes nothing — the
owner's result stays whole."""
from __future__ import annotations

import os
import socket

import pytest

from e6driver._proto import e6driver_local_pb2 as local_pb
from e6driver._proto import e6driver_stores_pb2 as st_pb

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="same-host transfers need Linux")

ROWS = 200_000


def _fetch(server, session_id, query_id, fds):
    message = local_pb.LocalRequest(op="arrow", auth=st_pb.Auth(session_id=session_id), keys=[query_id])
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.connect("\0" + server.local_transfer.name)
        socket.send_fds(conn, [message.SerializeToString()], list(fds))
        reply, got, _, _ = socket.recv_fds(conn, 1 << 20, 4)
    assert got == []
    return local_pb.LocalReply.FromString(reply)


@pytest.fixture
def bobs_query(connect):
    conn = connect("bob")
    cur = conn.cursor()
    query_id = cur.execute(f"SELECT range AS n FROM range({ROWS})")
    return conn, cur, query_id


def _memfd():
    return os.memfd_create("attack", os.MFD_CLOEXEC)


def _code(reply):
    return reply.code or (reply.results[0].code if reply.results else "")


def test_another_users_query_or_a_bad_session_gets_nothing(server, connect, bobs_query, still_serves):
    bob, cur, query_id = bobs_query
    alice_session = connect("alice").session.session_id()
    fd = _memfd()
    try:
        assert _code(_fetch(server, alice_session, query_id, [fd])) == "NOT_FOUND"  # as FetchArrow answers
        forged = _fetch(server, "forged-session", query_id, [fd])  # the protocol's "authenticate again"
        from mock_server.errors import ACCESS_DENIED
        assert (forged.code, forged.message) == ("INTERNAL", ACCESS_DENIED)
        assert _code(_fetch(server, "", query_id, [fd])) == "INVALID_ARGUMENT"
        assert os.fstat(fd).st_size == 0  # nothing of bob's was written
    finally:
        os.close(fd)
    assert len(cur.fetch_arrow_table()) == ROWS  # bob's result is whole
    still_serves(server)


def test_bad_descriptors_are_refused_before_a_part_is_taken(server, tmp_path, bobs_query):
    bob, cur, query_id = bobs_query
    session = bob.session.session_id()
    read_end, write_end = os.pipe()
    full = _memfd()
    os.write(full, b"user data")
    (tmp_path / "ro").write_bytes(b"")
    read_only = os.open(tmp_path / "ro", os.O_RDONLY)
    try:
        for fd in (write_end, full, read_only):
            assert _code(_fetch(server, session, query_id, [fd])) == "INVALID_ARGUMENT"
        assert os.pread(full, 100, 0) == b"user data"
        two = [_memfd(), _memfd()]
        assert _code(_fetch(server, session, query_id, two)) == "INVALID_ARGUMENT"
        for fd in two:
            os.close(fd)
    finally:
        for fd in (read_end, write_end, full, read_only):
            os.close(fd)
    assert len(cur.fetch_arrow_table()) == ROWS  # no part was taken by the refused requests
