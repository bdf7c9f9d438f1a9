"""Encrypted version files read in place: random access by segment, both segment formats, damage detected."""
from __future__ import annotations

import os

import pytest

from mock_server.datasets import crypto
from mock_server.datasets.crypto import DecryptionError, SegmentFile, decrypt_file, encrypt_to

KEY = bytes(range(32))
PLAIN = os.urandom(3 * crypto.SEGMENT + 1234)


def _write(path, plaintext: bytes = PLAIN) -> str:
    with open(path, "wb") as out:
        encrypt_to(out, plaintext, KEY, "ds", 1)
    return str(path)


@pytest.mark.parametrize("size", [0, 1, crypto.SEGMENT, 3 * crypto.SEGMENT + 1234])
def test_any_range_reads_back(tmp_path, size):
    path = _write(tmp_path / "v1", PLAIN[:size])
    with SegmentFile(path, KEY, "ds", 1) as view:
        assert view.size == size and view.read() == PLAIN[:size]
        for offset, length in ((0, 10), (crypto.SEGMENT - 5, 10), (size - 3, 100), (size + 5, 10)):
            view.seek(max(0, offset))
            assert view.read(length) == PLAIN[:size][max(0, offset):max(0, offset) + length]


def test_files_of_the_first_format_stay_readable(tmp_path, monkeypatch):
    monkeypatch.setattr(crypto, "MAGIC", b"E6DS\x01")
    monkeypatch.setattr(crypto, "SEGMENT", 4 * 1024 * 1024)
    path = _write(tmp_path / "old", PLAIN * 2)
    monkeypatch.undo()
    assert decrypt_file(path, KEY, "ds", 1) == PLAIN * 2
    with SegmentFile(path, KEY, "ds", 1) as view:
        assert view.pread(100, len(PLAIN) - 50) == (PLAIN * 2)[len(PLAIN) - 50:len(PLAIN) + 50]


def test_damage_or_another_binding_fails_the_segment_read(tmp_path):
    path = _write(tmp_path / "v1")
    with SegmentFile(path, KEY, "other", 1) as view:  # another dataset's associated data
        with pytest.raises(DecryptionError):
            view.read(10)
    with open(path, "r+b") as handle:
        handle.seek(crypto.HEAD + crypto.SEGMENT + crypto.TAG + 7)  # inside the second segment
        byte = handle.read(1)[0]
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte ^ 1]))
    with SegmentFile(path, KEY, "ds", 1) as view:
        assert view.read(100) == PLAIN[:100]  # the first segment is intact
        with pytest.raises(DecryptionError, match="segment 1"):
            view.pread(10, crypto.SEGMENT + 3)
    with open(path, "r+b") as handle:  # cut at a segment boundary: the new last segment was not sealed as last
        handle.truncate(crypto.HEAD + 2 * (crypto.SEGMENT + crypto.TAG))
    with SegmentFile(path, KEY, "ds", 1) as view:
        with pytest.raises(DecryptionError):
            view.pread(10, view.size - 10)
