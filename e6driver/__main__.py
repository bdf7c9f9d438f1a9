"""``python -m e6driver``: run SQL through the driver — against the embedded local engine by default.

Without ``--host``, starts the local engine (``mock_server``, installed with the ``server`` extra) on a free
loopback port, creates a small table, runs a query and prints the rows. With ``--host/--port`` it runs the
given SQL against that server instead.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional, Sequence

import e6driver

DEMO_SETUP = [
    "CREATE OR REPLACE TABLE trips (id BIGINT, city VARCHAR, fare DECIMAL(10,2), started TIMESTAMP, "
    "paid BOOLEAN)",
    "INSERT INTO trips VALUES (1, 'Bengaluru', 212.50, TIMESTAMP '2026-11-01 08:15:00', true), "
    "(2, 'Mumbai', 180.00, TIMESTAMP '2026-11-01 09:40:30', true), "
    "(3, 'Bengaluru', 99.99, TIMESTAMP '2026-11-02 18:05:12.5', false), "
    "(4, 'Pune', 310.25, TIMESTAMP '2026-11-03 22:47:00', true)",
]
DEMO_QUERY = ("SELECT city, count(*) AS trips, sum(fare) AS revenue, max(started) AS last_trip "
              "FROM trips WHERE paid GROUP BY city ORDER BY revenue DESC")


def _print_result(cursor: e6driver.Cursor) -> None:
    if cursor.description is None:
        print(f"OK, {cursor.rowcount} rows affected")
        return
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    cells = [[repr(v) if not isinstance(v, str) else v for v in row] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print(f"({len(rows)} rows; decoder: {e6driver.__impl__})")


def _run(connection: e6driver.Connection, statements: Sequence[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
            if sql is statements[-1] or cursor.description is not None:
                _print_result(cursor)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e6driver", description=__doc__.splitlines()[0])
    parser.add_argument("sql", nargs="*", help="statements to run (default: a demo on a small table)")
    parser.add_argument("--host", help="server host (default: start the embedded local engine)")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--catalog")
    parser.add_argument("--database")
    parser.add_argument("--secure", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    statements = args.sql or DEMO_SETUP + [DEMO_QUERY]
    try:
        if args.host:
            with e6driver.connect(host=args.host, port=args.port, username=args.user, password=args.password,
                                  catalog=args.catalog, database=args.database, secure=args.secure) as conn:
                _run(conn, statements)
            return 0
        try:
            from mock_server.server import EngineServer
        except ImportError as exc:
            print(f"the embedded engine needs the server extra (pip install 'e6driver[server]'): {exc}",
                  file=sys.stderr)
            return 2
        with EngineServer("127.0.0.1", 0, users={args.user: args.password}) as server:
            host, port = server.address.rsplit(":", 1)
            print(f"embedded local engine on {server.address}")
            with e6driver.connect(host=host, port=int(port), username=args.user, password=args.password,
                                  catalog=args.catalog, database=args.database) as conn:
                _run(conn, statements)
        return 0
    except e6driver.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
