"""100 concurrent small queries against the local engine (in its own process), four ways, one run each round:

    python bench/concurrency.py [--queries 100] [--rounds 3] [--pool-size 8]

- e6driver.aio, one connection, ``asyncio.gather`` of N tasks (each: cursor, execute, fetchall, close);
- e6driver.aio, an ``AsyncConnectionPool`` of ``--pool-size`` connections;
- e6driver (blocking) ``ConnectionPool`` of ``--pool-size`` connections, N tasks on ``--pool-size`` threads;
- the official client's asyncio API (``e6data_python_connector.aio``), one connection, N tasks.

Each client runs in its own process; the query is ``SELECT i * 2`` (distinct per task). Printed: wall time of the
N queries (best of ``--rounds``), queries/s, and the ratio to the official client's asyncio API.
"""
from __future__ import annotations

import argparse
import tempfile

from _harness import PASSWORD, USER, engine_server, machine_note, run_client, table

COMMON = """
import asyncio, threading
N, ROUNDS, POOL = {queries}, {rounds}, {pool_size}
PARAMS = dict(host="127.0.0.1", port={port}, username="{user}", password="{password}",
              catalog="local", database="main")

def best_of(run):
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        results = run()
        times.append(time.perf_counter() - started)
        assert sorted(results) == [i * 2 for i in range(N)], results[:5]
    return min(times)

async def best_of_async(one):
    # best wall time of ROUNDS gathers of N calls of one(i)
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(N)))
        times.append(time.perf_counter() - started)
        assert sorted(results) == [i * 2 for i in range(N)], results[:5]
    return min(times)
"""

AIO_ONE = COMMON + """
import e6driver.aio as aio

async def main():
    async with aio.connect(**PARAMS) as conn:
        async def one(i):
            async with conn.cursor() as cur:
                await cur.execute("SELECT %s * 2", (i,))
                return (await cur.fetchall())[0][0]
        return await best_of_async(one)
print(json.dumps({{"seconds": asyncio.run(main()), "threads": threading.active_count()}}))
"""

AIO_POOL = COMMON + """
import e6driver.aio as aio

async def main():
    async with aio.AsyncConnectionPool(max_size=POOL, pre_ping=False, **PARAMS) as pool:
        async def one(i):
            async with pool.connection() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT %s * 2", (i,))
                    return (await cur.fetchall())[0][0]
        await asyncio.gather(*(one(i) for i in range(POOL)))  # open the connections before timing
        return await best_of_async(one)
print(json.dumps({{"seconds": asyncio.run(main()), "threads": threading.active_count()}}))
"""

SYNC_POOL = COMMON + """
from concurrent.futures import ThreadPoolExecutor
from e6driver import ConnectionPool

pool = ConnectionPool(min_size=POOL, max_size=POOL, max_overflow=0, timeout=60, pre_ping=False, **PARAMS)

def one(i):
    with pool.get_connection_context() as conn:
        cur = conn.cursor()
        cur.execute("SELECT %s * 2", (i,))
        value = cur.fetchall()[0][0]
        cur.close()
        return value

with ThreadPoolExecutor(POOL) as workers:
    seconds = best_of(lambda: list(workers.map(one, range(N))))
    threads = threading.active_count()
pool.close_all()
print(json.dumps({{"seconds": seconds, "threads": threads}}))
"""

OFFICIAL_AIO = COMMON + """
from e6data_python_connector.aio import AsyncConnection

async def main():
    async with AsyncConnection(**PARAMS) as conn:
        async def one(i):
            async with conn.cursor() as cur:
                await cur.execute(f"SELECT {{i}} * 2")
                rows = await cur.fetchall()
                return rows[0][0]
        return await best_of_async(one)

if __name__ == "__main__":
    print(json.dumps({{"seconds": asyncio.run(main()), "threads": threading.active_count()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool-size", type=int, default=8)
    args = parser.parse_args()
    limit = str(max(64, 2 * args.queries))
    with tempfile.TemporaryDirectory() as data_dir, \
            engine_server(data_dir, ["--max-open-queries-per-user", limit, "--max-open-queries", limit]) as port:
        fill = dict(port=port, user=USER, password=PASSWORD, queries=args.queries, rounds=args.rounds,
                    pool_size=args.pool_size)
        runs = {}
        for name, code in (("official client aio, one connection", OFFICIAL_AIO),
                           ("e6driver.aio, one connection", AIO_ONE),
                           (f"e6driver.aio, AsyncConnectionPool({args.pool_size})", AIO_POOL),
                           (f"e6driver ConnectionPool({args.pool_size}) + {args.pool_size} threads", SYNC_POOL)):
            runs[name] = run_client(code.format(**fill))
    base = runs["official client aio, one connection"]["seconds"]
    rows = [(name, f"{r['seconds'] * 1000:.0f}", f"{args.queries / r['seconds']:.0f}", r["threads"],
             f"{base / r['seconds']:.2f}x") for name, r in runs.items()]
    print(f"{args.queries} concurrent SELECTs, best of {args.rounds} rounds; {machine_note()}")
    print(table(rows, ["client", "ms", "queries/s", "threads", "vs official aio"]))


if __name__ == "__main__":
    main()
