"""Shared plumbing for benchmarks: an engine server in its own process, client code in fresh processes.

Separate processes keep the server's CPU work off the measured client's GIL and give each client its own
peak-RSS figure (``ru_maxrss``). The official client must run in its own process anyway: its generated protobuf
modules clash with ours in one descriptor pool.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from typing import Any, Dict, Iterator, Sequence

USER, PASSWORD = "bench", "bench-secret"


@contextlib.contextmanager
def engine_server(data_dir: str, extra_args: Sequence[str] = ()) -> Iterator[int]:
    """Start ``python -m mock_server`` (plus ``extra_args``) on an ephemeral loopback port; yield the port;
    stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--host", "127.0.0.1", "--port", "0", "--data-dir", data_dir,
         "--user", USER, "--password", PASSWORD, *extra_args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline()
        found = re.search(r":(\d+)\s*$", line.strip())
        if not found:
            raise RuntimeError(f"engine server did not report its port: {line!r}")
        yield int(found.group(1))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_client(code: str, env: Dict[str, str] | None = None, timeout: float = 1800) -> Dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it must print one JSON object as its last stdout line."""
    prelude = textwrap.dedent(
        """
        import json, resource, sys, time
        def peak_rss_mb():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        """
    )
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(prelude + textwrap.dedent(code))
    try:
        out = subprocess.run(
            [sys.executable, script.name], capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **(env or {})},
        )
    finally:
        os.unlink(script.name)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark client failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows, headers) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(lines)


def machine_note() -> str:
    """CPU count and load average, printed next to figures measured on a possibly shared machine."""
    try:
        load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return f"{os.cpu_count()} CPUs, load average (1/5/15 min) {load}"
