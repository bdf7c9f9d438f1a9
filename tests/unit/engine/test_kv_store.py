"""The key-value store without a server: answers kept for retries (and forgotten), SQL reads from a snapshot."""
from __future__ import annotations

import pytest

from mock_server.kv import KeyValueRoom, store as kv_store
from mock_server.limits import Limits


@pytest.fixture
def room(tmp_path):
    room = KeyValueRoom(str(tmp_path), "root", Limits())
    yield room
    room.close()


def test_a_request_id_is_applied_once_until_its_answer_is_forgotten(room, monkeypatch):
    items = room.items
    items.put("alice", "t", "c", {"n": 0})
    for _ in range(3):
        assert items.update("alice", "t", "c", expression="n = n + 1", request_id="same") == (False, {"n": 1})
    assert items.update("root", "t", "c", expression="n = n + 1", request_id="same") == (False, {"n": 2})  # root's
    monkeypatch.setattr(kv_store, "REQUEST_MEMORY", -1.0)  # every kept answer is now old
    for n in range(kv_store._PRUNE_EVERY):
        items.put("alice", "t", f"k{n}", {"v": n}, request_id=f"p{n}")
    assert items.update("alice", "t", "c", expression="n = n + 1", request_id="same")[1] == {"n": 3}


def test_an_sql_read_sees_one_moment_and_blocks_no_writer(room):
    items = room.items
    for n in range(10):
        items.put("alice", "t", f"k{n}", {"n": n})
    reader = room.catalog.read("alice", "main", "t")
    items.update("alice", "t", "k0", {"n": 100, "late": "x"})  # a writer while the read is open
    items.delete("alice", "t", "k9")
    table = reader.read_all()
    assert table.column_names == ["__name", "n"] and table.num_rows == 10
    assert table.column("n").to_pylist() == list(range(10))
    assert room.catalog.read("alice", "main", "t").read_all().column_names == ["__name", "n", "late"]
