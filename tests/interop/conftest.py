"""Interop fixtures: our engine in a subprocess, the official client in other subprocesses.

Each official-client step runs in a fresh interpreter (its module-level strategy state and decode workers
start clean) and reports JSON on stdout; ``test_same_process.py`` checks both clients in one process.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from typing import Any, Dict, Iterator

import pytest

if importlib.util.find_spec("e6data_python_connector") is None:
    pytest.skip("official client e6data-python-connector not installed", allow_module_level=True)

USER = "interop@example.com"
PASSWORD = "s3cret-token"
_LISTENING = re.compile(r"e6driver-server listening on (\S+):(\d+)")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_PRELUDE = '''
import datetime, decimal, json, sys
from e6data_python_connector import Connection
HOST, PORT, USER, PASSWORD = {host!r}, {port!r}, {user!r}, {password!r}

def connect(**kw):
    return Connection(host=HOST, port=PORT, username=USER, password=PASSWORD, **kw)

def emit(value):
    def default(o):
        if isinstance(o, (bytes, bytearray)):
            return o.hex()
        return str(o)
    sys.stdout.write("\\n@@RESULT@@" + json.dumps(value, default=default) + "\\n")
'''


@contextlib.contextmanager
def running_engine(data_dir: str, *extra_args: str) -> Iterator[Dict[str, Any]]:
    """``python -m mock_server`` on an ephemeral loopback port; ``extra_args`` are more CLI options."""
    env = dict(os.environ)
    env["PYTHONPATH"] = _ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--host", "127.0.0.1", "--port", "0",
         "--data-dir", data_dir, "--user", USER, "--password", PASSWORD, "--log-level", "WARNING",
         # The official client leaves some queries open when its process ends (they expire with the query TTL);
         # one engine serves every interop test, so the per-user limit is raised here, not tested.
         "--max-open-queries-per-user", "500", "--max-open-queries", "1000",
         *extra_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=_ROOT)
    line = proc.stdout.readline() if proc.stdout else ""
    match = _LISTENING.search(line)
    if not match:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"engine did not start: {line!r} {err[-2000:]}")
    try:
        yield {"host": match.group(1), "port": int(match.group(2)), "process": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def engine_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    """The engine shared by the interop tests, with a data directory."""
    with running_engine(str(tmp_path_factory.mktemp("engine-data"))) as address:
        yield address


@pytest.fixture(scope="session")
def start_engine():
    """``with start_engine(data_dir, *cli_options) as address:`` — an engine of a test's own."""
    return running_engine


@pytest.fixture
def official(engine_address: Dict[str, Any], tmp_path):
    """Run a snippet with the official client in a fresh interpreter; returns what it ``emit``-ted.

    The snippet becomes the body of ``main()`` in a script file guarded by ``__name__ == "__main__"``
    (the client's V2 mode spawns decode workers that re-import the main module).
    """

    def run(body: str, timeout: float = 90.0) -> Any:
        script = (_PRELUDE.format(host=engine_address["host"], port=engine_address["port"],
                                  user=USER, password=PASSWORD)
                  + "\ndef main():\n" + textwrap.indent(textwrap.dedent(body), "    ")
                  + "\n\nif __name__ == '__main__':\n    main()\n")
        path = tmp_path / "official_client_step.py"
        path.write_text(script)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=str(tmp_path))
        if done.returncode != 0:
            raise AssertionError(f"official client script failed:\n{done.stderr[-4000:]}")
        marker = done.stdout.rfind("@@RESULT@@")
        assert marker >= 0, f"no result in output: {done.stdout[-2000:]}"
        return json.loads(done.stdout[marker + len("@@RESULT@@"):].strip())

    return run
