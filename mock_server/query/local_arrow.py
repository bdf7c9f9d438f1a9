"""FetchArrow on the engine's machine (op ``arrow`` of :mod:`mock_server.local_transfer`): the next part of a
result (its Thrift chunks, then an Arrow IPC stream) written straight into a file the client handed over (a
memfd it then maps), so it never passes through gRPC messages — the client reads its batches in place.

The rules are FetchArrow's: the caller's session must be one its query's owner may use, the cluster must be
available, and a blue-green announcement travels with the answer. Parts are larger than over gRPC (no message
to copy); like every descriptor from a client, the file must be an empty regular file open for writing.
"""
from __future__ import annotations

import os
from typing import Any, List, Sequence

import grpc

from e6driver._proto import e6driver_local_pb2 as local_pb
from mock_server import errors
from mock_server.control.bluegreen import BlueGreenState
from mock_server.control.cluster import ClusterState
from mock_server.local_transfer import checked_descriptor
from mock_server.query.arrow_results import ipc_stream
from mock_server.query.service import QueryEngineServicer

PART_BYTES = 64 * 1024 * 1024  # Arrow bytes per answer: the client maps them, nothing is copied on its side
_IOV_MAX = 1024


class LocalArrow:
    """The ``arrow`` handler and its authentication (the query's, as FetchArrow's)."""

    def __init__(self, service: QueryEngineServicer, cluster: ClusterState, strategy: BlueGreenState) -> None:
        self.service, self.cluster, self.strategy = service, cluster, strategy

    def caller(self, request: Any) -> str:
        """The user of the query the request names, if its session may use it (else the same error FetchArrow
        gives: UNAUTHENTICATED / the query not found)."""
        if len(request.keys) != 1 or not request.auth.session_id:
            raise errors.invalid("an Arrow fetch names one query and its session")
        return self.service.find_query(request.auth.session_id, request.keys[0], _NoMetadata()).user

    def arrow(self, request: Any, fds: List[int], user: str) -> List[Any]:
        self.cluster.check_available()
        requested = request.strategy or None
        query = self.service.find_query(request.auth.session_id, request.keys[0], _NoMetadata())
        target = _empty_writable(fds[0])
        with query.in_use():
            chunks, arrow, schema, end = query.next_arrow(PART_BYTES)
        offset = write_at(target, chunks, 0)
        streamed = write_at(target, ipc_stream(arrow, schema), offset) if arrow else 0
        part = local_pb.ArrowPart(batch_bytes=[len(c) for c in chunks], ipc_bytes=streamed, end_of_stream=end,
                                  new_strategy=self.strategy.announcement(requested) or "")
        return [local_pb.LocalResult(arrow=part)]


class _NoMetadata:
    """A call context without metadata: the session id in the request authenticates."""

    @staticmethod
    def invocation_metadata() -> tuple:
        return ()


def _empty_writable(fd: int) -> int:
    if checked_descriptor(fd, write=True).st_size:
        raise errors.EngineError(grpc.StatusCode.INVALID_ARGUMENT, "an Arrow fetch needs an empty file")
    return fd


def write_at(fd: int, buffers: Sequence[Any], offset: int) -> int:
    """Write ``buffers`` one after another into ``fd`` from ``offset`` (vectored, partial writes resumed);
    returns the bytes written."""
    views = [memoryview(b).cast("B") for b in buffers]
    start, first = offset, 0
    while first < len(views):
        written = os.pwritev(fd, views[first:first + _IOV_MAX], offset)
        offset += written
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]
    return offset - start
