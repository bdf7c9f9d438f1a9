"""Cluster suspension and resume (spec §9): 503 on every query-service call while not active, the
ClusterService status/resume/suspend sequence, and work continuing after a resume."""
from __future__ import annotations

import time

import grpc
import pytest

from e6driver._proto import cluster_pb2, cluster_pb2_grpc
from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc

USER, PASSWORD = "alice", "alice-token"  # a user of the fresh_server fixture
BLUE = (("strategy", "blue"),)
SUSPENDED = "status: 503, cluster is suspended"
RESUME_SECONDS = 0.5


@pytest.fixture
def setup(fresh_server):
    """A server that resumes in RESUME_SECONDS, with query and cluster stubs."""
    srv = fresh_server(resume_seconds=RESUME_SECONDS)
    channel = grpc.insecure_channel(srv.address)
    yield (srv, e6x_engine_pb2_grpc.QueryEngineServiceStub(channel),
           cluster_pb2_grpc.ClusterServiceStub(channel))
    channel.close()


def _status(cluster) -> str:
    return cluster.status(cluster_pb2.ClusterStatusRequest(user=USER, password=PASSWORD), metadata=BLUE).status


def _wait_for(cluster, status: str, timeout: float = 1.5) -> None:
    deadline = time.monotonic() + timeout
    while _status(cluster) != status:
        assert time.monotonic() < deadline, f"cluster never became {status}"
        time.sleep(0.02)


def _is_503(err: grpc.RpcError) -> bool:
    return err.code() == grpc.StatusCode.UNAVAILABLE and err.details() == SUSPENDED


def test_every_query_service_call_answers_503_while_suspended(setup, raw_client, expect_error):
    srv, stub, cluster = setup
    client = raw_client(stub, headers=BLUE)
    handle = client.start("select 1 as one")
    assert srv.suspend() == "suspended"
    calls = [
        (stub.authenticate, pb.AuthenticateRequest(user=USER, password=PASSWORD)),
        (stub.prepareStatement, pb.PrepareStatementRequest(sessionId=client.session, queryString="select 2")),
        (stub.getResultMetadata, pb.GetResultMetadataRequest(**handle)),
        (stub.getNextResultBatch, pb.GetNextResultBatchRequest(**handle)),
        (stub.status, pb.StatusRequest(**handle)),
        (stub.clearOrCancelQuery, pb.ClearOrCancelQueryRequest(**handle)),
        (stub.getSchemaNamesV2, pb.GetSchemaNamesV2Request(sessionId=client.session, catalog="local")),
        (stub.healthCheck, pb.HealthCheckRequest()),
    ]
    for call, request in calls:
        assert _is_503(expect_error(call, request, metadata=BLUE)), call
    assert _is_503(expect_error(stub.authenticate, pb.AuthenticateRequest(user=USER, password=PASSWORD)))
    assert _status(cluster) == "suspended"


def test_resume_goes_through_resuming_to_active_and_work_continues(setup, raw_client, expect_error):
    srv, stub, cluster = setup
    client = raw_client(stub, headers=BLUE)
    handle = client.start("select 7 as seven")
    srv.suspend()
    resp = cluster.resume(cluster_pb2.ResumeRequest(user=USER, password=PASSWORD), metadata=BLUE)
    assert resp.status == "resuming"
    assert _status(cluster) == "resuming"
    assert _is_503(expect_error(client.fetch, handle))  # not available until active
    assert cluster.resume(cluster_pb2.ResumeRequest(user=USER, password=PASSWORD)).status == "resuming"
    _wait_for(cluster, "active")
    assert client.fetch_rows(handle) == [(7,)]  # the query prepared before the suspension survives
    client.clear(handle)
    assert raw_client(stub, headers=BLUE).session


def test_suspend_through_cluster_service_needs_valid_credentials(setup, expect_error):
    srv, stub, cluster = setup
    err = expect_error(cluster.suspend, cluster_pb2.SuspendRequest(user=USER, password="wrong"))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert srv.cluster.status == "active"
    assert cluster.suspend(cluster_pb2.SuspendRequest(user=USER, password=PASSWORD)).status == "suspended"
    assert _status(cluster) == "suspended"


def test_cluster_service_authenticates_by_password_or_bearer_token(setup, expect_error):
    _, _, cluster = setup
    err = expect_error(cluster.status, cluster_pb2.ClusterStatusRequest())
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    bearer = (("authorization", f"Bearer {PASSWORD}"),)
    assert cluster.status(cluster_pb2.ClusterStatusRequest(), metadata=bearer).status == "active"


def test_resume_of_an_active_cluster_reports_active(setup):
    _, _, cluster = setup
    assert cluster.resume(cluster_pb2.ResumeRequest(user=USER, password=PASSWORD)).status == "active"


def test_suspend_while_resuming_cancels_the_resume(setup):
    srv, _, cluster = setup
    srv.suspend()
    assert srv.resume() == "resuming"
    assert srv.suspend() == "suspended"
    time.sleep(RESUME_SECONDS + 0.15)
    assert _status(cluster) == "suspended"


def test_zero_resume_seconds_resumes_at_once(fresh_server):
    srv = fresh_server(resume_seconds=0)
    srv.suspend()
    assert srv.resume() == "active"
    with grpc.insecure_channel(srv.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        assert stub.authenticate(pb.AuthenticateRequest(user=USER, password=PASSWORD)).sessionId
