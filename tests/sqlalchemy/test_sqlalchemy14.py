"""The dialect under SQLAlchemy 1.4 too: its tests (compliance suite included) rerun in a subprocess where a
1.4 release, installed from PyPI into a private directory, shadows the 2.x of this environment."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(900)
def test_dialect_tests_pass_under_sqlalchemy_14(tmp_path):
    if os.environ.get("E6DRIVER_SQLALCHEMY14_RUN"):
        pytest.skip("already running under the 1.4 rerun")
    target = tmp_path / "sqlalchemy14"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                              "sqlalchemy>=1.4.54,<2"], capture_output=True, text=True, timeout=600)
    if install.returncode != 0:
        pytest.fail(f"could not install SQLAlchemy 1.4 from the package index:\n{install.stderr[-2000:]}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
           "E6DRIVER_SQLALCHEMY14_RUN": "1"}
    version = subprocess.run([sys.executable, "-c", "import sqlalchemy; print(sqlalchemy.__version__)"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert version.stdout.startswith("1.4."), version.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", str(HERE), "-q", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, env=env, timeout=800, cwd=HERE.parents[1])
    tail = "\n".join(run.stdout.splitlines()[-15:])
    print(f"\nSQLAlchemy {version.stdout.strip()}: {tail.splitlines()[-1] if tail else ''}")
    assert run.returncode == 0, tail + run.stderr[-2000:]
