"""The official client against the engine's blue-green switch and cluster suspension (spec §8, §9),
driven mid-run by ``python -m mock_server.admin``. Each test has an engine of its own."""
from __future__ import annotations

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Prepended to each snippet: run the admin CLI against the engine the snippet talks to.
ADMIN = f'''
import subprocess
def admin(*command):
    done = subprocess.run([sys.executable, "-m", "mock_server.admin", "--target", f"{{HOST}}:{{PORT}}",
                           "--user", USER, "--password", PASSWORD, *command],
                          capture_output=True, text=True, cwd={ROOT!r})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
'''


@pytest.fixture
def engine_address(start_engine, tmp_path):
    """Overrides the shared engine: these tests change server-wide state."""
    with start_engine(str(tmp_path), "--strategy", "blue", "--resume-seconds", "0") as address:
        yield address


def test_official_client_follows_a_switch_and_finishes_in_flight_queries(official):
    out = official(ADMIN + '''
conn = connect()
old = conn.cursor()
old.execute("select range as n from range(5)")  # prepared under blue, still open
switched = admin("switch-strategy", "green")
new = conn.cursor()
new.execute("select 42 as answer")  # 456 on prepare: the client re-detects green and replays
fresh = new.fetchall()
new.clear()
in_flight = old.fetchall()  # per-query calls keep the colour the query was prepared under
old.clear()
emit({"switched": switched, "fresh": fresh, "in_flight": in_flight})
''')
    assert out["switched"].startswith("strategy switched to green; blue retired (1 live query")
    assert out["fresh"] == [[42]]
    assert out["in_flight"] == [[n] for n in range(5)]


def test_official_client_resumes_a_suspended_cluster(official):
    out = official(ADMIN + '''
suspended = admin("suspend")
conn = connect()
cur = conn.cursor()
cur.execute("select 7 as seven")  # authenticate gets 503; the client resumes the cluster and retries
emit({"suspended": suspended, "rows": cur.fetchall()})
''')
    assert out == {"suspended": "cluster suspended", "rows": [[7]]}
