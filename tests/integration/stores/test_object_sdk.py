"""Objects the way the SpectrumX SDS and V3IO SDK READMEs use them (put text/bytes/files, get, list, delete),
adapted to ``conn.objects``; named tables over a prefix holding other files; credentials from the environment
and a ``.env`` file; network failures as ConnectionLostError."""
from __future__ import annotations

import io
import logging

import pytest

import e6driver
from e6driver.settings import endpoint, read_env_file

from ports import free_port

from conftest import USERS

BUCKET = "sdk-bucket"


@pytest.fixture(scope="module", params=["local", "seaweedfs"])
def backend(request) -> e6driver.Connection:
    """root's connection to an engine keeping objects in a local directory, or on SeaweedFS (S3)."""
    if request.param == "local":
        conn = request.getfixturevalue("root")
    else:
        server = request.getfixturevalue("s3_server")
        conn = e6driver.connect(host="127.0.0.1", port=server.port, username="root", password=USERS["root"])
        request.addfinalizer(conn.close)
    conn.objects.create_bucket(BUCKET)
    return conn


@pytest.fixture(scope="module")
def objects(backend):
    return backend.objects


def test_v3io_style_put_text_get_delete(objects):
    # v3io: client.object.put(container, path, body="hello"); get(...).body; delete(...)
    info = objects.put(BUCKET, "v3io/hello.txt", "héllo wörld")
    assert info.size == len("héllo wörld".encode("utf-8")) and info.content_type == "text/plain"
    assert objects.get(BUCKET, "v3io/hello.txt").decode("utf-8") == "héllo wörld"
    objects.put(BUCKET, "v3io/raw.bin", b"\x00\x01\x02")
    objects.put(BUCKET, "v3io/array.bin", bytearray(b"abc"))
    assert objects.get(BUCKET, "v3io/array.bin") == b"abc"
    assert [o.key for o in objects.list(BUCKET, "v3io/")] == ["v3io/array.bin", "v3io/hello.txt", "v3io/raw.bin"]
    assert objects.delete(BUCKET, "v3io/hello.txt") and not objects.delete(BUCKET, "v3io/hello.txt")
    with pytest.raises(e6driver.ObjectNotFoundError):
        objects.get(BUCKET, "v3io/hello.txt")


def test_sds_style_upload_and_download_files(objects, tmp_path):
    # sds: client.upload(local_path=..., sds_path=...); client.download(from_sds_path=..., to_local_path=...)
    local = tmp_path / "in"
    (local / "sub").mkdir(parents=True)
    (local / "a.csv").write_text("id\n1\n")
    (local / "sub" / "b.txt").write_text("note")
    objects.upload(str(local), BUCKET, "sds/", progress=False)
    assert [o.key for o in objects.list(BUCKET, "sds/")] == ["sds/a.csv", "sds/sub/b.txt"]
    objects.download(BUCKET, "sds/", str(tmp_path / "out"), progress=False)
    assert (tmp_path / "out" / "sub" / "b.txt").read_text() == "note"
    objects.put_file(BUCKET, "sds/single.csv", local / "a.csv")
    objects.get_file(BUCKET, "sds/single.csv", tmp_path / "single.csv")
    assert (tmp_path / "single.csv").read_text() == "id\n1\n"
    with open(local / "a.csv", "rb") as handle:  # a binary file object
        assert objects.put(BUCKET, "sds/from-handle.csv", handle).size == 5


@pytest.mark.parametrize("body", [12, 1.5, None, ["a"], {"a": 1}])
def test_unsupported_bodies_raise_type_error(objects, body):
    with pytest.raises(TypeError, match="put\\(\\) takes str, bytes"):
        objects.put(BUCKET, "bad/body", body)


def test_text_file_object_is_refused_with_a_hint(objects):
    with pytest.raises(TypeError, match="'rb' mode"):
        objects.put(BUCKET, "bad/text-handle", io.StringIO("text"))
    assert objects.stat(BUCKET, "bad/text-handle") is None


def test_named_table_over_prefix_skips_other_files(objects, backend, rows, data_dir, caplog):
    root = backend
    objects.put(BUCKET, "tbl/part-1.csv", "id,name\n1,a\n2,b\n")
    objects.put(BUCKET, "tbl/part-2.csv", "id,name\n3,c\n")
    objects.put(BUCKET, "tbl/readme.txt", "these are the parts\nnot,a,csv,file\n")
    objects.put(BUCKET, "tbl/_SUCCESS", b"")
    objects.register_table(BUCKET, "parts", "tbl/", format="csv")
    objects.register_table(BUCKET, "parts_any", "tbl/")
    with caplog.at_level(logging.WARNING, logger="mock_server.catalogs"):
        assert rows(root, f'SELECT count(*), sum(id) FROM objects."{BUCKET}".parts') == [(3, 6)]
        assert rows(root, f'SELECT max(name) FROM objects."{BUCKET}".parts_any') == [("c",)]
    warned = [r.getMessage() for r in caplog.records if "skips" in r.getMessage()]
    assert warned and "tbl/readme.txt" in warned[0] and "tbl/_SUCCESS" in warned[0]
    assert {c["fieldName"] for c in root.get_columns("objects", BUCKET, "parts")} == {"id", "name"}
    objects.put(BUCKET, "tbl/extra.json", '{"id": 9}')  # another table format: ambiguous without a format
    assert rows(root, f'SELECT count(*) FROM objects."{BUCKET}".parts') == [(3,)]
    with pytest.raises(e6driver.ProgrammingError, match="mix formats") as info:
        rows(root, f'SELECT * FROM objects."{BUCKET}".parts_any')
    assert data_dir not in str(info.value)
    objects.delete(BUCKET, "tbl/extra.json")


def test_unreadable_object_error_names_bucket_and_key_not_server_path(objects, backend, rows, data_dir):
    root = backend
    objects.put(BUCKET, "broken/a.csv", "id,name\n1,a\n")
    objects.put(BUCKET, "broken/b.csv", "id,name\n\"unterminated\n2,3,4,5\n")
    objects.put(BUCKET, "broken/c.parquet", b"PAR1 not parquet at all")
    for sql in (f'SELECT * FROM objects."{BUCKET}"."broken/*.csv"',
                f'SELECT * FROM objects."{BUCKET}"."broken/c.parquet"'):
        with pytest.raises(e6driver.DatabaseError) as info:
            rows(root, sql)
        assert data_dir not in str(info.value) and "/tmp/" not in str(info.value), str(info.value)
        assert "broken/" in str(info.value)


# ---------------------------------------------------------------------------------------------- credentials


def test_credentials_and_endpoint_from_environment(server, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("E6DRIVER_USER", "E6DRIVER_PASSWORD", "E6DRIVER_ACCESS_TOKEN", "E6DRIVER_ENV_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("E6DRIVER_HOST", "127.0.0.1")
    monkeypatch.setenv("E6DRIVER_PORT", str(server.port))
    monkeypatch.setenv("E6DRIVER_USER", "alice")
    monkeypatch.setenv("E6DRIVER_PASSWORD", USERS["alice"])
    with e6driver.connect() as conn:
        assert (conn.host, conn.port) == ("127.0.0.1", server.port)
        conn.objects.create_bucket("alice-env")
        assert "alice-env" in [b.name for b in conn.objects.buckets()]
    monkeypatch.setenv("E6DRIVER_PASSWORD", "wrong")
    with pytest.raises(e6driver.AuthenticationError):
        e6driver.connect()
    # explicit arguments win over the environment
    with e6driver.connect(username="bob", password=USERS["bob"]) as conn:
        assert "alice-env" not in [b.name for b in conn.objects.buckets()]


def test_dotenv_file_below_environment(server, monkeypatch, tmp_path):
    for name in ("E6DRIVER_USER", "E6DRIVER_PASSWORD", "E6DRIVER_ACCESS_TOKEN", "E6DRIVER_HOST", "E6DRIVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"# engine\nexport E6DRIVER_PORT={server.port}\nE6DRIVER_USER=bob\n"
                                   f"E6DRIVER_PASSWORD='{USERS['bob']}'\nOTHER=ignored\n\n")
    with e6driver.connect() as conn:
        assert conn.port == server.port
        conn.cursor().execute("SELECT 1")
    monkeypatch.setenv("E6DRIVER_PASSWORD", "wrong")  # the environment wins over .env
    with pytest.raises(e6driver.AuthenticationError):
        e6driver.connect()
    monkeypatch.delenv("E6DRIVER_PASSWORD")
    other = tmp_path / "elsewhere.env"
    other.write_text(f"E6DRIVER_PORT={server.port}\nE6DRIVER_USER=alice\nE6DRIVER_PASSWORD={USERS['alice']}\n")
    monkeypatch.setenv("E6DRIVER_ENV_FILE", str(other))
    with e6driver.connect() as conn:
        assert "alice-env" in [b.name for b in conn.objects.buckets()]
    monkeypatch.setenv("E6DRIVER_ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(e6driver.InterfaceError, match="E6DRIVER_ENV_FILE"):
        e6driver.connect()


def test_endpoint_rules_without_a_server(tmp_path):
    env = {"E6DRIVER_USER": "u", "E6DRIVER_PASSWORD": "p", "E6DRIVER_ACCESS_TOKEN": "t", "E6DRIVER_PORT": "99"}
    assert endpoint(None, None, "me", "mine", None, environ=env) == endpoint(
        None, 99, "me", "mine", None, environ={})  # given credentials: none taken from env
    assert endpoint(None, None, "me", None, None, environ=env).password == "p"  # a user alone: its password
    assert endpoint(None, None, None, None, None, other_credentials=True, environ=env).username is None
    token_only = endpoint(None, None, None, None, None, environ={"E6DRIVER_ACCESS_TOKEN": "t"})
    assert (token_only.access_token, token_only.username, token_only.port) == ("t", None, 80)
    with pytest.raises(e6driver.InterfaceError, match="E6DRIVER_PORT"):
        endpoint(None, None, None, None, None, environ={"E6DRIVER_PORT": "http"})
    bad = tmp_path / "bad.env"
    bad.write_text("some other tool's line\nE6DRIVER_HOST=h\nE6DRIVER_USER\n")
    with pytest.raises(e6driver.InterfaceError, match="line 3"):
        read_env_file(str(bad))
    bad.write_text("some other tool's line\nE6DRIVER_HOST=h\n")
    assert read_env_file(str(bad)) == {"E6DRIVER_HOST": "h"}
    everything = endpoint("h", 1, "me", "mine", None, environ={"E6DRIVER_ENV_FILE": str(tmp_path / "none.env")})
    assert (everything.host, everything.port, everything.username) == ("h", 1, "me")  # no file needed


# ---------------------------------------------------------------------------------------------- network


def test_unreachable_server_is_connection_lost():
    port = free_port()  # nothing listens there
    conn = e6driver.connect(host="127.0.0.1", port=port, username="root", password="x", lazy=True,
                            connect_timeout=2)  # loaded CI: room to hear "refused"
    try:
        with pytest.raises(e6driver.ConnectionLostError) as info:
            conn.objects.list(BUCKET)
        assert isinstance(info.value, e6driver.OperationalError) and info.value.grpc_code == "UNAVAILABLE"
        with pytest.raises(e6driver.ConnectionLostError):
            conn.cursor().execute("SELECT 1")
    finally:
        conn.close()
    with pytest.raises(e6driver.ConnectionLostError):
        e6driver.connect(host="127.0.0.1", port=port, username="root", password="x", connect_timeout=2)


from test_s3 import s3_server, seaweed  # noqa: E402,F401 - the SeaweedFS fixtures of the S3 tests
