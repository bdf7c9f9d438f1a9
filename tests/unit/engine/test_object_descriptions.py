"""Object descriptions kept in an extended attribute: compact when written, JSON still read."""
import json

import pytest

from mock_server.objects import descriptions
from mock_server.objects.backend import local_etag


def _meta(**changes):
    meta = {"size": 65536, "mtime_ns": 1_764_000_000_123_456_789, "crc32": 0xDEADBEEF,
            "content_type": "application/octet-stream", "etag": local_etag(0xDEADBEEF, 65536)}
    meta.update(changes)
    return meta


@pytest.mark.parametrize("meta", [
    _meta(),
    _meta(size=0, crc32=0, etag=local_etag(0, 0), content_type=""),
    _meta(etag="5d41402abc4b2a76b9719d911017c592"),  # an MD5 etag: stored beside the content type
    _meta(content_type="text/csv; charset=utf-8", mtime_ns=-1),
    _meta(content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
])
def test_round_trip(meta):
    assert descriptions.decode(descriptions.encode(meta)) == meta


def test_the_usual_description_fits_inside_an_ext4_inode():
    assert len(descriptions.encode(_meta())) <= 52


@pytest.mark.parametrize("meta", [_meta(crc32=None), _meta(crc32=2 ** 32), _meta(content_type="a\0b")])
def test_what_the_compact_form_cannot_hold_is_written_as_json(meta):
    value = descriptions.encode(meta)
    assert json.loads(value) == meta and descriptions.decode(value) == meta


def test_json_descriptions_of_older_objects_are_read():
    meta = _meta(etag="5d41402abc4b2a76b9719d911017c592")
    assert descriptions.decode(json.dumps(meta).encode()) == meta


@pytest.mark.parametrize("value", [b"", b"{not json", b"[1, 2]", b"\x02" + bytes(20), b"\x01" + bytes(5),
                                   b"\x01" + bytes(20) + b"\xff\xfe"])
def test_damaged_values_describe_nothing(value):
    assert descriptions.decode(value) is None
