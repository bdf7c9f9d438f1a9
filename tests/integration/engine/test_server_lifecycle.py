"""Server-level behaviour over raw gRPC stubs: sessions, the query life cycle, DDL/DML, errors."""
from __future__ import annotations

import json

import grpc
import pytest

from e6driver._proto import cluster_pb2, cluster_pb2_grpc
from e6driver._proto import e6x_engine_pb2 as pb
from e6driver.protocol.result_metadata import parse_result_metadata


def test_authenticate_good_and_bad(stub, expect_error):
    good = stub.authenticate(pb.AuthenticateRequest(user="alice", password="alice-token"))
    assert good.sessionId
    err = expect_error(stub.authenticate, pb.AuthenticateRequest(user="alice", password="wrong"))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Access denied" not in err.details()
    err = expect_error(stub.authenticate, pb.AuthenticateRequest(user="nobody", password="alice-token"))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


def test_unknown_session_asks_for_reauthentication(stub, expect_error):
    err = expect_error(stub.prepareStatement,
                       pb.PrepareStatementRequest(sessionId="no-such-session", queryString="select 1"))
    assert err.code() == grpc.StatusCode.INTERNAL
    assert "Access denied" in err.details()


def test_full_life_cycle(client, stub):
    blob, rows = client.query("create table life(id integer primary key, name varchar)")
    assert parse_result_metadata(blob) == (-1, [])
    assert rows == []
    blob, _ = client.query("insert into life values (1, 'one'), (2, NULL), (3, 'three')")
    assert parse_result_metadata(blob) == (3, [])

    handle = client.start("select id, name from life order by id")
    count, columns = parse_result_metadata(client.metadata(handle))
    assert count == 3
    assert columns == [("id", "INTEGER", "", ""), ("name", "STRING", "", "")]
    assert client.fetch_rows(handle) == [(1, "one"), (2, None), (3, "three")]
    assert client.fetch(handle) == b""  # end of results, again
    assert parse_result_metadata(client.metadata(handle))[0] == 3  # still answerable after exhaustion
    status = stub.status(pb.StatusRequest(**handle))
    assert status.status is True and status.rowCount == 3 and status.sessionId == client.session
    report = stub.explainAnalyze(pb.ExplainAnalyzeRequest(**handle))
    planner = json.loads(report.explainAnalyze)
    for key in ("total_query_time", "executionQueueingTime", "parsingTime"):
        assert isinstance(planner[key], (int, float)) and planner[key] >= 0
    assert "life" in stub.explain(pb.ExplainRequest(**handle)).explain.lower()
    client.clear(handle)


def test_update_and_delete_report_affected_rows(client):
    client.query("create table upd as select range as id from range(10)")
    assert parse_result_metadata(client.query("update upd set id = id + 1 where id < 4")[0]) == (4, [])
    assert parse_result_metadata(client.query("delete from upd where id > 5")[0]) == (4, [])
    assert client.query("select count(*) as n from upd")[1] == [(6,)]


def test_multiple_statements_run_in_order(client):
    blob, rows = client.query("create table multi(a int); insert into multi values (7); select a from multi")
    assert parse_result_metadata(blob)[1] == [("a", "INTEGER", "", "")]
    assert rows == [(7,)]


def test_backslash_escapes_in_literals(client):
    _, rows = client.query(r"select 'it\'s' as a, 'back\\slash' as b, 'tab\there' as c, 'x''y' as d;")
    assert rows == [("it's", "back\\slash", "tab\there", "x'y")]


def test_hostile_literal_stays_a_literal(client):
    client.query("create table victim(a int)")
    # What a pyformat client produces for the value  \'; drop table victim; --
    _, rows = client.query(r"select '\\\'; drop table victim; --' as v")
    assert rows == [("\\'; drop table victim; --",)]
    assert client.query("select count(*) from victim")[1] == [(0,)]


def test_prepare_errors(client, expect_error):
    err = expect_error(client.prepare, "selec 1")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = expect_error(client.prepare, "select * from no_such_table")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no_such_table" in err.details()
    err = expect_error(client.prepare, "select 'unterminated")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_runtime_errors_map_to_codes(client, expect_error):
    client.query("create table uniq(id integer primary key)")
    client.query("insert into uniq values (1)")
    handle = client.start("insert into uniq values (1)")
    assert expect_error(client.metadata, handle).code() == grpc.StatusCode.FAILED_PRECONDITION
    client.clear(handle)
    handle = client.start("select 'abc'::integer as x")
    assert expect_error(client.metadata, handle).code() == grpc.StatusCode.OUT_OF_RANGE
    client.clear(handle)
    handle = client.start("select interval 2 month as i")
    err = expect_error(client.metadata, handle)
    assert err.code() == grpc.StatusCode.OUT_OF_RANGE and "'i'" in err.details()
    client.clear(handle)


def test_clear_and_cancel_are_idempotent(client, stub, expect_error):
    for query_id in ("", "unknown-query"):
        handle = {"engineIP": "", "sessionId": client.session, "queryId": query_id}
        stub.clearOrCancelQuery(pb.ClearOrCancelQueryRequest(**handle))
        stub.clear(pb.ClearRequest(**handle))
        stub.cancelQuery(pb.CancelQueryRequest(**handle))
    handle = client.start("select 1 as one")
    client.clear(handle)
    client.clear(handle)
    stub.cancelQuery(pb.CancelQueryRequest(**handle))
    assert expect_error(client.metadata, handle).code() == grpc.StatusCode.NOT_FOUND


def test_query_continues_under_another_session_of_the_same_user(make_client, expect_error):
    first, second = make_client(), make_client()
    handle = first.start("select 42 as answer")
    moved = dict(handle, sessionId=second.session)
    assert parse_result_metadata(second.metadata(moved))[0] == 1
    assert second.fetch_rows(moved) == [(42,)]
    intruder = make_client("bob", "bob-token")
    stolen = dict(handle, sessionId=intruder.session)
    assert expect_error(intruder.metadata, stolen).code() == grpc.StatusCode.NOT_FOUND
    first.clear(handle)


def test_statement_without_result_has_valid_blob_and_empty_fetch(client):
    handle = client.start("set TimeZone = 'UTC'")
    assert parse_result_metadata(client.metadata(handle)) == (-1, [])
    assert client.fetch(handle) == b""
    client.clear(handle)


def test_bearer_token_with_empty_session(stub):
    metadata = (("authorization", "Bearer alice-token"),)
    resp = stub.prepareStatement(pb.PrepareStatementRequest(queryString="select 5 as five"),
                                 metadata=metadata)
    handle = {"engineIP": resp.engineIP, "sessionId": "", "queryId": resp.queryId}
    stub.executeStatement(pb.ExecuteStatementRequest(**handle), metadata=metadata)
    assert parse_result_metadata(stub.getResultMetadata(pb.GetResultMetadataRequest(**handle),
                                                 metadata=metadata).resultMetaData)[0] == 1
    stub.clearOrCancelQuery(pb.ClearOrCancelQueryRequest(**handle), metadata=metadata)
    try:
        stub.prepareStatement(pb.PrepareStatementRequest(queryString="select 1"),
                              metadata=(("authorization", "Bearer wrong"),))
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    else:
        raise AssertionError("a wrong bearer token must be refused")


def test_fetch_v2_returns_all_chunks_then_end_of_stream(client, stub, decode):
    handle = client.start("select range as n from range(100000)")
    client.metadata(handle)
    rows, ended = [], False
    while not ended:
        resp = stub.getNextResultBatchV2(pb.GetNextResultBatchRequest(**handle))
        assert all(resp.resultBatches), "no empty elements"
        for raw in resp.resultBatches:
            rows.extend(r[0] for r in decode(raw)[1])
        ended = resp.endOfStream
        assert resp.sessionId == client.session
    assert rows == list(range(100000))
    client.clear(handle)


def test_dry_run_validates_without_executing(client, stub):
    resp = stub.dryRun(pb.DryRunRequest(sessionId=client.session, queryString="create table dry(a int)"))
    assert json.loads(resp.dryrunValue)["valid"] is True
    assert "dry" not in stub.getTablesV2(pb.GetTablesV2Request(sessionId=client.session)).tables
    resp = stub.dryRunV2(pb.DryRunRequestV2(sessionId=client.session, catalog="local",
                                            queryString="select * from nowhere"))
    report = json.loads(resp.dryrunValue)
    assert report["valid"] is False and "nowhere" in report["error"]


def test_cluster_status_is_active(channel):
    cluster = cluster_pb2_grpc.ClusterServiceStub(channel)
    assert cluster.status(cluster_pb2.ClusterStatusRequest(user="alice", password="alice-token")).status == "active"


def test_health_check(stub):
    stub.healthCheck(pb.HealthCheckRequest())


def test_a_query_prepared_while_stopping_is_refused_and_releases_its_cursor(tmp_path):
    import pytest

    from mock_server import errors
    from mock_server.server import EngineServer

    srv = EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users={"u": "p"})
    srv.start()
    srv.queries.close()  # the server is stopping; a prepare still in flight must not register a live query
    with pytest.raises(errors.EngineError) as info:
        srv.queries.create("u", "s", "SELECT 1", "", "")
    assert info.value.code.name == "UNAVAILABLE"
    srv.stop(0)
    again = EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users={"u": "p"})  # the database file is free
    again.start()
    again.stop(0)


@pytest.mark.parametrize("sql, named", [
    ("select 'infinity'::timestamp_s as t", "TIMESTAMP value infinity"),  # was sent as 1969-12-31 23:59:59
    ("select '-infinity'::date as d", "DATE value -infinity"),
    ("select '300000-01-01'::date as d", "DATE value 108853222 days since 1970"),
    ("select '-infinity'::timestamp_s as t", "TIMESTAMP value -infinity"),
])
def test_dates_and_times_beyond_the_wires_microseconds_are_out_of_range(client, expect_error, sql, named):
    """Scaled to int64 microseconds they wrapped silently (numpy): a wrong value, or one the decoder refused for
    the wrong reason ("not a whole day")."""
    handle = client.start(sql)
    err = expect_error(client.metadata, handle)
    assert err.code() == grpc.StatusCode.OUT_OF_RANGE and named in err.details() and "VARCHAR" in err.details()
    client.clear(handle)
