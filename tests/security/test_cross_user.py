"""Another user's queries, buckets and datasets, tried by an ordinary user who knows their ids and names."""
from __future__ import annotations

import grpc
import pyarrow as pa
import pytest

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from e6driver.errors import DatabaseError

from accounts import USERS


def test_another_users_query_is_not_found(server, still_serves):
    with grpc.insecure_channel(server.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        bob = stub.authenticate(pb.AuthenticateRequest(user="bob", password=USERS["bob"])).sessionId
        alice = stub.authenticate(pb.AuthenticateRequest(user="alice", password=USERS["alice"])).sessionId
        query = stub.prepareStatement(pb.PrepareStatementRequest(sessionId=bob, queryString="SELECT 'bob secret'"))
        stub.executeStatement(pb.ExecuteStatementRequest(sessionId=bob, queryId=query.queryId))
        for call, request in (
                (stub.getResultMetadata, pb.GetResultMetadataRequest(sessionId=alice, queryId=query.queryId)),
                (stub.getNextResultBatch, pb.GetNextResultBatchRequest(sessionId=alice, queryId=query.queryId)),
                (stub.status, pb.StatusRequest(sessionId=alice, queryId=query.queryId)),
                (stub.cancelQuery, pb.CancelQueryRequest(sessionId=alice, queryId=query.queryId))):
            with pytest.raises(grpc.RpcError) as info:
                call(request)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert stub.getNextResultBatch(pb.GetNextResultBatchRequest(sessionId=bob, queryId=query.queryId)).resultBatch
    still_serves(server)


def test_another_users_bucket_and_dataset_stay_private(connect, server, still_serves):
    alice, bob = connect("alice"), connect("bob")
    bob.objects.create_bucket("bob-only")
    bob.objects.put("bob-only", "s.csv", b"secret\n1\n")
    bob.datasets.upload("bob_sales", pa.table({"n": [1, 2]}))
    for call in (lambda: alice.objects.get("bob-only", "s.csv"), lambda: list(alice.objects.list("bob-only")),
                 lambda: alice.objects.register_table("bob-only", "t", "s.csv"),
                 lambda: alice.objects.grant("bob-only", "alice", "read"),
                 lambda: alice.datasets.download("bob_sales"), lambda: alice.datasets.grant("bob_sales", "alice", "read")):
        with pytest.raises(DatabaseError):
            call()
    cur = alice.cursor()
    for sql in ('SELECT * FROM objects."bob-only"."s.csv"', "SELECT * FROM datasets.main.bob_sales",
                "SELECT * FROM datasets.bob.bob_sales"):
        with pytest.raises(DatabaseError):
            cur.execute(sql)
            cur.fetchall()
    cur.execute("SELECT count(*) FROM datasets.information.datasets")
    assert cur.fetchall() == [(0,)]
    # Column qualifiers spelling a dataset's full name become the alias of a dataset read in FROM; one that
    # only qualifies (bob's, never read) stays an unbound name, never a way to bob's rows.
    alice.datasets.upload("alice_sales", pa.table({"n": [7]}))
    for sql in ("SELECT datasets.main.bob_sales.n FROM datasets.main.alice_sales",
                "SELECT main.bob_sales.n FROM datasets.main.alice_sales AS bob_sales"):
        try:
            cur.execute(sql)
            assert cur.fetchall() in ([(7,)], [])  # alice's own row at most (the alias is hers)
        except DatabaseError as exc:
            assert "bob_sales" in str(exc) and "__e6_" not in str(exc)
    still_serves(server)


def test_catalog_local_is_shared_as_documented(connect, server, still_serves):
    """docs/engine-contract.md: ``local`` is one database every user reads and writes (no per-user grants);
    private data belongs in buckets or datasets (the test above)."""
    alice, bob = connect("alice"), connect("bob")
    alice.cursor().execute("CREATE TABLE local.main.team_notes AS SELECT 'from alice' AS note")
    cur = bob.cursor()
    cur.execute("SELECT note FROM local.main.team_notes")
    assert cur.fetchall() == [("from alice",)]
    still_serves(server)


def test_temporary_objects_and_prepared_statements_stay_in_their_session(connect, server, still_serves):
    """Each session runs on its own DuckDB connection: another session, of another user or the same one, sees
    none of its temporary tables, macros or prepared statements."""
    bob = connect("bob").cursor()
    bob.execute("CREATE TEMP TABLE bob_tmp AS SELECT 'bob secret' AS s; CREATE TEMP MACRO bob_m() AS 'bob'; "
                "PREPARE bob_p AS SELECT 'bob prepared'")
    for user in ("alice", "bob"):
        cur = connect(user).cursor()
        for sql in ("SELECT s FROM bob_tmp", "SELECT s FROM temp.main.bob_tmp", "SELECT bob_m()", "EXECUTE bob_p"):
            with pytest.raises(DatabaseError):
                cur.execute(sql)
                cur.fetchall()
    bob.execute("SELECT s FROM bob_tmp")
    assert bob.fetchall() == [("bob secret",)]
    still_serves(server)
