"""A real Superset against the local engine, through Superset's REST API (run by .ci/run in Superset's own venv).

Starts the engine (with the repository's Python, ``E6DRIVER_ENGINE_PYTHON``), initialises Superset headless in a
temporary SUPERSET_HOME (metadata in SQLite), starts ``superset run`` and checks: test connection (good, bad
password, missing schema), database creation, schemas and tables, a SQL Lab query with list/struct/map literals,
a chart-data query with a time grain and a filter, and Stop on a long query. Any difference is a failure
(exit status 1); nothing is skipped.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

log = logging.getLogger("check_superset")
ADMIN, PASSWORD = "admin", "admin-pw"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            log.debug("%s: not yet (%s)", what, exc)
        time.sleep(0.5)
    raise SystemExit(f"FAILED: {what} within {seconds:.0f} s")


def check(condition: bool, what: str, detail: object = "") -> None:
    if not condition:
        raise SystemExit(f"FAILED: {what}: {detail}")
    log.info("ok: %s", what)


class Superset:
    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()

    def login(self) -> None:
        response = self.http.post(f"{self.base}/api/v1/security/login",
                                  json={"username": ADMIN, "password": PASSWORD, "provider": "db"}, timeout=30)
        response.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        self.http.headers["Referer"] = self.base

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 120)
        return self.http.request(method, f"{self.base}{path}", **kwargs)


def start_engine(workdir: Path, port: int) -> subprocess.Popen:
    python = os.environ.get("E6DRIVER_ENGINE_PYTHON", "python3")
    engine = subprocess.Popen([python, "-m", "mock_server", "--port", str(port), "--data-dir", str(workdir / "data"),
                               "--user", "admin", "--password", "admin"], cwd=workdir)
    import e6driver

    def ready() -> bool:
        e6driver.connect(host="127.0.0.1", port=port, username="admin", password="admin", connect_timeout=1).close()
        return True

    wait_until(ready, "the engine answers", 60)
    with e6driver.connect(host="127.0.0.1", port=port, username="admin", password="admin", catalog="local",
                          database="main") as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE orders AS SELECT range AS id, TIMESTAMP '2024-01-01' + to_hours(range) AS ts, "
                    "CAST(range AS DECIMAL(10,2)) / 10 AS amount FROM range(5000)")
    return engine


def start_superset(workdir: Path, port: int) -> subprocess.Popen:
    home = workdir / "superset_home"
    home.mkdir()
    config = workdir / "superset_config.py"
    config.write_text(
        f"SECRET_KEY = 'e6driver-superset-check'\n"
        f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{home / 'superset.db'}'\n"
        "WTF_CSRF_ENABLED = False\nTALISMAN_ENABLED = False\nFEATURE_FLAGS = {}\n"
        "PREVENT_UNSAFE_DB_CONNECTIONS = False\n")
    env = dict(os.environ, SUPERSET_HOME=str(home), SUPERSET_CONFIG_PATH=str(config), FLASK_APP="superset")
    superset = str(Path(sys.executable).with_name("superset"))
    for step in (["db", "upgrade"],
                 ["fab", "create-admin", "--username", ADMIN, "--firstname", "a", "--lastname", "b",
                  "--email", "admin@example.com", "--password", PASSWORD],
                 ["init"]):
        log.info("superset %s", " ".join(step[:2]))
        subprocess.run([superset, *step], env=env, check=True, cwd=workdir, stdout=subprocess.DEVNULL)
    server = subprocess.Popen([superset, "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"], env=env,
                              cwd=workdir)
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=5).ok, "Superset answers", 180)
    return server


def run_checks(app: Superset, engine_port: int) -> None:
    uri = f"e6driver://admin:admin@127.0.0.1:{engine_port}/main?catalog=local"
    good = app.call("POST", "/api/v1/database/test_connection/", json={"sqlalchemy_uri": uri, "database_name": "e6"})
    check(good.status_code == 200, "test connection succeeds", good.text)
    bad = app.call("POST", "/api/v1/database/test_connection/",
                   json={"sqlalchemy_uri": uri.replace("admin:admin@", "admin:wrong@"), "database_name": "e6"})
    check(bad.status_code >= 400 and "password" in bad.text.lower(), "a wrong password fails, saying so", bad.text)
    for missing, named in ((uri.replace("/main?", "/nope_schema?"), "nope_schema"),
                           (uri.replace("catalog=local", "catalog=nope_catalog"), "nope_catalog")):
        absent = app.call("POST", "/api/v1/database/test_connection/", json={"sqlalchemy_uri": missing,
                                                                             "database_name": "e6"})
        check(absent.status_code >= 400 and named in absent.text and "does not exist" in absent.text,
              f"a missing {named.split('_')[1]} fails, naming it", absent.text)
    started = time.monotonic()
    refused = app.call("POST", "/api/v1/database/test_connection/",
                       json={"sqlalchemy_uri": f"e6driver://admin:admin@127.0.0.1:{free_port()}/main?catalog=local",
                             "database_name": "e6"})
    check(refused.status_code >= 400 and "refused" in refused.text, "a refused port fails, saying so",
          f"{refused.text} after {time.monotonic() - started:.1f} s")

    created = app.call("POST", "/api/v1/database/", json={"database_name": "e6", "sqlalchemy_uri": uri,
                                                           "expose_in_sqllab": True, "allow_dml": True})
    check(created.status_code == 201, "database created", created.text)
    database_id = created.json()["id"]
    schemas = app.call("GET", f"/api/v1/database/{database_id}/schemas/").json()["result"]
    check("main" in schemas, "schemas listed", schemas)
    tables = app.call("GET", f"/api/v1/database/{database_id}/tables/?q=(schema_name:main)").json()
    check(any(t["value"] == "orders" for t in tables["result"]), "tables listed", tables)

    literal = app.call("POST", "/api/v1/sqllab/execute/", json={
        "database_id": database_id, "schema": "main", "runAsync": False, "client_id": "literals01",
        "sql": "SELECT [1, 2, 3] AS l, {'a': 1} AS s, MAP {'k': 1} AS m"})
    check(literal.status_code == 200, "SQL Lab runs list/struct/map literals", literal.text)
    (row,) = literal.json()["data"]
    check(json.loads(row["l"]) == [1, 2, 3] if isinstance(row["l"], str) else row["l"] == [1, 2, 3],
          "the list literal is a list", row)
    check("k" in str(row["m"]) and "a" in str(row["s"]), "struct and map literals keep their keys", row)

    dataset = app.call("POST", "/api/v1/dataset/", json={"database": database_id, "schema": "main",
                                                         "table_name": "orders"})
    check(dataset.status_code == 201, "dataset created", dataset.text)
    chart = app.call("POST", "/api/v1/chart/data", json={
        "datasource": {"id": dataset.json()["id"], "type": "table"},
        "queries": [{"columns": [{"columnType": "BASE_AXIS", "sqlExpression": "ts", "label": "ts",
                                  "expressionType": "SQL", "timeGrain": "P1M"}],
                     "metrics": ["count"], "filters": [{"col": "amount", "op": ">=", "val": 100}],
                     "orderby": [["ts", True]], "row_limit": 100}],
        "result_format": "json", "result_type": "full"})
    check(chart.status_code == 200, "chart data with a time grain and a filter", chart.text[:2000])
    data = chart.json()["result"][0]["data"]
    check(sum(r["count"] for r in data) == 4000 and len(data) == 6, "chart data counts by month", data)

    outcome = {}

    def long_query() -> None:
        outcome["response"] = app.call("POST", "/api/v1/sqllab/execute/", json={
            "database_id": database_id, "schema": "main", "runAsync": False, "client_id": "longq0001",
            "sql": "SELECT count(*) FROM range(100000000000) AS a(x) WHERE x % 7 = 3"}, timeout=600)

    worker = threading.Thread(target=long_query, daemon=True)
    started = time.monotonic()
    worker.start()
    time.sleep(3)
    stop = app.call("POST", "/api/v1/query/stop", json={"client_id": "longq0001"})
    check(stop.status_code == 200, "Stop accepted", stop.text)
    worker.join(120)
    check(not worker.is_alive(), "the stopped query returns", f"{time.monotonic() - started:.0f} s")
    response = outcome["response"]
    log.info("stopped query answered %s: %s", response.status_code, response.text[:300])
    check(response.json().get("status") == "stopped" and "data" not in response.json(),
          "the query is stopped, without a result", response.text[:500])


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    workdir = Path(tempfile.mkdtemp(prefix="e6driver-superset-"))
    processes = []
    try:
        engine_port, superset_port = free_port(), free_port()
        processes.append(start_engine(workdir, engine_port))
        processes.append(start_superset(workdir, superset_port))
        app = Superset(f"http://127.0.0.1:{superset_port}")
        app.login()
        run_checks(app, engine_port)
        log.info("Superset check passed")
        return 0
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
