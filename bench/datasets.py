"""SQL over an encrypted dataset, and its download, against the local engine (in its own process).

    python bench/datasets.py [--rows 10000000] [--rounds 3]

A table of ``--rows`` rows (six numeric columns and one string column) is uploaded with ``conn.datasets.upload``
and also written as a plain zstd Parquet file. Three queries run through the driver on ``datasets.main.bench``
and, as the baseline, in DuckDB in the client's process on ``read_parquet('plain.parquet')``:

* ``sum``: ``SELECT sum(x)``;
* ``filter``: ``SELECT sum(y) ... WHERE z < 5``;
* ``one column``: ``SELECT w ... WHERE w % 1000 = 0`` (one column of seven; ~0.1% of the rows come back).

Three engine configurations: the default (the version decoded once, at upload, and kept in the in-memory cache),
the same after a restart (the first query reads only its columns from the file while the version is decoded into
the cache in the background; the rounds that follow may still miss), and a cache too small for the version
(``--max-dataset-cache-bytes`` 64 MiB: every query decrypts and decodes only the row groups and columns it
needs). Figures are the best of ``--rounds`` after that first query; the ratio is DuckDB's time over the engine's
(>= 1: the engine is as fast). Then a full download to an ``.arrows`` file, with
the engine's peak RSS during it (Linux ``/proc``: the peak is reset just before the download), and a new version
of the same table uploaded to the engine with the small cache, with its peak RSS (what publishing holds).
"""
from __future__ import annotations

import argparse
import os
import tempfile
from typing import Dict, List, Optional

from _harness import PASSWORD, USER, engine_server, machine_note, run_client, table

QUERIES = {"sum": "SELECT sum(x) FROM {t}", "filter": "SELECT sum(y) FROM {t} WHERE z < 5",
           "one column": "SELECT w FROM {t} WHERE w % 1000 = 0"}

_CONNECT = """
import os, time
import e6driver
conn = e6driver.connect(host="127.0.0.1", port={port}, username="{user}", password="{password}")
"""

UPLOAD = _CONNECT + """
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
n, rng = {rows}, np.random.default_rng(7)
data = pa.table({{"x": rng.integers(0, 1_000_000, n), "y": rng.random(n), "z": rng.integers(0, 100, n, dtype="int32"),
                  "w": rng.integers(0, 10_000_000, n), "u": rng.random(n), "v": rng.integers(0, 1000, n),
                  "s": pa.array(np.char.add("customer-", (np.arange(n) % 50_000).astype(str)))}})
if {write_plain!r}:
    pq.write_table(data, {plain!r}, compression="zstd")
t = time.perf_counter()
getattr(conn.datasets, {call!r})("bench", data)
print(json.dumps({{"upload": time.perf_counter() - t, "bytes": data.nbytes, "parquet": os.path.getsize({plain!r})}}))
"""

QUERY = _CONNECT + """
import duckdb
queries = {queries!r}
local, cur = duckdb.connect(), conn.cursor()
out = {{}}
for label, sql in queries.items():
    t = time.perf_counter()
    cur.execute(sql.format(t="datasets.main.bench"))
    first_answer = cur.fetchall()
    first = time.perf_counter() - t
    best = {{"engine": 1e9, "duckdb": 1e9}}
    for _ in range({rounds}):
        t = time.perf_counter()
        cur.execute(sql.format(t="datasets.main.bench"))
        engine = cur.fetchall()
        best["engine"] = min(best["engine"], time.perf_counter() - t)
        t = time.perf_counter()
        plain = local.execute(sql.format(t="read_parquet('{plain}')")).fetchall()
        best["duckdb"] = min(best["duckdb"], time.perf_counter() - t)
    same = lambda rows: sorted(tuple(round(v, 4) if isinstance(v, float) else v for v in r) for r in rows)
    assert same(engine) == same(plain) == same(first_answer), label  # floats: summed in another order
    out[label] = {{"first": first, **best}}
print(json.dumps(out))
"""

DOWNLOAD = _CONNECT + """
t = time.perf_counter()
conn.datasets.download("bench", {target!r})
print(json.dumps({{"download": time.perf_counter() - t, "size": os.path.getsize({target!r})}}))
"""


def server_pid(data_dir: str) -> Optional[int]:
    """The engine process serving ``data_dir`` (found by its command line in /proc; None elsewhere)."""
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    args = handle.read().split(b"\0")
            except OSError:
                continue
            if b"mock_server" in args and data_dir.encode() in args:
                return int(entry)
    return None


def rss_mb(pid: Optional[int], field: str) -> Optional[float]:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of ``pid`` in MB."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (OSError, TypeError):
        pass
    return None


def reset_peak(pid: Optional[int]) -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except (OSError, TypeError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="dataset rows (default 10,000,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per query, best reported (default 3)")
    args = parser.parse_args()
    common = {"user": USER, "password": PASSWORD}
    bigger = ["--max-expanded-bytes", str(4 << 30), "--max-upload-bytes", str(4 << 30)]
    small_cache = bigger + ["--max-dataset-cache-bytes", str(64 << 20)]
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="e6bench-ds-") as tmp:
        data, plain = os.path.join(tmp, "data"), os.path.join(tmp, "plain.parquet")

        def query(port: int) -> Dict[str, Dict[str, float]]:
            return run_client(QUERY.format(queries=QUERIES, rounds=args.rounds, plain=plain, port=port, **common))
        with engine_server(data, bigger) as port:
            upload = run_client(UPLOAD.format(port=port, rows=args.rows, plain=plain, call="upload", write_plain=True,
                                              **common))
            results["cached (decoded at upload)"] = query(port)
        with engine_server(data, bigger) as port:
            results["after a restart"] = query(port)
        with engine_server(data, small_cache) as port:
            results["cache 64 MiB (no room)"] = query(port)
            pid = server_pid(data)
            before, peaked = rss_mb(pid, "VmRSS"), reset_peak(pid)
            down = run_client(DOWNLOAD.format(port=port, target=os.path.join(tmp, "down.arrows"), **common))
            peak = rss_mb(pid, "VmHWM") if peaked else None
            # a new version with no room in the cache: what publishing itself holds
            update_before, update_peaked = rss_mb(pid, "VmRSS"), reset_peak(pid)
            update = run_client(UPLOAD.format(port=port, rows=args.rows, plain=plain, call="update",
                                              write_plain=False, **common))
            update_peak = rss_mb(pid, "VmHWM") if update_peaked else None
    rows: List[tuple] = []
    for config, figures in results.items():
        for label, f in figures.items():
            rows.append((config, label, f"{f['first']:.3f}", f"{f['engine']:.3f}", f"{f['duckdb']:.3f}",
                         f"{f['duckdb'] / f['engine']:.2f}"))
    print(f"{args.rows:,} rows; Arrow {upload['bytes'] / 1e6:.0f} MB, plain Parquet (zstd) "
          f"{upload['parquet'] / 1e6:.0f} MB; best of {args.rounds}; {machine_note()}")
    print(f"upload (conn.datasets.upload of the Arrow table): {upload['upload']:.2f} s")
    print(table(rows, ["engine", "query", "first s", "engine s", "duckdb s", "duckdb/engine"]))
    print(f"download of {down['size'] / 1e6:.0f} MB (Arrow IPC stream to a file): {down['download']:.2f} s, "
          f"{down['size'] / 1e6 / down['download']:.0f} MB/s")
    if before is not None and peak is not None:
        print(f"engine RSS before the download {before:.0f} MB, peak during it {peak:.0f} MB "
              f"(+{peak - before:.0f} MB for a {down['size'] / 1e6:.0f} MB stream)")
    else:
        print("engine RSS: not measurable here (needs Linux /proc)")
    print(f"update (a new version, cache 64 MiB): {update['upload']:.2f} s", end="")
    if update_before is not None and update_peak is not None:
        print(f"; engine RSS before {update_before:.0f} MB, peak during it {update_peak:.0f} MB "
              f"(+{update_peak - update_before:.0f} MB for a {upload['bytes'] / 1e6:.0f} MB table)")
    else:
        print()


if __name__ == "__main__":
    main()
