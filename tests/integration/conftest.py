"""In-process engine server, raw gRPC stubs, and an independent reader for result chunks.

The chunk reader here is deliberately separate from mock_server.query.encode: it follows the Thrift Binary
layout of spec §7 byte by byte (tests/thrift_reader.py), so encoder and reader cannot share a mistake.
"""
from __future__ import annotations

import datetime
import decimal
from typing import Any, Callable, Dict, Iterator, List, Tuple

import grpc
import pytest

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from e6driver import _impl
from decoders import IMPLEMENTATIONS, decoder_module
from mock_server.server import EngineServer
from thrift_reader import read_struct

USER, PASSWORD = "alice", "alice-token"
OTHER_USER, OTHER_PASSWORD = "bob", "bob-token"
EPOCH = datetime.datetime(1970, 1, 1)


# ------------------------------------------------------------------ result chunks, read independently

def vector_values(vector: Dict[int, Any]) -> List[Any]:
    """Python values of one decoded Vector struct (dense data + nullSet)."""
    size, vtype, nulls = vector[1], vector[2], vector[3]
    assert len(nulls) == size, "nullSet must have one entry per row"
    (member, body), = vector[4].items()
    if vtype == 14:
        return [None] * size
    data = body[1]
    assert len(data) == size, "data lists are dense"
    if vtype in (7, 11, 12, 13):
        values: List[Any] = [b.decode("utf-8") for b in data]
    elif vtype == 8:
        values = [(EPOCH + datetime.timedelta(microseconds=v)).date() for v in data]
    elif vtype == 9:
        values = [EPOCH + datetime.timedelta(microseconds=v) for v in data]
    elif vtype == 15:
        zones = body[2]
        values = [(EPOCH + datetime.timedelta(microseconds=v), z.decode()) for v, z in zip(data, zones)]
    elif vtype == 16:
        scale = body[2]
        exact = decimal.Context(prec=100)
        values = [decimal.Decimal(int.from_bytes(b, "big", signed=True)).scaleb(-scale, exact) for b in data]
    elif vtype == 17:
        values = [datetime.timedelta(microseconds=v) for v in data]
    else:
        values = list(data)
    return [None if n else v for v, n in zip(values, nulls)]


def decode_chunk(raw: bytes) -> Tuple[List[int], List[Tuple[Any, ...]]]:
    """(vector types, rows) of one serialized Chunk; checks the spec's size invariants."""
    chunk, end = read_struct(raw)
    assert end == len(raw)
    vectors = chunk[2]
    assert all(v[1] == chunk[1] for v in vectors), "Vector.size == Chunk.size"
    assert chunk[1] > 0, "no zero-row chunks"
    columns = [vector_values(v) for v in vectors]
    return [v[2] for v in vectors], list(zip(*columns))


# ------------------------------------------------------------------ fixtures and a small raw client

@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request, monkeypatch) -> str:
    """Route the cursor's decoding through one implementation for this test (driver tests that decode results
    take it, so they run once per implementation)."""
    module = decoder_module(request.param)
    monkeypatch.setattr(_impl, "decode_chunk_columns", module.decode_chunk_columns)
    monkeypatch.setattr(_impl, "decode_chunk", module.decode_chunk)
    return request.param


@pytest.fixture(scope="module")
def server() -> Iterator[EngineServer]:
    with EngineServer("127.0.0.1", 0, users={USER: PASSWORD, OTHER_USER: OTHER_PASSWORD},
                      session_ttl=60, query_ttl=60) as srv:
        yield srv


@pytest.fixture(scope="module")
def channel(server: EngineServer) -> Iterator[grpc.Channel]:
    ch = grpc.insecure_channel(server.address)
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> e6x_engine_pb2_grpc.QueryEngineServiceStub:
    return e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)


class RawClient:
    """The official call sequence, one RPC per step, on raw stubs.

    ``headers`` (gRPC metadata, e.g. ``(("strategy", "blue"),)``) are sent on every call.
    """

    def __init__(self, stub: e6x_engine_pb2_grpc.QueryEngineServiceStub, user: str = USER,
                 password: str = PASSWORD, headers: Tuple[Tuple[str, str], ...] = ()) -> None:
        self.stub = stub
        self.headers = headers
        self.session = stub.authenticate(pb.AuthenticateRequest(user=user, password=password),
                                         metadata=headers).sessionId

    def prepare(self, sql: str, catalog: str = "", schema: str = "") -> Dict[str, str]:
        if catalog:
            resp = self.stub.prepareStatementV2(pb.PrepareStatementV2Request(
                sessionId=self.session, schema=schema, catalog=catalog, queryString=sql), metadata=self.headers)
        else:
            resp = self.stub.prepareStatement(pb.PrepareStatementRequest(
                sessionId=self.session, schema=schema, queryString=sql), metadata=self.headers)
        assert resp.queryId and resp.engineIP
        return {"engineIP": resp.engineIP, "sessionId": self.session, "queryId": resp.queryId}

    def start(self, sql: str, catalog: str = "", schema: str = "") -> Dict[str, str]:
        handle = self.prepare(sql, catalog, schema)
        self.stub.executeStatement(pb.ExecuteStatementRequest(**handle), metadata=self.headers)
        return handle

    def metadata(self, handle: Dict[str, str]) -> bytes:
        return self.stub.getResultMetadata(pb.GetResultMetadataRequest(**handle),
                                           metadata=self.headers).resultMetaData

    def fetch(self, handle: Dict[str, str]) -> bytes:
        return self.stub.getNextResultBatch(pb.GetNextResultBatchRequest(**handle),
                                            metadata=self.headers).resultBatch

    def fetch_rows(self, handle: Dict[str, str]) -> List[Tuple[Any, ...]]:
        rows: List[Tuple[Any, ...]] = []
        while True:
            raw = self.fetch(handle)
            if not raw:
                return rows
            rows.extend(decode_chunk(raw)[1])

    def clear(self, handle: Dict[str, str]) -> None:
        self.stub.clearOrCancelQuery(pb.ClearOrCancelQueryRequest(**handle), metadata=self.headers)

    def query(self, sql: str, catalog: str = "", schema: str = "") -> Tuple[bytes, List[Tuple[Any, ...]]]:
        handle = self.start(sql, catalog, schema)
        try:
            blob = self.metadata(handle)
            return blob, self.fetch_rows(handle)
        finally:
            self.clear(handle)


@pytest.fixture(scope="module")
def client(stub: e6x_engine_pb2_grpc.QueryEngineServiceStub) -> RawClient:
    return RawClient(stub)


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    """The RpcError a call raises (fails the test if it succeeds)."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value




@pytest.fixture(scope="module")
def make_client(stub: e6x_engine_pb2_grpc.QueryEngineServiceStub):
    """Factory: ``make_client(user, password)`` → a freshly authenticated RawClient."""
    return lambda user=USER, password=PASSWORD: RawClient(stub, user, password)


@pytest.fixture(scope="session")
def raw_client():
    """Factory: ``raw_client(stub, user=..., password=..., headers=())`` → an authenticated RawClient."""
    return RawClient


@pytest.fixture
def fresh_server() -> Iterator[Callable[..., EngineServer]]:
    """Factory: ``fresh_server(**options)`` → a started EngineServer of the test's own (users alice, the
    admin, and bob), for tests that change server-wide state; stopped after the test."""
    started: List[EngineServer] = []

    def start(**options: Any) -> EngineServer:
        options.setdefault("users", {USER: PASSWORD, OTHER_USER: OTHER_PASSWORD})
        srv = EngineServer("127.0.0.1", 0, **options)
        srv.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop(0)


@pytest.fixture(scope="session")
def decode():
    """The independent chunk decoder: ``decode(raw) -> (vector types, rows)``."""
    return decode_chunk


@pytest.fixture(scope="session")
def expect_error():
    """``expect_error(call, *args)`` → the grpc.RpcError the call raises."""
    return rpc_error
