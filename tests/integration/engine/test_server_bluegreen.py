"""Blue-green deployment on the server (spec §8): 456 for new work on a stale colour, ``new_strategy``
announcements, in-flight queries finishing on the colour that started them, calls without a header."""
from __future__ import annotations

import json

import grpc
import pytest

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc

USER, PASSWORD = "alice", "alice-token"  # a user of the fresh_server fixture
BLUE = (("strategy", "blue"),)
GREEN = (("strategy", "green"),)


@pytest.fixture
def setup(fresh_server):
    """A server on blue and a raw stub to it."""
    srv = fresh_server(strategy="blue")
    channel = grpc.insecure_channel(srv.address)
    yield srv, e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
    channel.close()


def _auth(stub, metadata=()):
    return stub.authenticate(pb.AuthenticateRequest(user=USER, password=PASSWORD), metadata=metadata)


def _is_456(err: grpc.RpcError) -> bool:
    return err.code() == grpc.StatusCode.UNKNOWN and err.details() == "status: 456"


def test_only_the_active_colour_may_authenticate(setup, expect_error):
    _, stub = setup
    resp = _auth(stub, BLUE)
    assert resp.sessionId and not resp.HasField("new_strategy")
    assert _is_456(expect_error(_auth, stub, GREEN))


def test_server_started_green_refuses_blue_so_clients_detect_green(fresh_server, expect_error):
    srv = fresh_server(strategy="green")
    with grpc.insecure_channel(srv.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        assert _is_456(expect_error(_auth, stub, BLUE))  # the official client tries blue first
        assert _auth(stub, GREEN).sessionId


def test_strategy_header_is_case_insensitive(setup):
    _, stub = setup
    assert _auth(stub, (("strategy", "BLUE"),)).sessionId


def test_after_a_switch_new_work_on_the_old_colour_is_refused(setup, expect_error):
    srv, stub = setup
    session = _auth(stub, BLUE).sessionId
    assert srv.switch_strategy("green") is True
    assert _is_456(expect_error(_auth, stub, BLUE))
    assert _is_456(expect_error(stub.prepareStatement, pb.PrepareStatementRequest(
        sessionId=session, queryString="select 1"), metadata=BLUE))
    assert _is_456(expect_error(stub.prepareStatementV2, pb.PrepareStatementV2Request(
        sessionId=session, catalog="local", queryString="select 1"), metadata=BLUE))
    # The same session may continue on the new colour.
    resp = stub.prepareStatement(pb.PrepareStatementRequest(sessionId=session, queryString="select 1"),
                                 metadata=GREEN)
    assert resp.queryId and not resp.HasField("new_strategy")


def test_in_flight_query_of_the_old_colour_finishes_and_learns_the_new_one(setup, raw_client, decode):
    srv, stub = setup
    client = raw_client(stub, headers=BLUE)
    handle = client.start("select range as n from range(10)")
    assert srv.queries.find(handle["queryId"]).strategy == "blue"
    srv.switch_strategy("green")

    meta = stub.getResultMetadata(pb.GetResultMetadataRequest(**handle), metadata=BLUE)
    assert meta.resultMetaData and meta.new_strategy == "green"
    rows = []
    while True:
        batch = stub.getNextResultBatch(pb.GetNextResultBatchRequest(**handle), metadata=BLUE)
        assert batch.new_strategy == "green"
        if not batch.resultBatch:
            break
        rows.extend(r[0] for r in decode(batch.resultBatch)[1])
    assert rows == list(range(10))
    status = stub.status(pb.StatusRequest(**handle), metadata=BLUE)
    assert status.status and status.rowCount == 10 and status.new_strategy == "green"
    report = stub.explainAnalyze(pb.ExplainAnalyzeRequest(**handle), metadata=BLUE)
    assert report.new_strategy == "green" and json.loads(report.explainAnalyze)["strategy"] == "blue"
    assert stub.explain(pb.ExplainRequest(**handle), metadata=BLUE).new_strategy == "green"
    assert stub.cancelQuery(pb.CancelQueryRequest(**handle), metadata=BLUE).new_strategy == "green"
    assert stub.clear(pb.ClearRequest(**handle), metadata=BLUE).new_strategy == "green"
    cleared = stub.clearOrCancelQuery(pb.ClearOrCancelQueryRequest(**handle), metadata=BLUE)
    assert cleared.new_strategy == "green"
    assert srv.queries.find(handle["queryId"]) is None


def test_browsing_on_the_old_colour_is_served_with_an_announcement(setup):
    srv, stub = setup
    session = _auth(stub, BLUE).sessionId
    srv.switch_strategy("green")
    resp = stub.getSchemaNamesV2(pb.GetSchemaNamesV2Request(sessionId=session, catalog="local"),
                                 metadata=BLUE)
    assert resp.schemas and resp.new_strategy == "green"
    resp = stub.getTablesV2(pb.GetTablesV2Request(sessionId=session, catalog="local", schema="main"),
                            metadata=GREEN)
    assert not resp.HasField("new_strategy")


def test_calls_without_a_header_run_under_the_active_colour(setup, raw_client):
    srv, stub = setup
    srv.switch_strategy("green")
    auth = _auth(stub)
    assert auth.sessionId and not auth.HasField("new_strategy")
    client = raw_client(stub)
    handle = client.start("select 42 as answer")
    assert srv.queries.find(handle["queryId"]).strategy == "green"
    assert client.fetch_rows(handle) == [(42,)]
    client.clear(handle)


@pytest.mark.parametrize("switches", [["green"], ["green", "blue"]])
def test_authenticate_never_announces_a_colour_it_refuses(setup, switches):
    srv, stub = setup
    for colour in switches:
        srv.switch_strategy(colour)
    for metadata in ((), BLUE, GREEN):
        try:
            resp = _auth(stub, metadata)
        except grpc.RpcError as err:
            assert _is_456(err)
            continue
        if resp.HasField("new_strategy"):
            assert _auth(stub, (("strategy", resp.new_strategy),)).sessionId


def test_switch_to_the_active_colour_is_a_no_op_and_unknown_colours_are_refused(setup):
    srv, stub = setup
    assert srv.switch_strategy("blue") is False
    assert srv.strategy.snapshot() == ("blue", None, None)
    with pytest.raises(ValueError):
        srv.switch_strategy("purple")
    assert _auth(stub, BLUE).sessionId
