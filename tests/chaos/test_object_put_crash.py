"""An engine killed (SIGKILL) in the middle of a same-host put of many files: every acknowledged object survives
whole, no object is ever half visible (a key shows its old content or the whole new one), objects replaced
meanwhile keep a description that matches their content, and the spool is emptied at the restart."""
from __future__ import annotations

import os
import sys
import zlib

import pytest

import e6driver
from e6driver.stores import _batches
from mock_server.objects.local_puts import PAUSE_ENV

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration", "stores"))
from test_dataset_crash import in_thread, servers, wait_for  # noqa: E402,F401 - killable engine subprocesses

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="same-host transfers and SIGKILL")

BUCKET = "put-crash"
OLD = {f"tree/d{n % 3}/f{n:03d}.bin": f"old content {n}".encode() for n in range(0, 40, 4)}  # replaced


def _tree(base, tag):
    """40 files (some larger than one copy step of small files), their keys and contents."""
    files = {}
    for n in range(40):
        key = f"tree/d{n % 3}/f{n:03d}.bin"
        files[key] = f"{tag} {n} ".encode() * (1 + n * 997 if n % 10 else 150_000)
        path = base / tag / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[key])
    return [(key, str(base / tag / key), len(data)) for key, data in files.items()], files


def _check(conn, new, acknowledged):
    """Each key holds its old content, the whole new one, or (never stored before) nothing; acknowledged keys
    the new one; every object's recorded CRC-32 and size match what a get returns."""
    listed = {o.key: o for o in conn.objects.list(BUCKET, "tree/")}
    for key, data in new.items():
        if key in acknowledged:
            assert key in listed, key
        if key not in listed:
            assert key not in OLD, key  # a replaced object never disappears
            continue
        got = conn.objects.get(BUCKET, key)  # checked against the recorded CRC-32 by the driver
        assert got in (data, OLD.get(key)), key
        assert (listed[key].size, listed[key].crc32) == (len(got), zlib.crc32(got)), key
    assert set(listed) <= set(new), set(listed) - set(new)


def _seed(server):
    """The bucket with the objects the put will replace; then the engine is killed."""
    with server.connect() as conn:
        conn.objects.create_bucket(BUCKET)
        for key, data in OLD.items():
            conn.objects.put(BUCKET, key, data)
    server.kill()


def _spool_files(data_dir):
    spool = os.path.join(data_dir, "objects", ".tmp")
    return [os.path.join(d, f) for d, _, names in os.walk(spool) for f in names]


def test_acknowledged_puts_survive_a_kill(servers, tmp_path):
    data_dir = str(tmp_path / "data")
    first = servers()
    with first.connect() as conn:
        conn.objects.create_bucket(BUCKET)
        items, files = _tree(tmp_path, "acked")
        outcomes = _batches.put_files(conn.objects, BUCKET, items)
        assert all(not isinstance(o, BaseException) for o in outcomes.values())
    first.kill()  # right after the answer
    with servers().connect() as conn:
        _check(conn, files, acknowledged=set(files))
        assert {o.key for o in conn.objects.list(BUCKET, "tree/")} == set(files)
    assert _spool_files(data_dir) == []


@pytest.mark.parametrize("stage", ["spooled", "published"])
def test_kill_mid_request_leaves_nothing_half_visible(servers, tmp_path, stage):
    data_dir = str(tmp_path / "data")
    _seed(servers())
    items, files = _tree(tmp_path, stage)
    pausing = servers({PAUSE_ENV: f"{stage}:60"})
    with pausing.connect(connect_timeout=0.5) as conn:
        job = in_thread(lambda: _batches.put_files(conn.objects, BUCKET, items))
        if stage == "spooled":  # every file spooled and synced, none renamed into place
            wait_for(lambda: len(_spool_files(data_dir)) == len(items), "the spooled files", 60)
        else:  # the first file renamed into place, the others still in the spool
            first_key = os.path.join(data_dir, "objects", BUCKET, *items[0][0].split("/"))
            wait_for(lambda: os.path.exists(first_key) and os.path.getsize(first_key) == items[0][2],
                     "the first published file", 60)
        pausing.kill()
        job["thread"].join(30)
    assert "error" in job, job  # the engine died before answering: nothing was acknowledged

    with servers().connect() as conn:
        _check(conn, files, acknowledged=set())
        if stage == "published":
            assert conn.objects.get(BUCKET, items[0][0]) == files[items[0][0]]
        again = _batches.put_files(conn.objects, BUCKET, items)  # the retry completes it
        assert all(not isinstance(o, BaseException) for o in again.values())
        _check(conn, files, acknowledged=set(files))
    assert _spool_files(data_dir) == []
