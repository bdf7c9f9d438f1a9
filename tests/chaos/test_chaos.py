"""Chaos: 8 threads × 50 queries through one pool while the engine switches colour, expires sessions,
suspends and resumes, and restarts. Every query either returns its exact checksum or — only when a restart
cut it mid-delivery — fails with an OperationalError naming the query. Prints the tally."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import List, Tuple

import pytest

import e6driver
from chaos_engine import PASSWORD, USER, Engine, events
from e6driver import ConnectionPool, OperationalError
from e6driver.protocol import bluegreen

THREADS, QUERIES = 8, 50
TABLE_ROWS = 400_000


@pytest.mark.timeout(600)
def test_pool_survives_chaos(tmp_path):
    bluegreen.REGISTRY.reset()
    engine = Engine(str(tmp_path))
    with e6driver.connect(host="127.0.0.1", port=engine.port, username=USER, password=PASSWORD) as setup:
        setup.cursor().execute(f"CREATE TABLE chaos_t AS SELECT range AS i FROM range({TABLE_ROWS})")
    pool = ConnectionPool(min_size=2, max_size=6, max_overflow=2, timeout=60, host="127.0.0.1",
                          port=engine.port, username=USER, password=PASSWORD, connect_timeout=20,
                          auto_resume=True, auto_resume_timeout=30)
    tally: Counter = Counter()
    wrong: List[str] = []
    unexpected: List[BaseException] = []
    lock = threading.Lock()
    started = time.monotonic()

    chaos_errors: List[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(QUERIES):
            if chaos_errors:  # the engine could not be restarted: fail fast instead of waiting on it
                return
            limit = rng.choice([10, 1_000, 50_000, 200_000, TABLE_ROWS])
            expected = (limit, limit * (limit - 1) // 2)
            try:
                with pool.get_connection_context() as conn:
                    cursor = conn.cursor()
                    cursor.execute("SELECT i FROM chaos_t WHERE i < %s ORDER BY i", (limit,))
                    if rng.random() < 0.5:
                        rows = cursor.fetchall()
                        got = (len(rows), sum(r[0] for r in rows))
                    else:  # rows reach the caller batch by batch: a restart can cut it mid-delivery
                        count = total = 0
                        batch = cursor.fetchmany(5_000)
                        while batch:
                            count += len(batch)
                            total += sum(r[0] for r in batch)
                            batch = cursor.fetchmany(5_000)
                        got = (count, total)
                    with lock:
                        if got == expected:
                            tally["exact"] += 1
                        else:
                            wrong.append(f"limit {limit}: got {got}, expected {expected}")
            except OperationalError as exc:
                with lock:
                    if exc.query_id and exc.query_id in str(exc) and "delivered" in str(exc):
                        tally["interrupted mid-delivery"] += 1
                    else:
                        unexpected.append(exc)
            except BaseException as exc:  # collected; asserted below
                with lock:
                    unexpected.append(exc)
            time.sleep(rng.random() * 0.05)

    event_log: List[Tuple[float, str]] = []
    chaos = threading.Thread(target=events, args=(engine, event_log, started, chaos_errors), daemon=True)
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    chaos.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    chaos.join()
    elapsed = time.monotonic() - started
    if chaos_errors:
        engine.server.stop(0)
    assert chaos_errors == []

    # the pool ends healthy: a fresh checkout answers a real query
    with pool.get_connection_context() as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT count(*) FROM chaos_t")
        assert cursor.fetchall() == [(TABLE_ROWS,)]
    stats = pool.get_statistics()
    pool.close_all()
    engine.server.stop(0)

    print(f"\nchaos tally after {elapsed:.1f} s: {dict(tally)}; events {event_log}; pool {stats}")
    assert wrong == []
    assert unexpected == [], [(repr(e), getattr(e, "details", None), getattr(e, "replayable", None)) for e in unexpected[:5]]
    assert sum(tally.values()) == THREADS * QUERIES
    assert [e for _, e in event_log].count("switch") == 5 and len(event_log) == 10
