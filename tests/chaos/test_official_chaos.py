"""Information, not a pass condition: what the official client does through the same chaos timeline.

The official client runs in its own interpreter (its protobuf modules clash with ours); 4 threads × 25 queries,
each with a known checksum. The test prints the tally of outcomes and only checks that every attempt was
accounted for — the official client's defects (spec §11.1) are recorded, not asserted away.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import List, Tuple

import pytest

import e6driver
from chaos_engine import PASSWORD, USER, Engine, events

if importlib.util.find_spec("e6data_python_connector") is None:
    pytest.skip("official client not installed", allow_module_level=True)

THREADS, QUERIES, TABLE_ROWS = 4, 25, 200_000

CLIENT = '''
import json, random, sys, threading, time
from collections import Counter
from e6data_python_connector import Connection
tally, lock = Counter(), threading.Lock()
def worker(seed):
    rng = random.Random(seed)
    conn = Connection(host="127.0.0.1", port={port}, username="{user}", password="{password}")
    cursor = conn.cursor()
    for _ in range({queries}):
        limit = rng.choice([10, 1000, 50000, {rows}])
        try:
            cursor.execute("SELECT i FROM chaos_t WHERE i < %(n)s ORDER BY i", {{"n": limit}})
            rows = cursor.fetchall()
            ok = (len(rows), sum(r[0] for r in rows)) == (limit, limit * (limit - 1) // 2)
            outcome = "exact" if ok else "wrong result"
        except Exception as exc:
            if hasattr(exc, "code") and hasattr(exc, "details"):
                outcome = "grpc error " + exc.code().name + ": " + (exc.details() or "")[:60]
            else:
                outcome = "error " + type(exc).__name__ + ": " + str(exc)[:60]
        with lock:
            tally[outcome] += 1
        time.sleep(rng.random() * 0.05)
threads = [threading.Thread(target=worker, args=(n,)) for n in range({threads})]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(tally))
'''


@pytest.mark.timeout(600)
def test_official_client_through_the_chaos_timeline(tmp_path):
    engine = Engine(str(tmp_path))
    with e6driver.connect(host="127.0.0.1", port=engine.port, username=USER, password=PASSWORD) as setup:
        setup.cursor().execute(f"CREATE TABLE chaos_t AS SELECT range AS i FROM range({TABLE_ROWS})")
    code = textwrap.dedent(CLIENT).format(port=engine.port, user=USER, password=PASSWORD, queries=QUERIES,
                                          rows=TABLE_ROWS, threads=THREADS)
    client = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    event_log: List[Tuple[float, str]] = []
    errors: List[BaseException] = []
    chaos = threading.Thread(target=events, args=(engine, event_log, time.monotonic(), errors), daemon=True)
    chaos.start()
    try:
        out, err = client.communicate(timeout=500)
    finally:
        chaos.join(30)
        engine.server.stop(0)
    assert client.returncode == 0, err[-2000:]
    tally = json.loads(out.strip().splitlines()[-1])
    print(f"\nofficial client through the chaos timeline: {tally}; events {event_log}")
    assert sum(tally.values()) == THREADS * QUERIES and errors == []
