"""Large objects on SeaweedFS: multipart puts streamed while received, parallel ranged gets, abort on failure.

Uses the SeaweedFS + engine fixtures of test_s3 (a module of its own here, so its own SeaweedFS)."""
from __future__ import annotations

import base64
import hashlib
import os
import zlib

import grpc
import pytest

import e6driver
from e6driver._proto import e6driver_stores_pb2 as st_pb, e6driver_stores_pb2_grpc as st_grpc
from mock_server.objects.s3_multipart import PART_SIZE
from mock_server.objects.backend import local_etag
from test_s3 import BUCKET, USERS, _s3_client, conns, s3_server, seaweed  # noqa: F401 - fixtures

BIG = 2 * PART_SIZE + 12345  # three parts, the last one short


def _uploads_in_progress(endpoint: str) -> list:
    return _s3_client(endpoint).list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def test_object_larger_than_a_part_round_trips(conns, seaweed, tmp_path):
    store = conns["root"].objects
    payload = os.urandom(BIG)
    source = tmp_path / "big.bin"
    source.write_bytes(payload)
    info = store.put_file(BUCKET, "mp/big.bin", source)
    etag = local_etag(zlib.crc32(payload), BIG)  # as on a local bucket: no MD5 pass over a multipart object
    assert info.size == BIG and info.etag == etag
    head = _s3_client(seaweed).head_object(Bucket=BUCKET, Key="mp/big.bin")
    assert head["ContentLength"] == BIG and head["ETag"].strip('"').endswith("-3")  # really multipart
    assert store.stat(BUCKET, "mp/big.bin").etag == etag  # recorded, not S3's multipart ETag
    assert info.crc32 == store.stat(BUCKET, "mp/big.bin").crc32 == zlib.crc32(payload)  # gets check it
    assert [(o.key, o.etag, o.crc32) for o in store.list(BUCKET, "mp/")] == [("mp/big.bin", etag, info.crc32)]
    target = tmp_path / "back.bin"
    assert store.get_file(BUCKET, "mp/big.bin", target).etag == etag
    assert target.read_bytes() == payload
    assert store.get(BUCKET, "mp/big.bin") == payload
    # The tree transfer sees the same CRC-32 locally and remotely: nothing to copy again.
    assert store.upload(source, BUCKET, "mp", progress=False).skipped == ["mp/big.bin"]
    assert _uploads_in_progress(seaweed) == []
    store.delete(BUCKET, "mp/big.bin")


def test_exactly_one_part_and_empty_objects(conns):
    store = conns["root"].objects
    exact = os.urandom(PART_SIZE)
    info = store.put(BUCKET, "mp/exact.bin", exact)  # a multipart upload of one part
    assert info.etag == local_etag(zlib.crc32(exact), PART_SIZE) == store.stat(BUCKET, "mp/exact.bin").etag
    assert store.stat(BUCKET, "mp/exact.bin").crc32 == zlib.crc32(exact)
    below = exact[:-1]  # one PutObject: S3's ETag is the MD5, the CRC-32 is in the object's metadata
    assert store.put(BUCKET, "mp/below.bin", below).etag == hashlib.md5(below).hexdigest()
    assert store.stat(BUCKET, "mp/below.bin").crc32 == zlib.crc32(below)
    assert store.get(BUCKET, "mp/exact.bin") == exact
    assert store.put(BUCKET, "mp/empty.bin", b"").size == 0
    assert store.get(BUCKET, "mp/empty.bin") == b""
    for key in ("mp/exact.bin", "mp/below.bin", "mp/empty.bin"):
        store.delete(BUCKET, key)


def _put_stream(key: str, payload: bytes, md5: str, chunk: int = 4 * 1024 * 1024):
    for offset in range(0, len(payload), chunk):
        data = payload[offset:offset + chunk]
        message = st_pb.PutRequest(offset=offset, data=data, crc32=zlib.crc32(data))
        if offset == 0:
            message.auth.user, message.auth.password = "root", USERS["root"]
            message.bucket, message.key = BUCKET, key
        if offset + chunk >= len(payload):
            message.last, message.md5 = True, md5
        yield message


def test_a_failed_multipart_put_is_aborted_and_leaves_nothing(conns, s3_server, seaweed):
    store = conns["root"].objects
    payload = os.urandom(BIG)
    with grpc.insecure_channel(f"127.0.0.1:{s3_server.port}") as channel:
        stub = st_grpc.ObjectStoreServiceStub(channel)
        with pytest.raises(grpc.RpcError) as failed:  # parts went out, then the whole-object MD5 is wrong
            stub.Put(_put_stream("mp/bad.bin", payload, "0" * 32))
        assert failed.value.code() == grpc.StatusCode.DATA_LOSS
    assert store.stat(BUCKET, "mp/bad.bin") is None
    assert _uploads_in_progress(seaweed) == []
    # An object already there stays as it was when its replacement fails.
    store.put(BUCKET, "mp/kept.bin", b"old")
    with grpc.insecure_channel(f"127.0.0.1:{s3_server.port}") as channel:
        with pytest.raises(grpc.RpcError):
            st_grpc.ObjectStoreServiceStub(channel).Put(_put_stream("mp/kept.bin", payload, "f" * 32))
    assert store.get(BUCKET, "mp/kept.bin") == b"old"
    assert _uploads_in_progress(seaweed) == []
    store.delete(BUCKET, "mp/kept.bin")


def test_if_absent_refuses_a_large_put_without_leaving_an_upload(conns, seaweed):
    store = conns["root"].objects
    store.put(BUCKET, "mp/there.bin", b"x")
    with pytest.raises(e6driver.ProgrammingError, match="already exists"):
        store.put(BUCKET, "mp/there.bin", os.urandom(BIG), if_absent=True)
    assert store.get(BUCKET, "mp/there.bin") == b"x"
    assert _uploads_in_progress(seaweed) == []
    store.delete(BUCKET, "mp/there.bin")


def test_crc32_of_concatenated_parts_from_their_crcs():
    from mock_server.checksums import crc32_combine

    pieces = [b"", b"x", os.urandom(PART_SIZE), os.urandom(PART_SIZE), os.urandom(12345), b"tail"]
    running = 0
    for piece in pieces:
        running = crc32_combine(running, zlib.crc32(piece), len(piece))
    assert running == zlib.crc32(b"".join(pieces))
    assert crc32_combine(zlib.crc32(b"ab"), zlib.crc32(b"cd"), 2) == zlib.crc32(b"abcd")


@pytest.mark.parametrize("route", ["same-host", "grpc"])
def test_put_file_and_get_file_by_both_routes(conns, s3_server, seaweed, tmp_path, monkeypatch, route):
    """Same-host: the parts are read straight from the client's file (nothing goes through the spool) and a
    get's ranges are written straight into the client's file; both routes store and return the same."""
    from mock_server.objects.backend import Upload

    store = conns["root"].objects
    store.local_transfer = None if route == "same-host" else False
    payload = os.urandom(BIG)
    source = tmp_path / "big.bin"
    source.write_bytes(payload)
    served = dict(s3_server.local_transfer.served)
    if route == "same-host":
        def no_spool(*args, **kwargs):
            raise AssertionError("a same-host put of a large object wrote to the spool")
        monkeypatch.setattr(Upload, "write", no_spool)
    try:
        info = store.put_file(BUCKET, f"mp/{route}.bin", source)
        target = tmp_path / "back.bin"
        got = store.get_file(BUCKET, f"mp/{route}.bin", target)
    finally:
        store.local_transfer = None
    assert (info.size, info.etag, info.crc32) == (BIG, local_etag(zlib.crc32(payload), BIG), zlib.crc32(payload))
    assert got == store.stat(BUCKET, f"mp/{route}.bin") and target.read_bytes() == payload
    head = _s3_client(seaweed).head_object(Bucket=BUCKET, Key=f"mp/{route}.bin")
    assert head["ETag"].strip('"').endswith("-3")  # multipart
    moved = sum(s3_server.local_transfer.served.values()) - sum(served.values())
    assert moved == (2 if route == "same-host" else 0)
    assert _uploads_in_progress(seaweed) == []
    store.delete(BUCKET, f"mp/{route}.bin")


def test_the_endpoint_checks_each_parts_crc(s3_server, seaweed, tmp_path):
    """The engine gives S3 each part's CRC-32 (botocore does not compute it again): a wrong one is refused."""
    upload = s3_server.object_stores.backend.upload(BUCKET, "mp/wrong-crc.bin", "application/octet-stream")
    try:
        data = os.urandom(PART_SIZE)
        upload._queue_part(len(data), data, zlib.crc32(data) ^ 1)
        with pytest.raises(Exception, match="(?i)checksum|digest|crc"):
            upload._parts[0].result()
    finally:
        upload.discard()
    assert _uploads_in_progress(seaweed) == []


def test_the_endpoint_checks_a_single_puts_md5(s3_server, seaweed):
    """On loopback the engine sends bodies unsigned (no SHA-256 pass at either end); the signed Content-MD5
    header still lets the endpoint refuse a body that is not the one the engine meant."""
    client = s3_server.object_stores.backend._client
    assert client.meta.config.s3["payload_signing_enabled"] is False
    wrong = base64.b64encode(hashlib.md5(b"other body").digest()).decode()
    with pytest.raises(Exception, match="(?i)digest|md5"):
        client.put_object(Bucket=BUCKET, Key="mp/wrong-md5.bin", Body=b"a body", ContentMD5=wrong)
    assert s3_server.object_stores.backend.stat(BUCKET, "mp/wrong-md5.bin") is None


def test_a_same_host_get_of_damaged_content_fails(conns, seaweed, tmp_path):
    store = conns["root"].objects
    payload = os.urandom(BIG)
    damaged = payload[:-1] + bytes([payload[-1] ^ 0xFF])  # stored with the original's description (bit rot)
    _s3_client(seaweed).put_object(Bucket=BUCKET, Key="mp/rot.bin", Body=damaged, Metadata={
        "md5": hashlib.md5(payload).hexdigest(), "crc32": str(zlib.crc32(payload))})
    assert store.stat(BUCKET, "mp/rot.bin").crc32 == zlib.crc32(payload)
    target = tmp_path / "rot.bin"
    with pytest.raises(e6driver.DataError, match="does not match the checksum recorded"):
        store.get_file(BUCKET, "mp/rot.bin", target)
    assert not target.exists()
    store.delete(BUCKET, "mp/rot.bin")


@pytest.mark.parametrize("size", [0, 1, PART_SIZE - 1, PART_SIZE])
def test_same_host_round_trip_of_small_and_boundary_sizes(conns, s3_server, tmp_path, size):
    store = conns["root"].objects
    payload = os.urandom(size)
    (tmp_path / "in.bin").write_bytes(payload)
    served = sum(s3_server.local_transfer.served.values())
    info = store.put_file(BUCKET, f"mp/size-{size}.bin", tmp_path / "in.bin")
    etag = hashlib.md5(payload).hexdigest() if size < PART_SIZE else local_etag(zlib.crc32(payload), size)
    assert (info.size, info.crc32, info.etag) == (size, zlib.crc32(payload), etag)
    got = store.get_file(BUCKET, f"mp/size-{size}.bin", tmp_path / "out.bin")
    assert got == store.stat(BUCKET, f"mp/size-{size}.bin")
    assert (tmp_path / "out.bin").read_bytes() == payload
    assert sum(s3_server.local_transfer.served.values()) == served + 2  # both by same-host requests
    store.delete(BUCKET, f"mp/size-{size}.bin")
