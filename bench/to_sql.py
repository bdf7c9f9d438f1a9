"""DataFrame.to_sql of one frame through SQLAlchemy: the local engine (its own process) vs in-memory SQLite and
duckdb_engine into a local DuckDB file, in the same run.

    python bench/to_sql.py [--rows 100000] [--literal-rows 20000] [--rounds 3]

A frame of ``--rows`` rows x 6 columns (BIGINT id, DOUBLE price, VARCHAR name, DATE day, TIMESTAMP stamp,
NUMERIC(12,4) amount; every 17th value of the last five NULL) is written into a fresh table with
``to_sql(method=None)`` (SQLAlchemy hands all rows to ``cursor.executemany``) by:

* ``e6driver bulk``: the driver's bulk path (Arrow batches through IngestService, e6driver/bulk.py);
* ``e6driver multi-row INSERT``: the same driver with the bulk path switched off (what an engine without it,
  an e6data cluster, gets), timed on the first ``--literal-rows`` rows and extrapolated (rows/s);
* ``sqlite :memory:`` and ``duckdb_engine file`` (``pip install duckdb_engine``; "not installed" otherwise).

Each way is timed ``--rounds`` times (best round reported, every round shown); the table is dropped before each
round and its row count checked after it. Ratios are rows/s against SQLite's and duckdb_engine's.
"""
from __future__ import annotations

import argparse
import tempfile

from _harness import PASSWORD, USER, engine_server, machine_note, run_client, table

CLIENT = """
import datetime, decimal, os, tempfile, warnings
import numpy as np
import pandas as pd
import sqlalchemy as sa
import e6driver.protocol.ingest as ingest

warnings.simplefilter("ignore")  # SQLite: Decimal stored as float
ROWS = {rows}

def make_frame(n):
    rng = np.random.default_rng(7)
    ids = np.arange(n, dtype=np.int64)
    null = ids % 17 == 0
    price = rng.normal(100, 25, n).round(4)
    price[null] = np.nan
    names = np.array([f"customer-{{i:07d}}" for i in ids], dtype=object)
    names[null] = None
    base = datetime.date(2000, 1, 1)
    days = np.array([base + datetime.timedelta(days=int(i % 9000)) for i in ids], dtype=object)
    days[null] = None
    at = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(ids * 1_000_003, unit="us"))
    at[null] = pd.NaT
    amounts = np.array([decimal.Decimal(int(i * 7919 % 10_000_000)).scaleb(-4) for i in ids], dtype=object)
    amounts[null] = None
    return pd.DataFrame({{"id": ids, "price": price, "name": names, "day": days, "stamp": at, "amount": amounts}})

DTYPE = {{"amount": sa.Numeric(12, 4)}}

def timed(engine, frame):
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS bench_to_sql")
    started = time.perf_counter()
    frame.to_sql("bench_to_sql", engine, index=False, dtype=DTYPE)
    seconds = time.perf_counter() - started
    with engine.connect() as connection:
        got = connection.exec_driver_sql("SELECT count(*) FROM bench_to_sql").scalar()
    assert got == len(frame), (got, len(frame))
    return seconds

frame = make_frame(ROWS)
literal = frame.head({literal_rows})
engines = {{"e6driver bulk": (sa.create_engine("e6driver://{user}:{password}@127.0.0.1:{port}/main?catalog=local"), frame),
           "sqlite :memory:": (sa.create_engine("sqlite://"), frame)}}
engines["e6driver multi-row INSERT"] = (sa.create_engine("e6driver://{user}:{password}@127.0.0.1:{port}/main?catalog=local"),
                                        literal)
folder = tempfile.mkdtemp()
try:
    import duckdb_engine  # noqa: F401
    engines["duckdb_engine file"] = (sa.create_engine("duckdb:///" + os.path.join(folder, "bench.duckdb")), frame)
except ImportError:
    pass
results = {{name: [] for name in engines}}
available = ingest.available
for name, (engine, data) in engines.items():
    ingest.available = (lambda session: False) if name == "e6driver multi-row INSERT" else available
    timed(engine, data.head(500))  # warm-up: connection, type caches, server
    for _ in range({rounds}):
        results[name].append(timed(engine, data))
print(json.dumps({{"results": results, "rows": {{n: len(d) for n, (e, d) in engines.items()}},
                  "peak_rss_mb": peak_rss_mb()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the frame")
    parser.add_argument("--literal-rows", type=int, default=20_000, help="rows timed without the bulk path")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each way")
    args = parser.parse_args()

    print(f"machine: {machine_note()}")
    with tempfile.TemporaryDirectory() as data_dir, engine_server(data_dir) as port:
        report = run_client(CLIENT.format(port=port, user=USER, password=PASSWORD, rows=args.rows,
                                          literal_rows=args.literal_rows, rounds=args.rounds))

    results, measured = report["results"], report["rows"]
    rates = {name: measured[name] / min(seconds) for name, seconds in results.items()}
    sqlite = rates.get("sqlite :memory:")
    duck = rates.get("duckdb_engine file")
    rows = []
    for name in ("e6driver bulk", "e6driver multi-row INSERT", "sqlite :memory:", "duckdb_engine file"):
        if name not in results:
            rows.append((name, "not installed", "", "", "", "", "", ""))
            continue
        rate = rates[name]
        rows.append((name, f"{measured[name]:,}", f"{min(results[name]):.2f}", f"{rate:,.0f}",
                     f"{args.rows / rate:.1f}", f"{rate / sqlite:.2f}x" if sqlite else "",
                     f"{rate / duck:.2f}x" if duck else "n/a", ", ".join(f"{s:.2f}" for s in results[name])))
    print(f"DataFrame.to_sql of {args.rows:,} rows x 6 columns through SQLAlchemy (best of {args.rounds} rounds; "
          f"the multi-row INSERT way timed on {args.literal_rows:,} rows, extrapolated):")
    print(table(rows, ["way", "rows timed", "best s", "rows/s", f"s for {args.rows:,}", "vs SQLite",
                       "vs duckdb_engine", "every round (s)"]))
    print("targets: e6driver bulk >= 1x SQLite and >= 1x duckdb_engine")
    print(f"client peak RSS {report['peak_rss_mb']:.0f} MB")
    print(f"machine after: {machine_note()}")


if __name__ == "__main__":
    main()
