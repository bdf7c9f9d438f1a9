"""Requests over ``--max-message-bytes``: refused before authentication and before decoding, with an error that
names the limit and its flag, whether the engine answers (up to 1 MiB over) or gRPC core does (beyond)."""
from __future__ import annotations

import os

import grpc
import pytest

import e6driver
from e6driver._proto import e6driver_stores_pb2 as st
from e6driver._proto import e6driver_stores_pb2_grpc
from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from e6driver.errors import OperationalError
from mock_server.limits import Limits
from mock_server.request_size import CORE_SLACK

from accounts import USERS

LIMIT = 256 * 1024


@pytest.fixture
def small(engine):
    return engine(limits=Limits(max_message_bytes=LIMIT))


def _alice(server) -> e6driver.Connection:
    return e6driver.connect(host="127.0.0.1", port=server.port, username="alice", password=USERS["alice"],
                            connect_timeout=20, rpc_timeout=30)


def test_the_engine_names_the_limit_before_authentication(small, still_serves):
    with grpc.insecure_channel(small.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        for call, request in ((stub.authenticate, pb.AuthenticateRequest(user="x" * (LIMIT + 10), password="p")),
                              (stub.prepareStatement, pb.PrepareStatementRequest(sessionId="none",
                                                                                 queryString="x" * (LIMIT + 10)))):
            with pytest.raises(grpc.RpcError) as info:
                call(request, timeout=30)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert f"max_message_bytes={LIMIT} (server flag --max-message-bytes)" in info.value.details()
        # A streamed request (an object put) is checked message by message, also before authentication.
        stores = e6driver_stores_pb2_grpc.ObjectStoreServiceStub(channel)
        chunk = st.PutRequest(bucket="b", key="k", data=os.urandom(LIMIT + 10), last=True)
        with pytest.raises(grpc.RpcError) as info:
            stores.Put(iter([chunk]), timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-message-bytes" in info.value.details()
    still_serves(small)


def test_the_driver_raises_an_operational_error_naming_the_limit(small, still_serves):
    with _alice(small) as conn:
        cur = conn.cursor()
        with pytest.raises(OperationalError, match=f"max_message_bytes={LIMIT}"):  # answered by the engine
            cur.execute("SELECT '" + "x" * (LIMIT + 10) + "'")
        with pytest.raises(OperationalError, match="--max-message-bytes") as info:  # answered by gRPC core
            cur.execute("SELECT '" + "x" * (LIMIT + CORE_SLACK + 10) + "'")
        assert "Received message larger than max" in str(info.value)
        conn.objects.create_bucket("alice-msg")
        with pytest.raises(OperationalError, match="max_message_bytes"):
            conn.objects.put("alice-msg", "big.bin", os.urandom(LIMIT + 10))  # one chunk over the limit
        assert [o.key for o in conn.objects.list("alice-msg")] == []
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]
    still_serves(small)
