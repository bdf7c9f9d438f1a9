"""A server killed (SIGKILL) mid-upload or mid-commit loses nothing committed, shows nothing half done, and
an interrupted upload continues where it stopped once the server is back."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, Iterator, Optional

import numpy as np
import pyarrow as pa
import pytest

import e6driver
from e6driver.stores.dataset_files import payload as _payload
from mock_server.datasets.store import COMMIT_PAUSE_ENV
from mock_server.datasets.uploads import spooled_bytes

from ports import free_port

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

USER, PASSWORD = "root", "root-pw"
SMALL = pa.table({"id": [1, 2, 3], "note": ["a", "b", "c"]})
BIG = pa.table({"v": np.random.default_rng(7).integers(0, 1 << 60, 4_000_000)})  # ~32 MB as Arrow IPC


class Server:
    """``python -m mock_server`` in a subprocess on DATA_DIR."""

    def __init__(self, data_dir: str, env: Optional[Dict[str, str]] = None, port: int = 0) -> None:
        self.log = f"{data_dir}.server-{time.monotonic_ns()}.log"  # beside DATA_DIR, not in it
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mock_server", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
                 data_dir, "--user", USER, "--password", PASSWORD],
                stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, **(env or {})})
        line = self.proc.stdout.readline()
        assert line.startswith("e6driver-server listening on "), line
        self.port = int(line.rsplit(":", 1)[1])

    def connect(self, **options: Any) -> e6driver.Connection:
        return e6driver.connect(host="127.0.0.1", port=self.port, username=USER, password=PASSWORD, **options)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def servers(tmp_path) -> Iterator[Any]:
    started = []

    def start(env: Optional[Dict[str, str]] = None, port: int = 0) -> Server:
        started.append(Server(str(tmp_path / "data"), env, port))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def wait_for(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def in_thread(call: Any) -> Dict[str, Any]:
    """Run ``call`` in a thread; the dict gets ``result`` or ``error`` and the thread as ``thread``."""
    outcome: Dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    outcome["thread"] = threading.Thread(target=run, daemon=True)
    outcome["thread"].start()
    return outcome


def assert_only_version(conn: e6driver.Connection, version: int, table: pa.Table, data_dir: str) -> None:
    assert [(d.name, d.version) for d in conn.datasets.list()] == [("ledger", version)]
    assert conn.datasets.download("ledger").equals(table)
    with pytest.raises(e6driver.DatasetNotFoundError):
        conn.datasets.download("ledger", version=version + 1)
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM datasets.main.ledger")
    assert cur.fetchall() == [(table.num_rows,)]
    cur.close()
    root = os.path.join(data_dir, "datasets")
    assert sorted(os.listdir(os.path.join(root, "ledger"))) == [f"v{n}.e6ds" for n in range(1, version + 1)]
    assert os.listdir(os.path.join(root, ".tmp")) == []


def received(data_dir: str) -> int:
    """Bytes of uploads in progress the server has spooled (payload bytes: the spool is encrypted)."""
    uploads = os.path.join(data_dir, "datasets", ".uploads")
    return sum(spooled_bytes(os.path.join(uploads, f)) for f in os.listdir(uploads) if f.endswith(".part"))


def test_kill_mid_upload_then_resume(servers, tmp_path):
    data_dir = str(tmp_path / "data")
    uploads = os.path.join(data_dir, "datasets", ".uploads")

    first = servers()
    with first.connect(connect_timeout=0.5) as conn:
        conn.datasets.upload("ledger", SMALL)
        upload = in_thread(lambda: conn.datasets.update("ledger", BIG, allow_schema_change=True))
        wait_for(lambda: received(data_dir) > 4 * 1024 * 1024, "the server to spool 4 MiB")
        first.kill()
        upload["thread"].join(15)
    error = upload.get("error")
    assert isinstance(error, e6driver.UploadError), upload
    assert error.upload_id

    second = servers()
    with second.connect() as conn:
        assert_only_version(conn, 1, SMALL, data_dir)
        kept = conn.datasets.upload_status(error.upload_id)
        assert kept is not None and 4 * 1024 * 1024 < kept < _payload(BIG).size  # killed mid-transfer
        info = conn.datasets.update("ledger", BIG, upload_id=error.upload_id, allow_schema_change=True)
        assert (info.version, info.rows) == (2, BIG.num_rows)
        assert conn.datasets.download("ledger").equals(BIG)
        assert conn.datasets.upload_status(error.upload_id) is None
    assert os.listdir(uploads) == []


def test_upload_continues_by_itself_when_the_server_comes_back(servers, tmp_path):
    port = free_port()
    data_dir = str(tmp_path / "data")
    first = servers(port=port)
    with first.connect(connect_timeout=20) as conn:
        conn.datasets.upload("ledger", SMALL)
        upload = in_thread(lambda: conn.datasets.update("ledger", BIG, allow_schema_change=True))
        wait_for(lambda: received(data_dir) > 4 * 1024 * 1024, "the server to spool 4 MiB")
        first.kill()
        second = servers(port=port)
        upload["thread"].join(20)
        assert upload.get("result") is not None, upload
        assert upload["result"].version == 2 and conn.datasets.download("ledger").equals(BIG)
    with open(second.log) as log:
        assert "continues at byte" in log.read()  # the rest was sent, not everything again


def test_kill_mid_commit(servers, tmp_path):
    data_dir = str(tmp_path / "data")
    version_2 = os.path.join(data_dir, "datasets", "ledger", "v2.e6ds")
    first = servers()
    with first.connect() as conn:
        conn.datasets.upload("ledger", SMALL)
    first.kill()

    pausing = servers({COMMIT_PAUSE_ENV: "30"})  # between moving a version file into place and recording it
    with pausing.connect(connect_timeout=0.5) as conn:
        upload = in_thread(lambda: conn.datasets.update("ledger", pa.table({"id": [9], "note": ["z"]})))
        wait_for(lambda: os.path.exists(version_2), "version 2 to be moved into place")
        pausing.kill()
        upload["thread"].join(15)
    assert isinstance(upload.get("error"), e6driver.UploadError), upload

    restarted = servers()
    with restarted.connect() as conn:
        assert_only_version(conn, 1, SMALL, data_dir)  # the uncommitted version file is gone too
        second = pa.table({"id": [4, 5], "note": ["d", "e"]})
        assert conn.datasets.update("ledger", second).version == 2
        assert_only_version(conn, 2, second, data_dir)
