"""JSON dataset uploads built to explode: every distinct key becomes a column of every row, so a small upload
of rows with distinct keys would decode to rows × keys values; it is refused from an estimate made before
Arrow builds anything. Deep nesting and non-objects are refused too, and the engine keeps serving."""
from __future__ import annotations

import json

import pytest

import e6driver
from mock_server.limits import MiB, Limits

from accounts import USERS


def test_json_uploads_that_would_explode_are_refused(engine, still_serves, tmp_path):
    srv = engine(limits=Limits(max_expanded_bytes=4 * MiB))
    sparse = tmp_path / "sparse.jsonl"  # 20 000 rows × 20 000 columns ≈ 3.2 GB decoded, from 0.3 MB
    sparse.write_text("".join(json.dumps({f"k{i}": 1}) + "\n" for i in range(20_000)))
    nested = tmp_path / "nested.jsonl"  # the same through struct fields
    nested.write_text("".join(json.dumps({"s": {f"k{i}": 1}}) + "\n" for i in range(20_000)))
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{f"k{i}": 1} for i in range(20_000)]))
    with e6driver.connect(host="127.0.0.1", port=srv.port, username="alice", password=USERS["alice"]) as conn:
        for path in (sparse, nested, array):
            with pytest.raises(e6driver.OperationalError, match="max_expanded_bytes"):
                conn.datasets.upload("bomb", str(path))
        with pytest.raises(e6driver.ProgrammingError, match="nested too deeply"):
            conn.datasets.upload("bomb", str(deep))
        for text in ("[1, 2]", '{"a": 1}\n[1]\n', '"just a string"\n', "\xff\xfe not json\n"):
            bad = tmp_path / "bad.jsonl"
            bad.write_bytes(text.encode("latin-1"))
            with pytest.raises(e6driver.ProgrammingError, match="(?i)json"):
                conn.datasets.upload("bomb", str(bad))
        assert conn.datasets.list() == []
        fine = tmp_path / "fine.jsonl"
        fine.write_text("".join(json.dumps({"id": i, "k": f"v{i}"}) + "\n" for i in range(1000)))
        assert conn.datasets.upload("fine", str(fine)).rows == 1000
    still_serves(srv)
