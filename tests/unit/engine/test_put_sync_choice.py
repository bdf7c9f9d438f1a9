"""A same-host put of several files makes them durable with one filesystem sync, unless other processes left
so much unwritten data that the sync would mostly write theirs: then an fsync per file
(mock_server.objects.local_puts._one_sync)."""
import os

import pytest

from mock_server.objects import local_puts
from mock_server.objects.backend import FilePut
from mock_server.objects.store import LocalObjectBackend

FILES = 5
DIRECTORIES = 3


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """A bucket, five source files, and the syncs a put makes: ``calls["syncfs"]``, ``calls["fsync"]``."""
    backend = LocalObjectBackend(str(tmp_path / "objects"))
    backend.create_bucket("bucket")
    sources = []
    for number in range(FILES):
        path = tmp_path / f"source{number}"
        path.write_bytes(bytes([number]) * 1000)
        sources.append(path)
    calls = {"syncfs": 0, "fsync": 0}
    real_syncfs, real_fsync = local_puts.sync_filesystem, os.fsync

    def syncfs(fd):
        calls["syncfs"] += 1
        return real_syncfs(fd)

    def fsync(fd):
        calls["fsync"] += 1
        return real_fsync(fd)

    monkeypatch.setattr(local_puts, "sync_filesystem", syncfs)
    monkeypatch.setattr(os, "fsync", fsync)

    def put():
        fds = [os.open(path, os.O_RDONLY) for path in sources]
        try:
            outcomes = backend.put_files("bucket", [FilePut(f"dir/k{n}", fd, 1000, "application/octet-stream")
                                                    for n, fd in enumerate(fds)])
        finally:
            for fd in fds:
                os.close(fd)
        assert all(outcome.size == 1000 for outcome in outcomes), outcomes
        for number in range(FILES):
            assert b"".join(backend.read("bucket", f"dir/k{number}")) == bytes([number]) * 1000
    return put, calls


def test_little_unwritten_data_one_filesystem_sync(recorded, monkeypatch):
    put, calls = recorded
    monkeypatch.setattr(local_puts, "dirty_bytes", lambda: FILES * 1000)  # only the request's own
    put()
    assert calls["syncfs"] == 1
    # the names: three directories (the spool's, and "dir" made in the bucket's), each flushed on its own
    assert calls["fsync"] == DIRECTORIES


def test_much_unwritten_data_of_others_an_fsync_per_file(recorded, monkeypatch):
    put, calls = recorded
    monkeypatch.setattr(local_puts, "dirty_bytes", lambda: 512 * 1024 * 1024)
    put()
    assert calls["syncfs"] == 0
    assert calls["fsync"] == FILES + DIRECTORIES


def test_the_threshold_grows_with_the_files_of_the_request(recorded, monkeypatch):
    put, calls = recorded
    monkeypatch.setattr(local_puts, "dirty_bytes", lambda: FILES * 1000 + FILES * local_puts.FSYNC_EQUIVALENT)
    put()
    assert calls["syncfs"] == 1
