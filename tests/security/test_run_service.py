"""QueryRunService.Run (a query in one call) takes SQL and a wait from the client: the same sandbox, limits and
ownership as the e6data calls apply, and no wait holds a server thread beyond the engine's own bound."""
from __future__ import annotations

import grpc
import pyarrow as pa
import pytest

from accounts import USERS
from e6driver._proto import e6driver_query_pb2 as run_pb, e6driver_query_pb2_grpc
from e6driver._proto import e6x_engine_pb2 as pb, e6x_engine_pb2_grpc
from mock_server.limits import Limits


def _clients(server):
    channel = grpc.insecure_channel(server.address)
    return channel, e6x_engine_pb2_grpc.QueryEngineServiceStub(channel), \
        e6driver_query_pb2_grpc.QueryRunServiceStub(channel)


def _session(engine_stub, user):
    return engine_stub.authenticate(pb.AuthenticateRequest(user=user, password=USERS[user])).sessionId


def test_refused_statements_and_no_session(server, still_serves):
    channel, engine_stub, run = _clients(server)
    with channel:
        sid = _session(engine_stub, "alice")
        with pytest.raises(grpc.RpcError) as info:
            run.Run(run_pb.RunRequest(session_id=sid, query_string="CALL enable_logging()"))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED and "not allowed" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            run.Run(run_pb.RunRequest(session_id="forged", query_string="SELECT 1"))
        assert "Access denied" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            run.Run(run_pb.RunRequest(query_string="SELECT 1"))  # neither a session nor a bearer token
        assert "Access denied" in info.value.details()
        assert len(server.queries) == 0  # nothing refused stays registered
    still_serves(server)


def test_a_huge_wait_is_capped_and_the_query_stays_the_callers(server, still_serves):
    channel, engine_stub, run = _clients(server)
    with channel:
        alice, bob = _session(engine_stub, "alice"), _session(engine_stub, "bob")
        answer = run.Run(run_pb.RunRequest(session_id=alice, wait_ms=2 ** 31 - 1,
                                           query_string="SELECT count(*) FROM range(30000000000)"))
        assert not answer.ready  # the engine answered before the statement ended: the wait is bounded
        with pytest.raises(grpc.RpcError) as info:  # another user cannot reach it by its id
            engine_stub.cancelQuery(pb.CancelQueryRequest(sessionId=bob, queryId=answer.query_id))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        engine_stub.clearOrCancelQuery(pb.ClearOrCancelQueryRequest(sessionId=alice, queryId=answer.query_id))
    still_serves(server)


def test_run_counts_toward_the_open_query_limit(engine, still_serves):
    srv = engine(limits=Limits(max_open_queries_per_user=2))
    channel, engine_stub, run = _clients(srv)
    with channel:
        sid = _session(engine_stub, "alice")
        held = [run.Run(run_pb.RunRequest(session_id=sid, query_string="SELECT range FROM range(100000000)"))
                for _ in range(2)]  # results not read: they hold the engine's memory
        with pytest.raises(grpc.RpcError) as info:
            run.Run(run_pb.RunRequest(session_id=sid, query_string="SELECT 1"))
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_open_queries_per_user=2" in info.value.details()
        for answer in held:
            engine_stub.clearOrCancelQuery(pb.ClearOrCancelQueryRequest(sessionId=sid, queryId=answer.query_id))
    still_serves(srv)


def test_fetch_arrow_reaches_only_the_callers_queries(server, still_serves):
    """FetchArrow takes a query id and a session from the client: another user's id looks missing, a forged or
    absent session is refused, and the owner still reads the whole result afterwards."""
    channel, engine_stub, run = _clients(server)
    with channel:
        alice, bob = _session(engine_stub, "alice"), _session(engine_stub, "bob")
        answer = run.Run(run_pb.RunRequest(session_id=alice, wait_ms=200,
                                           query_string="SELECT range AS n FROM range(300000)"))
        for session in (bob, "forged", ""):
            with pytest.raises(grpc.RpcError) as info:
                run.FetchArrow(run_pb.FetchArrowRequest(session_id=session, query_id=answer.query_id))
            assert info.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INTERNAL)
            assert "Access denied" in info.value.details() or "not found" in info.value.details().lower()
        with pytest.raises(grpc.RpcError) as info:
            run.FetchArrow(run_pb.FetchArrowRequest(session_id=alice, query_id="no-such-query"))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        rows, end = _thrift_rows(answer.batches), answer.end_of_stream
        while not end:
            part = run.FetchArrow(run_pb.FetchArrowRequest(session_id=alice, query_id=answer.query_id))
            if part.ipc_stream:
                rows += pa.ipc.open_stream(part.ipc_stream).read_all().num_rows
            end = part.end_of_stream
            if part.batches:
                rows += _thrift_rows(part.batches)
        assert rows == 300000
        engine_stub.clearOrCancelQuery(pb.ClearOrCancelQueryRequest(sessionId=alice, queryId=answer.query_id))
    still_serves(server)


def _thrift_rows(chunks):
    from e6driver._decode import read_chunk

    return sum(read_chunk(chunk, raw=True)[0] for chunk in chunks)
