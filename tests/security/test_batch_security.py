"""PutBatch / GetBatch as an attacker (alice, one bucket of her own) would use them: raw calls with keys that
try to leave the bucket, objects over the size limit, too many keys, someone else's bucket. Every bad object
fails alone with a clear code; nothing is written outside the bucket; the engine keeps serving."""
from __future__ import annotations

import os
import zlib

import grpc
import pytest

from e6driver._proto import e6driver_stores_pb2 as st_pb, e6driver_stores_pb2_grpc as st_grpc
from mock_server.limits import Limits
from mock_server.objects.batch import MAX_GET_KEYS

from accounts import USERS

BAD_KEYS = ["../escape.bin", "a/../../escape.bin", "/etc/passwd", "a//b", "x\x00y", "a\\..\\b", ".."]


def _auth(user="alice"):
    return st_pb.Auth(user=user, password=USERS[user])


def _obj(key, data):
    return st_pb.BatchObject(key=key, data=data, crc32=zlib.crc32(data))


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


@pytest.fixture
def stub(server):
    with grpc.insecure_channel(server.address) as channel:
        yield st_grpc.ObjectStoreServiceStub(channel)


@pytest.fixture
def buckets(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.objects.create_bucket("alice-own")
    bob.objects.create_bucket("bob-private")
    bob.objects.put("bob-private", "secret.csv", b"secret\n42\n")
    return alice, bob


def test_bad_keys_fail_alone_and_write_nothing_outside(buckets, server, stub, still_serves):
    data_dir = os.path.dirname(server.object_stores.backend.root)
    objects = [_obj("ok/first.bin", b"1")] + [_obj(k, b"evil") for k in BAD_KEYS] + [_obj("ok/last.bin", b"2")]
    response = stub.PutBatch(iter([st_pb.PutBatchRequest(auth=_auth(), bucket="alice-own", objects=objects)]))
    codes = [r.code for r in response.results]
    assert codes[0] == codes[-1] == 0
    assert set(codes[1:-1]) == {grpc.StatusCode.INVALID_ARGUMENT.value[0]}
    assert all(data_dir not in r.message for r in response.results)
    assert [p for p in _tree(data_dir) if "escape" in p or "passwd" in p] == []
    alice, _ = buckets
    assert [o.key for o in alice.objects.list("alice-own")] == ["ok/first.bin", "ok/last.bin"]
    still_serves(server)


def test_a_symlink_out_of_the_bucket_is_refused_per_object(buckets, server, stub, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "loot.bin").write_bytes(b"outside the bucket")
    os.symlink(outside, os.path.join(server.object_stores.backend.root, "alice-own", "link"))
    response = stub.PutBatch(iter([st_pb.PutBatchRequest(auth=_auth(), bucket="alice-own", objects=[
        _obj("fine.bin", b"f"), _obj("link/planted.bin", b"p")])]))
    assert [r.code for r in response.results] == [0, grpc.StatusCode.PERMISSION_DENIED.value[0]]
    assert sorted(os.listdir(outside)) == ["loot.bin"]
    chunks = list(stub.GetBatch(st_pb.GetBatchRequest(auth=_auth(), bucket="alice-own",
                                                      keys=["fine.bin", "link/loot.bin"])))
    assert [o.key for c in chunks for o in c.objects] == ["fine.bin"]
    assert [(f.key, f.code) for c in chunks for f in c.failed] == [
        ("link/loot.bin", grpc.StatusCode.PERMISSION_DENIED.value[0])]
    assert all(str(tmp_path) not in f.message for c in chunks for f in c.failed)


def test_someone_elses_bucket(buckets, stub):
    with pytest.raises(grpc.RpcError) as denied:
        stub.PutBatch(iter([st_pb.PutBatchRequest(auth=_auth(), bucket="bob-private",
                                                  objects=[_obj("planted.csv", b"x")])]))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as denied:
        list(stub.GetBatch(st_pb.GetBatchRequest(auth=_auth(), bucket="bob-private", keys=["secret.csv"])))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    _, bob = buckets
    assert [o.key for o in bob.objects.list("bob-private")] == ["secret.csv"]


def test_bad_credentials_and_too_many_keys(buckets, stub):
    with pytest.raises(grpc.RpcError) as refused:
        stub.PutBatch(iter([st_pb.PutBatchRequest(auth=st_pb.Auth(user="alice", password="wrong"),
                                                  bucket="alice-own", objects=[_obj("x", b"x")])]))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as many:
        list(stub.GetBatch(st_pb.GetBatchRequest(auth=_auth(), bucket="alice-own",
                                                 keys=[f"k{i}" for i in range(MAX_GET_KEYS + 1)])))
    assert many.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and str(MAX_GET_KEYS) in many.value.details()


def test_damaged_object_fails_alone(buckets, stub):
    damaged = st_pb.BatchObject(key="d.bin", data=b"payload", crc32=zlib.crc32(b"other"))
    wrong_md5 = st_pb.BatchObject(key="m.bin", data=b"payload", crc32=zlib.crc32(b"payload"), md5="0" * 32)
    response = stub.PutBatch(iter([st_pb.PutBatchRequest(auth=_auth(), bucket="alice-own",
                                                         objects=[damaged, wrong_md5, _obj("ok.bin", b"ok")])]))
    assert [r.code for r in response.results] == [grpc.StatusCode.DATA_LOSS.value[0]] * 2 + [0]
    alice, _ = buckets
    assert [o.key for o in alice.objects.list("alice-own")] == ["ok.bin"]


def test_object_size_limit_applies_per_object(engine, still_serves):
    small = engine(limits=Limits(max_object_bytes=64 * 1024))
    with grpc.insecure_channel(small.address) as channel:
        stub = st_grpc.ObjectStoreServiceStub(channel)
        stub.CreateBucket(st_pb.CreateBucketRequest(auth=_auth(), bucket="alice-big"))
        response = stub.PutBatch(iter([st_pb.PutBatchRequest(auth=_auth(), bucket="alice-big", objects=[
            _obj("big.bin", os.urandom(65 * 1024)), _obj("small.bin", b"s")])]))
    assert [r.code for r in response.results] == [grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], 0]
    assert "max_object_bytes" in response.results[0].message
    assert os.listdir(small.object_stores.backend.spool_dir()) == []
    still_serves(small)
