"""Every Python example of README.md runs, in README order, against engines started with README's own commands.

The engines run as subprocesses of the commands README shows (``python3 -m mock_server ...``), on free ports
and in a temporary directory that is also the examples' working directory. The examples' port 9000 becomes the
engine's port; the TLS example's ``engine.example`` becomes 127.0.0.1 with a certificate made for it. Nothing
else of an example is changed: set-up examples create what later ones use.
"""
from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.util
import inspect
import io
import logging
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

import e6driver

from ports import free_port

log = logging.getLogger(__name__)

README = Path(__file__).resolve().parents[2] / "README.md"
README_PORT = "9000"
TLS_HOST = "engine.example"


def _blocks(language: str) -> List[Tuple[int, str]]:
    """(line number, text) of README's fenced blocks in ``language``."""
    text = README.read_text()
    return [(text.count("\n", 0, match.start()) + 1, match.group(1))
            for match in re.finditer(rf"^```{language}\n(.*?)^```", text, re.S | re.M)]


def _engine_commands() -> List[str]:
    return [" ".join(block.replace("\\\n", " ").split()) for _, block in _blocks("sh")
            if block.lstrip().startswith("python3 -m mock_server")]


PYTHON_BLOCKS = _blocks("python")


def _certs_module():
    spec = importlib.util.spec_from_file_location("readme_certs", README.parent / "tests" / "security" / "certs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Engines:
    """README's engines as subprocesses: the local engine, and the team engine (TLS) when an example needs it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: List[subprocess.Popen] = []
        self.local_port = self.team_port = 0
        self.environment = dict(os.environ, ADMIN_PW="admin-secret", ALICE_PW="alice-secret")

    def start(self, command: str, port: int, **check: object) -> None:
        command = re.sub(r"\$(\w+)", lambda match: self.environment[match.group(1)],
                         command.replace(f"--port {README_PORT}", f"--port {port}"))
        argv = shlex.split(command.replace("--host 0.0.0.0", "--host 127.0.0.1"))
        assert argv[0] == "python3", command
        log.info("starting README engine: %s", command)
        process = subprocess.Popen([sys.executable] + argv[1:], cwd=self.workdir, env=self.environment,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.processes.append(process)
        try:  # connect() authenticates: it waits (connect_timeout) until the engine answers
            e6driver.connect(host="127.0.0.1", port=port, connect_timeout=60, **check).close()
        except e6driver.Error:
            process.kill()
            raise AssertionError(f"README engine did not start: {command}\n{process.communicate()[1][-3000:]}")

    def local(self) -> int:
        if not self.local_port:
            self.local_port = free_port()
            self.start(_engine_commands()[0], self.local_port, username="admin", password="admin")
        return self.local_port

    def team(self) -> int:
        if not self.team_port:
            self.stop()  # the team command runs the same engine (same ./data) another way: one at a time
            self.processes.clear()
            cert, key = _certs_module().self_signed(TLS_HOST)
            (self.workdir / "server.pem").write_bytes(cert)
            (self.workdir / "server-key.pem").write_bytes(key)
            (self.workdir / "ca.pem").write_bytes(cert)
            self.team_port = free_port()
            self.start(_engine_commands()[1], self.team_port, username="alice", password="alice-secret",
                       secure=True, ssl_cert=cert)
        return self.team_port

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Examples:
    """README's Python examples run in order in one namespace (later examples use earlier ones' objects)."""

    def __init__(self, engines: Engines):
        self.engines = engines
        self.namespace: Dict[str, object] = {"__name__": "readme"}
        self.ran = 0
        self.output: Dict[int, str] = {}
        self.missing: Dict[int, str] = {}

    def source(self, code: str) -> str:
        if f'host="{TLS_HOST}"' in code:
            self.namespace["alice_pw"] = self.engines.environment["ALICE_PW"]
            port = self.engines.team()
            code = code.replace(f'host="{TLS_HOST}"', 'host="127.0.0.1"')
        else:
            port = self.engines.local()
        return code.replace(f"port={README_PORT}", f"port={port}").replace(f":{README_PORT}/", f":{port}/")

    def run_through(self, index: int) -> str:
        """Run the examples up to ``index`` (those not run yet); returns what example ``index`` printed."""
        while self.ran <= index:
            line, code = PYTHON_BLOCKS[self.ran]
            printed = io.StringIO()
            self.ran += 1
            compiled = compile(self.source(code), f"README.md:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            with contextlib.redirect_stdout(printed):
                try:
                    if compiled.co_flags & inspect.CO_COROUTINE:  # top-level await, as in asyncio's REPL
                        asyncio.run(eval(compiled, self.namespace))
                    else:
                        exec(compiled, self.namespace)
                except ModuleNotFoundError as exc:
                    self.missing[self.ran - 1] = exc.name
            self.output[self.ran - 1] = printed.getvalue()
        if index in self.missing:  # a third-party framework an example shows (not a dependency of e6driver)
            pytest.skip(f"README.md:{PYTHON_BLOCKS[index][0]} imports {self.missing[index]}, not installed here")
        return self.output[index]

    def close(self) -> None:
        for name in ("pool", "engine", "conn"):
            obj = self.namespace.get(name)
            for method in ("close", "dispose"):
                if hasattr(obj, method):
                    getattr(obj, method)()
                    break


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Iterator[Examples]:
    workdir = tmp_path_factory.mktemp("readme")
    previous = os.getcwd()
    os.chdir(workdir)
    engines = Engines(workdir)
    runner = Examples(engines)
    try:
        yield runner
    finally:
        runner.close()
        engines.stop()
        os.chdir(previous)


def test_readme_has_the_examples_this_test_knows():
    assert len(PYTHON_BLOCKS) >= 8 and len(_engine_commands()) == 2


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)),
                         ids=[f"README.md:{line}" for line, _ in PYTHON_BLOCKS])
def test_readme_example_runs(examples, index):
    printed = examples.run_through(index)
    code = PYTHON_BLOCKS[index][1]
    if "FROM people" in code:
        assert printed.strip() == "(2, 'Grace')"
    if "poll_notifications" in code:
        (notice,) = examples.namespace["notices"]
        assert notice.version == 2 and Path(notice.path).is_file()
    if "CREATE TABLE trips" in code:
        assert examples.namespace["table"].num_rows == 10000
    if "pl.from_arrow" in code:
        assert examples.namespace["trips"].height == 10000
    if "to_sql" in code:
        assert len(examples.namespace["frame"]) == 10000
