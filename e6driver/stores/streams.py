"""Streams of an e6driver engine (``conn.streams``), V3IO-style: sharded, ordered, durable record logs.

Calls go to ``StreamService`` (protos/e6driver_streams.proto) on the connection's channel, authenticated like
``conn.objects``. Each shard of a stream is an ordered log: its records get gap-free sequence numbers 1, 2, ...
and the server's time, and records older than the stream's retention are dropped. A put is atomic: all its
records are appended (and on the server's disk) or none. Reading is ``seek`` (a location) then
``get_records`` from that location, following ``next_location``. Errors: :class:`StreamNotFoundError`,
:class:`~e6driver.errors.PermissionDeniedError` without a grant, ``ProgrammingError`` for bad names, shards,
locations or seek arguments, ``OperationalError`` naming the server's limit when one is exceeded.
"""
from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Optional, Union

from .. import errors
from .._proto import e6driver_streams_pb2 as sm_pb, e6driver_streams_pb2_grpc as sm_grpc
from ..protocol import Session
from ._client import ServiceClient

SEEK_TYPES = ("EARLIEST", "LATEST", "SEQUENCE", "TIME")
Data = Union[bytes, bytearray, memoryview, str]
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class StreamNotFoundError(errors.ProgrammingError):
    """The stream does not exist (seen by those who may see it: else PermissionDeniedError)."""


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


@dataclass(frozen=True)
class StreamInfo:
    name: str
    owner: str
    shards: int
    retention_hours: float
    created: datetime.datetime  # aware, UTC
    access: str  # read | write | admin

    @classmethod
    def from_message(cls, msg: Any) -> "StreamInfo":
        return cls(msg.name, msg.owner, msg.shards, msg.retention_hours, _utc(msg.created), msg.access)


@dataclass(frozen=True)
class StreamRecord:
    """A record to put: ``data`` (str is encoded UTF-8), and where it goes: ``shard_id``, else the shard
    ``partition_key`` hashes to (the same key always lands on the same shard), else any shard."""
    data: Data
    partition_key: Optional[str] = None
    shard_id: Optional[int] = None


@dataclass(frozen=True)
class PutResult:
    shard_id: int
    sequence: int


@dataclass(frozen=True)
class Record:
    shard_id: int
    sequence: int
    time: datetime.datetime  # aware, UTC: when the server appended it
    partition_key: Optional[str]
    data: bytes


@dataclass(frozen=True)
class GetRecordsResult:
    records: List[Record]
    next_location: int  # pass to the next get_records call
    records_behind_latest: int


def _record_message(index: int, record: Union[StreamRecord, Mapping[str, Any], Data]) -> sm_pb.PutRecord:
    if isinstance(record, Mapping):
        unknown = set(record) - {"data", "partition_key", "shard_id"}
        if unknown or "data" not in record:
            raise errors.ProgrammingError(f"record {index}: a dict record has 'data' and optionally "
                                          f"'partition_key' or 'shard_id' (got {sorted(record)})")
        record = StreamRecord(record["data"], record.get("partition_key"), record.get("shard_id"))
    elif not isinstance(record, StreamRecord):
        record = StreamRecord(record)
    data = record.data
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"record {index}: data must be bytes or str, not {type(data).__name__}")
    message = sm_pb.PutRecord(data=bytes(data), partition_key=record.partition_key or "")
    if record.partition_key is not None and not isinstance(record.partition_key, str):
        raise TypeError(f"record {index}: partition_key must be str, not {type(record.partition_key).__name__}")
    if record.shard_id is not None:
        if isinstance(record.shard_id, bool) or not isinstance(record.shard_id, int):
            raise TypeError(f"record {index}: shard_id must be int, not {type(record.shard_id).__name__}")
        message.has_shard_id, message.shard_id = True, record.shard_id
    return message


def _unix_us(timestamp: Union[datetime.datetime, float, int]) -> int:
    if isinstance(timestamp, datetime.datetime):
        if timestamp.tzinfo is None:
            raise errors.ProgrammingError("seek TIME needs an aware datetime (or Unix seconds), not a naive one")
        return (timestamp - EPOCH) // datetime.timedelta(microseconds=1)  # exact, no float rounding
    if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
        return round(timestamp * 1_000_000)
    raise TypeError(f"timestamp must be a datetime or Unix seconds, not {type(timestamp).__name__}")


class StreamClient(ServiceClient):
    """Streams of the connection's server; thread-safe (share it between threads)."""

    not_found_error = StreamNotFoundError

    def __init__(self, session: Session) -> None:
        super().__init__(session, sm_grpc.StreamServiceStub)

    # ------------------------------------------------------------------ streams

    def create(self, name: str, shards: int = 1, retention_hours: float = 24.0) -> StreamInfo:
        """Create stream ``name`` (you own it) with ``shards`` shards keeping records ``retention_hours``."""
        return StreamInfo.from_message(self._invoke("Create", lambda stub, md: stub.Create(
            sm_pb.CreateRequest(auth=self._auth(), name=name, shards=shards, retention_hours=retention_hours),
            metadata=md)).info)

    def describe(self, name: str) -> StreamInfo:
        return StreamInfo.from_message(self._invoke("Describe", lambda stub, md: stub.Describe(
            sm_pb.DescribeRequest(auth=self._auth(), name=name), metadata=md)).info)

    def list(self) -> List[StreamInfo]:
        """The streams you may read, by name."""
        response = self._invoke("List", lambda stub, md: stub.List(sm_pb.ListRequest(auth=self._auth()),
                                                                   metadata=md))
        return [StreamInfo.from_message(s) for s in response.streams]

    def delete(self, name: str) -> bool:
        """Delete a stream and its records (owner or admin); False when there was none."""
        return self._invoke("Delete", lambda stub, md: stub.Delete(
            sm_pb.DeleteRequest(auth=self._auth(), name=name), metadata=md)).deleted

    def grant(self, name: str, user: str, access: str = "read") -> str:
        """Give ``user`` ``read`` or ``write`` access to a stream (``none`` revokes); owner or admin."""
        return self._invoke("Grant", lambda stub, md: stub.Grant(
            sm_pb.GrantRequest(auth=self._auth(), name=name, user=user, access=access), metadata=md)).access

    def revoke(self, name: str, user: str) -> str:
        return self.grant(name, user, "none")

    # ------------------------------------------------------------------ records

    def put_records(self, name: str,
                    records: Iterable[Union[StreamRecord, Mapping[str, Any], Data]]) -> List[PutResult]:
        """Append ``records`` (StreamRecord, dicts with ``data`` and optional ``partition_key``/``shard_id``, or
        bare bytes/str) in one atomic, durable put; the (shard, sequence) of each, in order. Retried by the
        connection when the server cannot be reached (until ``connect_timeout``), never appended twice."""
        messages = [_record_message(i, r) for i, r in enumerate(records)]
        put_id = uuid.uuid4().hex  # a retry after a lost answer (server restart) cannot append twice
        response = self._invoke("PutRecords", lambda stub, md: stub.PutRecords(
            sm_pb.PutRecordsRequest(auth=self._auth(), name=name, records=messages, put_id=put_id),
            metadata=md))
        return [PutResult(r.shard_id, r.sequence) for r in response.results]

    def seek(self, name: str, shard_id: int, seek_type: str = "EARLIEST", sequence: Optional[int] = None,
             timestamp: Union[None, datetime.datetime, float] = None) -> int:
        """A location in a shard: ``EARLIEST`` (the oldest retained record), ``LATEST`` (after the newest: only
        records put from now on), ``SEQUENCE`` (the record ``sequence``), ``TIME`` (the first record put at or
        after ``timestamp``: an aware datetime or Unix seconds). Locations are opaque: pass them on."""
        kind = seek_type.upper() if isinstance(seek_type, str) else seek_type
        if kind not in SEEK_TYPES:
            raise errors.ProgrammingError(f"seek_type must be one of {', '.join(SEEK_TYPES)}, not {seek_type!r}")
        if kind == "SEQUENCE" and sequence is None:
            raise errors.ProgrammingError("seek SEQUENCE needs sequence=")
        if kind == "TIME" and timestamp is None:
            raise errors.ProgrammingError("seek TIME needs timestamp=")
        request = sm_pb.SeekRequest(auth=self._auth(), name=name, shard_id=shard_id, type=kind,
                                    sequence=sequence or 0,
                                    timestamp_us=_unix_us(timestamp) if kind == "TIME" else 0)
        return self._invoke("Seek", lambda stub, md: stub.Seek(request, metadata=md)).location

    def get_records(self, name: str, shard_id: int, location: int, limit: int = 0) -> GetRecordsResult:
        """Records of a shard from ``location`` on (at most ``limit``; 0: the server's maximum), in sequence
        order, and the location to read next."""
        response = self._invoke("GetRecords", lambda stub, md: stub.GetRecords(
            sm_pb.GetRecordsRequest(auth=self._auth(), name=name, shard_id=shard_id, location=location,
                                    limit=limit), metadata=md))
        records = [Record(r.shard_id, r.sequence, EPOCH + datetime.timedelta(microseconds=r.time_us),
                          r.partition_key or None, r.data) for r in response.records]
        return GetRecordsResult(records, response.next_location, response.records_behind_latest)
