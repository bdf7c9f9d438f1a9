"""conn.objects.compress on the local directory backend and on SeaweedFS (S3): dry run, verify-then-remove,
resume, skips and failures in the report, progress, limits, and SQL reading the same rows before and after."""
from __future__ import annotations

import gzip
import io
import json
from typing import Any, Callable, List

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import e6driver
from mock_server.server import EngineServer

from conftest import USERS

ROWS = "".join(f"{i},name-{i % 17},{i * 0.5}\n" for i in range(30_000))


def _sql(conn: e6driver.Connection, sql: str) -> list:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return cur.fetchall()
    finally:
        cur.close()


def _fill(objects: Any, bucket: str) -> None:
    objects.put(bucket, "logs/2024/a.csv", "id,name,v\n" + ROWS)
    objects.put(bucket, "logs/2024/b.csv", "id,name,v\n" + "".join(ROWS.splitlines(True)[:9000]))
    objects.put(bucket, "logs/2024/tiny.csv", "id,name,v\n1,x,0.5\n")  # below min_size
    objects.put(bucket, "logs/2024/old.csv.gz", gzip.compress(b"id,name,v\n7,g,1.0\n"))  # already compressed
    objects.put(bucket, "logs/2024/events.jsonl", "".join(json.dumps({"id": i, "tag": "t"}) + "\n"
                                                            for i in range(5000)))
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(5000))}), sink)
    objects.put(bucket, "logs/2024/p.parquet", sink.getvalue())  # compressed inside: skipped
    objects.put(bucket, "logs/2024/readme.txt", "about these logs " * 2000)


def _scenario(conn: e6driver.Connection, bucket: str, codec: str) -> None:
    objects = conn.objects
    _fill(objects, bucket)
    objects.register_table(bucket, "logs", "logs/2024/", format="csv", replace=True)
    objects.register_table(bucket, "events", "logs/2024/", format="json", replace=True)
    query = f'SELECT count(*), sum(id), sum(v), max(name) FROM objects."{bucket}".logs'
    events = f'SELECT count(*), sum(id) FROM objects."{bucket}".events'
    glob = f'SELECT count(*), sum(id) FROM objects."{bucket}"."logs/*/*.csv*"'  # with and without suffix
    single = f'SELECT count(*), max(v) FROM objects."{bucket}"."logs/2024/a.csv"'  # then found as its copy
    before, events_before = _sql(conn, query), _sql(conn, events)
    glob_before, single_before = _sql(conn, glob), _sql(conn, single)
    keys_before = [o.key for o in objects.list(bucket, "logs/")]

    plan = objects.compress(bucket, "logs/", min_size=1000, codec=codec)  # dry run is the default
    assert plan.dry_run and plan.bytes_after == 0 and plan.ratio is None
    planned = {o.key for o in plan.objects if o.action == "would_compress"}
    assert planned == {"logs/2024/a.csv", "logs/2024/b.csv", "logs/2024/events.jsonl", "logs/2024/readme.txt"}
    assert plan.files == 4
    assert {o.key: o.reason for o in plan.skipped} == {
        "logs/2024/tiny.csv": "smaller than min_size", "logs/2024/old.csv.gz": "already compressed",
        "logs/2024/p.parquet": "already compressed"}
    assert [o.key for o in objects.list(bucket, "logs/")] == keys_before  # nothing changed

    seen: List[Any] = []
    report = objects.compress(bucket, "logs/", min_size=1000, codec=codec, dry_run=False,
                              progress_callback=lambda done, total, obj: seen.append((done, total, obj.key)))
    suffix = ".zst" if codec == "zstd" else ".gz"
    assert report.files == 4 and not report.failed and not report.dry_run
    assert [d for d, _, _ in seen] == list(range(1, len(keys_before) + 1))
    assert {t for _, t, _ in seen} == {len(keys_before)}
    assert 0 < report.bytes_after < report.bytes_before and 0 < report.ratio < 0.5
    keys_after = {o.key for o in objects.list(bucket, "logs/")}
    assert keys_after == {k + suffix if k in planned else k for k in keys_before}
    original = ("id,name,v\n" + ROWS).encode()
    assert pa.input_stream(pa.BufferReader(objects.get(bucket, "logs/2024/a.csv" + suffix)),
                           compression=codec).read() == original
    assert _sql(conn, query) == before and _sql(conn, events) == events_before
    assert _sql(conn, glob) == glob_before and _sql(conn, single) == single_before

    again = objects.compress(bucket, "logs/", min_size=1000, codec=codec, dry_run=False)  # nothing left to do
    assert again.files == 0 and not again.failed
    assert {o.key for o in objects.list(bucket, "logs/")} == keys_after


def test_compress_local(root):
    root.objects.create_bucket("compress-local")
    _scenario(root, "compress-local", "zstd")


def test_compress_gzip_keep_original_and_level(root):
    bucket = "compress-keep"
    root.objects.create_bucket(bucket)
    root.objects.put(bucket, "d/a.csv", "id,name,v\n" + ROWS)
    report = root.objects.compress(bucket, "d/", codec="gzip", level=9, keep_original=True, dry_run=False)
    assert report.files == 1
    assert [o.key for o in root.objects.list(bucket, "d/")] == ["d/a.csv", "d/a.csv.gz"]
    assert gzip.decompress(root.objects.get(bucket, "d/a.csv.gz")) == root.objects.get(bucket, "d/a.csv")
    root.objects.register_table(bucket, "d", "d/", format="csv")
    assert _sql(root, f'SELECT count(*) FROM objects."{bucket}".d') == [(30_000,)]  # the copy is not read twice
    assert _sql(root, f'SELECT count(*) FROM objects."{bucket}"."d/*.csv*"') == [(30_000,)]
    again = root.objects.compress(bucket, "d/", codec="gzip", keep_original=True, dry_run=False)
    assert again.files == 0 and [(o.key, o.reason) for o in again.skipped] == [("d/a.csv", "already compressed")]
    finish = root.objects.compress(bucket, "d/", codec="gzip", dry_run=False)  # now drop the original
    assert finish.files == 1 and [o.key for o in root.objects.list(bucket, "d/")] == ["d/a.csv.gz"]


def test_incompressible_and_foreign_target_are_reported(root):
    import os

    bucket = "compress-odd"
    root.objects.create_bucket(bucket)
    root.objects.put(bucket, "x/random.bin", os.urandom(200_000))
    root.objects.put(bucket, "x/text.csv", "id\n" + "1\n" * 50_000)
    root.objects.put(bucket, "x/text.csv.zst", b"someone else's object")
    report = root.objects.compress(bucket, "x/", dry_run=False)
    by_key = {o.key: o for o in report.objects}
    assert by_key["x/random.bin"].action == "skipped" and by_key["x/random.bin"].reason == "does not shrink"
    assert by_key["x/text.csv"].action == "failed" and "is not a compressed copy" in by_key["x/text.csv"].reason
    assert root.objects.get(bucket, "x/text.csv.zst") == b"someone else's object"  # left alone
    assert [o.key for o in root.objects.list(bucket, "x/")] == ["x/random.bin", "x/text.csv", "x/text.csv.zst"]


def test_bad_arguments(root):
    root.objects.create_bucket("compress-args")
    with pytest.raises(e6driver.ProgrammingError, match="codec must be one of zstd, gzip"):
        root.objects.compress("compress-args", "", codec="lzma")
    with pytest.raises(e6driver.ProgrammingError, match="level must be between 1 and 9"):
        root.objects.compress("compress-args", "", codec="gzip", level=12)
    with pytest.raises(e6driver.ProgrammingError, match="min_size"):
        root.objects.compress("compress-args", "", min_size=-1)
    with pytest.raises(e6driver.ObjectNotFoundError):
        root.objects.compress("no-such-bucket", "")


def test_compressed_size_over_the_limit_fails_that_object(tmp_path):
    from mock_server.limits import Limits

    with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=USERS,
                      limits=Limits(max_object_bytes=4096)) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password=USERS["root"]) as conn:
            conn.objects.create_bucket("limited")
            import os
            conn.objects.put("limited", "a.bin", os.urandom(2000) * 2)  # 4000 bytes, compresses to ~2 KB
            backend_root = os.path.join(str(tmp_path), "objects", "limited")
            assert os.path.isdir(backend_root)
            with open(os.path.join(backend_root, "big.csv"), "w") as handle:  # written behind the store's back
                handle.write("id\n" + "".join(f"{os.urandom(8).hex()}\n" for _ in range(2000)))
            report = conn.objects.compress("limited", "", dry_run=False)
            by_key = {o.key: o for o in report.objects}
            assert by_key["big.csv"].action == "failed" and "max_object_bytes" in by_key["big.csv"].reason
            assert by_key["a.bin"].action == "compressed"
            assert sorted(o.key for o in conn.objects.list("limited")) == ["a.bin.zst", "big.csv"]


def test_one_compression_per_bucket_at_a_time(root, server, monkeypatch):
    import os
    import threading
    import time

    from mock_server.objects.compress import PAUSE_ENV

    root.objects.create_bucket("compress-busy")
    root.objects.create_bucket("compress-other")
    root.objects.put("compress-busy", "a.csv", "id\n" + "1\n" * 600_000)  # two read chunks: two pauses
    root.objects.put("compress-other", "b.csv", "id\n" + "2\n" * 5000)
    monkeypatch.setenv(PAUSE_ENV, "write:1")  # the in-process engine reads it at each pause
    outcome: dict = {}
    job = threading.Thread(target=lambda: outcome.update(report=root.objects.compress(
        "compress-busy", "", codec="gzip", dry_run=False)))
    job.start()
    spool = server.object_stores.backend.spool_dir()
    deadline = time.monotonic() + 30
    while not os.listdir(spool):  # the job's copy is being spooled (it holds the bucket from before that)
        assert time.monotonic() < deadline and job.is_alive(), "the job was never seen running"
        time.sleep(0.001)
    with pytest.raises(e6driver.OperationalError, match="already running") as info:
        root.objects.compress("compress-busy", "")
    assert info.value.grpc_code == "ABORTED"
    monkeypatch.delenv(PAUSE_ENV)
    assert root.objects.compress("compress-other", "", dry_run=False).files == 1  # other buckets are free
    job.join(60)
    assert outcome["report"].files == 1 and not outcome["report"].failed
    assert [o.key for o in root.objects.list("compress-busy")] == ["a.csv.gz"]


# ---------------------------------------------------------------------------------------------- S3


@pytest.fixture(scope="module")
def s3_conn(s3_server) -> Any:
    from test_s3 import USERS as S3_USERS

    with e6driver.connect(host="127.0.0.1", port=s3_server.port, username="root",
                          password=S3_USERS["root"]) as conn:
        yield conn


def test_compress_on_seaweedfs(s3_conn):
    s3_conn.objects.create_bucket("compress-s3")
    _scenario(s3_conn, "compress-s3", "zstd")


def test_compress_gzip_on_seaweedfs(s3_conn):
    s3_conn.objects.create_bucket("compress-s3-gz")
    _scenario(s3_conn, "compress-s3-gz", "gzip")


from test_s3 import s3_server, seaweed  # noqa: E402,F401 - the SeaweedFS fixtures of the S3 tests
