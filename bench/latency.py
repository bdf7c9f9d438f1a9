"""Small-query latency and time to the first chunk, against the local engine server (in its own process).

    python bench/latency.py [--queries 300] [--rounds 4] [--seconds 2] [--rows 200000]

One table with ratios:

* ``SELECT 1`` round trip (execute + fetchall + close of the cursor) through e6driver and through the official
  client, each in its own process (their generated protobuf modules clash in one descriptor pool); the two
  processes alternate ``--rounds`` times and the medians are taken over every sample;
* pooled checkout + ``SELECT 1`` + return at 1 thread, queries/s (pre_ping on, as ``bench/pool.py``);
* ``cursor.execute()`` of ``SELECT * FROM mix LIMIT 8192`` vs of all ``--rows`` rows of an 8-column mixed table
  (median of 7 each, the result released after each run), and the same for the official client.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile

from _harness import PASSWORD, USER, engine_server, machine_note, run_client, table
from e2e import MIX_SQL  # the 8-column mix of bench/e2e.py

OURS_PRELUDE = """
import e6driver
conn = e6driver.connect(host="127.0.0.1", port={port}, username="{user}", password="{password}",
                        catalog="local", database="main")
def select_one():
    cur = conn.cursor()
    cur.execute("SELECT 1")
    rows = cur.fetchall()
    cur.close()
    assert [tuple(r) for r in rows] == [(1,)], rows
"""

OFFICIAL_PRELUDE = """
from e6data_python_connector import Connection
conn = Connection(host="127.0.0.1", port={port}, username="{user}", password="{password}",
                  catalog="local", database="main")
def select_one():
    cur = conn.cursor(catalog_name="local", db_name="main")
    cur.execute("SELECT 1")
    rows = cur.fetchall()
    cur.close()
    assert [tuple(r) for r in rows] == [(1,)], rows
"""

SAMPLES = """
for _ in range({warmup}):
    select_one()
samples = []
for _ in range({queries}):
    start = time.perf_counter()
    select_one()
    samples.append(time.perf_counter() - start)
conn.close()
print(json.dumps({{"samples": samples}}))
"""

EXECUTE = """
def execute_time(sql):
    times = []
    for _ in range(8):
        cur = conn.cursor({cursor_args})
        start = time.perf_counter()
        cur.execute(sql)
        times.append(time.perf_counter() - start)
        cur.close()
    return statistics.median(times[1:])
import statistics
small = execute_time("SELECT * FROM mix LIMIT 8192")
big = execute_time("SELECT * FROM mix")
conn.close()
print(json.dumps({{"small": small, "big": big}}))
"""

POOLED = """
from e6driver import ConnectionPool
pool = ConnectionPool(min_size=1, max_size=8, max_overflow=8, timeout=30, recycle=3600, debug=False,
                      pre_ping=True, host="127.0.0.1", port={port}, username="{user}", password="{password}",
                      catalog="local", database="main")
best = 0.0
for _ in range(3):
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < {seconds}:
        with pool.get_connection_context() as c:
            cur = c.cursor()
            cur.execute("SELECT 1")
            assert cur.fetchall() == [(1,)]
            cur.close()
        count += 1
    best = max(best, count / (time.perf_counter() - start))
pool.close_all()
conn.close()
print(json.dumps({{"qps": best}}))
"""

SETUP = """
import e6driver
conn = e6driver.connect(host="127.0.0.1", port={port}, username="{user}", password="{password}",
                        catalog="local", database="main")
conn.cursor().execute(\"\"\"{sql}\"\"\")
conn.close()
print(json.dumps({{}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=300, help="timed SELECT 1 per client process")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of the two clients")
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each pooled run (best of 3)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the big result")
    args = parser.parse_args()

    print(f"machine: {machine_note()}")
    with tempfile.TemporaryDirectory() as data_dir, engine_server(data_dir) as port:
        fmt = dict(port=port, user=USER, password=PASSWORD)
        run_client(SETUP.format(sql=MIX_SQL.format(name="mix", rows=args.rows), **fmt))
        ours, official = [], []
        for _ in range(args.rounds):
            for prelude, out in ((OURS_PRELUDE, ours), (OFFICIAL_PRELUDE, official)):
                code = prelude.format(**fmt) + SAMPLES.format(warmup=20, queries=args.queries)
                out.extend(run_client(code)["samples"])
        pooled = run_client(OURS_PRELUDE.format(**fmt) + POOLED.format(seconds=args.seconds, **fmt))
        ours_exec = run_client(OURS_PRELUDE.format(**fmt) + EXECUTE.format(cursor_args=""))
        official_exec = run_client(OFFICIAL_PRELUDE.format(**fmt) + EXECUTE.format(
            cursor_args='catalog_name="local", db_name="main"'))

    ours_ms, official_ms = statistics.median(ours) * 1e3, statistics.median(official) * 1e3
    rows = [
        ("SELECT 1 round trip, median ms", f"{ours_ms:.3f}", f"{official_ms:.3f}",
         f"{ours_ms / official_ms:.2f}x official", "<= 0.60x official"),
        ("pooled checkout+SELECT 1+return, 1 thread, queries/s", f"{pooled['qps']:,.0f}", "",
         f"{pooled['qps'] * 0.008:.2f}x the 125/s (8 ms) baseline", ">= 2x baseline"),
        ("execute() of LIMIT 8192, median ms", f"{ours_exec['small'] * 1e3:.2f}",
         f"{official_exec['small'] * 1e3:.2f}", "", ""),
        (f"execute() of {args.rows:,} rows, median ms", f"{ours_exec['big'] * 1e3:.2f}",
         f"{official_exec['big'] * 1e3:.2f}", f"{ours_exec['big'] / ours_exec['small']:.2f}x LIMIT 8192",
         "<= 2x LIMIT 8192"),
    ]
    print(f"{args.rounds} alternating rounds of {args.queries} SELECT 1 per client; 8-column mixed table:")
    print(table(rows, ["measure", "e6driver", "official", "ratio", "target"]))
    print(f"machine after: {machine_note()}")


if __name__ == "__main__":
    main()
