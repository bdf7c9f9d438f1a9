"""An engine killed (SIGKILL) during a stream of acknowledged key-value writes: after a restart every
acknowledged update and put is there, and no item is half written (each write's attributes all or none)."""
from __future__ import annotations

import os
import sys
import threading
from typing import Dict, List

import pytest

import e6driver

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration", "stores"))
from test_dataset_crash import Server, wait_for  # noqa: E402 - the killable engine subprocess
from ports import free_port  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

TABLE = "ledger"
WRITERS = 3
PAD = 20_000  # bytes of each put item: a write the kill can land in the middle of


@pytest.fixture
def servers(tmp_path):
    started: List[Server] = []

    def start(port: int = 0) -> Server:
        started.append(Server(str(tmp_path / "data"), port=port))
        return started[-1]

    yield start
    for server in started:
        server.stop()


class Writer:
    """One thread's stream of writes until the server dies: increments of the shared counter (two attributes
    that move together) and puts of items of its own, recording what the server acknowledged."""

    def __init__(self, server: Server, index: int, connect_timeout: float = 0.5) -> None:
        self.index = index
        self.conn = server.connect(connect_timeout=connect_timeout)
        self.stop = threading.Event()
        self.acked_counter: List[int] = []  # the counter's value each acknowledged update returned
        self.acked_puts: List[int] = []
        self.attempted = 0  # writes sent (at most one more than acknowledged is in flight when the server dies)
        self.failure: BaseException = None  # type: ignore[assignment]
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                self.attempted += 1
                item = self.conn.kv.update_item(TABLE, "counter", expression="n = n + 1; twin = twin + 1")
                self.acked_counter.append(item["n"])
                n += 1
                self.attempted += 1
                self.conn.kv.put_item(TABLE, f"w{self.index}-{n:06}",
                                      {"n": n, "pad": bytes([n % 251]) * PAD, "proof": n * 7})
                self.acked_puts.append(n)
        except e6driver.OperationalError as exc:  # the server went away
            self.failure = exc
        finally:
            self.conn.close()


def test_kill_during_a_stream_of_acknowledged_updates(servers):
    first = servers()
    with first.connect() as conn:
        conn.kv.put_item(TABLE, "counter", {"n": 0, "twin": 0})
    writers = [Writer(first, i) for i in range(WRITERS)]
    for writer in writers:
        writer.thread.start()
    wait_for(lambda: sum(len(w.acked_puts) for w in writers) >= 150, "150 acknowledged puts", timeout=60)
    first.kill()
    for writer in writers:
        writer.thread.join(30)
        assert not writer.thread.is_alive()
        assert isinstance(writer.failure, e6driver.OperationalError), writer.failure

    second = servers()
    with second.connect() as conn:
        counter = conn.kv.get_item(TABLE, "counter")
        acknowledged = sum(len(w.acked_counter) for w in writers)
        highest = max(v for w in writers for v in w.acked_counter)
        assert counter["n"] == counter["twin"]  # both attributes of every update, or neither
        assert highest <= counter["n"] <= acknowledged + WRITERS  # nothing acknowledged lost; in flight at most
        assert counter["n"] >= acknowledged

        stored: Dict[str, dict] = {i["__name"]: i for i in conn.kv.scan(TABLE, filter="__name != 'counter'")}
        for writer in writers:
            mine = sorted(int(k.split("-")[1]) for k in stored if k.startswith(f"w{writer.index}-"))
            assert mine[:len(writer.acked_puts)] == writer.acked_puts  # every acknowledged put is there
            assert len(mine) - len(writer.acked_puts) <= 1  # plus at most the one in flight
        for key, item in stored.items():  # no half item
            n = item["n"]
            assert item == {"__name": key, "n": n, "pad": bytes([n % 251]) * PAD, "proof": n * 7}

        # the store takes writes again, and SQL sees the same items
        conn.kv.update_item(TABLE, "counter", expression="n = n + 1; twin = twin + 1")
        cur = conn.cursor()
        cur.execute("SELECT count(*), sum(CAST(proof = n * 7 AS INTEGER)) FROM kv.ledger WHERE __name <> 'counter'")
        assert cur.fetchall() == [(len(stored), len(stored))]


def test_writers_retrying_across_a_restart_apply_each_write_once(servers):
    """The connection retries a write whose answer the kill lost, with the same request id: the restarted
    engine answers it from its record instead of applying it again, so the counter is exactly the number of
    acknowledged increments."""
    port = free_port()
    first = servers(port)
    with first.connect() as conn:
        conn.kv.put_item(TABLE, "counter", {"n": 0, "twin": 0})
    writers = [Writer(first, i, connect_timeout=60) for i in range(WRITERS)]
    for writer in writers:
        writer.thread.start()
    wait_for(lambda: sum(len(w.acked_puts) for w in writers) >= 60, "60 acknowledged puts", timeout=60)
    first.kill()
    second = servers(port)  # same port: the writers' retries reach it
    done = sum(len(w.acked_puts) for w in writers)
    wait_for(lambda: sum(len(w.acked_puts) for w in writers) >= done + 60, "60 more puts", timeout=60)
    for writer in writers:
        writer.stop.set()
        writer.thread.join(30)
        assert writer.failure is None, writer.failure
    with second.connect() as conn:
        counter = conn.kv.get_item(TABLE, "counter")
        assert counter["n"] == counter["twin"] == sum(len(w.acked_counter) for w in writers)
        for writer in writers:  # each writer's counter values strictly increase: no answer given twice
            assert writer.acked_counter == sorted(set(writer.acked_counter))
        stored = {i["__name"] for i in conn.kv.scan(TABLE, filter="__name != 'counter'", attributes=["n"])}
        assert stored == {f"w{w.index}-{n:06}" for w in writers for n in w.acked_puts}
