"""Issue 13's acceptance script: the official client's README examples run with the official client and with
e6driver in one process, and give the same answers (where the official client returns real values)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import PASSWORD, USER

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "readme_examples.py")


def test_official_readme_examples_with_both_clients_in_one_process(engine_address, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, SCRIPT, engine_address["host"], str(engine_address["port"]), USER,
                           PASSWORD], capture_output=True, text=True, timeout=240, env=env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-4000:]
    results = {line["client"]: line["out"] for line in map(json.loads, done.stdout.strip().splitlines())}
    official, ours = results["official"], results["e6driver"]
    assert ours["fetchall"] == [[0, "row 0"], [1, "row 1"], [2, "row 2"], 1200]
    assert ours["fetchone"] == [0] and ours["fetchmany"] == [[1], [2], [3], [4], [5]]
    assert ours["fetchall_buffer_rows"] == 20000
    assert ours["status"] == [True, 5000] and ours["results_after_status"] == 5000
    assert ours["schema"] == [["main"]] and ours["pool"] == [[42]] and ours["async"] == [[42]]
    for key in ("query_id_is_text", "planner_is_json", "cancelled", "schemas_listed"):
        assert ours[key] is True, key
    # Same answers from the official client for everything both return as plain values.
    for key in ("fetchall", "fetchone", "fetchmany", "fetchall_buffer_rows", "status", "results_after_status",
                "schema", "pool", "planner_is_json", "query_id_is_text", "schemas_listed"):
        assert official[key] == ours[key], key
