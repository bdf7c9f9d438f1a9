"""A small compressed Arrow IPC upload that would expand past ``--max-expanded-bytes``: refused from the
stream's metadata before any batch is decoded, so the server never holds the expanded data."""
from __future__ import annotations

import pyarrow as pa
import pytest

import e6driver
from e6driver.errors import OperationalError
from mock_server.limits import MiB, Limits

from accounts import USERS


def _arrow_file(path, table: pa.Table, compression: str) -> str:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(
            sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as writer:
        writer.write_table(table)  # one batch
    return str(path)


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
def test_one_huge_compressed_batch_is_refused_before_it_is_decoded(engine, still_serves, tmp_path, monkeypatch,
                                                                   compression):
    srv = engine(limits=Limits(max_upload_bytes=256 * 1024, max_expanded_bytes=MiB))
    bomb = _arrow_file(tmp_path / "bomb.arrows", pa.table({"s": ["y" * 2000] * 4000}), compression)  # 8 MB
    assert (tmp_path / "bomb.arrows").stat().st_size < 256 * 1024
    fine = _arrow_file(tmp_path / "fine.arrows", pa.table({"n": list(range(1000))}), compression)
    decoded = []
    real_open_stream = pa.ipc.open_stream
    monkeypatch.setattr(pa.ipc, "open_stream", lambda *a, **k: decoded.append(1) or real_open_stream(*a, **k))
    with e6driver.connect(host="127.0.0.1", port=srv.port, username="alice", password=USERS["alice"]) as conn:
        with pytest.raises(OperationalError, match=r"max_expanded_bytes=1048576 \(server flag --max-expanded"):
            conn.datasets.upload("bomb", bomb)
        assert decoded == []  # refused from the metadata: no batch was decoded
        assert conn.datasets.list() == []
        conn.datasets.upload("fine", fine)
        assert decoded and conn.datasets.download("fine").column("n").to_pylist() == list(range(1000))
    still_serves(srv)
