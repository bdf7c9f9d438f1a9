"""DataFrame.to_sql into the local engine (its own process) through the SQLAlchemy dialect, one run.

    python bench/to_sql.py [--rows 100000] [--per-row-rows 2000] [--rounds 3]

A frame of ``--rows`` rows x 6 columns (BIGINT id, DOUBLE price, VARCHAR name, DATE day, TIMESTAMP at,
NUMERIC(12,4) amount; every 17th value of the last five NULL) is written into a fresh table four ways:

* ``executemany``: ``to_sql(method=None)``. SQLAlchemy hands all rows to ``cursor.executemany``, which the
  driver sends as multi-row ``INSERT ... VALUES (...), (...)`` statements (up to 5000 rows / 2 MiB each).
* ``insertmanyvalues``: the same call with the dialect's ``use_insertmanyvalues_wo_returning`` switched on, so
  SQLAlchemy itself batches rows into multi-VALUES statements of bound parameters (its page size, 1000 rows).
* ``multi``: ``to_sql(method="multi", chunksize=1000)``: pandas builds one ``insert().values([...])`` per chunk.
* ``per-row``: ``to_sql(method=<one execute per row>)`` on the first ``--per-row-rows`` rows only: a
  statement, i.e. a prepare/execute/metadata/release round trip set, per row. Its rows/s is extrapolated to
  the full frame (the per-row cost does not depend on the table size).

Each fast way is timed ``--rounds`` times (best round reported, every round shown); the table is dropped
before each round and its row count checked after it. Ratios are against the per-row rows/s.
"""
from __future__ import annotations

import argparse
import tempfile

from _harness import PASSWORD, USER, engine_server, machine_note, run_client, table

CLIENT = """
import datetime, decimal
import numpy as np
import pandas as pd
import sqlalchemy as sa

engine = sa.create_engine("e6driver://{user}:{password}@127.0.0.1:{port}/main?catalog=local")
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
    return pd.DataFrame({{"id": ids, "price": price, "name": names, "day": days, "at": at, "amount": amounts}})

DTYPE = {{"amount": sa.Numeric(12, 4)}}

def per_row(pd_table, connection, keys, data_iter):
    insert = pd_table.table.insert()
    for row in data_iter:
        connection.execute(insert, dict(zip(keys, row)))

def reset():
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS bench_to_sql")

def count():
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT count(*) FROM bench_to_sql").scalar()

def timed(frame, **options):
    reset()
    started = time.perf_counter()
    frame.to_sql("bench_to_sql", engine, index=False, dtype=DTYPE, **options)
    seconds = time.perf_counter() - started
    assert count() == len(frame), (count(), len(frame))
    return seconds

frame = make_frame(ROWS)
timed(frame.head(500))  # warm-up: connection, type caches, server
results = {{}}
for name in ("executemany", "insertmanyvalues", "multi"):
    results[name] = []
for _ in range({rounds}):
    results["executemany"].append(timed(frame))
    engine.dialect.use_insertmanyvalues_wo_returning = True
    try:
        results["insertmanyvalues"].append(timed(frame))
    finally:
        engine.dialect.use_insertmanyvalues_wo_returning = False
    results["multi"].append(timed(frame, method="multi", chunksize=1000))
results["per-row"] = [timed(frame.head({per_row_rows}), method=per_row)]
reset()
print(json.dumps({{"results": results, "peak_rss_mb": peak_rss_mb()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the frame")
    parser.add_argument("--per-row-rows", type=int, default=2000, help="rows written one statement at a time")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each fast way")
    args = parser.parse_args()

    print(f"machine: {machine_note()}")
    with tempfile.TemporaryDirectory() as data_dir, engine_server(data_dir) as port:
        report = run_client(CLIENT.format(port=port, user=USER, password=PASSWORD, rows=args.rows,
                                          per_row_rows=args.per_row_rows, rounds=args.rounds))

    results = report["results"]
    per_row_rate = args.per_row_rows / results["per-row"][0]
    rows = []
    for name, seconds in results.items():
        measured_rows = args.per_row_rows if name == "per-row" else args.rows
        best = min(seconds)
        rate = measured_rows / best
        full = args.rows / rate
        rows.append((name, f"{measured_rows:,}", f"{best:.2f}", f"{rate:,.0f}", f"{full:.1f}",
                     f"{rate / per_row_rate:.1f}x", ", ".join(f"{s:.2f}" for s in seconds)))
    print(f"DataFrame.to_sql of {args.rows:,} rows x 6 columns into the local engine "
          f"(best of {args.rounds} rounds; per-row measured on {args.per_row_rows:,} rows, extrapolated):")
    print(table(rows, ["way", "rows timed", "best s", "rows/s", f"s for {args.rows:,}", "vs per-row",
                       "every round (s)"]))
    print(f"client peak RSS {report['peak_rss_mb']:.0f} MB")
    print(f"machine after: {machine_note()}")


if __name__ == "__main__":
    main()
