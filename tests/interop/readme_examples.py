"""The official client's README examples, run once with e6data_python_connector and once with e6driver in the
same process (run by test_readme_examples.py as ``python readme_examples.py HOST PORT USER PASSWORD``).
Prints one JSON line per client; results are compared by the test."""
from __future__ import annotations

import asyncio
import json
import sys
import time


def sync_examples(Connection, ConnectionPool, host, port, username, password):  # noqa: N803 - the README's names
    database, catalog_name = "main", "local"
    out = {}
    conn = Connection(host=host, port=port, username=username, database=database, password=password)
    pool = ConnectionPool(min_size=2, max_size=10, host=host, port=port, username=username, password=password,
                          database=database)

    # "Perform a Queries & Get Results"
    cursor = conn.cursor(catalog_name=catalog_name)
    query_id = cursor.execute("SELECT range AS n, 'row ' || range AS label FROM range(1200) ORDER BY 1")
    out["query_id_is_text"] = isinstance(query_id, str) and len(query_id) > 0
    all_records = cursor.fetchall()
    out["fetchall"] = [list(r) for r in all_records[:3]] + [len(all_records)]

    cursor.execute("SELECT range FROM range(10) ORDER BY 1")
    record = cursor.fetchone()
    out["fetchone"] = list(record) if not isinstance(record[0], (list, tuple)) else list(record[0])
    limit = 5
    records = cursor.fetchmany(limit)
    out["fetchmany"] = [list(r) for r in records]

    cursor.execute("SELECT range FROM range(20000)")
    total = 0
    for item in cursor.fetchall_buffer():  # Returns generator
        total += len(item) if isinstance(item, list) and item and isinstance(item[0], (list, tuple)) else 1
    out["fetchall_buffer_rows"] = total

    cursor.execute("SELECT count(*) FROM range(1000)")
    cursor.fetchall()
    explain_response = cursor.explain_analyse()
    query_planner = json.loads(explain_response.get("planner"))
    out["planner_is_json"] = isinstance(query_planner, (dict, list))

    # "To get the status of a running or completed query" (polling example)
    cursor = conn.cursor(catalog_name=catalog_name)
    query_id = cursor.execute("SELECT * FROM range(5000)")
    for _ in range(100):
        status_response = cursor.status(query_id)
        if status_response.status:
            break
        time.sleep(0.1)
    out["status"] = [bool(status_response.status), int(status_response.rowCount)]
    results = cursor.fetchall()
    out["results_after_status"] = len(results)

    # "To abort a running query"
    cursor = conn.cursor(catalog_name=catalog_name)
    query_id = cursor.execute("SELECT range FROM range(1000000000)")  # streams until cancelled
    cursor.cancel(query_id)
    out["cancelled"] = True

    # "Switch database in an existing connection" (the README passes them positionally in the wrong order for
    # both clients' cursor(catalog_name, db_name); keywords say what it means)
    cursor = conn.cursor(db_name=database, catalog_name=catalog_name)
    cursor.execute("SELECT current_schema()")
    out["schema"] = [list(r) for r in cursor.fetchall()]
    out["schemas_listed"] = "main" in conn.get_schema_names(catalog_name)

    # connection pooling
    with pool.get_connection_context() as pooled:
        pooled_cursor = pooled.cursor(catalog_name=catalog_name)
        pooled_cursor.execute("SELECT 40 + 2")
        out["pool"] = [list(r) for r in pooled_cursor.fetchall()]
    pool.close_all()
    conn.close()
    return out


async def async_example(AsyncConnection, config, sql):  # noqa: N803
    async with AsyncConnection(**config) as connection:
        async with connection.cursor() as cursor:
            await cursor.execute(sql)
            return await cursor.fetchall()


def main(host: str, port: int, username: str, password: str) -> None:
    started = time.monotonic()
    import e6data_python_connector as official
    import e6data_python_connector.aio as official_aio

    import e6driver
    import e6driver.aio

    config = dict(host=host, port=port, username=username, password=password, database="main", catalog="local")
    for name, module, aio in (("official", official, official_aio), ("e6driver", e6driver, e6driver.aio)):
        out = sync_examples(module.Connection, module.ConnectionPool, host, port, username, password)
        rows = asyncio.run(async_example(aio.AsyncConnection, config, "SELECT 6 * 7 AS answer"))
        out["async"] = [list(r) for r in rows]
        print(json.dumps({"client": name, "out": out}))
        print(f"{name}: {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
