"""Authentication edges, tried by an ordinary user: suspending the cluster, a token shared by two users,
log injection through a huge user name, and passwords readable from the server's memory."""
from __future__ import annotations

import logging

import grpc
import pytest

from e6driver._proto import cluster_pb2, cluster_pb2_grpc
from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from mock_server.sessions import LOGGED_NAME_CHARS

from accounts import USERS


def _cluster(server):
    channel = grpc.insecure_channel(server.address)
    return channel, cluster_pb2_grpc.ClusterServiceStub(channel)


def test_only_the_admin_suspends_anyone_resumes(server, still_serves):
    channel, cluster = _cluster(server)
    with channel:
        with pytest.raises(grpc.RpcError) as info:
            cluster.suspend(cluster_pb2.SuspendRequest(user="alice", password=USERS["alice"]))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as info:  # the bearer form too
            cluster.suspend(cluster_pb2.SuspendRequest(), metadata=(("authorization", f"Bearer {USERS['alice']}"),))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert server.cluster.status == "active"
        assert cluster.suspend(cluster_pb2.SuspendRequest(user="root", password=USERS["root"])).status == "suspended"
        assert cluster.resume(cluster_pb2.ResumeRequest(user="alice", password=USERS["alice"])).status in (
            "resuming", "active")
    server.cluster.resume_seconds = 0
    server.resume()
    while server.cluster.status != "active":
        server.cluster.resume()
    still_serves(server)


def test_a_shared_password_is_no_bearer_token(engine, still_serves):
    srv = engine(users={"root": "same", "alice": "same", "bob": USERS["bob"]})
    with grpc.insecure_channel(srv.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:  # would have logged in as root, the admin
            stub.prepareStatement(pb.PrepareStatementRequest(queryString="SELECT 1"),
                                  metadata=(("authorization", "Bearer same"),))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stub.prepareStatement(pb.PrepareStatementRequest(queryString="SELECT 1"),
                              metadata=(("authorization", f"Bearer {USERS['bob']}"),))  # bob's is his alone
        assert stub.authenticate(pb.AuthenticateRequest(user="alice", password="same")).sessionId
    still_serves(srv)


def test_failed_login_logs_a_truncated_user_name(server, still_serves, caplog):
    name = "evil\nINFO forged line " + "x" * 100_000
    with grpc.insecure_channel(server.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        with caplog.at_level(logging.INFO, logger="mock_server.sessions"):
            with pytest.raises(grpc.RpcError):
                stub.authenticate(pb.AuthenticateRequest(user=name, password="x"))
    lines = [r.getMessage() for r in caplog.records if "authentication failed" in r.getMessage()]
    assert len(lines) == 1 and len(lines[0]) < LOGGED_NAME_CHARS * 2 + 100 and "\n" not in lines[0]
    still_serves(server)


def test_passwords_are_not_kept_as_text(server):
    secret = USERS["bob"]
    assert not any(secret in repr(v) for v in vars(server.sessions).values())
    assert not any(isinstance(v, str) for v in server.sessions.users.values())
    assert secret not in repr(server.sessions.users)
    assert server.sessions.verify("bob", secret) == "bob"
