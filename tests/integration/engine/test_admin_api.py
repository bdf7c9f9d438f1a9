"""The admin API through the driver (``conn.admin``) and SQL (``system.*``): users created at run time connect,
lose their sessions when disabled or given a new token, survive a restart; the grants overview and the platform
statistics match what the stores hold."""
from __future__ import annotations

import datetime
import subprocess
import sys

import pyarrow as pa
import pytest

import e6driver
from e6driver.errors import AuthenticationError
from mock_server.server import EngineServer

ADMIN, ADMIN_PASSWORD = "alice", "alice-token"  # the first user of fresh_server: the admin
OTHER, OTHER_PASSWORD = "bob", "bob-token"


@pytest.fixture
def srv(fresh_server, tmp_path):
    return fresh_server(data_dir=str(tmp_path / "data"))


def connect(server: EngineServer, user: str = ADMIN, password: str = ADMIN_PASSWORD, **kw) -> e6driver.Connection:
    kw.setdefault("connect_timeout", 20)
    if user is None:
        return e6driver.connect(host="127.0.0.1", port=server.port, **kw)
    return e6driver.connect(host="127.0.0.1", port=server.port, username=user, password=password, **kw)


def one_value(conn: e6driver.Connection, sql: str):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchall()[0][0]


def test_a_created_user_connects_with_its_token_and_is_listed(srv):
    with connect(srv) as admin:
        created = admin.admin.create_user("carol")
        assert created.user.name == "carol" and not created.user.admin and not created.user.configured
        assert created.user.last_login is None and created.token
        with connect(srv, "carol", created.token) as carol:
            assert one_value(carol, "SELECT 40 + 2") == 42
        with connect(srv, None, access_token=created.token) as bearer:  # the token as a bearer token
            assert one_value(bearer, "SELECT current_user IS NOT NULL") is True
        users = {u.name: u for u in admin.admin.list_users()}
        assert set(users) == {ADMIN, OTHER, "carol"}
        assert users[ADMIN].admin and users[ADMIN].configured and not users[OTHER].admin
        now = datetime.datetime.now(datetime.timezone.utc)
        assert users["carol"].last_login is not None and abs(now - users["carol"].last_login).total_seconds() < 60
        assert users[OTHER].last_login is None


def test_resetting_a_token_invalidates_the_old_one_and_ends_sessions(srv):
    with connect(srv) as admin:
        old = admin.admin.create_user("carol").token
        carol = connect(srv, "carol", old)
        assert one_value(carol, "SELECT 1") == 1
        new = admin.admin.reset_token("carol")
        assert new != old
        with pytest.raises(AuthenticationError, match="invalid user name or password"):
            connect(srv, "carol", old)
        with pytest.raises(AuthenticationError):  # its session ended; re-authenticating with the old token fails
            one_value(carol, "SELECT 1")
        carol.close()
        with connect(srv, "carol", new) as again:
            assert one_value(again, "SELECT 2") == 2


def test_disabling_ends_sessions_and_refuses_logins_until_enabled(srv):
    with connect(srv) as admin:
        token = admin.admin.create_user("carol").token
        carol = connect(srv, "carol", token)
        bob = connect(srv, OTHER, OTHER_PASSWORD)
        assert one_value(carol, "SELECT 1") == 1
        for name in ("carol", OTHER):
            assert admin.admin.disable_user(name).disabled
        for conn in (carol, bob):
            with pytest.raises(AuthenticationError, match="is disabled"):
                one_value(conn, "SELECT 1")
            conn.close()
        with connect(srv, None, access_token=token) as bearer:  # a token is checked at first use
            with pytest.raises(AuthenticationError, match="is disabled"):
                one_value(bearer, "SELECT 1")
        assert admin.admin.statistics().disabled_users == 2
        assert not admin.admin.enable_user("carol").disabled
        with connect(srv, "carol", token) as again:
            assert one_value(again, "SELECT 3") == 3


def test_created_users_and_disabled_state_survive_a_restart(fresh_server, tmp_path):
    data = str(tmp_path / "data")
    first = fresh_server(data_dir=data)
    with connect(first) as admin:
        token = admin.admin.create_user("carol").token
        admin.admin.create_user("dave")
        admin.admin.disable_user("dave")
        admin.admin.disable_user(OTHER)  # a configured user's state is kept too
    first.stop(0)
    second = fresh_server(data_dir=data)
    with connect(second, "carol", token) as carol:
        assert one_value(carol, "SELECT 5") == 5
    with connect(second) as admin:
        users = {u.name: u for u in admin.admin.list_users()}
        assert users["dave"].disabled and users[OTHER].disabled and not users["carol"].disabled
        assert users["carol"].last_login is not None
    with pytest.raises(AuthenticationError, match="is disabled"):
        connect(second, OTHER, OTHER_PASSWORD)


def _populate(admin: e6driver.Connection, carol_token: str, srv: EngineServer, tmp_path) -> None:
    admin.objects.create_bucket("shared-logs")
    admin.objects.put("shared-logs", "a.txt", b"hello")
    admin.objects.put("shared-logs", "b.txt", b"world!")
    admin.objects.grant("shared-logs", "carol", "write")
    admin.datasets.upload("sales", pa.table({"day": [1, 2]}))
    admin.datasets.update("sales", pa.table({"day": [1, 2, 3]}))
    admin.datasets.grant("sales", OTHER)
    with connect(srv, "carol", carol_token) as carol:  # an owner has write on what it created
        carol.objects.create_bucket("carol-own")
        carol.kv.put_item("carol-items", "k1", {"n": 1})
        carol.kv.grant("carol-items", OTHER, "read")
        carol.streams.create("carol-events")
        carol.streams.grant("carol-events", OTHER, "write")
    admin.datasets.download("sales", str(tmp_path / "sales.arrows"))


def test_grants_overview_and_statistics(srv, tmp_path):
    with connect(srv) as admin:
        _populate(admin, admin.admin.create_user("carol").token, srv, tmp_path)
        assert [(g.kind, g.resource, g.grantee, g.access) for g in admin.admin.grants()] == [
            ("bucket", "carol-own", "carol", "write"), ("bucket", "shared-logs", "carol", "write"),
            ("dataset", "sales", OTHER, "read"), ("kv_table", "carol-items", OTHER, "read"),
            ("kv_table", "carol-items", "carol", "write"), ("stream", "carol-events", OTHER, "write"),
            ("stream", "carol-events", "carol", "write")]
        stats = admin.admin.statistics()
        listed = admin.datasets.list()
        assert (stats.users, stats.disabled_users, stats.datasets, stats.dataset_versions) == (3, 0, 1, 2)
        assert stats.dataset_bytes == sum(d.bytes for d in listed) > 0
        assert stats.downloads == 1
        assert (stats.buckets, stats.objects, stats.object_bytes) == (2, 2, 11)


def test_statistics_count_objects_without_describing_them(srv, monkeypatch):
    """A file placed in a bucket behind the store's back counts with its size; statistics never read it (listing
    it would compute its MD5: a cost per byte of every such file, on every call)."""
    import os

    from mock_server.objects import store as store_module

    with connect(srv) as admin:
        admin.objects.create_bucket("placed")
        admin.objects.put("placed", "mine.txt", b"12345")
        os.makedirs(os.path.join(srv.object_stores.backend.root, "placed", "dir"))
        with open(os.path.join(srv.object_stores.backend.root, "placed", "dir", "theirs.bin"), "wb") as handle:
            handle.write(b"x" * 1000)

        def unread(path):
            raise AssertionError(f"statistics read {path}")
        monkeypatch.setattr(store_module, "md5_file", unread)
        stats = admin.admin.statistics()
        assert (stats.buckets, stats.objects, stats.object_bytes) == (1, 2, 1005)
        with pytest.raises(e6driver.Error):
            admin.objects.list("placed")  # listing describes it: the MD5 this test forbids


def test_system_tables_in_sql(srv, tmp_path):
    with connect(srv) as admin:
        _populate(admin, admin.admin.create_user("carol").token, srv, tmp_path)
        admin.admin.disable_user("carol")
        cur = admin.cursor()
        cur.execute("SELECT name, admin, disabled, configured FROM system.users ORDER BY name")
        assert cur.fetchall() == [(ADMIN, True, False, True), (OTHER, False, False, True),
                                  ("carol", False, True, False)]
        cur.execute("SELECT kind, resource, grantee, access FROM system.main.grants WHERE kind = 'dataset'")
        assert cur.fetchall() == [("dataset", "sales", OTHER, "read")]
        cur.execute("SELECT users, disabled_users, datasets, dataset_versions, downloads, buckets, objects, "
                    "object_bytes FROM system.statistics")
        assert cur.fetchall() == [(3, 1, 1, 2, 1, 2, 2, 11)]
        cur.execute("SELECT u.name, count(g.resource) FROM system.users u LEFT JOIN system.grants g "
                    "ON g.grantee = u.name GROUP BY u.name ORDER BY u.name")
        assert cur.fetchall() == [(ADMIN, 0), (OTHER, 3), ("carol", 4)]
        assert admin.get_schema_names(catalog="system") == ["main"]
        assert admin.get_tables(catalog="system", database="main") == ["users", "grants", "statistics"]
        columns = admin.get_columns(catalog="system", database="main", table="users")
        assert [c["fieldName"] for c in columns] == ["name", "admin", "disabled", "configured", "created",
                                                    "last_login"]


def admin_cli(srv: EngineServer, *command: str, password: str = ADMIN_PASSWORD) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mock_server.admin", "--target", srv.address, "--user", ADMIN,
                           "--password", password, *command], capture_output=True, text=True, timeout=60)


def test_the_admin_cli_manages_users(srv):
    created = admin_cli(srv, "create-user", "carol")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    with connect(srv, "carol", token) as carol:
        assert one_value(carol, "SELECT 7") == 7
    # carol's one session (the protocol has no logout: it lives until its TTL) ends
    assert admin_cli(srv, "disable-user", "carol").stdout.strip() == "user carol disabled; 1 session(s) ended"
    assert admin_cli(srv, "disable-user", "carol").stdout.strip() == "user carol was already disabled"
    listing = admin_cli(srv, "list-users").stdout.splitlines()
    assert [line.split("\t")[:2] for line in listing] == [[ADMIN, "admin,configured"], [OTHER, "configured"],
                                                          ["carol", "disabled"]]
    assert admin_cli(srv, "enable-user", "carol").stdout.strip() == "user carol enabled"
    new = admin_cli(srv, "reset-token", "carol").stdout.strip()
    assert new and new != token
    with connect(srv, "carol", new) as carol:
        assert one_value(carol, "SELECT 8") == 8
    refused = admin_cli(srv, "create-user", "Bad Name")
    assert refused.returncode == 1 and "INVALID_ARGUMENT" in refused.stderr and "invalid user name" in refused.stderr
    wrong = admin_cli(srv, "list-users", password="wrong")
    assert wrong.returncode == 1 and "UNAUTHENTICATED" in wrong.stderr
