"""Driver against the in-process engine. Tests that decode results take ``impl`` (tests/integration/conftest.py)."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

import e6driver

USER, PASSWORD = "alice", "alice-token"  # a user of the module server in tests/integration/conftest.py


@pytest.fixture
def connect(server) -> Iterator[Callable[..., e6driver.Connection]]:
    """Factory of driver connections to the module's server; all closed after the test."""
    opened = []
    host, port = server.address.rsplit(":", 1)

    def make(**options: Any) -> e6driver.Connection:
        options.setdefault("username", USER)
        options.setdefault("password", PASSWORD)
        conn = e6driver.connect(host=host, port=int(port), **options)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


@pytest.fixture
def conn(connect, impl) -> e6driver.Connection:
    return connect()


@pytest.fixture
def cur(conn) -> Iterator[e6driver.Cursor]:
    cursor = conn.cursor()
    yield cursor
    cursor.close()


@pytest.fixture
def engine(tmp_path) -> Iterator[Callable[..., Any]]:
    """Factory of engines of a test's own (restarts reuse the data dir); stopped after the test. The process-wide
    blue-green state is reset around the test, since each engine starts its own colours."""
    from e6driver.protocol import bluegreen
    from mock_server.server import EngineServer

    servers = []
    bluegreen.REGISTRY.reset()

    def start(port: int = 0, **options: Any) -> EngineServer:
        options.setdefault("users", {USER: PASSWORD})
        srv = EngineServer("127.0.0.1", port, data_dir=str(tmp_path), **options)
        srv.start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop(0)
    bluegreen.REGISTRY.reset()



class ArrowRoute:
    def __init__(self, name: str) -> None:
        self.name = name
        self.same_host_parts = 0  # FetchArrow answers received on the same-host socket


@pytest.fixture(params=["same-host", "grpc"])
def arrow_route(request, monkeypatch) -> ArrowRoute:
    """Arrow results by same-host transfer (the default on the engine's machine; parts shrunk to 1 MiB so a
    result spans many) or over gRPC, as from another machine (the same-host call reports itself unavailable)."""
    from e6driver.protocol import local_transfer
    from mock_server.query import local_arrow

    route = ArrowRoute(request.param)
    fetch = local_transfer.fetch_arrow

    def routed(*args: Any, **kwargs: Any) -> Any:
        if route.name == "grpc":
            raise local_transfer.Unavailable("this test fetches over gRPC")
        part = fetch(*args, **kwargs)
        route.same_host_parts += 1
        return part

    monkeypatch.setattr(local_transfer, "fetch_arrow", routed)
    if route.name == "same-host":
        monkeypatch.setattr(local_arrow, "PART_BYTES", 1024 * 1024)
    return route
