"""An engine shared by several ordinary users, attacked by one of them.

Users: ``root`` (the first user, so the admin), ``alice`` (the attacker in most tests) and ``bob`` (the
bystander whose data and service must survive). ``still_serves(server)`` ends every attack: the engine
answers ``healthCheck`` and runs a query for bob.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, List

import grpc
import pytest

import e6driver
from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from mock_server.server import EngineServer

from accounts import USERS


def stub_for(server: EngineServer, channel_list: List[grpc.Channel]) -> e6x_engine_pb2_grpc.QueryEngineServiceStub:
    channel = grpc.insecure_channel(server.address)
    channel_list.append(channel)
    return e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)


def check_still_serves(server: EngineServer, user: str = "bob") -> None:
    """The engine answers healthCheck and a query for ``user`` (not the attacker)."""
    with grpc.insecure_channel(server.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        stub.healthCheck(pb.HealthCheckRequest(), timeout=20)
    with e6driver.connect(host="127.0.0.1", port=server.port, username=user, password=USERS[user],
                          connect_timeout=20, rpc_timeout=30) as conn:
        cur = conn.cursor()
        cur.execute("SELECT 41 + 1")
        assert cur.fetchall() == [(42,)]


@pytest.fixture(scope="session")
def still_serves() -> Callable[..., None]:
    return check_still_serves


@pytest.fixture
def engine(tmp_path) -> Iterator[Callable[..., EngineServer]]:
    """Factory: ``engine(**options)`` → a started EngineServer with a data directory of the test's own."""
    started: List[EngineServer] = []

    def start(**options: Any) -> EngineServer:
        options.setdefault("users", dict(USERS))
        options.setdefault("data_dir", str(tmp_path / f"data{len(started)}"))
        srv = EngineServer("127.0.0.1", 0, **options)
        srv.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop(0)


@pytest.fixture
def server(engine) -> EngineServer:
    return engine()


@pytest.fixture
def connect(server) -> Iterator[Callable[..., e6driver.Connection]]:
    """``connect(user, **options)`` → a driver connection to ``server``; closed after the test."""
    opened: List[e6driver.Connection] = []

    def make(user: str = "alice", **options: Any) -> e6driver.Connection:
        options.setdefault("connect_timeout", 20)
        conn = e6driver.connect(host="127.0.0.1", port=server.port, username=user, password=USERS[user],
                                **options)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()
