"""An engine killed (SIGKILL) while writers append to a stream: after a restart every acknowledged record is
there exactly once, in order, with gap-free sequences; a put in flight at the kill is all there or not at all;
no record is torn. Writers that keep retrying across the restart append each of their puts exactly once."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Set, Tuple

import pytest

import e6driver

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

USER, PASSWORD = "root", "root-pw"
WRITERS, PER_PUT, SHARDS = 3, 5, 4
KILL_AFTER = 300  # acknowledged records


def start_engine(data_dir: str, port: int = 0) -> Tuple[subprocess.Popen, int]:
    """``python -m mock_server`` on DATA_DIR in a process of its own; its bound port from stdout."""
    proc = subprocess.Popen([sys.executable, "-m", "mock_server", "--host", "127.0.0.1", "--port", str(port),
                             "--data-dir", data_dir, "--user", USER, "--password", PASSWORD],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert line.startswith("e6driver-server listening on "), line
    return proc, int(line.rsplit(":", 1)[1])


def payload(writer: int, put: int, index: int) -> bytes:
    body = f"w{writer}-p{put}-r{index}-".encode() + bytes(range(256)) * 4
    return body + hashlib.sha256(body).hexdigest().encode()


def intact(data: bytes) -> bool:
    return hashlib.sha256(data[:-64]).hexdigest().encode() == data[-64:]


class Writer(threading.Thread):
    """Puts PER_PUT records per call until a call fails or ``stop`` is set; keeps what was acknowledged and the
    put in flight. ``connect_timeout``: how long the connection retries an unreachable engine."""

    def __init__(self, number: int, port: int, acknowledged: List[int], connect_timeout: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.number, self.port, self.total = number, port, acknowledged
        self.connect_timeout = connect_timeout
        self.stop = threading.Event()
        self.error: Optional[BaseException] = None
        self.acked: Dict[bytes, Tuple[int, int]] = {}  # payload → (shard, sequence)
        self.in_flight: List[bytes] = []

    def run(self) -> None:
        conn = e6driver.connect(host="127.0.0.1", port=self.port, username=USER, password=PASSWORD,
                                connect_timeout=self.connect_timeout, rpc_timeout=10)
        put = 0
        try:
            while not self.stop.is_set():
                batch = [payload(self.number, put, i) for i in range(PER_PUT)]
                self.in_flight = batch
                results = conn.streams.put_records("ledger", [
                    {"data": d, "partition_key": f"w{self.number}-{i}"} for i, d in enumerate(batch)])
                self.acked.update({d: (r.shard_id, r.sequence) for d, r in zip(batch, results)})
                self.in_flight = []
                self.total[0] += PER_PUT
                put += 1
        except e6driver.Error as exc:
            self.error = exc  # the engine died under us
        finally:
            conn.close()


def read_shard(conn: e6driver.Connection, shard: int) -> List[e6driver.stores.Record]:
    location = conn.streams.seek("ledger", shard, "EARLIEST")
    records = []
    while True:
        result = conn.streams.get_records("ledger", shard, location)
        if not result.records:
            return records
        records.extend(result.records)
        location = result.next_location


def check_ledger(conn: e6driver.Connection, writers: List[Writer]) -> None:
    """Gap-free shards of intact records, each once; every acknowledged record where its put said; puts in
    flight all there or absent; each writer's records in order within a shard."""
    stored: Dict[bytes, Tuple[int, int]] = {}
    for shard in range(SHARDS):
        records = read_shard(conn, shard)
        assert [r.sequence for r in records] == list(range(1, len(records) + 1))  # gap-free, in order
        for record in records:
            assert intact(record.data), "a torn record is visible"
            assert record.data not in stored, "a record is there twice"
            stored[record.data] = (shard, record.sequence)
    in_flight: Set[bytes] = set()
    for writer in writers:
        for data, place in writer.acked.items():
            assert stored.get(data) == place, "an acknowledged record is lost or moved"
        present = [d in stored for d in writer.in_flight]
        assert all(present) or not any(present), "a put is half there"
        in_flight.update(writer.in_flight)
        by_shard: Dict[int, List[int]] = {}  # one writer's records keep their order in each shard
        for data in sorted(writer.acked, key=lambda d: int(d.split(b"-")[1][1:])):
            shard, sequence = writer.acked[data]
            by_shard.setdefault(shard, []).append(sequence)
        assert all(s == sorted(s) for s in by_shard.values())
    assert set(stored) <= {d for w in writers for d in w.acked} | in_flight


def test_sigkill_during_appends_loses_nothing_acknowledged(tmp_path):
    data_dir = str(tmp_path / "data")
    proc, port = start_engine(data_dir)
    try:
        with e6driver.connect(host="127.0.0.1", port=port, username=USER, password=PASSWORD) as conn:
            conn.streams.create("ledger", shards=SHARDS)
        acknowledged = [0]
        writers = [Writer(n, port, acknowledged) for n in range(WRITERS)]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 120
        while acknowledged[0] < KILL_AFTER or not all(w.acked for w in writers):  # every writer is putting
            assert time.monotonic() < deadline and all(w.is_alive() for w in writers), "writers stalled"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)  # the writers are mid-put
        proc.wait(10)
        for writer in writers:
            writer.join(30)
            assert not writer.is_alive() and writer.error is not None and writer.in_flight  # each died mid-put
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    proc, port = start_engine(data_dir)
    try:
        with e6driver.connect(host="127.0.0.1", port=port, username=USER, password=PASSWORD) as conn:
            check_ledger(conn, writers)
            assert sum(len(w.acked) for w in writers) >= KILL_AFTER
            conn.streams.put_records("ledger", [{"data": b"after", "shard_id": 0}])  # appends go on
            assert read_shard(conn, 0)[-1].data == b"after"
    finally:
        proc.terminate()
        proc.wait(10)


def test_writers_retrying_across_a_restart_append_each_put_once(tmp_path):
    data_dir = str(tmp_path / "data")
    proc, port = start_engine(data_dir)
    writers: List[Writer] = []
    try:
        with e6driver.connect(host="127.0.0.1", port=port, username=USER, password=PASSWORD) as conn:
            conn.streams.create("ledger", shards=SHARDS)
        acknowledged = [0]
        writers = [Writer(n, port, acknowledged, connect_timeout=60) for n in range(WRITERS)]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 120
        while acknowledged[0] < KILL_AFTER or not all(w.acked for w in writers):
            assert time.monotonic() < deadline, "writers stalled"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc, _ = start_engine(data_dir, port)  # same port: the writers' retries reach it
        while acknowledged[0] < 2 * KILL_AFTER:
            assert time.monotonic() < deadline and all(w.is_alive() for w in writers), "writers did not go on"
            time.sleep(0.005)
    finally:
        for writer in writers:
            writer.stop.set()
            writer.join(30)
    try:
        assert all(w.error is None and not w.in_flight for w in writers)
        with e6driver.connect(host="127.0.0.1", port=port, username=USER, password=PASSWORD) as conn:
            check_ledger(conn, writers)
            total = sum(len(read_shard(conn, shard)) for shard in range(SHARDS))
            assert total == sum(len(w.acked) for w in writers)  # every put once: none appended twice
    finally:
        proc.terminate()
        proc.wait(10)
