"""Objects through conn.objects: round trips, chunked transfers, checksums, atomic puts and key rules."""
from __future__ import annotations

import hashlib
import io
import os
import zlib

import grpc
import pytest

import e6driver
from e6driver._proto import e6driver_stores_pb2 as st_pb, e6driver_stores_pb2_grpc as st_grpc
from etags import stored_etag

BUCKET = "api-bucket"


@pytest.fixture(scope="module")
def store(root):
    root.objects.create_bucket(BUCKET)
    return root.objects


@pytest.fixture(scope="module")
def raw(server):
    channel = grpc.insecure_channel(server.address)
    yield st_grpc.ObjectStoreServiceStub(channel)
    channel.close()


def test_put_get_stat_list_delete(store):
    info = store.put(BUCKET, "dir/hello.txt", b"hello world")
    assert (info.bucket, info.key, info.size) == (BUCKET, "dir/hello.txt", 11)
    assert info.etag == stored_etag(b"hello world")
    assert info.content_type == "text/plain"
    assert info.last_modified.tzinfo is not None
    assert store.get(BUCKET, "dir/hello.txt") == b"hello world"
    assert store.stat(BUCKET, "dir/hello.txt") == info
    assert store.stat(BUCKET, "dir/missing.txt") is None
    assert [o.key for o in store.list(BUCKET, "dir/")] == ["dir/hello.txt"]
    assert store.delete(BUCKET, "dir/hello.txt") is True
    assert store.delete(BUCKET, "dir/hello.txt") is False
    assert store.list(BUCKET, "dir/") == []
    with pytest.raises(e6driver.errors.ObjectNotFoundError, match="not found"):
        store.get(BUCKET, "dir/hello.txt")


def test_replace_and_if_absent(store):
    store.put(BUCKET, "v.bin", b"one")
    store.put(BUCKET, "v.bin", b"two")
    assert store.get(BUCKET, "v.bin") == b"two"
    with pytest.raises(e6driver.ProgrammingError, match="already exists"):
        store.put(BUCKET, "v.bin", b"three", if_absent=True)
    assert store.get(BUCKET, "v.bin") == b"two"


def test_empty_object(store):
    info = store.put(BUCKET, "empty", b"")
    assert info.size == 0 and info.etag == stored_etag(b"")
    assert store.get(BUCKET, "empty") == b""


def test_large_object_streams_in_chunks_with_progress(store, tmp_path):
    payload = os.urandom(3 * 1024 * 1024 + 12345)
    seen = []
    info = store.put(BUCKET, "big/blob.bin", io.BytesIO(payload),
                     progress=lambda done, total: seen.append((done, total)))
    assert info.size == len(payload) and info.etag == stored_etag(payload)
    assert len(seen) == 4 and seen[-1] == (len(payload), len(payload))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    target = tmp_path / "out" / "blob.bin"
    got = store.get_file(BUCKET, "big/blob.bin", target)
    assert got.etag == info.etag and target.read_bytes() == payload
    assert [p.name for p in target.parent.iterdir()] == ["blob.bin"]  # no temp file left behind
    source = tmp_path / "src.bin"
    source.write_bytes(payload[:100])
    assert store.put_file(BUCKET, "big/small.bin", source).size == 100


def test_object_tree_on_disk(store, data_dir):
    store.put(BUCKET, "a/b/c.csv", b"x\n1\n")
    assert open(os.path.join(data_dir, "objects", BUCKET, "a", "b", "c.csv"), "rb").read() == b"x\n1\n"


@pytest.mark.parametrize("key, message", [
    ("../escape", "'..' segment"),
    ("a/../../escape", "'..' segment"),
    ("/etc/passwd", "absolute path"),
    ("C:/x", "absolute path"),
    ("a\\b", "backslash"),
    ("a\x00b", "NUL"),
    ("a//b", "empty or '.' segment"),
    ("a/./b", "empty or '.' segment"),
    ("dir/", "empty or '.' segment"),
    ("", "empty"),
])
def test_bad_keys_are_refused_with_a_clear_error(store, key, message):
    for call in (lambda: store.put(BUCKET, key, b"x"), lambda: store.get(BUCKET, key),
                 lambda: store.delete(BUCKET, key), lambda: store.stat(BUCKET, key)):
        with pytest.raises(e6driver.ProgrammingError, match=message):
            call()


@pytest.mark.parametrize("bucket", ["ab", "Upper", "under_score", "-dash", "a..b", "x" * 64])
def test_bad_bucket_names(store, bucket):
    with pytest.raises(e6driver.ProgrammingError, match="invalid bucket name"):
        store.create_bucket(bucket)


def _put_messages(key, chunks, md5="", last=True):
    offset = 0
    for i, (data, crc) in enumerate(chunks):
        msg = st_pb.PutRequest(offset=offset, data=data, crc32=crc)
        if i == 0:
            msg.auth.CopyFrom(st_pb.Auth(user="root", password="root-pw"))
            msg.bucket, msg.key = BUCKET, key
        if i == len(chunks) - 1 and last:
            msg.last, msg.md5 = True, md5
        offset += len(data)
        yield msg


def test_damaged_chunk_fails_and_stores_nothing(store, raw):
    chunks = [(b"good", zlib.crc32(b"good")), (b"bad!", zlib.crc32(b"bad?"))]
    with pytest.raises(grpc.RpcError) as caught:
        raw.Put(_put_messages("damaged", chunks))
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert "checksum mismatch" in caught.value.details()
    assert store.stat(BUCKET, "damaged") is None


def test_whole_object_md5_is_checked(store, raw):
    chunks = [(b"abc", zlib.crc32(b"abc"))]
    with pytest.raises(grpc.RpcError) as caught:
        raw.Put(_put_messages("md5", chunks, md5=hashlib.md5(b"abd").hexdigest()))
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert store.stat(BUCKET, "md5") is None


def test_stream_without_last_chunk_stores_nothing(store, raw):
    with pytest.raises(grpc.RpcError) as caught:
        raw.Put(_put_messages("partial", [(b"abc", zlib.crc32(b"abc"))], last=False))
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert store.stat(BUCKET, "partial") is None


def test_session_id_authentication(store, root, raw):
    store.put(BUCKET, "by-session", b"s")
    session = root.get_session_id
    reply = raw.Stat(st_pb.StatRequest(auth=st_pb.Auth(session_id=session), bucket=BUCKET, key="by-session"))
    assert reply.exists and reply.info.size == 1
    with pytest.raises(grpc.RpcError) as caught:
        raw.Stat(st_pb.StatRequest(auth=st_pb.Auth(session_id="no-such-session"), bucket=BUCKET, key="x"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL and "Access denied" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        raw.Stat(st_pb.StatRequest(auth=st_pb.Auth(user="root", password="wrong"), bucket=BUCKET, key="x"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_access_token_connection(server, store):
    store.put(BUCKET, "token", b"t")
    with e6driver.connect(host="127.0.0.1", port=server.port, access_token="root-pw") as conn:
        assert conn.objects.get(BUCKET, "token") == b"t"


def test_batch_runs_operations_concurrently(store):
    with store.batch(workers=4) as batch:
        puts = [batch.put(BUCKET, f"batch/{i}.txt", str(i).encode()) for i in range(10)]
    assert [f.result().size for f in puts] == [1] * 10
    with store.batch() as batch:
        gets = [batch.get(BUCKET, f"batch/{i}.txt") for i in range(10)]
        batch.delete(BUCKET, "batch/0.txt")
    assert sorted(f.result() for f in gets) == sorted(str(i).encode() for i in range(10))
    assert len(store.list(BUCKET, "batch/")) == 9
    with pytest.raises(e6driver.ProgrammingError, match="'..' segment"):
        with store.batch() as batch:
            ok = batch.put(BUCKET, "batch/ok", b"1")
            batch.put(BUCKET, "../bad", b"1")
    assert ok.result().key == "batch/ok"


@pytest.mark.parametrize("how", ["put", "put_batch"])
def test_a_put_over_grpc_flushes_every_directory_it_changed(server, store, monkeypatch, tmp_path, how):
    """Before the answer: the spool's directory (the rename took its entry: on ext4 without a journal a crash
    could keep both names, and the spool sweep would free the object), the object's, and each one it made."""
    from mock_server.objects import local_puts
    from mock_server.objects import store as store_module

    flushed = []
    monkeypatch.setattr(store_module, "fsync_dir", lambda path, best_effort=False: flushed.append(path))
    sync_names = local_puts._sync_names  # PutBatch: many directories, flushed together (or one filesystem sync)
    monkeypatch.setattr(local_puts, "_sync_names", lambda directories, *how: (flushed.extend(directories),
                                                                              sync_names(directories, *how)))
    store.create_bucket("flushes")
    store.local_transfer = False
    try:
        key = f"{how}/new/deeper/o.bin"
        if how == "put":
            store.put("flushes", key, b"content")
        else:  # a tree's small files go in PutBatch calls
            (tmp_path / "new" / "deeper").mkdir(parents=True)
            (tmp_path / "new" / "deeper" / "o.bin").write_bytes(b"content")
            assert store.upload(tmp_path, "flushes", prefix=how, progress=False).transferred == [key]
    finally:
        store.local_transfer = None
    backend = server.object_stores.backend
    bucket_dir = os.path.join(backend.root, "flushes")
    expected = {bucket_dir, os.path.join(bucket_dir, how), os.path.join(bucket_dir, how, "new"),
                os.path.join(bucket_dir, how, "new", "deeper")}
    assert expected <= set(flushed), sorted(set(flushed))
    spools = {path for path in flushed if os.path.dirname(path) == backend.spool_root}
    assert len(spools) == 1  # the directory the object was spooled in (a PutBatch group's own)
    if how == "put":
        assert spools == {backend.spool_dir()}
    assert store.get("flushes", key) == b"content"
