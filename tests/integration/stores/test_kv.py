"""Key-value items (``conn.kv``) used the way the V3IO SDK's README uses ``v3io_client.kv``: put records, add
attributes with an update, get with chosen attributes, query with a filter through an items cursor, delete —
plus atomic conditional updates, SQL over ``kv.<table>`` and many writers on one counter."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import e6driver
from e6driver.errors import ConditionFailedError

BOBS_BURGERS = {
    "bob": {"age": 42, "feature": "mustache"},
    "linda": {"age": 41, "feature": "singing"},
    "louise": {"age": 9, "feature": "bunny ears"},
}


@pytest.fixture(scope="module")
def burgers(alice):
    """The README's table, put item by item."""
    for key, attributes in BOBS_BURGERS.items():
        assert alice.kv.put_item("bobs-burgers", key, attributes) is True
    return "bobs-burgers"


def test_the_v3io_readme_flow(alice, burgers):
    # adds two fields (height, quip) to the louise record
    item = alice.kv.update_item(burgers, "louise", attributes={"height": 130, "quip": "i can smell fear on you"})
    assert item == {"age": 9, "feature": "bunny ears", "height": 130, "quip": "i can smell fear on you"}

    # get a record by key, specifying specific attributes
    assert alice.kv.get_item(burgers, "louise", attributes=["age", "quip", "height"]) == {
        "age": 9, "quip": "i can smell fear on you", "height": 130}

    # a query, iterated with an items cursor
    cursor = alice.kv.scan(burgers, attributes=["age", "feature"], filter="age > 15")
    assert list(cursor) == [{"__name": "bob", "age": 42, "feature": "mustache"},
                            {"__name": "linda", "age": 41, "feature": "singing"}]

    assert alice.kv.delete_item(burgers, "bob") is True
    assert alice.kv.get_item(burgers, "bob") is None
    assert alice.kv.delete_item(burgers, "bob") is False
    assert [i["__name"] for i in alice.kv.scan(burgers)] == ["linda", "louise"]


def test_values_keep_their_types(alice):
    attributes = {"i": -(1 << 63), "f": 1.0, "s": "żółw ✓", "t": True, "b": b"\x00\xff", "big": (1 << 63) - 1}
    alice.kv.put_item("typed", "k", attributes)
    got = alice.kv.get_item("typed", "k")
    assert got == attributes
    assert {n: type(v) for n, v in got.items()} == {n: type(v) for n, v in attributes.items()}
    assert alice.kv.get_item("typed", "absent") is None


def test_put_replaces_the_whole_item_and_update_merges(alice):
    alice.kv.put_item("replace", "k", {"a": 1, "b": 2})
    assert alice.kv.put_item("replace", "k", {"c": 3}) is False
    assert alice.kv.get_item("replace", "k") == {"c": 3}
    assert alice.kv.update_item("replace", "k", {"d": "x"}) == {"c": 3, "d": "x"}


def test_update_expressions_run_in_order_and_conditions_guard_them(alice):
    kv = alice.kv
    kv.put_item("counters", "c1", {"counter": 4, "name": "x"})
    item = kv.update_item("counters", "c1", expression="counter = counter + 1; name = 'x'",
                          condition="counter > 3 AND name = 'x'")
    assert item == {"counter": 5, "name": "x"}
    item = kv.update_item("counters", "c1", expression="SET total = counter * 2.5; counter = counter - 1; "
                                                       "REMOVE name; tag = if_not_exists(tag, 'new') + '!'")
    assert item == {"counter": 4, "total": 12.5, "tag": "new!"}

    with pytest.raises(ConditionFailedError, match="condition failed: counter > 100"):
        kv.update_item("counters", "c1", expression="counter = 0", condition="counter > 100")
    assert isinstance(ConditionFailedError("x"), e6driver.IntegrityError)
    assert kv.get_item("counters", "c1")["counter"] == 4  # nothing changed

    # a missing attribute makes every comparison false; assigning it is an error naming it
    with pytest.raises(ConditionFailedError):
        kv.update_item("counters", "c1", expression="counter = 1", condition="missing != 1")
    with pytest.raises(e6driver.ProgrammingError, match="attribute 'nope' is not set.*if_not_exists"):
        kv.update_item("counters", "c1", expression="counter = nope + 1")
    assert kv.update_item("counters", "c1", expression="counter = 7", condition="NOT exists(nope)")["counter"] == 7


def test_update_creates_a_missing_item_and_conditions_see_no_attributes(alice):
    kv = alice.kv
    assert kv.update_item("fresh", "n", expression="hits = if_not_exists(hits, 0) + 1") == {"hits": 1}
    with pytest.raises(ConditionFailedError):
        kv.update_item("fresh", "m", {"a": 1}, condition="exists(a)")
    assert kv.get_item("fresh", "m") is None
    kv.put_item("fresh", "once", {"v": 1}, condition="NOT exists(v)")
    with pytest.raises(ConditionFailedError):  # put-if-absent
        kv.put_item("fresh", "once", {"v": 2}, condition="NOT exists(v)")
    assert kv.get_item("fresh", "once") == {"v": 1}


def test_conditional_delete(alice):
    alice.kv.put_item("deletes", "k", {"state": "open"})
    with pytest.raises(ConditionFailedError):
        alice.kv.delete_item("deletes", "k", condition="state = 'closed'")
    assert alice.kv.get_item("deletes", "k") == {"state": "open"}
    assert alice.kv.delete_item("deletes", "k", condition="state = 'open'") is True


def test_filters(alice):
    kv = alice.kv
    for n in range(20):
        kv.put_item("people", f"user-{n:02}", {"n": n, "name": "even" if n % 2 == 0 else "odd", "score": n / 4})
    kv.put_item("people", "admin", {"n": "not a number"})

    def keys(expression):
        return [i["__name"] for i in kv.scan("people", filter=expression, attributes=["n"])]

    assert keys("n >= 17") == ["user-17", "user-18", "user-19"]
    assert keys("n IN (1, 3) OR (name = 'even' AND score > 4)") == ["user-01", "user-03", "user-18"]
    assert keys("starts(__name, 'adm')") == ["admin"]
    assert keys("n = 'not a number'") == ["admin"]
    assert keys("length(name) = 3 AND n % 5 = 0") == ["user-05", "user-15"]
    assert keys("ends(__name, '9') AND NOT contains(name, 'ev')") == ["user-09", "user-19"]


def test_scan_pages_limits_and_cursor_methods(alice):
    kv = alice.kv
    for n in range(250):
        kv.put_item("pages", f"k{n:04}", {"n": n})
    cursor = kv.scan("pages", batch_size=32)
    first = cursor.fetchmany(40)
    assert [i["n"] for i in first] == list(range(40))
    assert cursor.fetchone() == {"__name": "k0040", "n": 40}
    assert len(cursor.fetchall()) == 209
    assert cursor.fetchone() is None
    assert [i["n"] for i in kv.scan("pages", limit=5, batch_size=2)] == [0, 1, 2, 3, 4]
    assert [i["n"] for i in kv.scan("pages", filter="n % 100 = 0", limit=2)] == [0, 100]
    assert list(kv.scan("pages", limit=0)) == []


def test_tables_are_listed_created_and_deleted(alice, bob):
    kv = alice.kv
    assert kv.create_table("lifecycle") is True
    assert kv.create_table("lifecycle") is False
    tables = {t.name: t for t in kv.list_tables()}
    assert tables["lifecycle"].owner == "alice" and tables["lifecycle"].access == "write"
    assert "lifecycle" not in {t.name for t in bob.kv.list_tables()}
    kv.put_item("lifecycle", "k", {"a": 1})
    assert kv.delete_table("lifecycle") is True
    assert "lifecycle" not in {t.name for t in kv.list_tables()}
    with pytest.raises(e6driver.PermissionDeniedError):  # gone (and alice no longer owns it)
        kv.get_item("lifecycle", "k")
    kv.put_item("lifecycle", "k2", {"b": 2})  # a new table of the same name starts empty
    assert [i["__name"] for i in kv.scan("lifecycle")] == ["k2"]


def test_grants_let_others_read_then_write(alice, bob):
    alice.kv.put_item("shared", "k", {"v": 1})
    with pytest.raises(e6driver.PermissionDeniedError):
        bob.kv.get_item("shared", "k")
    assert alice.kv.grant("shared", "bob", "read") == "read"
    assert bob.kv.get_item("shared", "k") == {"v": 1}
    with pytest.raises(e6driver.PermissionDeniedError):
        bob.kv.update_item("shared", "k", expression="v = v + 1")
    assert alice.kv.grant("shared", "bob", "write") == "write"
    assert bob.kv.update_item("shared", "k", expression="v = v + 1") == {"v": 2}
    with pytest.raises(e6driver.PermissionDeniedError, match="only the owner"):
        bob.kv.delete_table("shared")
    assert alice.kv.revoke("shared", "bob") == "none"
    with pytest.raises(e6driver.PermissionDeniedError):
        bob.kv.get_item("shared", "k")


def test_sql_reads_and_filters_kv_tables_and_joins_local_ones(alice, rows):
    kv = alice.kv
    kv.put_item("orders", "o1", {"customer": "ann", "amount": 10, "paid": True})
    kv.put_item("orders", "o2", {"customer": "ben", "amount": 2.5})
    kv.put_item("orders", "o3", {"customer": "ann", "amount": 7, "note": "rush"})
    assert rows(alice, "SELECT __name, amount, paid, note FROM kv.orders WHERE customer = 'ann' ORDER BY 1") == [
        ("o1", 10.0, True, None), ("o3", 7.0, None, "rush")]  # amount widened to float by o2's 2.5
    cur = alice.cursor()
    cur.execute("CREATE OR REPLACE TABLE kv_customers (name VARCHAR, city VARCHAR)")
    cur.execute("INSERT INTO kv_customers VALUES ('ann', 'Oslo'), ('ben', 'Rome')")
    assert rows(alice, "SELECT c.city, sum(o.amount) FROM kv.main.orders o JOIN kv_customers c "
                       "ON c.name = o.customer GROUP BY 1 ORDER BY 1") == [("Oslo", 17.0), ("Rome", 2.5)]
    cur.execute("DROP TABLE kv_customers")


def test_a_local_table_named_like_a_catalog_keeps_its_qualified_columns(alice, rows):
    """``SELECT streams.id FROM streams`` (how SQLAlchemy writes every query of a model named streams) read the
    qualified columns as catalog tables ("stream 'id' does not exist"); a name standing alone in the statement
    makes them its columns, and FROM/JOIN kv.<table> still reads the catalog."""
    alice.kv.put_item("tracks", "t1", {"plays": 3})
    cur = alice.cursor()
    for name in ("kv", "streams"):
        cur.execute(f"CREATE OR REPLACE TABLE {name} (id INTEGER, title VARCHAR)")
        cur.execute(f"INSERT INTO {name} VALUES (1, 'one')")
        assert rows(alice, f"SELECT {name}.id, {name}.title FROM {name} WHERE {name}.id = 1") == [(1, "one")]
    assert rows(alice, "SELECT kv.title, t.plays FROM kv JOIN kv.tracks t ON t.plays > kv.id") == [("one", 3)]
    for name in ("kv", "streams"):
        cur.execute(f"DROP TABLE {name}")


def test_sql_reads_a_table_in_batches_while_writers_go_on(alice, rows, monkeypatch):
    from mock_server.kv import catalog
    monkeypatch.setattr(catalog, "BATCH_ROWS", 7)  # many batches from a small table
    for n in range(50):
        alice.kv.put_item("batched", f"k{n:03}", {"n": n} if n != 30 else {"n": 30.5, "late": "x"})
    assert rows(alice, "SELECT count(*), sum(n), count(late), min(__name), max(__name) FROM kv.batched") == [
        (50, sum(range(50)) + 0.5, 1, "k000", "k049")]
    cur = alice.cursor()
    cur.execute("SELECT __name, n FROM kv.batched ORDER BY __name")
    first = cur.fetchone()
    alice.kv.update_item("batched", "k000", expression="n = n + 100")  # not blocked by the open read
    assert first == ("k000", 0.0) and len(cur.fetchall()) == 49
    assert alice.kv.get_item("batched", "k000") == {"n": 100}


def test_sql_names_with_a_hyphen_are_quoted(alice, rows):
    alice.kv.put_item("sales-2024", "a", {"x": 1})
    alice.kv.put_item("sales-2024", "b", {"x": 2})
    assert rows(alice, 'SELECT sum(x) FROM kv."sales-2024"') == [(3,)]


def test_sql_refuses_other_users_tables_unless_granted(alice, bob, rows):
    alice.kv.put_item("private_sql", "k", {"secret": "s"})
    with pytest.raises(e6driver.DatabaseError, match="may not read key-value table 'private_sql'"):
        rows(bob, "SELECT * FROM kv.private_sql")
    assert "private_sql" not in bob.get_tables(catalog="kv", database="main")
    alice.kv.grant("private_sql", "bob")
    assert rows(bob, "SELECT secret FROM kv.private_sql") == [("s",)]
    assert "private_sql" in bob.get_tables(catalog="kv", database="main")
    columns = bob.get_columns(catalog="kv", database="main", table="private_sql")
    assert [(c["fieldName"], c["fieldType"]) for c in columns] == [("__name", "string"), ("secret", "string")]


def test_many_threads_incrementing_one_counter_give_the_exact_total(connect):
    setup = connect("alice")
    setup.kv.put_item("hot", "counter", {"n": 0})
    threads, per_thread = 8, 25
    conns = [connect("alice") for _ in range(threads)]
    start = threading.Barrier(threads)

    def work(conn):
        start.wait()
        for _ in range(per_thread):
            conn.kv.update_item("hot", "counter", expression="n = n + 1; last = n")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, conns))
    assert setup.kv.get_item("hot", "counter") == {"n": threads * per_thread, "last": threads * per_thread}


def test_conditional_updates_race_without_lost_or_double_claims(connect):
    """Compare-and-set: many threads try to claim each slot; exactly one claim per slot wins."""
    setup = connect("alice")
    for slot in range(10):
        setup.kv.put_item("claims", f"s{slot}", {"owner": ""})
    wins = []

    def claim(who):
        conn = connect("alice")
        for slot in range(10):
            try:
                conn.kv.update_item("claims", f"s{slot}", {"owner": who}, condition="owner = ''")
                wins.append((slot, who))
            except ConditionFailedError:
                pass

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(claim, [f"w{n}" for n in range(6)]))
    assert sorted(slot for slot, _ in wins) == list(range(10))
    for slot, who in wins:
        assert setup.kv.get_item("claims", f"s{slot}") == {"owner": who}


def test_items_survive_a_restart(tmp_path):
    from mock_server.server import EngineServer
    users = {"root": "root-pw", "alice": "alice-pw"}
    for round_ in range(2):
        with EngineServer("127.0.0.1", 0, data_dir=str(tmp_path), users=users) as srv:
            with e6driver.connect(host="127.0.0.1", port=srv.port, username="alice", password="alice-pw") as conn:
                if round_ == 0:
                    conn.kv.put_item("durable", "k", {"v": 1, "b": b"\x01"})
                    conn.kv.update_item("durable", "k", expression="v = v + 41")
                else:
                    assert conn.kv.get_item("durable", "k") == {"v": 42, "b": b"\x01"}
                    assert [t.name for t in conn.kv.list_tables()] == ["durable"]


def test_a_repeated_write_request_is_applied_once(server, alice):
    """What the driver's retry after a lost answer sends: the same request id, answered from the first time."""
    import grpc
    from e6driver._proto import e6driver_kv_pb2 as kv_pb, e6driver_kv_pb2_grpc, e6driver_stores_pb2 as st_pb

    alice.kv.put_item("retried", "c", {"n": 0})
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = e6driver_kv_pb2_grpc.KeyValueServiceStub(channel)
        auth = st_pb.Auth(user="alice", password="alice-pw")  # tests/integration/stores/conftest.py USERS
        update = kv_pb.UpdateItemRequest(auth=auth, table="retried", key="c", expression="n = n + 1",
                                         request_id="r-1")
        answers = [stub.UpdateItem(update) for _ in range(3)]
        assert {a.item.attributes["n"].int_value for a in answers} == {1}
        assert stub.UpdateItem(kv_pb.UpdateItemRequest(auth=auth, table="retried", key="c", expression="n = n + 1",
                                                       request_id="r-2")).item.attributes["n"].int_value == 2
        delete = kv_pb.DeleteItemRequest(auth=auth, table="retried", key="c", request_id="d-1")
        assert [stub.DeleteItem(delete).deleted for _ in range(2)] == [True, True]  # the first answer, twice
        with pytest.raises(grpc.RpcError) as info:
            stub.DeleteItem(kv_pb.DeleteItemRequest(auth=auth, table="retried", key="c", request_id="x" * 65))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert alice.kv.get_item("retried", "c") is None
