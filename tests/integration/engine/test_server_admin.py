"""The admin channel: ``python -m mock_server.admin`` against a server started in the test, the
AdminService's own proto package, admin-only access; and the server's command-line options."""
from __future__ import annotations

import os
import subprocess
import sys

import grpc
import pytest

from e6driver._proto import e6driver_admin_pb2 as admin_pb
from e6driver._proto import e6driver_admin_pb2_grpc
from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc
from mock_server.__main__ import parse_args

ADMIN, ADMIN_PASSWORD = "alice", "alice-token"  # the first user of fresh_server: the admin
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def admin_cli(srv, *command, user=ADMIN, password=ADMIN_PASSWORD, target=None):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "mock_server.admin", "--target", target or srv.address,
         "--user", user, "--password", password, "--timeout", "5", *command],
        capture_output=True, text=True, env=env, timeout=30)


def test_switch_strategy_from_the_command_line(fresh_server, raw_client):
    srv = fresh_server()
    with grpc.insecure_channel(srv.address) as channel:
        stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
        client = raw_client(stub, headers=(("strategy", "blue"),))
        client.start("select 1 as one")
        done = admin_cli(srv, "switch-strategy", "green")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "strategy switched to green; blue retired (1 live query still on blue)\n"
        assert srv.strategy.active == "green"
        err = pytest.raises(grpc.RpcError, stub.authenticate,
                            pb.AuthenticateRequest(user=ADMIN, password=ADMIN_PASSWORD),
                            metadata=(("strategy", "blue"),)).value
        assert (err.code(), err.details()) == (grpc.StatusCode.UNKNOWN, "status: 456")
    again = admin_cli(srv, "switch-strategy", "green")
    assert (again.returncode, again.stdout) == (0, "strategy green was already active\n")


def test_suspend_resume_and_expire_sessions_from_the_command_line(fresh_server, raw_client):
    srv = fresh_server(resume_seconds=0)
    with grpc.insecure_channel(srv.address) as channel:
        raw_client(e6x_engine_pb2_grpc.QueryEngineServiceStub(channel))
    suspended = admin_cli(srv, "suspend")
    assert (suspended.returncode, suspended.stdout) == (0, "cluster suspended\n")
    assert srv.cluster.status == "suspended"
    resumed = admin_cli(srv, "resume")
    assert (resumed.returncode, resumed.stdout) == (0, "cluster active\n")
    expired = admin_cli(srv, "expire-sessions")
    assert (expired.returncode, expired.stdout) == (0, "1 session expired\n")
    assert len(srv.sessions) == 0


def test_non_admin_and_wrong_password_are_refused(fresh_server):
    srv = fresh_server()
    refused = admin_cli(srv, "suspend", user="bob", password="bob-token")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "PERMISSION_DENIED" in refused.stderr and "not the admin user" in refused.stderr
    wrong = admin_cli(srv, "switch-strategy", "green", password="wrong")
    assert wrong.returncode == 1 and "UNAUTHENTICATED" in wrong.stderr
    assert srv.cluster.status == "active" and srv.strategy.active == "blue"


def test_bad_colour_and_unreachable_server_are_clear_errors(fresh_server):
    srv = fresh_server()
    bad = admin_cli(srv, "switch-strategy", "purple")
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr and "purple" in bad.stderr
    srv.stop(0)
    gone = admin_cli(srv, "suspend", target=srv.address)
    assert gone.returncode == 1 and f"cannot reach the server at {srv.address}" in gone.stderr


def test_admin_service_has_its_own_package_and_works_while_suspended(fresh_server):
    assert admin_pb.DESCRIPTOR.package == "e6driver.admin"
    assert admin_pb.DESCRIPTOR.services_by_name["AdminService"].full_name == "e6driver.admin.AdminService"
    srv = fresh_server(resume_seconds=0)
    srv.suspend()
    with grpc.insecure_channel(srv.address) as channel:
        admin = e6driver_admin_pb2_grpc.AdminServiceStub(channel)
        # No strategy admission and no suspension gate on the admin channel.
        resp = admin.SwitchStrategy(admin_pb.SwitchStrategyRequest(
            user=ADMIN, password=ADMIN_PASSWORD, strategy="green"), metadata=(("strategy", "blue"),))
        assert (resp.active_strategy, resp.retired_strategy, resp.switched) == ("green", "blue", True)
        assert resp.switched_at > 0 and resp.draining_queries == 0
        assert admin.Resume(admin_pb.ResumeRequest(user=ADMIN, password=ADMIN_PASSWORD)).status == "active"


def test_server_command_line_options():
    args = parse_args(["--strategy", "green", "--resume-seconds", "0.5", "--session-ttl", "5",
                       "--query-ttl", "7", "--user", "root", "--password", "pw"])
    assert (args.strategy, args.resume_seconds, args.session_ttl, args.query_ttl) == ("green", 0.5, 5.0, 7.0)
    assert parse_args([]).strategy == "blue" and parse_args([]).resume_seconds == 2.0
    with pytest.raises(SystemExit):
        parse_args(["--strategy", "purple"])
