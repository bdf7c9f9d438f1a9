"""SQLAlchemy's own compliance suite against the local engine, in a pytest session of its own.

The suite's plugin takes over the pytest session it runs in, so it runs in a subprocess against an engine
started here on an ephemeral port with its data in a temporary directory. The subprocess runs in
tests/sqlalchemy/suite, whose pytest.ini and test.cfg point the plugin at the dialect's Requirements
(SQLAlchemy 2 finds test.cfg at the pytest rootdir, 1.4 in the working directory).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from local_engine import engine_server, engine_url

SUITE = Path(__file__).resolve().parent / "suite"
OUTCOMES = ("passed", "skipped", "failed", "errors", "xfailed", "xpassed")


def suite_counts(output: str) -> dict:
    """Outcome counts from the closing line of a pytest run (``558 passed, 849 skipped in 30.1s``)."""
    closing = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    if not closing:
        raise AssertionError(f"no pytest summary line in the suite output:\n{output[-3000:]}")
    counts = {outcome: 0 for outcome in OUTCOMES}
    for number, word in re.findall(r"(\d+) (\w+)", closing[-1]):
        word = "errors" if word == "error" else word
        if word in counts:
            counts[word] = int(number)
    return counts


def test_suite_counts_parse_the_closing_line():
    assert suite_counts("...\n3 failed, 558 passed, 849 skipped, 2 warnings, 1 error in 33.29s\n") == {
        "passed": 558, "skipped": 849, "failed": 3, "errors": 1, "xfailed": 0, "xpassed": 0}


@pytest.mark.timeout(600)
def test_sqlalchemy_compliance_suite(tmp_path):
    with engine_server(str(tmp_path / "engine")) as server:
        command = [sys.executable, "-m", "pytest", ".", "-p", "no:cacheprovider",
                   "--dburi", engine_url(server.address), "-q"]
        completed = subprocess.run(command, cwd=SUITE, capture_output=True, text=True, timeout=540,
                                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    output = completed.stdout + completed.stderr
    counts = suite_counts(output)
    print("SQLAlchemy compliance suite: " + ", ".join(f"{counts[k]} {k}" for k in OUTCOMES))
    failures = [line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert counts["failed"] == 0 and counts["errors"] == 0, "\n".join(failures) or output[-5000:]
    assert completed.returncode == 0, output[-5000:]
    assert counts["passed"] > 300, counts  # the suite really ran (SQLAlchemy 1.4 has a smaller one)
