"""Same-host puts spool small files in turns (mock_server.objects.local_puts): a client's file that blocks
while being read (a hung network mount) must not hold up other users' puts behind its turn."""
import os
import threading

from mock_server.objects import local_puts
from mock_server.objects.backend import FilePut
from mock_server.objects.store import LocalObjectBackend


def test_a_blocking_source_file_does_not_hold_up_other_requests(tmp_path, monkeypatch):
    backend = LocalObjectBackend(str(tmp_path / "objects"))
    backend.create_bucket("shared")
    blocking, ordinary = tmp_path / "hung", tmp_path / "fine"
    blocking.write_bytes(b"never read in time")
    ordinary.write_bytes(b"another user's file")
    stuck_fd = os.open(blocking, os.O_RDONLY)
    entered, release = threading.Event(), threading.Event()
    copy = local_puts._copy

    def copy_blocking_on_one_file(source, target, size):
        if source == stuck_fd:  # stands for a read that hangs, inside the request's turn
            entered.set()
            release.wait(120)
        return copy(source, target, size)

    monkeypatch.setattr(local_puts, "_copy", copy_blocking_on_one_file)
    results = {}

    def put(name, fd, size):
        results[name] = backend.put_files("shared", [FilePut(name, fd, size, "text/plain")])

    stuck = threading.Thread(target=put, args=("hung", stuck_fd, blocking.stat().st_size))
    stuck.start()
    try:
        assert entered.wait(60)
        fine_fd = os.open(ordinary, os.O_RDONLY)
        try:
            other = threading.Thread(target=put, args=("fine", fine_fd, ordinary.stat().st_size))
            other.start()
            other.join(60)
            assert not other.is_alive(), "a put waited behind a turn whose file blocks"
        finally:
            os.close(fine_fd)
        assert "hung" not in results  # still blocked: the other put went on meanwhile
        assert b"".join(backend.read("shared", "fine")) == b"another user's file"
    finally:
        release.set()
        stuck.join(60)
        os.close(stuck_fd)
    assert b"".join(backend.read("shared", "hung")) == b"never read in time"
