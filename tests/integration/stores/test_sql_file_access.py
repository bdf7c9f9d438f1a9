"""SQL cannot touch the server's files: bucket grants hold whatever DuckDB function or statement is tried,
objects are read only through catalog `objects`, and ordinary SQL on the attached database still works."""
from __future__ import annotations

import io
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import e6driver
from e6driver.errors import PermissionDeniedError
from mock_server.server import EngineServer

BUCKET = "file-access"
SECRET = b"id,secret\n1,s3cr3t\n"


@pytest.fixture(scope="module")
def bucket_files(alice, data_dir):
    """alice's bucket with a CSV and a Parquet object; their paths on the server's disk."""
    alice.objects.create_bucket(BUCKET)
    alice.objects.put(BUCKET, "hidden/secret.csv", SECRET)
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": [1], "secret": ["s3cr3t"]}), sink)
    alice.objects.put(BUCKET, "hidden/secret.parquet", sink.getvalue())
    directory = os.path.join(data_dir, "objects", BUCKET, "hidden")
    csv, parquet = os.path.join(directory, "secret.csv"), os.path.join(directory, "secret.parquet")
    with open(csv, "rb") as plain:
        assert plain.read() == SECRET  # the object really is a plain file there
    return directory, csv, parquet


READS = [
    "SELECT * FROM read_csv('{csv}')",
    "SELECT * FROM read_csv_auto('{csv}')",
    "SELECT * FROM read_parquet('{parquet}')",
    "SELECT * FROM parquet_scan('{parquet}')",
    "SELECT * FROM '{csv}'",
    "SELECT * FROM \"{csv}\"",
    "SELECT * FROM query('SELECT * FROM read_csv(''{csv}'')')",
    "SELECT * FROM glob('{directory}/*')",
    "SELECT * FROM read_text('{csv}')",
    "SELECT * FROM read_blob('{csv}')",
    "SELECT * FROM read_json_auto('{csv}')",
    "SELECT * FROM sniff_csv('{csv}')",
]


@pytest.mark.parametrize("template", READS)
def test_ungranted_user_cannot_read_a_bucket_file_with_duckdb_functions(bucket_files, bob, rows, template):
    directory, csv, parquet = bucket_files
    with pytest.raises(PermissionDeniedError, match="catalog objects|not allowed") as info:
        rows(bob, template.format(directory=directory, csv=csv, parquet=parquet))
    assert "s3cr3t" not in str(info.value)


def test_a_granted_user_reads_only_through_the_objects_catalog(bucket_files, alice, bob, rows):
    _, csv, _ = bucket_files
    assert rows(alice, f'SELECT secret FROM objects."{BUCKET}"."hidden/secret.csv"') == [("s3cr3t",)]
    assert rows(alice, f'SELECT secret FROM objects."{BUCKET}"."hidden/*.parquet"') == [("s3cr3t",)]
    with pytest.raises(PermissionDeniedError):
        rows(alice, f"SELECT * FROM read_csv('{csv}')")  # the owner too: files only through the catalog
    with pytest.raises(PermissionDeniedError, match="bob"):
        rows(bob, f'SELECT * FROM objects."{BUCKET}"."hidden/secret.csv"')
    alice.objects.grant(BUCKET, "bob", "read")
    try:
        assert rows(bob, f'SELECT id, secret FROM objects."{BUCKET}"."hidden/secret.csv"') == [(1, "s3cr3t")]
    finally:
        alice.objects.revoke(BUCKET, "bob")


def test_copy_to_a_file_is_refused(bucket_files, bob, tmp_path):
    directory, _, _ = bucket_files
    targets = [str(tmp_path / "out.csv"), os.path.join(directory, "planted.csv")]
    for target in targets:
        cur = bob.cursor()
        with pytest.raises(PermissionDeniedError):
            cur.execute(f"COPY (SELECT 42 AS x) TO '{target}' (HEADER)")
        cur.close()
        assert not os.path.exists(target)
    cur = bob.cursor()
    with pytest.raises(PermissionDeniedError):
        cur.execute(f"EXPORT DATABASE '{tmp_path / 'export'}'")
    cur.close()
    assert not (tmp_path / "export").exists()


def test_attach_and_reenabling_external_access_are_refused(bucket_files, bob, tmp_path, rows):
    directory, csv, _ = bucket_files
    for target in (str(tmp_path / "other.duckdb"), os.path.join(directory, "planted.duckdb"), csv):
        with pytest.raises(PermissionDeniedError):
            rows(bob, f"ATTACH '{target}' AS other")
    assert not (tmp_path / "other.duckdb").exists()
    assert sorted(os.listdir(directory)) == ["secret.csv", "secret.parquet"]
    with pytest.raises(e6driver.DatabaseError, match="external.access"):
        rows(bob, "SET enable_external_access = true")
    with pytest.raises(e6driver.DatabaseError):
        rows(bob, f"SET temp_directory = '{tmp_path}'")


def test_ordinary_sql_on_the_attached_database_still_works(bob, rows):
    cur = bob.cursor()
    cur.execute("CREATE TABLE file_access_plain (id INTEGER, name VARCHAR)")
    cur.execute("INSERT INTO file_access_plain VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    assert cur.rowcount == 3
    cur.execute("UPDATE file_access_plain SET name = 'B' WHERE id = 2")
    cur.execute("CREATE TEMP TABLE file_access_temp AS SELECT id * 10 AS id FROM file_access_plain")
    cur.close()
    assert rows(bob, "SELECT name FROM file_access_plain ORDER BY id") == [("a",), ("B",), ("c",)]
    assert rows(bob, "SELECT count(*) FROM local.main.file_access_plain") == [(3,)]
    assert rows(bob, "SELECT sum(i) FROM range(1000) t(i)") == [(499500,)]


def test_writes_to_the_attached_database_persist(tmp_path):
    users = {"root": "r"}
    for step in ("write", "read"):
        with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users) as srv, \
                e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password="r") as conn:
            cur = conn.cursor()
            if step == "write":
                cur.execute("CREATE TABLE kept AS SELECT range AS i FROM range(5)")
                cur.execute("CHECKPOINT")
            else:
                cur.execute("SELECT sum(i) FROM kept")
                assert cur.fetchall() == [(10,)]
            cur.close()
