"""End to end over loopback: our driver vs the official client, same engine, same query, one run.

    python bench/e2e.py [--rows 1000000] [--stream-rows 10000000]

Prints rows/s, seconds and peak client RSS for fetchall() with our C and pure-Python decoders and with the
official e6data-python-connector, then the ratios; also fetch_arrow_table() on numeric columns (median of 21 runs
in one process): with the engine's Arrow results on the default route (the engine runs on this machine, so
they arrive by same-host transfer: written into a memfd the client maps), over gRPC as from another machine
(E6DRIVER_LOCAL_TRANSFER=0), and, as against an engine without Arrow results, from Thrift chunks; and the peak
RSS of streaming fetchall_buffer() over a large result. The table is read once, untimed, first.
"""
from __future__ import annotations

import argparse
import tempfile

from _harness import PASSWORD, USER, engine_server, run_client, table

MIX_SQL = """
CREATE OR REPLACE TABLE {name} AS
SELECT
  CASE WHEN i % 10 = 0 THEN NULL ELSE i END::BIGINT AS c_bigint,
  CASE WHEN i % 10 = 1 THEN NULL ELSE (i % 100000)::INTEGER END AS c_int,
  CASE WHEN i % 10 = 2 THEN NULL ELSE i * 0.5 END::DOUBLE AS c_double,
  CASE WHEN i % 10 = 3 THEN NULL ELSE i % 2 = 0 END AS c_bool,
  CASE WHEN i % 10 = 4 THEN NULL ELSE 'name-' || (i % 1000)::VARCHAR END AS c_varchar,
  CASE WHEN i % 10 = 5 THEN NULL ELSE DATE '2000-01-01' + (i % 9000)::INTEGER END AS c_date,
  CASE WHEN i % 10 = 6 THEN NULL ELSE TIMESTAMP '2020-01-01 00:00:00' + to_microseconds(i * 1000003) END AS c_ts,
  CASE WHEN i % 10 = 7 THEN NULL ELSE (i / 7.0)::DECIMAL(18,4) END AS c_dec
FROM range({rows}) t(i)
"""

OURS = """
import e6driver
conn = e6driver.connect(host="127.0.0.1", port={port}, username="{user}", password="{password}",
                        catalog="local", database="main")
cur = conn.cursor()
start = time.perf_counter()
cur.execute("{sql}")
{fetch}
seconds = time.perf_counter() - start
conn.close()
print(json.dumps({{"rows": rows, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "impl": e6driver.__impl__}}))
"""

ARROW_TIMED = """
import pyarrow, e6driver
conn = e6driver.connect(host="127.0.0.1", port={port}, username="{user}", password="{password}",
                        catalog="local", database="main")
cur = conn.cursor()
if {thrift_only}:  # as against an engine without Arrow results (an e6data cluster): decode Thrift chunks
    from e6driver.protocol.capabilities import capabilities
    conn.session.capabilities = dict(capabilities(conn.session), arrow_results=False)
# 21 runs: the median is the figure (the first runs of a process also pay for its allocators' warm-up, and single
# runs swing with the scheduling of the 2 cores); the first and the best run, and the fetch alone of the median
# run (execute waits for the first chunks by design), are printed too.
runs = []
for _ in range(21):
    start = time.perf_counter()
    cur.execute("{sql}")
    executed = time.perf_counter()
    rows = cur.fetch_arrow_table().num_rows
    done = time.perf_counter()
    runs.append((done - start, done - executed))
conn.close()
first = runs[0][0]
runs.sort()
median = runs[len(runs) // 2]
print(json.dumps({{"rows": rows, "seconds": median[0], "fetch_seconds": median[1], "first_seconds": first,
                  "best_seconds": runs[0][0], "peak_rss_mb": peak_rss_mb(), "impl": e6driver.__impl__}}))
"""

FETCHALL = "rows = len(cur.fetchall())"
STREAM = "rows = sum(len(batch) for batch in cur.fetchall_buffer())"

OFFICIAL = """
from e6data_python_connector import Connection
conn = Connection(host="127.0.0.1", port={port}, username="{user}", password="{password}",
                  catalog="local", database="main")
cur = conn.cursor(catalog_name="local", db_name="main")
start = time.perf_counter()
cur.execute("{sql}")
rows = len(cur.fetchall())
seconds = time.perf_counter() - start
conn.close()
print(json.dumps({{"rows": rows, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "impl": "official 3.0.2"}}))
"""


def setup_tables(port: int, rows: int, stream_rows: int) -> None:
    """Create the tables, then read ``mix`` once, untimed, row-wise and as Arrow: the engine's first read of a
    table (DuckDB's caches, the encoders' first calls) is paid here rather than by whichever client runs first."""
    statements = [MIX_SQL.format(name="mix", rows=rows), MIX_SQL.format(name="mix_big", rows=stream_rows)]
    code = OURS.format(port=port, user=USER, password=PASSWORD, sql="SELECT 1", fetch="rows = 0")
    code = code.replace('cur.execute("SELECT 1")', "\n".join(f"cur.execute({s!r})" for s in statements) + """
cur.execute("SELECT * FROM mix")
cur.fetchall()
cur.execute("SELECT c_bigint, c_int, c_double FROM mix")
cur.fetch_arrow_table()""")
    run_client(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stream-rows", type=int, default=10_000_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir, engine_server(data_dir) as port:
        setup_tables(port, args.rows, args.stream_rows)
        select = "SELECT * FROM mix"
        numeric = "SELECT c_bigint, c_int, c_double FROM mix"
        fmt = dict(port=port, user=USER, password=PASSWORD)
        runs = [
            ("e6driver fetchall (C)", run_client(OURS.format(sql=select, fetch=FETCHALL, **fmt), {"E6DRIVER_IMPL": "c"})),
            ("e6driver fetchall (Python)",
             run_client(OURS.format(sql=select, fetch=FETCHALL, **fmt), {"E6DRIVER_IMPL": "python"})),
            ("official fetchall", run_client(OFFICIAL.format(sql=select, **fmt))),
            ("e6driver fetch_arrow_table numeric (median of 21)",
             run_client(ARROW_TIMED.format(sql=numeric, thrift_only=False, **fmt))),
            ("same, over gRPC (as from another machine)",
             run_client(ARROW_TIMED.format(sql=numeric, thrift_only=False, **fmt), {"E6DRIVER_LOCAL_TRANSFER": "0"})),
            ("same, from Thrift chunks (no Arrow results)",
             run_client(ARROW_TIMED.format(sql=numeric, thrift_only=True, **fmt))),
            (f"e6driver fetchall_buffer {args.stream_rows:,} rows",
             run_client(OURS.format(sql="SELECT * FROM mix_big", fetch=STREAM, **fmt))),
        ]
    official = dict(runs)["official fetchall"]
    rows = []
    for name, r in runs:
        rate = r["rows"] / r["seconds"]
        speedup = official["seconds"] / r["seconds"] * r["rows"] / official["rows"]
        rows.append((name, f"{r['rows']:,}", f"{r['seconds']:.2f}", f"{rate / 1e6:.2f}", f"{r['peak_rss_mb']:.0f}",
                     f"{speedup:.1f}x"))
    print(table(rows, ["run", "rows", "seconds", "M rows/s", "peak RSS MB", "vs official"]))
    arrow = dict(runs)["e6driver fetch_arrow_table numeric (median of 21)"]
    rate = {key: arrow["rows"] / arrow[key] / 1e6 for key in ("fetch_seconds", "first_seconds", "best_seconds")}
    print(f"fetch_arrow_table numeric, M rows/s: median run's fetch alone (after execute returned) "
          f"{rate['fetch_seconds']:.2f}; end to end, the first run {rate['first_seconds']:.2f}, the best "
          f"{rate['best_seconds']:.2f}")
    ours = dict(runs)["e6driver fetchall (C)"]
    speedup = official["seconds"] / ours["seconds"] * ours["rows"] / official["rows"]
    print(f"targets: fetchall C >= 12x official at 1M rows -> {speedup:.1f}x; peak RSS ours "
          f"{ours['peak_rss_mb']:.0f} MB vs official {official['peak_rss_mb']:.0f} MB; arrow numeric >= 20 M rows/s "
          f"end to end -> {arrow['rows'] / arrow['seconds'] / 1e6:.1f} M rows/s; fetchall_buffer 10M peak < 200 MB")


if __name__ == "__main__":
    main()
