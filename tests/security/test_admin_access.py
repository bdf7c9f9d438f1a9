"""The admin API attacked by an ordinary user: every AccountService call and every system.* table is refused
(also to created users and over a bearer token), names are checked, the number of users is capped, tokens
never rest in plain text, and a guessed token or a token id with another secret gets nothing."""
from __future__ import annotations

import os

import grpc
import pytest

import e6driver
from e6driver._proto import e6driver_accounts_pb2 as ac_pb, e6driver_accounts_pb2_grpc
from e6driver._proto import e6driver_stores_pb2 as st_pb
from e6driver.errors import (AuthenticationError, IntegrityError, OperationalError, PermissionDeniedError,
                             ProgrammingError)
from mock_server.__main__ import parse_args
from mock_server.errors import EngineError
from mock_server.limits import Limits

from accounts import USERS

CALLS = {
    "create_user": lambda admin: admin.create_user("mallory"),
    "disable_user": lambda admin: admin.disable_user("bob"),
    "enable_user": lambda admin: admin.enable_user("bob"),
    "list_users": lambda admin: admin.list_users(),
    "reset_token": lambda admin: admin.reset_token("bob"),
    "grants": lambda admin: admin.grants(),
    "statistics": lambda admin: admin.statistics(),
}


def _root(server, **kw) -> e6driver.Connection:
    return e6driver.connect(host="127.0.0.1", port=server.port, username="root", password=USERS["root"],
                            connect_timeout=20, **kw)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_ordinary_user_is_refused_every_call(server, connect, call, still_serves):
    with pytest.raises(PermissionDeniedError, match="for the admin user only"):
        CALLS[call](connect("alice").admin)
    with _root(server) as root:
        users = {u.name: u for u in root.admin.list_users()}
    assert set(users) == set(USERS) and not users["bob"].disabled
    still_serves(server)


def test_a_created_user_and_a_bearer_token_are_refused_too(server):
    with _root(server) as root:
        token = root.admin.create_user("carol").token
    for options in ({"username": "carol", "password": token}, {"access_token": token},
                    {"access_token": USERS["alice"]}):
        with e6driver.connect(host="127.0.0.1", port=server.port, connect_timeout=20, **options) as conn:
            for call in CALLS.values():
                with pytest.raises(PermissionDeniedError):
                    call(conn.admin)


def test_wrong_credentials_are_refused_before_any_authorization(server):
    with grpc.insecure_channel(server.address) as channel:
        stub = e6driver_accounts_pb2_grpc.AccountServiceStub(channel)
        for auth, code in ((st_pb.Auth(user="root", password="wrong"), grpc.StatusCode.UNAUTHENTICATED),
                           (st_pb.Auth(user="nobody", password="x"), grpc.StatusCode.UNAUTHENTICATED),
                           (st_pb.Auth(), grpc.StatusCode.UNAUTHENTICATED),
                           (st_pb.Auth(session_id="not-a-session"), grpc.StatusCode.INTERNAL)):  # re-authenticate
            with pytest.raises(grpc.RpcError) as info:
                stub.ListUsers(ac_pb.ListUsersRequest(auth=auth))
            assert info.value.code() == code
            assert "admin" not in info.value.details()  # nothing said about who may call it


@pytest.mark.parametrize("table", ["system.users", "system.grants", "system.statistics", "system.main.users",
                                   "system.main.statistics"])
def test_system_tables_are_refused_to_ordinary_users(connect, table):
    cur = connect("alice").cursor()
    with pytest.raises(PermissionDeniedError, match=f"table system.{table.split('.')[-1]} is for the admin"):
        cur.execute(f"SELECT * FROM {table}")
    with pytest.raises(PermissionDeniedError):  # inside a larger statement too
        cur.execute(f"SELECT 1 WHERE EXISTS (SELECT 1 FROM {table})")


def test_browsing_shows_ordinary_users_nothing_of_the_system_catalog(connect):
    conn = connect("alice")
    assert conn.get_schema_names(catalog="system") == []
    assert conn.get_tables(catalog="system", database="main") == []
    assert conn.get_columns(catalog="system", database="main", table="users") == []


def test_unknown_system_tables_are_an_error_for_the_admin(server):
    with _root(server) as root:
        with pytest.raises(ProgrammingError, match="catalog system has system.users"):
            root.cursor().execute("SELECT * FROM system.passwords")


@pytest.mark.parametrize("name", ["", "A", "Carol", "1abc", "_x", "a" * 65, "../etc", "a/b", "a b", "a\x00b",
                                  "caról", "main", "information", "a;drop"])
def test_bad_names_are_refused(server, name):
    with _root(server) as root:
        with pytest.raises(ProgrammingError, match="user name"):
            root.admin.create_user(name)
        assert {u.name for u in root.admin.list_users()} == set(USERS)


def test_existing_and_admin_names_cannot_be_taken(engine):
    srv = engine(admin_user="operator")  # an admin without a configured password
    with e6driver.connect(host="127.0.0.1", port=srv.port, username="alice", password=USERS["alice"],
                          connect_timeout=20) as alice:
        with pytest.raises(PermissionDeniedError):  # the first user is not the admin here
            alice.admin.list_users()
    assert srv.sessions.admin_user == "operator"
    srv2 = engine()
    with _root(srv2) as root:
        for name in ("bob", "root"):
            with pytest.raises(ProgrammingError, match="already exists"):
                root.admin.create_user(name)
        root.admin.create_user("carol")
        with pytest.raises(ProgrammingError, match="already exists"):
            root.admin.create_user("carol")
    with pytest.raises(EngineError, match="already exists"):
        srv.sessions.accounts.create("operator")  # the admin's name, were it free, would make an admin


def test_the_admin_cannot_be_disabled_nor_a_configured_password_reset(server):
    with _root(server) as root:
        with pytest.raises(IntegrityError, match="admin user cannot be disabled"):
            root.admin.disable_user("root")
        with pytest.raises(IntegrityError, match="configured"):
            root.admin.reset_token("bob")
        with pytest.raises(ProgrammingError, match="no user"):
            root.admin.disable_user("nobody")
        with pytest.raises(ProgrammingError, match="no user"):
            root.admin.reset_token("nobody")


def test_the_number_of_users_is_capped(engine, still_serves):
    assert parse_args([]).limits.max_users == 1000
    assert parse_args(["--max-users", "4"]).limits.max_users == 4
    srv = engine(limits=Limits(max_users=len(USERS) + 1))
    with _root(srv) as root:
        root.admin.create_user("carol")
        with pytest.raises(OperationalError, match=r"max_users=4 \(server flag --max-users\)"):
            root.admin.create_user("dave")
        assert root.admin.statistics().users == 4
    still_serves(srv)


def test_tokens_never_rest_in_plain_text(engine, tmp_path):
    srv = engine()
    with _root(srv) as root:
        first = root.admin.create_user("carol").token
        second = root.admin.reset_token("carol")
    srv.stop(0)
    # e6u_<id>_<secret>: the secret itself may contain "_" (URL-safe base64), so split from the left.
    secrets = [t.encode() for t in (first, second)] + [t.split("_", 2)[2].encode() for t in (first, second)]
    assert all(len(s) >= 6 for s in secrets)  # a short piece would be found in any file by chance
    secrets += [USERS[u].encode() for u in USERS]
    files = [os.path.join(d, f) for d, _, names in os.walk(tmp_path) for f in names]
    assert any(f.endswith("accounts.json") for f in files)
    for path in files:
        with open(path, "rb") as handle:
            content = handle.read()
        assert not any(s in content for s in secrets), path
    accounts = [f for f in files if f.endswith("accounts.json")][0]
    assert os.stat(accounts).st_mode & 0o077 == 0  # readable by the server's user only


def test_a_guessed_token_or_a_known_token_id_with_another_secret_gets_nothing(server):
    with _root(server) as root:
        token = root.admin.create_user("carol").token
    prefix = "_".join(token.split("_", 2)[:2])
    for guess in (prefix + "_" + "A" * 43, prefix + "_", "e6u_", "e6u_000000000000_x", token[:-1]):
        with e6driver.connect(host="127.0.0.1", port=server.port, access_token=guess, connect_timeout=20) as conn:
            with pytest.raises(AuthenticationError):
                conn.cursor().execute("SELECT 1")
        with pytest.raises(AuthenticationError):
            e6driver.connect(host="127.0.0.1", port=server.port, username="carol", password=guess,
                             connect_timeout=20)
