"""Sessions as an ordinary user could pile them up: the protocol has no call that ends one, so each user's
sessions are bounded (``--max-sessions-per-user``) by ending that user's least recently used one."""
from __future__ import annotations

import grpc
import pytest

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from mock_server.__main__ import parse_args
from mock_server.limits import Limits

from accounts import USERS


def _login(stub, user):
    return stub.authenticate(pb.AuthenticateRequest(user=user, password=USERS[user])).sessionId


def _run(stub, session, sql):
    query = stub.prepareStatement(pb.PrepareStatementRequest(sessionId=session, queryString=sql)).queryId
    stub.executeStatement(pb.ExecuteStatementRequest(sessionId=session, queryId=query))
    stub.getResultMetadata(pb.GetResultMetadataRequest(sessionId=session, queryId=query))  # waits for the run
    stub.clear(pb.ClearRequest(sessionId=session, queryId=query))


def test_logging_in_in_a_loop_keeps_only_the_users_newest_sessions(engine, still_serves):
    srv = engine(limits=Limits(max_sessions_per_user=5))
    with grpc.insecure_channel(srv.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        bob = _login(stub, "bob")
        _run(stub, bob, "CREATE TEMP TABLE mine AS SELECT 1 AS n")
        alice = []
        for _ in range(40):
            alice.append(_login(stub, "alice"))
            _run(stub, alice[-1], "CREATE TEMP TABLE t AS SELECT 1 AS n")   # a DuckDB connection each
        assert len(srv.sessions) == 6 and len(srv.engine.sessions) <= 6     # 5 of alice's and bob's
        with pytest.raises(grpc.RpcError) as info:                          # the oldest: re-authenticate
            _run(stub, alice[0], "SELECT 1")
        assert "Access denied" in info.value.details()
        _run(stub, alice[-1], "SELECT n FROM t")
        _run(stub, bob, "SELECT n FROM mine")   # another user's session and its temp table are untouched
    still_serves(srv)


def test_the_session_cap_is_a_server_flag():
    assert parse_args([]).limits.max_sessions_per_user == 256
    assert parse_args(["--max-sessions-per-user", "3"]).limits.max_sessions_per_user == 3
