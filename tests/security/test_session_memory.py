"""One session, many large unfetched results: the engine keeps at most a bounded part of each in memory."""
from __future__ import annotations

import grpc
import pytest

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from mock_server.limits import Limits

from accounts import USERS


def test_a_result_left_streaming_is_bounded_when_the_session_moves_on(engine, still_serves):
    server = engine(limits=Limits(max_detached_bytes=1024 * 1024))
    with grpc.insecure_channel(server.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        sid = stub.authenticate(pb.AuthenticateRequest(user="alice", password=USERS["alice"])).sessionId
        big = stub.prepareStatement(pb.PrepareStatementRequest(
            sessionId=sid, queryString="SELECT range, repeat('x', 100) FROM range(5000000)")).queryId
        stub.executeStatement(pb.ExecuteStatementRequest(sessionId=sid, queryId=big))
        stub.getResultMetadata(pb.GetResultMetadataRequest(sessionId=sid, queryId=big))
        small = stub.prepareStatement(pb.PrepareStatementRequest(sessionId=sid, queryString="SELECT 1")).queryId
        stub.executeStatement(pb.ExecuteStatementRequest(sessionId=sid, queryId=small))
        assert stub.getNextResultBatch(pb.GetNextResultBatchRequest(sessionId=sid, queryId=small)).resultBatch
        with pytest.raises(grpc.RpcError) as info:
            while stub.getNextResultBatch(pb.GetNextResultBatchRequest(sessionId=sid, queryId=big)).resultBatch:
                pass
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "another statement" in info.value.details()
        assert "max_detached_bytes=1048576 (server flag --max-detached-bytes)" in info.value.details()
    still_serves(server)
