"""An engine killed (SIGKILL) mid-compression: nothing acknowledged is lost, no object is half visible under
its final name, and running the compression again completes it."""
from __future__ import annotations

import os
import sys

import pyarrow as pa
import pytest

import e6driver
from mock_server.objects.compress import PAUSE_ENV

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration", "stores"))
from test_dataset_crash import Server, in_thread, wait_for  # noqa: E402 - the killable engine subprocess

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

BUCKET = "crash-bucket"
CONTENT = {f"logs/{n}.csv": ("id,text\n" + "".join(f"{i},row {i} of file {n}\n" for i in range(60_000 + n)))
           .encode() for n in range(4)}  # ~1.3 MB each: several zstd blocks


@pytest.fixture
def servers(tmp_path):
    started = []

    def start(env=None):
        started.append(Server(str(tmp_path / "data"), env))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _check_nothing_lost(conn: e6driver.Connection) -> None:
    """Every original is there, or its complete compressed copy (or both); nothing else under logs/."""
    keys = {o.key for o in conn.objects.list(BUCKET, "logs/")}
    for key, content in CONTENT.items():
        assert key in keys or key + ".zst" in keys, key
        if key in keys:
            assert conn.objects.get(BUCKET, key) == content
        if key + ".zst" in keys:
            stored = conn.objects.get(BUCKET, key + ".zst")
            assert pa.input_stream(pa.BufferReader(stored), compression="zstd").read() == content
    assert keys <= set(CONTENT) | {k + ".zst" for k in CONTENT}, keys


@pytest.mark.parametrize("stage", ["write", "publish"])
def test_kill_mid_compression_then_rerun(servers, tmp_path, stage):
    data_dir = str(tmp_path / "data")
    first = servers()
    with first.connect() as conn:
        conn.objects.create_bucket(BUCKET)
        for key, content in CONTENT.items():
            conn.objects.put(BUCKET, key, content)
    first.kill()

    pausing = servers({PAUSE_ENV: f"{stage}:60"})
    spool = os.path.join(data_dir, "objects", ".tmp")
    with pausing.connect(connect_timeout=0.5) as conn:
        job = in_thread(lambda: conn.objects.compress(BUCKET, "logs/", dry_run=False))
        if stage == "write":  # a compressed copy half written in the spool
            wait_for(lambda: any(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(spool)
                                 for f in names), "a spooled copy", 60)
        else:  # the first copy published, its original not yet removed
            objects_dir = os.path.join(data_dir, "objects", BUCKET, "logs")
            wait_for(lambda: os.path.exists(os.path.join(objects_dir, "0.csv.zst")), "a published copy", 60)
        pausing.kill()
        job["thread"].join(15)
    assert isinstance(job.get("error"), e6driver.ConnectionLostError), job  # the engine died mid-call

    restarted = servers()
    with restarted.connect() as conn:
        _check_nothing_lost(conn)
        assert [f for _, _, names in os.walk(spool) for f in names] == []  # the half-written copy is gone
        report = conn.objects.compress(BUCKET, "logs/", dry_run=False)
        assert not report.failed and report.files == len(CONTENT)
        assert {o.key for o in conn.objects.list(BUCKET, "logs/")} == {k + ".zst" for k in CONTENT}
        _check_nothing_lost(conn)
