"""The dialect under SQLAlchemy 1.4 too: its tests (compliance suite included) rerun in a subprocess where a
1.4 release shadows the 2.x of this environment. The 1.4 release is installed beforehand into its own directory,
named by E6DRIVER_SQLALCHEMY14_PATH (``.ci/run`` does this); tests never install packages themselves."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(900)
def test_dialect_tests_pass_under_sqlalchemy_14():
    if os.environ.get("E6DRIVER_SQLALCHEMY14_RUN"):
        pytest.skip("already running under the 1.4 rerun")
    target = os.environ.get("E6DRIVER_SQLALCHEMY14_PATH")
    if not target:
        pytest.skip("E6DRIVER_SQLALCHEMY14_PATH is not set: install SQLAlchemy 1.4 with "
                    "`pip install --no-deps --target DIR 'sqlalchemy==1.4.54'` and point it at DIR (.ci/run does)")
    if not (Path(target) / "sqlalchemy").is_dir():
        pytest.fail(f"E6DRIVER_SQLALCHEMY14_PATH={target} holds no sqlalchemy package")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([target, os.environ.get("PYTHONPATH", "")]),
           "E6DRIVER_SQLALCHEMY14_RUN": "1"}
    version = subprocess.run([sys.executable, "-c", "import sqlalchemy; print(sqlalchemy.__version__)"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert version.stdout.startswith("1.4."), version.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", str(HERE), "-q", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, env=env, timeout=800, cwd=HERE.parents[1])
    tail = "\n".join(run.stdout.splitlines()[-15:])
    print(f"\nSQLAlchemy {version.stdout.strip()}: {tail.splitlines()[-1] if tail else ''}")
    assert run.returncode == 0, tail + run.stderr[-2000:]
