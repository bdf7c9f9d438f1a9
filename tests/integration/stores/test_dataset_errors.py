"""What a dataset call raises: PEP 249 classes for missing datasets, refused users, rate limits and transfers."""
from __future__ import annotations

import pickle
import time
import zlib

import pyarrow as pa
import pytest

import e6driver
from e6driver.stores import _checksums
from mock_server.server import EngineServer

TABLE = pa.table({"v": list(range(100))})


def test_classes_and_pickling():
    for name, base in (("DatasetNotFoundError", e6driver.ProgrammingError),
                       ("RateLimitError", e6driver.OperationalError), ("UploadError", e6driver.OperationalError),
                       ("DownloadError", e6driver.OperationalError),
                       ("PermissionDeniedError", e6driver.OperationalError),
                       ("AuthenticationError", e6driver.OperationalError)):
        assert issubclass(getattr(e6driver, name), base) and getattr(e6driver, name) is getattr(e6driver.errors, name)
    error = e6driver.RateLimitError("slow down", retry_after=1.25, grpc_code="RESOURCE_EXHAUSTED", details="d")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is e6driver.RateLimitError
    assert (copy.retry_after, copy.grpc_code, copy.details, str(copy)) == (1.25, "RESOURCE_EXHAUSTED", "d", "slow down")
    upload = pickle.loads(pickle.dumps(e6driver.UploadError("broken", upload_id="ab" * 16)))
    assert type(upload) is e6driver.UploadError and upload.upload_id == "ab" * 16


def test_missing_dataset_and_version(root):
    with pytest.raises(e6driver.DatasetNotFoundError, match="'nowhere' not found"):
        root.datasets.download("nowhere")
    with pytest.raises(e6driver.DatasetNotFoundError):
        root.datasets.update("nowhere", TABLE)
    with pytest.raises(e6driver.DatasetNotFoundError):
        root.datasets.grant("nowhere", "bob", "read")
    root.datasets.upload("one_version", TABLE)
    with pytest.raises(e6driver.DatasetNotFoundError, match="no version 2") as info:
        root.datasets.download("one_version", version=2)
    assert info.value.grpc_code == "NOT_FOUND"


def test_bad_password_and_no_grant(server, alice, bob):  # no grant: looks missing (see test_dataset_helix.py)
    with e6driver.connect(host="127.0.0.1", port=server.port, username="bob", password="wrong",
                          lazy=True) as conn:  # the store, not connect(), must refuse it
        with pytest.raises(e6driver.AuthenticationError):
            conn.datasets.list()
    alice.datasets.upload("private_ds", TABLE)
    with pytest.raises(e6driver.DatasetNotFoundError, match="'private_ds' not found"):
        bob.datasets.download("private_ds")
    alice.datasets.grant("private_ds", "bob", "read")
    with pytest.raises(e6driver.PermissionDeniedError, match="may only read"):
        bob.datasets.update("private_ds", TABLE)


def test_damaged_chunks_are_transfer_errors(root, monkeypatch):
    root.datasets.upload("wire", TABLE)

    # The driver's checksums go wrong (the engine's stay right): every chunk looks damaged to the other side.
    monkeypatch.setattr(_checksums, "crc32", lambda data, value=0: zlib.crc32(data, value) ^ 1)
    with pytest.raises(e6driver.UploadError, match="checksum mismatch") as info:
        root.datasets.update("wire", TABLE)
    assert info.value.grpc_code == "DATA_LOSS" and len(info.value.upload_id) == 32
    with pytest.raises(e6driver.DownloadError, match="damaged chunk"):
        root.datasets.download("wire")
    monkeypatch.undo()
    assert [d.version for d in root.datasets.list() if d.name == "wire"] == [1]  # nothing was published
    assert root.datasets.download("wire").equals(TABLE)


def test_rate_limit_per_user():
    users = {"root": "r", "eve": "e"}
    with EngineServer("127.0.0.1", 0, users=users, dataset_rate_limit=5.0) as srv:
        with e6driver.connect(host="127.0.0.1", port=srv.port, username="root", password="r") as root, \
                e6driver.connect(host="127.0.0.1", port=srv.port, username="eve", password="e") as eve:
            root.datasets.upload("limited", TABLE)
            root.datasets.grant("limited", "eve", "read")
            with pytest.raises(e6driver.RateLimitError) as info:
                for _ in range(10):  # bursts of 5 transfers per user
                    root.datasets.download("limited")
            error = info.value
            assert error.grpc_code == "RESOURCE_EXHAUSTED" and 0 < error.retry_after <= 0.2
            assert "rate limit" in str(error)
            assert eve.datasets.download("limited").equals(TABLE)  # another user's bucket is full
            root.datasets.list()  # only transfers are limited
            time.sleep(error.retry_after)
            assert root.datasets.download("limited").equals(TABLE)
            with pytest.raises(e6driver.RateLimitError):
                root.datasets.update("limited", TABLE)


def test_rate_limit_flag():
    from mock_server.__main__ import parse_args

    assert parse_args([]).dataset_rate_limit == 0.0  # off by default
    assert parse_args(["--dataset-rate-limit", "2.5"]).dataset_rate_limit == 2.5
