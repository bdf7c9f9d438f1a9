"""The object spool is marked so ext4 spreads its subdirectories (mock_server.files.spread_subdirectories), and
same-host puts spool in a directory of their own per request, removed once answered."""
import array
import fcntl
import os

import pytest

from mock_server.files import _FS_IOC_GETFLAGS, _FS_TOPDIR_FL, spread_subdirectories
from mock_server.objects import local_puts
from mock_server.objects.backend import FilePut
from mock_server.objects.store import LocalObjectBackend

def _flags(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        return flags[0]
    finally:
        os.close(fd)


def test_the_spool_root_spreads_its_subdirectories(tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    if not spread_subdirectories(str(probe)):
        pytest.skip("this filesystem has no FS_TOPDIR_FL")
    assert _flags(str(probe)) & _FS_TOPDIR_FL
    backend = LocalObjectBackend(str(tmp_path / "objects"))
    assert _flags(backend.spool_root) & _FS_TOPDIR_FL
    assert os.path.dirname(backend.spool_dir()) == backend.spool_root


def test_spreading_a_file_or_missing_path_is_refused_quietly(tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    assert spread_subdirectories(str(tmp_path / "file")) is False
    assert spread_subdirectories(str(tmp_path / "missing")) is False


def test_each_request_spools_in_a_directory_of_its_own(tmp_path, monkeypatch):
    backend = LocalObjectBackend(str(tmp_path / "objects"))
    backend.create_bucket("bucket")
    source = tmp_path / "source"
    source.write_bytes(b"content")
    seen = []
    spool = local_puts._spool

    def recording(directory, *args):
        seen.append(directory)
        return spool(directory, *args)

    monkeypatch.setattr(local_puts, "_spool", recording)
    before = set(os.listdir(backend.spool_root))
    for number in range(2):
        fd = os.open(source, os.O_RDONLY)
        try:
            [info] = backend.put_files("bucket", [FilePut(f"k{number}", fd, 7, "text/plain")])
        finally:
            os.close(fd)
        assert info.size == 7
    assert len(set(seen)) == 2 and all(os.path.dirname(d) == backend.spool_root for d in seen)
    assert set(os.listdir(backend.spool_root)) == before  # each removed once its request was answered
    assert b"".join(backend.read("bucket", "k1")) == b"content"


def test_a_spool_removed_under_the_running_engine_is_made_again(tmp_path):
    import shutil

    backend = LocalObjectBackend(str(tmp_path / "objects"))
    backend.create_bucket("bucket")
    shutil.rmtree(backend.spool_root)
    source = tmp_path / "source"
    source.write_bytes(b"still stored")
    fd = os.open(source, os.O_RDONLY)
    try:
        [info] = backend.put_files("bucket", [FilePut("key", fd, 12, "text/plain")])
    finally:
        os.close(fd)
    assert info.size == 12 and b"".join(backend.read("bucket", "key")) == b"still stored"
