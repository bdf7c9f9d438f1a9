"""The engine under chaos: restartable on one port and data directory, and the timeline of events."""
from __future__ import annotations

import threading
import traceback
import time
from typing import List, Tuple

from mock_server.server import EngineServer

from ports import free_port

USER, PASSWORD = "chaos", "chaos-secret"
# seconds after the start → event; 5 switches, 2 expiries, a suspend/resume, a restart
PLAN = [(0.4, "switch"), (0.9, "expire"), (1.4, "switch"), (2.0, "suspend"), (3.0, "resume"), (3.5, "switch"),
        (4.2, "restart"), (5.0, "expire"), (5.6, "switch"), (6.4, "switch")]


class Engine:
    """The server under test, restartable on the same port and data directory."""

    def __init__(self, data_dir: str):
        self.port = free_port()  # below the ephemeral range: still free at the restart
        self.data_dir = data_dir
        self.lock = threading.Lock()
        self.server = self._start()

    def _start(self) -> EngineServer:
        srv = EngineServer("127.0.0.1", self.port, data_dir=self.data_dir, users={USER: PASSWORD},
                           resume_seconds=0.5)
        srv.start()
        return srv

    def restart(self) -> None:
        with self.lock:
            self.server.stop(0)
            deadline = time.monotonic() + 15
            while True:  # the port and the database file are released asynchronously by the old server
                try:
                    self.server = self._start()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def __getattr__(self, name):
        return getattr(self.server, name)


def events(engine: Engine, log: List[Tuple[float, str]], started: float, errors: List[BaseException]) -> None:
    try:
        run_events(engine, log, started)
    except BaseException as exc:  # asserted by the test; shown at once because workers may then wait on a dead engine
        traceback.print_exc()
        errors.append(exc)


def run_events(engine: Engine, log: List[Tuple[float, str]], started: float) -> None:
    colour = ["green", "blue"]
    switches = 0
    for at, event in PLAN:
        time.sleep(max(0.0, started + at - time.monotonic()))
        if event == "switch":
            engine.switch_strategy(colour[switches % 2])
            switches += 1
        elif event == "expire":
            engine.expire_sessions()
        elif event == "suspend":
            engine.suspend()
        elif event == "resume":
            engine.resume()
        elif event == "restart":
            engine.restart()
        log.append((round(time.monotonic() - started, 2), event))


