"""Engine sessions (issue 12): each session has its own DuckDB connection, so settings, temporary objects and
transactions persist across its statements, stay invisible to other sessions, and end with the session (its
open transaction rolled back, and the client told once with ABORTED)."""
from __future__ import annotations

import grpc
import pytest

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc

USER, PASSWORD = "alice", "alice-token"


@pytest.fixture
def session_pair(fresh_server, raw_client):
    """A fresh engine with a table ``acct`` and two clients (two sessions) of the same user."""
    srv = fresh_server()
    channel = grpc.insecure_channel(srv.address)
    stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
    first, second = raw_client(stub), raw_client(stub)
    first.query("create table acct (id int, balance int)")
    first.query("insert into acct values (1, 100), (2, 200)")
    yield srv, first, second
    channel.close()


def _balance(client, account=1):
    return client.query(f"select balance from acct where id = {account}")[1][0][0]


def test_temporary_table_persists_in_its_session_only(session_pair, expect_error):
    _, first, second = session_pair
    first.query("create temp table scratch as select 42 as answer")
    assert first.query("select answer from scratch")[1] == [(42,)]
    err = expect_error(second.prepare, "select answer from scratch")
    assert "scratch" in err.details()
    first.query("create temp view doubled as select answer * 2 as twice from scratch")
    first.query("create temp macro plus_one(x) as x + 1")
    assert first.query("select plus_one(twice) from doubled")[1] == [(85,)]


def test_set_time_zone_persists_for_the_session(session_pair):
    _, first, second = session_pair
    first.query("set TimeZone = 'Asia/Kolkata'")
    assert first.query("select current_setting('TimeZone')")[1] == [("Asia/Kolkata",)]
    assert second.query("select current_setting('TimeZone')")[1] == [("UTC",)]


def test_engine_wide_settings_stay_refused(session_pair, expect_error):
    _, first, _ = session_pair
    err = expect_error(first.query, "set global TimeZone = 'Asia/Kolkata'")
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


def test_rollback_undoes_the_transaction(session_pair):
    _, first, second = session_pair
    first.query("begin transaction")
    first.query("update acct set balance = 0 where id = 1")
    assert _balance(first) == 0
    assert _balance(second) == 100  # uncommitted writes are the session's own
    first.query("rollback")
    assert _balance(first) == 100


def test_commit_makes_writes_visible_to_other_sessions(session_pair):
    _, first, second = session_pair
    first.query("begin")
    first.query("update acct set balance = balance + 1 where id = 2")
    assert _balance(second, 2) == 200
    first.query("commit")
    assert _balance(second, 2) == 201


def test_a_streaming_result_survives_the_next_statement_of_its_session(session_pair, decode):
    """The driver keeps one cursor's result open while another cursor of the connection executes."""
    _, first, _ = session_pair
    handle = first.start("select range as n from range(3000000)")
    first.metadata(handle)
    rows = decode(first.fetch(handle))[1]
    assert first.query("select count(*) from acct")[1] == [(2,)]  # same session, result still open
    rows += first.fetch_rows(handle)
    assert [r[0] for r in rows] == list(range(3000000))
    first.clear(handle)


def test_two_sessions_run_concurrently_without_seeing_each_other(session_pair):
    _, first, second = session_pair
    first.query("begin")
    second.query("begin")
    first.query("insert into acct values (3, 300)")
    second.query("insert into acct values (4, 400)")
    assert [r[0] for r in first.query("select id from acct order by id")[1]] == [1, 2, 3]
    assert [r[0] for r in second.query("select id from acct order by id")[1]] == [1, 2, 4]
    first.query("rollback")
    second.query("commit")
    assert [r[0] for r in first.query("select id from acct order by id")[1]] == [1, 2, 4]


def _is_transaction_lost(err: grpc.RpcError) -> bool:
    return err.code() == grpc.StatusCode.ABORTED and "transaction lost" in err.details()


def test_expired_session_rolls_back_and_tells_the_client_once(session_pair, raw_client, expect_error):
    srv, first, second = session_pair
    first.query("begin")
    first.query("update acct set balance = -1 where id = 1")
    assert srv.expire_sessions() == 2
    err = expect_error(first.prepare, "select 1")
    assert _is_transaction_lost(err), err.details()
    assert "rolled back" in err.details()
    again = expect_error(first.prepare, "select 1")  # after that the id is simply unknown
    assert again.code() == grpc.StatusCode.INTERNAL and "Access denied" in again.details()
    assert _balance(raw_client(first.stub)) == 100
    # a session without a transaction is simply forgotten
    assert expect_error(second.prepare, "select 1").code() == grpc.StatusCode.INTERNAL


def test_blue_green_switch_rolls_back_the_retired_colours_transaction(fresh_server, raw_client, expect_error):
    srv = fresh_server()
    with grpc.insecure_channel(srv.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        blue = raw_client(stub, headers=(("strategy", "blue"),))
        blue.query("create table t (x int)")
        blue.query("begin")
        blue.query("insert into t values (1)")
        idle = raw_client(stub, headers=(("strategy", "blue"),))
        idle.query("select 1")
        assert srv.switch_strategy("green")
        err = expect_error(blue.stub.getSchemaNamesV2, pb.GetSchemaNamesV2Request(sessionId=blue.session),
                           metadata=(("strategy", "green"),))
        assert _is_transaction_lost(err), err.details()
        assert "blue-green switch" in err.details()
        green = raw_client(stub, headers=(("strategy", "green"),))
        assert green.query("select count(*) from t")[1] == [(0,)]
        # a session without a transaction is not ended by the switch
        idle.headers = (("strategy", "green"),)
        assert idle.query("select 2")[1] == [(2,)]


def test_engine_stop_rolls_back_open_transactions(tmp_path, raw_client):
    from mock_server.server import EngineServer

    data = str(tmp_path / "data")
    users = {USER: PASSWORD}
    with EngineServer("127.0.0.1", 0, data_dir=data, users=users) as srv:
        with grpc.insecure_channel(srv.address) as channel:
            client = raw_client(e6x_engine_pb2_grpc.QueryEngineServiceStub(channel))
            client.query("create table kept (x int)")
            client.query("begin")
            client.query("insert into kept values (1)")
    with EngineServer("127.0.0.1", 0, data_dir=data, users=users) as srv:
        with grpc.insecure_channel(srv.address) as channel:
            client = raw_client(e6x_engine_pb2_grpc.QueryEngineServiceStub(channel))
            assert client.query("select count(*) from kept")[1] == [(0,)]


# ---------------------------------------------------------------------------------------- several statements


def test_a_select_before_the_last_statement_leaves_the_session_usable(session_pair):
    """Each statement of a string runs; a result set before the last one is read to its end and dropped (its
    unread rows used to stay on the session's connection and fail every later statement of the session)."""
    _, first, _ = session_pair
    assert first.query("select 1; select 2")[1] == [(2,)]
    assert first.query("select id from acct order by id; select range from range(100000); select 42")[1] == [(42,)]
    assert first.query("select 7")[1] == [(7,)]


def test_statements_before_a_failing_one_are_rolled_back(session_pair, expect_error):
    """Outside a transaction, a string of several statements runs as one (PostgreSQL's simple query protocol):
    all or nothing when its last statement changes data."""
    _, first, second = session_pair
    err = expect_error(first.query, "insert into acct values (3, 300); update acct set balance = balance / 0.0 "
                                    "where id = 1; insert into acct values (4, 400)")
    assert "statement 2 of 3" in err.details() and "rolled back" in err.details()
    assert first.query("select count(*) from acct")[1] == [(2,)]
    assert second.query("select count(*) from acct")[1] == [(2,)]
    first.query("insert into acct values (3, 300); update acct set balance = 0 where id = 3")
    assert second.query("select balance from acct where id = 3")[1] == [(0,)]


def test_statements_before_a_last_select_are_committed_before_it_runs(session_pair, expect_error):
    """A last statement that returns rows streams as it is read, after the statements before it committed;
    the error says so when it fails."""
    _, first, second = session_pair
    err = expect_error(first.query, "insert into acct values (3, 300); select error('boom')")
    assert "statement 2 of 2" in err.details() and "committed" in err.details()
    assert second.query("select count(*) from acct")[1] == [(3,)]
    assert first.query("insert into acct values (4, 400) returning id; select sum(balance) from acct")[1] == \
        [(1000,)]


def test_several_statements_inside_an_open_transaction_stay_in_it(session_pair):
    _, first, second = session_pair
    first.query("begin")
    first.query("insert into acct values (3, 300); insert into acct values (4, 400)")
    assert second.query("select count(*) from acct")[1] == [(2,)]
    first.query("rollback")
    assert first.query("select count(*) from acct")[1] == [(2,)]
    first.query("begin; insert into acct values (5, 500); commit")
    assert second.query("select count(*) from acct")[1] == [(3,)]


def test_a_failing_last_select_inside_an_open_transaction_claims_no_commit(session_pair, expect_error):
    """Inside the user's transaction the statements before a failing SELECT were not committed: the error
    must not say they were (it did, and a ROLLBACK then undid them)."""
    _, first, _ = session_pair
    first.query("begin")
    err = expect_error(first.query, "insert into acct values (3, 300); select error('boom')")
    assert "statement 2 of 2" in err.details() and "committed" not in err.details()
    first.query("rollback")
    assert first.query("select count(*) from acct")[1] == [(2,)]


@pytest.mark.parametrize("sql", ["commit", "rollback", "begin; begin"])
def test_transaction_statements_out_of_place_are_the_users_error(session_pair, expect_error, sql):
    """DuckDB's TransactionException was INTERNAL (InternalError, a server traceback in the log)."""
    _, first, _ = session_pair
    err = expect_error(first.query, sql)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "transaction" in err.details()
    if sql.startswith("begin"):
        first.query("rollback")
    assert first.query("select count(*) from acct")[1] == [(2,)]
