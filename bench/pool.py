"""ConnectionPool overhead against the local engine server (in its own process), one run.

    python bench/pool.py [--queries 500] [--seconds 2] [--rounds 3]

Per-query latency of ``SELECT 1`` (execute + fetchall) four ways: on one open connection (no pool, the
baseline); checked out of a pool and returned, with ``pre_ping`` on and off; and on a fresh connection per query
(connect, query, close). The four variants take turns query by query in one client process, so load from
elsewhere on the machine falls on all of them alike.

Then queries/s at 1, 4 and 16 threads sharing one pool (max_size 8 + max_overflow 8, pre_ping on): ``--rounds``
rounds of the three thread counts in turn, best round reported. The server runs in its own process.
"""
from __future__ import annotations

import argparse
import tempfile

from _harness import PASSWORD, USER, engine_server, machine_note, run_client, table

PRELUDE = """
import statistics, threading
from e6driver import ConnectionPool, connect
PARAMS = dict(host="127.0.0.1", port={port}, username="{user}", password="{password}",
              catalog="local", database="main")

def select_one(conn):
    cur = conn.cursor()
    cur.execute("SELECT 1")
    rows = cur.fetchall()
    cur.close()
    assert rows == [(1,)], rows
"""

LATENCY = PRELUDE + """
direct = connect(**PARAMS)
pools = {{flag: ConnectionPool(min_size=1, max_size=8, max_overflow=8, timeout=30, recycle=3600, debug=False,
                               pre_ping=flag, **PARAMS) for flag in (True, False)}}

def pooled(pool):
    conn = pool.get_connection()
    try:
        select_one(conn)
    finally:
        pool.return_connection(conn)

def fresh():
    conn = connect(**PARAMS)
    try:
        select_one(conn)
    finally:
        conn.close()

variants = {{
    "direct": lambda: select_one(direct),
    "pre_ping on": lambda: pooled(pools[True]),
    "pre_ping off": lambda: pooled(pools[False]),
    "fresh": fresh,
}}
names = list(variants)
samples = {{name: [] for name in names}}
for i in range({warmup} + {queries}):
    order = names[i % len(names):] + names[:i % len(names)]  # rotate who goes first
    for name in order:
        start = time.perf_counter()
        variants[name]()
        if i >= {warmup}:
            samples[name].append(time.perf_counter() - start)
result = {{}}
for name, values in samples.items():
    values.sort()
    result[name] = {{"median": statistics.median(values), "p99": values[int(0.99 * (len(values) - 1))],
                    "mean": statistics.fmean(values)}}
result["stats"] = {{str(flag): pool.get_statistics() for flag, pool in pools.items()}}
for pool in pools.values():
    pool.close_all()
direct.close()
print(json.dumps(result))
"""

THREADS = PRELUDE + """
pool = ConnectionPool(min_size=1, max_size=8, max_overflow=8, timeout=30, recycle=3600, debug=False,
                      pre_ping=True, **PARAMS)

def run(threads, seconds):
    counts, errors = [0] * threads, []
    barrier = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def worker(index):
        barrier.wait()
        try:
            while time.perf_counter() < stop_at[0]:
                with pool.get_connection_context() as conn:
                    select_one(conn)
                counts[index] += 1
        except Exception as exc:  # reported, not hidden
            errors.append(repr(exc))

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start = time.perf_counter()
    stop_at[0] = start + seconds
    barrier.wait()
    for w in workers:
        w.join()
    return {{"queries": sum(counts), "seconds": time.perf_counter() - start, "errors": errors[:3]}}

results = {{n: [] for n in (1, 4, 16)}}
for _ in range({rounds}):
    for n in results:
        results[n].append(run(n, {seconds}))
stats = pool.get_statistics()
pool.close_all()
print(json.dumps({{"runs": results, "stats": stats}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=500, help="timed queries per latency variant")
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each threaded run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the 1/4/16-thread runs")
    args = parser.parse_args()

    print(f"machine: {machine_note()}")
    with tempfile.TemporaryDirectory() as data_dir, engine_server(data_dir) as port:
        fmt = dict(port=port, user=USER, password=PASSWORD)
        latency = run_client(LATENCY.format(queries=args.queries, warmup=20, **fmt))
        threaded = run_client(THREADS.format(rounds=args.rounds, seconds=args.seconds, **fmt))

    labels = {
        "direct": "one open connection, no pool",
        "pre_ping on": "pool checkout+query+return, pre_ping on",
        "pre_ping off": "pool checkout+query+return, pre_ping off",
        "fresh": "fresh connection per query (connect+query+close)",
    }
    base, no_ping = latency["direct"]["median"], latency["pre_ping off"]["median"]
    rows = []
    for key, label in labels.items():
        r = latency[key]
        rows.append((label, f"{r['median'] * 1e3:.3f}", f"{r['p99'] * 1e3:.3f}", f"{r['mean'] * 1e3:.3f}",
                     f"{(r['median'] - base) * 1e3:+.3f}", f"{r['median'] / base:.2f}x",
                     f"{r['median'] / no_ping:.2f}x"))
    print(f"SELECT 1 latency in ms, {args.queries:,} queries per variant (variants interleaved, after 20 warm-up):")
    print(table(rows, ["run", "median", "p99", "mean", "median - no pool", "vs no pool", "vs pool, no ping"]))
    for flag, s in latency["stats"].items():
        print(f"  pool pre_ping={flag}: connections created {s['created_connections']}, "
              f"discarded {s['discarded_connections']}, checkouts {s['total_requests']}")

    runs = {int(n): rs for n, rs in threaded["runs"].items()}
    best = {n: max(rs, key=lambda r: r["queries"] / r["seconds"]) for n, rs in runs.items()}
    one = best[1]["queries"] / best[1]["seconds"]
    rows = []
    for n, r in best.items():
        qps = r["queries"] / r["seconds"]
        all_qps = ", ".join(f"{x['queries'] / x['seconds']:,.0f}" for x in runs[n])
        errors = "; ".join(e for x in runs[n] for e in x["errors"]) or "none"
        rows.append((n, f"{qps:,.0f}", f"{qps / one:.2f}x", all_qps, errors))
    s = threaded["stats"]
    print(f"\nqueries/s through one pool (max_size 8 + max_overflow 8, pre_ping on), best of {args.rounds} rounds "
          f"of {args.seconds:g} s:")
    print(table(rows, ["threads", "queries/s", "vs 1 thread", "every round", "errors"]))
    print(f"  pool after all rounds: connections created {s['created_connections']}, "
          f"discarded {s['discarded_connections']}, timeouts {s['timeouts']}, pool size {s['pool_size']}")
    print(f"machine after: {machine_note()}")


if __name__ == "__main__":
    main()
