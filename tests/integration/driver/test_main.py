"""``python -m e6driver`` — README's main job — runs a query through the driver on the embedded engine."""
from __future__ import annotations

import subprocess
import sys


def test_demo_prints_rows():
    done = subprocess.run([sys.executable, "-m", "e6driver"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("embedded local engine on 127.0.0.1:")
    assert lines[1].split() == ["city", "trips", "revenue", "last_trip"]
    assert lines[3].split()[:3] == ["Pune", "1", "Decimal('310.25')"]
    assert "(3 rows; decoder:" in done.stdout


def test_sql_arguments_and_errors():
    done = subprocess.run([sys.executable, "-m", "e6driver", "SELECT 40 + 2 AS answer"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "42" in done.stdout.splitlines()[3]
    bad = subprocess.run([sys.executable, "-m", "e6driver", "SELEC 1"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1 and "syntax error" in bad.stderr
