"""StreamService (protos/e6driver_streams.proto): streams and their records over gRPC.

Every call authenticates like the object stores (user + password, a session id, or a bearer token); the store
(:mod:`mock_server.streams.store`) checks access, validates and enforces the limits.
"""
from __future__ import annotations

from typing import Any

import grpc

from e6driver._proto import e6driver_streams_pb2 as sm_pb, e6driver_streams_pb2_grpc
from mock_server import errors
from mock_server.sessions import SessionStore
from mock_server.streams.store import NewRecord, StreamInfo, StreamStore


def info_message(info: StreamInfo, access: str) -> sm_pb.StreamInfo:
    return sm_pb.StreamInfo(name=info.name, owner=info.owner, shards=info.shards,
                            retention_hours=info.retention_hours, created=info.created, access=access)


class StreamServicer(e6driver_streams_pb2_grpc.StreamServiceServicer):
    def __init__(self, store: StreamStore, sessions: SessionStore) -> None:
        self.store = store
        self.sessions = sessions

    def _user(self, request: Any, context: grpc.ServicerContext) -> str:
        return self.sessions.caller(request.auth, context.invocation_metadata())

    @errors.rpc_method
    def Create(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        info = self.store.create(user, request.name, request.shards, request.retention_hours)
        _, access = self.store.stream(user, info.name)
        return sm_pb.CreateResponse(info=info_message(info, access))

    @errors.rpc_method
    def Describe(self, request: Any, context: grpc.ServicerContext) -> Any:
        info, access = self.store.stream(self._user(request, context), request.name)
        return sm_pb.DescribeResponse(info=info_message(info, access))

    @errors.rpc_method
    def List(self, request: Any, context: grpc.ServicerContext) -> Any:
        visible = self.store.visible(self._user(request, context))
        return sm_pb.ListResponse(streams=[info_message(info, access) for info, access in visible])

    @errors.rpc_method
    def Delete(self, request: Any, context: grpc.ServicerContext) -> Any:
        return sm_pb.DeleteResponse(deleted=self.store.delete(self._user(request, context), request.name))

    @errors.rpc_method
    def Grant(self, request: Any, context: grpc.ServicerContext) -> Any:
        access = self.store.grant(self._user(request, context), request.name, request.user, request.access)
        return sm_pb.GrantResponse(access=access)

    @errors.rpc_method
    def PutRecords(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._user(request, context)
        records = [NewRecord(r.data, r.partition_key or None, r.shard_id if r.has_shard_id else None)
                   for r in request.records]
        results = self.store.put(user, request.name, records, request.put_id)
        return sm_pb.PutRecordsResponse(results=[sm_pb.PutResult(shard_id=s, sequence=q) for s, q in results])

    @errors.rpc_method
    def Seek(self, request: Any, context: grpc.ServicerContext) -> Any:
        location = self.store.seek(self._user(request, context), request.name, request.shard_id, request.type,
                                   request.sequence, request.timestamp_us)
        return sm_pb.SeekResponse(location=location)

    @errors.rpc_method
    def GetRecords(self, request: Any, context: grpc.ServicerContext) -> Any:
        records, following, behind = self.store.get(self._user(request, context), request.name,
                                                     request.shard_id, request.location, request.limit)
        return sm_pb.GetRecordsResponse(
            records=[sm_pb.Record(shard_id=r.shard, sequence=r.sequence, time_us=r.time_us,
                                  partition_key=r.partition_key or "", data=r.data) for r in records],
            next_location=following, records_behind_latest=behind)
