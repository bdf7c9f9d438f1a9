"""Running CRC-32s: puts and gets check every chunk and the whole object in one pass, objects keep the CRC-32
they were stored with, and a get of content that no longer matches it fails (nothing written)."""
from __future__ import annotations

import hashlib
import json
import os
import zlib

import grpc
import pytest

import e6driver
from e6driver._proto import e6driver_stores_pb2 as st_pb
from test_object_api import raw  # noqa: F401 - fixture
from etags import stored_etag

BUCKET = "crc-bucket"
PAYLOAD = bytes(range(256)) * 12_000  # ~3 MiB: several chunks at the chunk sizes below


@pytest.fixture(scope="module")
def store(root):
    root.objects.create_bucket(BUCKET)
    root.objects.chunk_size = root.objects.file_chunk_size = 256 * 1024
    return root.objects


def _running_put(key, pieces, damage_at=None):
    offset, running = 0, 0
    for i, data in enumerate(pieces):
        running = zlib.crc32(data, running)
        msg = st_pb.PutRequest(offset=offset, data=data, running_crc32=running ^ (1 if i == damage_at else 0),
                               last=i == len(pieces) - 1)
        if i == 0:
            msg.auth.CopyFrom(st_pb.Auth(user="root", password="root-pw"))
            msg.bucket, msg.key = BUCKET, key
        offset += len(data)
        yield msg


def _object_path(server, key):
    return os.path.join(server.object_stores.backend.root, BUCKET, *key.split("/"))


def test_put_records_the_crc_and_the_etag(store):
    info = store.put(BUCKET, "whole.bin", PAYLOAD)
    assert info.crc32 == zlib.crc32(PAYLOAD) and info.etag == stored_etag(PAYLOAD)
    assert store.stat(BUCKET, "whole.bin").crc32 == zlib.crc32(PAYLOAD)
    assert store.get(BUCKET, "whole.bin") == PAYLOAD
    assert store.put(BUCKET, "empty.bin", b"").crc32 == 0 and store.get(BUCKET, "empty.bin") == b""


def test_a_damaged_chunk_is_refused_by_its_running_crc(store, raw):
    pieces = [PAYLOAD[:1000], PAYLOAD[1000:5000], PAYLOAD[5000:9000]]
    with pytest.raises(grpc.RpcError) as caught:
        raw.Put(_running_put("damaged.bin", pieces, damage_at=1))
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert "checksum mismatch in the chunk at offset 1000" in caught.value.details()
    assert store.stat(BUCKET, "damaged.bin") is None
    reply = raw.Put(_running_put("fine.bin", pieces))
    assert reply.info.crc32 == zlib.crc32(PAYLOAD[:9000]) and reply.info.etag == stored_etag(PAYLOAD[:9000])


def test_a_chunk_out_of_place_is_refused_even_with_its_running_crc(store, raw):
    """Swapping two chunks keeps each one's own CRC but not the running one."""
    a, b = PAYLOAD[:4000], PAYLOAD[4000:8000]
    messages = list(_running_put("swapped.bin", [a, b]))
    messages[0].data, messages[1].data = b, a
    with pytest.raises(grpc.RpcError) as caught:
        raw.Put(iter(messages))
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert store.stat(BUCKET, "swapped.bin") is None


def test_get_chunks_carry_running_crcs_when_asked(store, raw):
    store.put(BUCKET, "chunks.bin", PAYLOAD)
    auth = st_pb.Auth(user="root", password="root-pw")
    running, chunks = 0, list(raw.Get(st_pb.GetRequest(auth=auth, bucket=BUCKET, key="chunks.bin",
                                                       chunk_size=1 << 20, running_crc32=True)))
    assert len(chunks) == 3
    for chunk in chunks:
        running = zlib.crc32(chunk.data, running)
        assert chunk.running_crc32 == running
    assert running == chunks[0].info.crc32 == zlib.crc32(PAYLOAD)
    old_style = list(raw.Get(st_pb.GetRequest(auth=auth, bucket=BUCKET, key="chunks.bin", chunk_size=1 << 20)))
    assert all(c.crc32 == zlib.crc32(c.data) and not c.HasField("running_crc32") for c in old_style)


def _rot(path):
    """Flip one byte in place, keeping size and mtime: the store's description still claims the file."""
    stat = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(stat.st_size // 2)
        byte = handle.read(1)
        handle.seek(stat.st_size // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_content_damaged_since_its_put_fails_every_get(store, server, tmp_path):
    store.put(BUCKET, "rot/big.bin", PAYLOAD)
    store.put(BUCKET, "rot/small.bin", PAYLOAD[:5000])
    for key in ("rot/big.bin", "rot/small.bin"):
        _rot(_object_path(server, key))
    with pytest.raises(e6driver.DataError, match="does not match the checksum recorded"):
        store.get(BUCKET, "rot/big.bin")
    target = tmp_path / "big.bin"
    with pytest.raises(e6driver.DataError, match="does not match the checksum recorded"):
        store.get_file(BUCKET, "rot/big.bin", target)
    assert not target.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".e6get-")]
    with pytest.raises(e6driver.DataError, match="does not match the checksum recorded"):
        store.download(BUCKET, "rot/", tmp_path / "tree", progress=False)  # batched and single gets
    assert not (tmp_path / "tree" / "small.bin").exists() and not (tmp_path / "tree" / "big.bin").exists()


def test_objects_without_a_recorded_crc_are_checked_against_their_md5(store, server):
    """An object described before CRCs were recorded (or by a sidecar without one) falls back to the etag.
    Such descriptions are JSON, which is still read."""
    from mock_server.objects import descriptions
    from mock_server.objects.store import XATTR_META

    store.put(BUCKET, "old/one.bin", PAYLOAD)
    path = _object_path(server, "old/one.bin")
    try:
        meta = descriptions.decode(os.getxattr(path, XATTR_META))
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    del meta["crc32"]
    os.setxattr(path, XATTR_META, json.dumps(meta).encode())
    assert store.stat(BUCKET, "old/one.bin").crc32 is None
    assert store.get(BUCKET, "old/one.bin") == PAYLOAD
    meta["etag"] = hashlib.md5(b"something else").hexdigest()
    os.setxattr(path, XATTR_META, json.dumps(meta).encode())
    with pytest.raises(e6driver.DataError, match="does not match its etag"):
        store.get(BUCKET, "old/one.bin")
