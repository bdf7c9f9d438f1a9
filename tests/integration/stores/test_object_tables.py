"""Named tables over object prefixes: registered by a bucket writer, read with SQL, listed and described by the
browsing RPCs, invisible without a grant, kept across restarts."""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import e6driver
from e6driver.errors import PermissionDeniedError
from mock_server.server import EngineServer

BUCKET = "tables-bucket"


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


@pytest.fixture(scope="module")
def bucket(alice):
    store = alice.objects
    store.create_bucket(BUCKET)
    for day in (1, 2):
        store.put(BUCKET, f"events/day={day}/part-0.parquet", _parquet(pa.table({
            "id": pa.array([day * 10, day * 10 + 1], pa.int64()), "name": ["a", "b"],
            "score": pa.array([1.5, 2.5], pa.float64()), "at": pa.array([0, 1], pa.timestamp("us"))})))
    store.put(BUCKET, "raw/a.txt", b"id,city\n1,Oslo\n")  # CSV without a .csv name
    store.put(BUCKET, "raw/b.txt", b"id,city\n2,Lima\n")
    store.register_table(BUCKET, "events", "events/")
    store.register_table(BUCKET, "cities", "raw/*.txt", format="csv")
    return BUCKET


def test_sql_reads_a_named_table(bucket, alice, rows):
    assert rows(alice, f'SELECT count(*), CAST(sum(id) AS BIGINT) FROM objects."{bucket}".events') == [(4, 62)]
    assert rows(alice, f'SELECT city FROM objects."{bucket}".cities ORDER BY id') == [("Oslo",), ("Lima",)]
    assert rows(alice, 'SELECT count(*) FROM "events"', catalog_name="objects", db_name=bucket) == [(4,)]


def test_the_table_follows_the_bucket(bucket, alice, rows):
    alice.objects.put(bucket, "events/day=3/part-0.parquet", _parquet(pa.table({
        "id": pa.array([30], pa.int64()), "name": ["c"], "score": pa.array([0.5]),
        "at": pa.array([2], pa.timestamp("us"))})))
    try:
        assert rows(alice, f'SELECT max(id) FROM objects."{bucket}".events') == [(30,)]
    finally:
        alice.objects.delete(bucket, "events/day=3/part-0.parquet")


def test_listing_and_columns(bucket, alice):
    assert alice.get_tables("objects", bucket) == ["$objects", "cities", "events"]
    columns = {c["fieldName"]: c["fieldType"] for c in alice.get_columns("objects", bucket, "events")}
    assert columns == {"id": "bigint", "name": "string", "score": "double", "at": "timestamp"}
    assert [(t.name, t.pattern, t.format, t.owner) for t in alice.objects.tables(bucket)] == [
        ("cities", "raw/*.txt", "csv", "alice"), ("events", "events/", "", "alice")]


def test_register_and_drop_rules(bucket, alice, root, rows):
    with pytest.raises(e6driver.ProgrammingError, match="already has a table named 'events'"):
        alice.objects.register_table(bucket, "events", "raw/")
    with pytest.raises(e6driver.ProgrammingError, match="invalid table name"):
        alice.objects.register_table(bucket, "Bad-Name", "raw/")
    with pytest.raises(e6driver.ProgrammingError, match="format must be one of"):
        alice.objects.register_table(bucket, "odd", "raw/", format="xml")
    with pytest.raises(e6driver.ProgrammingError, match="'..' segment"):
        alice.objects.register_table(bucket, "odd", "../raw/")
    alice.objects.register_table(bucket, "empty", "nothing-here/")
    assert alice.get_columns("objects", bucket, "empty") == []
    with pytest.raises(e6driver.ProgrammingError, match="no objects in bucket"):
        rows(alice, f'SELECT * FROM objects."{bucket}".empty')
    assert alice.objects.drop_table(bucket, "empty") is True
    assert alice.objects.drop_table(bucket, "empty") is False
    assert "empty" not in alice.get_tables("objects", bucket)


def test_without_a_grant_neither_table_nor_data(bucket, alice, bob, rows):
    assert bob.get_tables("objects", bucket) == []
    assert bob.get_columns("objects", bucket, "events") == []
    with pytest.raises(PermissionDeniedError, match="bob"):
        rows(bob, f'SELECT * FROM objects."{bucket}".events')
    with pytest.raises(PermissionDeniedError):
        bob.objects.register_table(bucket, "mine", "events/")
    with pytest.raises(PermissionDeniedError):
        bob.objects.tables(bucket)
    alice.objects.grant(bucket, "bob", "read")
    try:
        assert rows(bob, f'SELECT count(*) FROM objects."{bucket}".events') == [(4,)]
        assert "events" in bob.get_tables("objects", bucket)
        with pytest.raises(PermissionDeniedError):  # reading is not enough to register or drop
            bob.objects.register_table(bucket, "mine", "events/")
        with pytest.raises(PermissionDeniedError):
            bob.objects.drop_table(bucket, "events")
    finally:
        alice.objects.revoke(bucket, "bob")
    assert bob.get_tables("objects", bucket) == []


def test_named_tables_survive_a_restart(tmp_path):
    users = {"root": "r"}
    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password="r") as conn:
            conn.objects.create_bucket("kept")
            conn.objects.put("kept", "d/x.csv", b"n\n1\n2\n")
            conn.objects.register_table("kept", "numbers", "d/")
    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password="r") as conn:
            cur = conn.cursor()
            cur.execute("SELECT sum(n) FROM objects.kept.numbers")
            assert cur.fetchall() == [(3,)]
