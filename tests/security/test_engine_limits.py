"""The limits on rows, DuckDB's memory and its spill directory: each a server flag with a safe default, each
refused with RESOURCE_EXHAUSTED naming it, and the engine still serving the other users afterwards."""
from __future__ import annotations

import os

import pyarrow as pa
import pytest

import e6driver
from e6driver.errors import OperationalError
from mock_server.__main__ import parse_args
from mock_server.limits import MiB, Limits, half_of_memory
from mock_server.query.engine import SPILL_DIR

from accounts import USERS


def _alice(server) -> e6driver.Connection:
    return e6driver.connect(host="127.0.0.1", port=server.port, username="alice", password=USERS["alice"],
                            connect_timeout=20)


def test_defaults_and_flags():
    defaults = parse_args([]).limits
    assert defaults.max_row_bytes == 64 * MiB
    assert defaults.max_detached_bytes == 64 * MiB
    assert defaults.max_glob_chars == 256
    assert defaults.memory_limit == half_of_memory() >= 64 * MiB
    args = parse_args(["--max-row-bytes", "1000", "--max-detached-bytes", "2000", "--memory-limit", "300000000"])
    assert (args.limits.max_row_bytes, args.limits.max_detached_bytes, args.limits.memory_limit) == \
        (1000, 2000, 300000000)
    with pytest.raises(SystemExit):
        parse_args(["--memory-limit", "0"])


def test_a_result_row_over_the_row_limit_is_refused(engine, still_serves):
    srv = engine(limits=Limits(max_row_bytes=MiB))
    with _alice(srv) as conn:
        cur = conn.cursor()
        cur.execute("SELECT repeat('x', 1000) AS s, 1 AS n")
        assert cur.fetchall() == [("x" * 1000, 1)]
        with pytest.raises(OperationalError, match=r"max_row_bytes=1048576 \(server flag --max-row-bytes\)"):
            cur.execute("SELECT n, repeat('y', 2 * 1024 * 1024) AS s FROM range(3) t(n)")
            cur.fetchall()
        with pytest.raises(OperationalError, match="max_row_bytes"):  # nested values count as their text
            cur.execute("SELECT [repeat('z', 600 * 1024), repeat('z', 600 * 1024)] AS l")
            cur.fetchall()
    still_serves(srv)


def test_an_uploaded_row_over_the_row_limit_is_refused(engine, still_serves):
    srv = engine(limits=Limits(max_row_bytes=MiB))
    with _alice(srv) as conn:
        with pytest.raises(OperationalError, match="max_row_bytes"):
            conn.datasets.upload("wide", pa.table({"n": [1], "b": [b"\x01" * (2 * MiB)]}))
        assert conn.datasets.list() == []
        conn.datasets.upload("narrow", pa.table({"n": [1], "b": [b"\x01" * 1000]}))
    still_serves(srv)


def test_duckdb_memory_is_capped_by_the_memory_limit_flag(engine, still_serves):
    srv = engine(limits=Limits(memory_limit=64 * MiB))
    with _alice(srv) as conn:
        cur = conn.cursor()
        with pytest.raises(OperationalError, match="--memory-limit"):
            # one 200 MB string cannot spill: over DuckDB's memory_limit
            cur.execute("SELECT length(string_agg(repeat('x', 1000), '')) FROM range(200000)")
            cur.fetchall()
    still_serves(srv)


def test_duckdbs_spill_files_are_capped_by_the_spill_flag(engine, still_serves):
    # DuckDB's own cap is 90% of the free disk: one ORDER BY could fill the disk every store writes to.
    assert parse_args([]).limits.max_spill_bytes == 8 * 1024 * MiB
    assert parse_args(["--max-spill-bytes", "5000"]).limits.max_spill_bytes == 5000
    srv = engine(limits=Limits(memory_limit=64 * MiB, max_spill_bytes=100 * MiB))
    with _alice(srv) as conn:
        cur = conn.cursor()
        with pytest.raises(OperationalError, match="max_spill_bytes, server flag --max-spill-bytes") as info:
            cur.execute("SELECT max(s) FROM (SELECT x, repeat(x::VARCHAR, 30) AS s FROM range(8000000) t(x) "
                        "ORDER BY hash(x) LIMIT 7000000)")
            cur.fetchall()
        assert "PRAGMA" not in str(info.value)  # DuckDB's advice is a statement tenants may not run
    still_serves(srv)


def test_duckdb_spills_inside_the_data_dir_and_its_leftovers_are_swept_at_start(engine, tmp_path):
    data_dir = tmp_path / "spill"
    leftover = data_dir / SPILL_DIR / "duckdb_temp_storage-0.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"x" * 1000)
    srv = engine(data_dir=str(data_dir))
    assert not leftover.exists()
    assert os.path.isdir(data_dir / SPILL_DIR)
    assert srv.engine._con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == \
        str(data_dir / SPILL_DIR)
