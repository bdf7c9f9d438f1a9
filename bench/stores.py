"""Object-store transfer rate against the local engine server (in its own process), vs a plain file copy.

    python bench/stores.py [--mb 200] [--rounds 3]

One file of random bytes is uploaded with ``conn.objects.put_file`` and downloaded with ``get_file`` (1 MiB
chunks, CRC-32 per chunk, MD5 of the whole object on both ends), best of ``--rounds``; the baseline is
``shutil.copyfile`` of the same file on the same disk (page cache warm for both). The server stores objects
in a temporary data directory on the same disk.
"""
from __future__ import annotations

import argparse
import os
import tempfile

from _harness import PASSWORD, USER, engine_server, machine_note, run_client, table

CLIENT = """
import os, shutil, time
import e6driver
conn = e6driver.connect(host="127.0.0.1", port={port}, username="{user}", password="{password}")
store = conn.objects
store.create_bucket("bench")
src, work = {src!r}, {work!r}
size = os.path.getsize(src)
best = {{"upload": 1e9, "download": 1e9, "copy": 1e9}}
for _ in range({rounds}):
    t = time.perf_counter(); shutil.copyfile(src, os.path.join(work, "copy.bin"))
    best["copy"] = min(best["copy"], time.perf_counter() - t)
    t = time.perf_counter(); store.put_file("bench", "big.bin", src)
    best["upload"] = min(best["upload"], time.perf_counter() - t)
    t = time.perf_counter(); store.get_file("bench", "big.bin", os.path.join(work, "down.bin"))
    best["download"] = min(best["download"], time.perf_counter() - t)
    os.unlink(os.path.join(work, "copy.bin")); os.unlink(os.path.join(work, "down.bin"))
print(json.dumps({{"size": size, **best, "rss": peak_rss_mb()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="file size in MB (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, best reported (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="e6bench-") as tmp:
        src = os.path.join(tmp, "src.bin")
        with open(src, "wb") as handle:
            for _ in range(args.mb):
                handle.write(os.urandom(1024 * 1024))
        work = os.path.join(tmp, "work")
        os.makedirs(work)
        data_dir = os.path.join(tmp, "data")
        with engine_server(data_dir) as port:
            out = run_client(CLIENT.format(port=port, user=USER, password=PASSWORD, src=src, work=work,
                                           rounds=args.rounds))
    mb = out["size"] / 1e6
    rows = [(name, f"{out[name]:.3f}", f"{mb / out[name]:.0f}", f"{out['copy'] / out[name]:.2f}")
            for name in ("copy", "upload", "download")]
    print(f"{args.mb} MiB file, best of {args.rounds}; {machine_note()}")
    print(table(rows, ["operation", "seconds", "MB/s", "x copy speed"]))
    print(f"client peak RSS {out['rss']:.0f} MB")


if __name__ == "__main__":
    main()
