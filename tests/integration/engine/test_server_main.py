"""``python -m mock_server``: the listening line on stdout and a clean exit on SIGTERM."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import grpc

from e6driver._proto import e6x_engine_pb2 as pb
from e6driver._proto import e6x_engine_pb2_grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_main_prints_port_serves_and_stops_on_sigterm(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--port", "0", "--data-dir", str(tmp_path),
         "--user", "carol", "--password", "pw", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.fullmatch(r"e6driver-server listening on 127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        with grpc.insecure_channel(f"127.0.0.1:{match.group(1)}") as channel:
            stub = e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
            session = stub.authenticate(pb.AuthenticateRequest(user="carol", password="pw")).sessionId
            resp = stub.prepareStatement(pb.PrepareStatementRequest(
                sessionId=session, queryString="create table kept(a int)"))
            handle = dict(engineIP=resp.engineIP, sessionId=session, queryId=resp.queryId)
            stub.executeStatement(pb.ExecuteStatementRequest(**handle))
            stub.getResultMetadata(pb.GetResultMetadataRequest(**handle))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert (tmp_path / "local.duckdb").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
