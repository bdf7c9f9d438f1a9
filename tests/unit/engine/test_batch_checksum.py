"""A PutBatch object's CRC-32 is computed once, when it arrives: the stored object's description reuses it."""
import zlib

import pytest

from e6driver._proto import e6driver_stores_pb2 as st_pb
from mock_server import checksums
from mock_server.limits import Limits
from mock_server.objects.batch import BatchPuts
from mock_server.objects.store import LocalObjectBackend


@pytest.fixture
def checksummed(monkeypatch):
    """Bytes passed through checksums.crc32 while the test runs."""
    seen = [0]
    real = checksums.crc32

    def counting(data, *start):
        seen[0] += len(data)
        return real(data, *start)

    monkeypatch.setattr(checksums, "crc32", counting)
    return seen


def test_a_batch_object_is_checksummed_once(tmp_path, checksummed):
    backend = LocalObjectBackend(str(tmp_path / "objects"))
    backend.create_bucket("bucket")
    objects = [(f"k{i}", bytes([i]) * (1000 + i)) for i in range(5)]
    message = st_pb.PutBatchRequest(objects=[st_pb.BatchObject(key=k, data=d, crc32=zlib.crc32(d))
                                             for k, d in objects])
    results = BatchPuts(backend, Limits()).store("bucket", False, [message])
    assert [r.info.crc32 for r in results] == [zlib.crc32(d) for _, d in objects]  # described with the right CRC
    assert checksummed[0] == sum(len(d) for _, d in objects)
    assert [b"".join(backend.read("bucket", k)) for k, _ in objects] == [d for _, d in objects]


def test_the_default_put_files_checks_the_known_crc_in_its_one_pass(tmp_path, checksummed):
    """Backends without a put_files of their own (S3) spool each object through an Upload, whose write checks the
    CRC-32 the batch computed in the pass it makes anyway (it was computed twice more there)."""
    from mock_server.objects.backend import FilePut, ObjectBackend

    backend = LocalObjectBackend(str(tmp_path / "objects"))
    backend.create_bucket("bucket")
    data = b"x" * 5000
    [info] = ObjectBackend.put_files(backend, "bucket", [FilePut("k", -1, len(data), "", data=data,
                                                                 crc32=zlib.crc32(data))])
    assert info.crc32 == zlib.crc32(data) and checksummed[0] == len(data)
    wrong = FilePut("bad", -1, len(data), "", data=data, crc32=zlib.crc32(data) ^ 1)
    [failure] = ObjectBackend.put_files(backend, "bucket", [wrong])
    assert "checksum mismatch" in str(failure) and backend.stat("bucket", "bad") is None
