"""The big-endian metadata blob (spec §6)."""
from __future__ import annotations

import struct

from e6driver.protocol.result_metadata import parse_result_metadata
from mock_server.query.metadata import build_metadata


def test_spec_example_bytes():
    expected = bytes.fromhex("0000000000000005" "00000001" "000178" "00044C4F4E47" "0000" "0000")
    assert build_metadata(5, [("x", "LONG", "", "")]) == expected


def test_zero_columns_and_negative_row_count():
    assert build_metadata(-1, []) == struct.pack(">qi", -1, 0)


def test_plain_utf8_not_modified_utf8():
    blob = build_metadata(0, [("naïve\u0000😀", "STRING", "Asia/Kolkata", "")])
    name = "naïve\u0000😀".encode("utf-8")
    assert blob[12:14] == struct.pack(">H", len(name)) and blob[14:14 + len(name)] == name
    assert parse_result_metadata(blob) == (0, [("naïve\u0000😀", "STRING", "Asia/Kolkata", "")])


def test_overlong_string_is_cut_at_a_character_boundary():
    blob = build_metadata(1, [("é" * 40000, "STRING", "", "")])
    (length,) = struct.unpack_from(">H", blob, 12)
    assert length <= 0xFFFF and length % 2 == 0
    assert parse_result_metadata(blob)[1][0][0] == "é" * (length // 2)
