"""The official client and e6driver in one process, both querying the engine (issue 13): either import order,
with the C (upb) and the pure-Python protobuf runtime. The wire is unchanged: the official client's stubs call
our engine, so the bare /QueryEngineService/<method> paths are proven from both sides."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import PASSWORD, USER

_SCRIPT = '''
import json, sys
FIRST = {first!r}
if FIRST == "official":
    from e6data_python_connector import Connection as OfficialConnection
    import e6driver
else:
    import e6driver
    from e6data_python_connector import Connection as OfficialConnection

official = OfficialConnection(host={host!r}, port={port}, username={user!r}, password={password!r},
                              database="main", catalog="local")
cur = official.cursor(catalog_name="local", db_name="main")
cur.execute("SELECT 40 + 2 AS answer, 'official' AS who")
official_rows = [list(r) for r in cur.fetchall()]
cur.clear()

with e6driver.connect(host={host!r}, port={port}, username={user!r}, password={password!r},
                      catalog="local", database="main") as conn:
    ours = conn.cursor()
    ours.execute("SELECT 40 + 2 AS answer, 'e6driver' AS who")
    our_rows = [list(r) for r in ours.fetchall()]

# the official client again, after e6driver has used its own messages
cur = official.cursor(catalog_name="local", db_name="main")
cur.execute("SELECT count(*) FROM range(1000)")
again = [list(r) for r in cur.fetchall()]
official.close()
from google.protobuf.internal import api_implementation
print("@@RESULT@@" + json.dumps({{"official": official_rows, "ours": our_rows, "again": again,
                                  "impl": api_implementation.Type()}}))
'''


@pytest.mark.parametrize("first", ["official", "e6driver"])
@pytest.mark.parametrize("protobuf_impl", ["upb", "python"])
def test_both_clients_share_a_process(engine_address, tmp_path, first, protobuf_impl):
    script = tmp_path / "both.py"
    script.write_text(textwrap.dedent(_SCRIPT.format(first=first, host=engine_address["host"],
                                                     port=engine_address["port"], user=USER,
                                                     password=PASSWORD)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = protobuf_impl
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout[done.stdout.rfind("@@RESULT@@") + len("@@RESULT@@"):])
    assert out["impl"] == protobuf_impl
    assert out["official"] == [[42, "official"]]
    assert out["ours"] == [[42, "e6driver"]]
    assert out["again"] == [[1000]]
