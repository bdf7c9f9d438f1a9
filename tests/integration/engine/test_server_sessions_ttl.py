"""Session and query idle TTLs (spec §4.1, §5.1): an expired or forgotten session is answered with
INTERNAL ``Access denied`` (the official client then re-authenticates), live queries stay usable, and
abandoned queries are released."""
from __future__ import annotations

import time

import grpc
import pytest

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc

USER, PASSWORD = "alice", "alice-token"  # a user of the fresh_server fixture
ACCESS_DENIED = "Access denied: session expired or unknown"
TTL = 0.4


@pytest.fixture
def connect():
    """``connect(server)`` → a query-service stub on a channel closed after the test."""
    channels = []

    def stub_for(srv):
        channels.append(grpc.insecure_channel(srv.address))
        return e6x_engine_pb2_grpc.QueryEngineServiceStub(channels[-1])

    yield stub_for
    for channel in channels:
        channel.close()


def _prepare(stub, session):
    return stub.prepareStatement(pb.PrepareStatementRequest(sessionId=session, queryString="select 1"))


def _is_access_denied(err: grpc.RpcError) -> bool:
    return err.code() == grpc.StatusCode.INTERNAL and err.details() == ACCESS_DENIED


def test_idle_session_expires_and_asks_for_reauthentication(fresh_server, connect, expect_error):
    srv = fresh_server(session_ttl=TTL)
    stub = connect(srv)
    session = stub.authenticate(pb.AuthenticateRequest(user=USER, password=PASSWORD)).sessionId
    assert _prepare(stub, session).queryId
    time.sleep(TTL + 0.15)
    assert _is_access_denied(expect_error(_prepare, stub, session))
    fresh = stub.authenticate(pb.AuthenticateRequest(user=USER, password=PASSWORD)).sessionId
    assert _prepare(stub, fresh).queryId


def test_ttl_counts_from_the_last_use(fresh_server, connect):
    srv = fresh_server(session_ttl=TTL)
    stub = connect(srv)
    session = stub.authenticate(pb.AuthenticateRequest(user=USER, password=PASSWORD)).sessionId
    for _ in range(5):  # 5 × 0.1 s > TTL in total, but never idle for TTL
        time.sleep(TTL / 4)
        stub.getSchemaNamesV2(pb.GetSchemaNamesV2Request(sessionId=session, catalog="local"))


def test_unknown_session_is_access_denied(fresh_server, connect, expect_error):
    stub = connect(fresh_server())
    assert _is_access_denied(expect_error(_prepare, stub, "no-such-session"))


def test_expire_sessions_forgets_all_but_live_queries_continue(fresh_server, connect, raw_client, expect_error):
    srv = fresh_server()
    stub = connect(srv)
    client = raw_client(stub)
    other = raw_client(stub, user="bob", password="bob-token")
    handle = client.start("select range as n from range(3)")
    assert srv.expire_sessions() == 2
    assert _is_access_denied(expect_error(_prepare, stub, client.session))
    assert _is_access_denied(expect_error(_prepare, stub, other.session))
    # Fetch has no re-authentication path in clients: a live query keeps its own session usable.
    assert [r[0] for r in client.fetch_rows(handle)] == [0, 1, 2]
    client.clear(handle)


def test_idle_query_is_released_after_the_query_ttl(fresh_server, connect, raw_client, expect_error):
    srv = fresh_server(query_ttl=0.2, sweep_interval=0.05)
    stub = connect(srv)
    client = raw_client(stub)
    handle = client.start("select 1 as one")
    deadline = time.monotonic() + 1.5
    while srv.queries.find(handle["queryId"]) is not None:
        assert time.monotonic() < deadline, "idle query was never released"
        time.sleep(0.05)
    err = expect_error(client.fetch, handle)
    assert err.code() == grpc.StatusCode.NOT_FOUND
    client.clear(handle)  # clearing a released query stays idempotent
