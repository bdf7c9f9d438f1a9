"""Key-value tables attacked by an ordinary user (alice): other users' tables, hostile expressions, keys, table
and attribute names, injection through names and values, and every limit. Each attack ends with a clear error,
bob's data intact and the engine still serving."""
from __future__ import annotations

import grpc
import pytest

import e6driver
from e6driver._proto import e6driver_kv_pb2 as kv_pb, e6driver_kv_pb2_grpc, e6driver_stores_pb2 as st_pb
from e6driver.errors import OperationalError, PermissionDeniedError, ProgrammingError
from mock_server.kv.expressions import MAX_CHARS, MAX_DEPTH
from mock_server.limits import Limits

from accounts import USERS

INJECTIONS = ["x'; DROP TABLE kv_items; --", "1); DELETE FROM kv_items; --", "' OR '1'='1", '"; ATTACH \'/etc\'',
              "../../etc/passwd", "%s %s", "{b64}"]


@pytest.fixture
def bobs(connect):
    """bob's private table with one item; returns a check that it is untouched."""
    bob = connect("bob")
    bob.kv.put_item("bob_private", "secret", {"pin": 1234, "note": "mine"})

    def intact() -> None:
        assert bob.kv.get_item("bob_private", "secret") == {"pin": 1234, "note": "mine"}
        assert [i["__name"] for i in bob.kv.scan("bob_private")] == ["secret"]
    return intact


def test_other_users_tables_are_refused_everywhere(connect, bobs, server, still_serves):
    kv = connect("alice").kv
    attempts = [
        lambda: kv.get_item("bob_private", "secret"),
        lambda: kv.put_item("bob_private", "x", {"a": 1}),
        lambda: kv.update_item("bob_private", "secret", expression="pin = 0"),
        lambda: kv.update_item("bob_private", "secret", {"pin": 0}),
        lambda: kv.delete_item("bob_private", "secret"),
        lambda: list(kv.scan("bob_private")),
        lambda: kv.create_table("bob_private"),
        lambda: kv.delete_table("bob_private"),
        lambda: kv.grant("bob_private", "alice", "write"),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError, match="'bob_private'"):
            attempt()
    # a missing table looks the same as a forbidden one: names do not leak
    with pytest.raises(PermissionDeniedError) as missing:
        kv.get_item("no_such_table", "k")
    with pytest.raises(PermissionDeniedError) as forbidden:
        kv.get_item("bob_private", "k")
    assert str(missing.value).replace("no_such_table", "T") == str(forbidden.value).replace("bob_private", "T")
    assert "bob_private" not in [t.name for t in kv.list_tables()]
    bobs()
    still_serves(server)


def test_sql_cannot_read_other_users_tables(connect, bobs):
    alice = connect("alice")
    cur = alice.cursor()
    for sql in ("SELECT * FROM kv.bob_private", "SELECT * FROM kv.main.bob_private",
                'SELECT * FROM kv."bob_private"', "SELECT * FROM (SELECT pin FROM kv.bob_private) t"):
        with pytest.raises(e6driver.DatabaseError, match="may not read key-value table 'bob_private'"):
            cur.execute(sql)
    assert alice.get_tables(catalog="kv", database="main") == []
    assert alice.get_columns(catalog="kv", database="main", table="bob_private") == []
    # A name `kv` standing alone (an alias, a table of the shared catalog) makes kv.<x> outside FROM/JOIN a
    # column: a two-part name in a table position never reaches bob's items that way.
    for sql in ("SELECT * FROM (SELECT 1 AS x) AS kv, kv.bob_private",
                "SELECT * FROM (SELECT 1 AS x) kv CROSS JOIN LATERAL (SELECT * FROM kv.bob_private) t",
                "SELECT kv.pin FROM kv.bob_private AS kv"):
        try:
            cur.execute(sql)
            rows = cur.fetchall()
        except e6driver.DatabaseError as exc:
            assert "1234" not in str(exc)
        else:
            assert all("1234" not in repr(row) and 1234 not in row for row in rows), (sql, rows)
    bobs()


def test_the_admin_reaches_every_table_and_grants_do_not_outlive_a_table(connect, bobs):
    root, alice, bob = connect("root"), connect("alice"), connect("bob")
    assert root.kv.get_item("bob_private", "secret") == {"pin": 1234, "note": "mine"}
    bob.kv.put_item("reused", "k", {"v": 1})
    bob.kv.grant("reused", "alice", "write")
    with pytest.raises(PermissionDeniedError, match="only the owner"):  # a writer may not re-grant or drop
        alice.kv.grant("reused", "root", "read")
    with pytest.raises(PermissionDeniedError, match="only the owner"):
        alice.kv.delete_table("reused")
    assert bob.kv.delete_table("reused")
    root.kv.put_item("reused", "k", {"v": "root's now"})
    with pytest.raises(PermissionDeniedError):  # alice's grant went with bob's table
        alice.kv.get_item("reused", "k")
    with pytest.raises(ProgrammingError, match="unknown user"):
        root.kv.grant("reused", "mallory", "read")
    with pytest.raises(ProgrammingError, match="access must be one of"):
        root.kv.grant("reused", "alice", "owner")


@pytest.mark.parametrize("expression", [
    "a = 1; DROP TABLE kv_items",
    "a = 1'; DELETE FROM kv_items; --",
    "a = 'unterminated",
    "a = 1 -- comment",
    "a = `b`",
    "a = \"b\"",
    "a = b[0]",
    "a = b.c",
    "a == 1",
    "a = 1 a = 2",
    "a = ",
    "",
    ";",
    "__name = 'other'",
    "__proto__ = 1",
    "and = 1",
    "a = nosuchfn(1)",
    "a = exists('b')",
    "a = 1 < 2 < 3",
    "a = 99999999999999999999",
    "a = 1e999",
    "a = 1 / 0",
    "a = 5 % 0",
    "a = 'x' * 3",
    "a = 'x' - 1",
    "a = true + 1",
    "a = 9223372036854775807 + 1",
    "a = -9223372036854775807 - 2",
    "a = 3037000500 * 3037000500",
    "a = 1.7e308 * 10",
    "a = NOT 1",
    "a = length(5)",
    "a = " + "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
    "a = " + "-" * (MAX_DEPTH + 2) + "x",
    "a = " + "NOT " * (MAX_DEPTH + 2) + "true",
    "a = " + "1" * (MAX_CHARS + 1),
])
def test_hostile_update_expressions_are_refused_and_change_nothing(connect, bobs, expression):
    kv = connect("alice").kv
    kv.put_item("mine", "k", {"b": "x", "n": 1})
    with pytest.raises((ProgrammingError, e6driver.DataError, OperationalError)) as info:
        kv.update_item("mine", "k", expression=expression)
    assert "Traceback" not in str(info.value) and "/tmp" not in str(info.value)
    assert kv.get_item("mine", "k") == {"b": "x", "n": 1}
    bobs()


@pytest.mark.parametrize("condition", [
    "1; DROP TABLE kv_items", "n = 1' OR '1'='1", "n", "'text'", "n + 1", "exists(n) AND", "(n = 1",
    "n = 1)", "n IN ()", "n IN 1", "(" * 5000, "NOT " * 5000 + "true", " OR ".join(["n = 1"] * 2000) + " OR",
])
def test_hostile_conditions_and_filters_are_refused(connect, condition):
    kv = connect("alice").kv
    kv.put_item("cond", "k", {"n": 1})
    with pytest.raises(ProgrammingError):
        kv.update_item("cond", "k", {"n": 2}, condition=condition)
    with pytest.raises(ProgrammingError):
        list(kv.scan("cond", filter=condition))
    assert kv.get_item("cond", "k") == {"n": 1}


def test_long_flat_expressions_do_not_exhaust_the_stack(connect):
    kv = connect("alice").kv
    terms = (MAX_CHARS - 10) // 2
    assert kv.update_item("flat", "k", expression="a = " + "+".join(["1"] * terms))["a"] == terms
    kv.put_item("flat", "k", {"n": 1})
    assert kv.update_item("flat", "k", {"n": 2}, condition=" OR ".join(["n = 0"] * 1500) + " OR n = 1")


def test_injection_through_values_is_stored_as_data(connect):
    alice = connect("alice")
    for n, text in enumerate(INJECTIONS):
        alice.kv.put_item("values", f"k{n}", {"text": text, "raw": text.encode()})
        alice.kv.update_item("values", f"k{n}", expression="copy = text + ''")
    for n, text in enumerate(INJECTIONS):
        assert alice.kv.get_item("values", f"k{n}") == {"text": text, "raw": text.encode(), "copy": text}
    cur = alice.cursor()
    cur.execute("SELECT count(*) FROM kv.values WHERE text = copy AND CAST(raw AS VARCHAR) IS NOT NULL")
    assert cur.fetchall() == [(len(INJECTIONS),)]
    quoted = INJECTIONS[0].replace("'", "''")
    assert [i["__name"] for i in alice.kv.scan("values", filter=f"text = '{quoted}'")] == ["k0"]


@pytest.mark.parametrize("name", INJECTIONS + [
    "", "a b", "a-b", "1abc", "__name", "__x", "AND", "or", "Remove", "x" * 256, "naïve", "a\x00b", "a.b",
    'a"b', "a'b", "a;b"])
def test_hostile_attribute_names_are_refused(connect, bobs, name):
    kv = connect("alice").kv
    with pytest.raises(ProgrammingError, match="attribute name|reserved"):
        kv.put_item("names", "k", {name: 1})
    with pytest.raises(ProgrammingError):
        kv.update_item("names", "k", {name: 1})
    if name != "__name":  # the key: a name reads may ask for
        with pytest.raises(ProgrammingError):
            kv.get_item("names", "k", attributes=[name])
    bobs()


def test_attribute_names_differing_only_by_case_are_refused(connect):
    kv = connect("alice").kv
    kv.put_item("cases", "k", {"Total": 1})
    with pytest.raises(ProgrammingError, match="only by case"):
        kv.put_item("cases", "k2", {"total": 2})


@pytest.mark.parametrize("table", INJECTIONS + ["", "UPPER", "a b", "-lead", "1abc", "x" * 64, "kv_items",
                                                "a/b", "a.b", "a\x00"])
def test_hostile_table_names_are_refused_or_harmless(connect, bobs, table):
    kv = connect("alice").kv
    if table == "kv_items":  # a fine name: it is a table of alice's, not the store's own
        kv.put_item(table, "k", {"a": 1})
        assert kv.get_item(table, "k") == {"a": 1}
        kv.delete_table(table)
    else:
        with pytest.raises(ProgrammingError, match="bad key-value table name"):
            kv.put_item(table, "k", {"a": 1})
    bobs()


@pytest.mark.parametrize("key", ["../../etc/passwd", "'; DROP TABLE kv_items; --", "a%s", "🔑 key", "\\", "k" * 1024])
def test_odd_keys_are_plain_data(connect, key):
    kv = connect("alice").kv
    kv.put_item("keys", key, {"v": 1})
    assert kv.get_item("keys", key) == {"v": 1}
    assert [i["__name"] for i in kv.scan("keys", filter="__name = __name")].count(key) == 1
    assert kv.delete_item("keys", key)


@pytest.mark.parametrize("key", ["", "a\x00b", "line\nbreak", "tab\t", "\x7f"])
def test_bad_keys_are_refused(connect, key):
    with pytest.raises(ProgrammingError, match="key"):
        connect("alice").kv.put_item("keys", key, {"v": 1})


def test_values_no_attribute_can_hold_are_refused_by_the_driver_and_the_server(connect, server):
    kv = connect("alice").kv
    for value in (None, [1], {"a": 1}, 1 << 63, object()):
        with pytest.raises(e6driver.DataError):
            kv.put_item("vals", "k", {"a": value})
    with grpc.insecure_channel(server.address) as channel:  # a Value without a kind, sent raw
        stub = e6driver_kv_pb2_grpc.KeyValueServiceStub(channel)
        auth = st_pb.Auth(user="alice", password=USERS["alice"])
        with pytest.raises(grpc.RpcError) as info:
            stub.PutItem(kv_pb.PutItemRequest(auth=auth, table="vals", key="k", attributes={"a": kv_pb.Value()}))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "has no value" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            stub.GetItem(kv_pb.GetItemRequest(table="vals", key="k"))  # no credentials at all
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_limits(engine, still_serves):
    limits = Limits(max_kv_tables_per_user=2, max_kv_item_bytes=2000, max_kv_attributes=3, max_kv_key_bytes=16)
    srv = engine(limits=limits)
    with e6driver.connect(host="127.0.0.1", port=srv.port, username="alice", password=USERS["alice"]) as conn:
        kv = conn.kv
        kv.create_table("t1")
        kv.put_item("t2", "k", {"a": 1})
        with pytest.raises(OperationalError, match=r"max_kv_tables_per_user=2 \(server flag --max-kv-tables-per-user"):
            kv.put_item("t3", "k", {"a": 1})
        with pytest.raises(OperationalError, match="max_kv_key_bytes=16"):
            kv.put_item("t1", "k" * 17, {"a": 1})
        with pytest.raises(OperationalError, match="max_kv_item_bytes=2000"):
            kv.put_item("t1", "big", {"s": "x" * 2000})
        kv.put_item("t1", "grow", {"s": "x" * 600})
        with pytest.raises(OperationalError, match="max_kv_item_bytes"):  # growth by an expression
            for _ in range(3):
                kv.update_item("t1", "grow", expression="s = s + s")
        assert len(kv.get_item("t1", "grow")["s"]) == 1200  # the refused update left the item whole
        kv.put_item("t2", "wide", {"a": 1, "b": 2, "c": 3})
        with pytest.raises(OperationalError, match="max_kv_attributes=3"):
            kv.update_item("t2", "wide", {"d": 4})
        assert kv.get_item("t2", "wide") == {"a": 1, "b": 2, "c": 3}
        assert kv.delete_table("t1")
        kv.create_table("t3")  # deleting frees a table
    still_serves(srv)
