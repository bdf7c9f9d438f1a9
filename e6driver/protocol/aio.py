"""The asyncio front-end of the protocol: the same plans as the blocking one (``session.py``, ``query.py``), run
with ``await`` on a ``grpc.aio`` channel. No thread per query: chunks are fetched ahead by a task."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union

import grpc

from .._proto import (cluster_pb2_grpc, e6driver_admin_pb2_grpc, e6driver_ingest_pb2_grpc, e6driver_query_pb2_grpc,
                      e6x_engine_pb2_grpc)
from . import answers, local_transfer
from .capabilities import acapabilities
from .plan import EnsureSession, Plan, ResumeCluster, Rpc, Sleep, adrive
from .query import QueryPlans
from .releaser import RELEASE_FLUSH_SECONDS
from .result_metadata import ResultMetadata
from .session import QueryHandle, SessionRules
from .stream import Batch, ReceivedChunks, closed_while_read
from .transport import ClientCertificate, channel_credentials, tls_rejection

log = logging.getLogger(__name__)


class AsyncTransport:
    """A ``grpc.aio`` channel, opened on first use inside the running event loop."""

    def __init__(self, host: str, port: int, secure: bool, ssl_cert: Union[None, str, bytes],
                 options: List[Tuple[str, Any]], client_certificate: Optional[ClientCertificate] = None):
        self.target = f"{host}:{port}"
        self.secure, self.ssl_cert, self.options = secure, ssl_cert, options
        self.client_certificate = client_certificate
        self._channel: Optional[grpc.aio.Channel] = None
        self._stubs: Dict[str, Any] = {}

    def stub(self, service: str) -> Any:
        if self._channel is None:
            if self.secure:
                credentials = channel_credentials(self.ssl_cert, self.client_certificate)
                self._channel = grpc.aio.secure_channel(self.target, credentials, options=self.options)
            else:
                self._channel = grpc.aio.insecure_channel(self.target, options=self.options)
            self._stubs = {"engine": answers.engine_stub(e6x_engine_pb2_grpc.QueryEngineServiceStub(self._channel),
                                                         self._channel),
                           "cluster": cluster_pb2_grpc.ClusterServiceStub(self._channel),
                           "run": answers.run_stub(e6driver_query_pb2_grpc.QueryRunServiceStub(self._channel),
                                                   self._channel),
                           "admin": e6driver_admin_pb2_grpc.AdminServiceStub(self._channel),
                           "ingest": e6driver_ingest_pb2_grpc.IngestServiceStub(self._channel)}
        return self._stubs[service]

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()


class AsyncSession(SessionRules):
    """Runs the session's plans with asyncio; one authentication and one resume at a time per session."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._auth_lock: Optional[asyncio.Lock] = None
        self._resume_lock: Optional[asyncio.Lock] = None
        self._releases: "set[asyncio.Task]" = set()  # releases sent without waiting, awaited by close()

    @staticmethod
    def _open_transport(host: str, port: int, secure: bool, ssl_cert: Union[None, str, bytes],
                        channel_options: List[Tuple[str, Any]],
                        client_certificate: Optional[ClientCertificate] = None) -> AsyncTransport:
        return AsyncTransport(host, port, secure, ssl_cert, channel_options, client_certificate)

    def release_later(self, release: Awaitable[None]) -> None:
        """Send a release without making the caller wait for it; :meth:`close` lets it reach the server."""
        task = asyncio.ensure_future(release)
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def flush_releases(self) -> None:
        """Wait (at most RELEASE_FLUSH_SECONDS) for the releases sent without waiting, including those they
        start (a release in the background of a finished query hands its RPC to another task)."""
        deadline = time.monotonic() + RELEASE_FLUSH_SECONDS
        while (waiting := self._releases - {asyncio.current_task()}) and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(waiting, timeout=left)  # never itself: a release may flush before its RPC

    async def close(self) -> None:
        await self.flush_releases()  # the queries released without waiting reach the server first
        self.closed = True
        self.forget()
        await self.transport.close()

    async def session_id(self) -> str:
        self.check_open()
        if self._bearer is not None:
            return ""
        if self._auth_lock is None:
            self._auth_lock = asyncio.Lock()
        async with self._auth_lock:
            return self.valid_session_id() or await adrive(self.authenticate_plan(), self._perform)

    async def call(self, rpc: str, make_request: Callable[[str], Any], **options: Any) -> Any:
        return await self.run(self.call_plan(rpc, make_request, **options))

    async def service_metadata(self) -> List[Tuple[str, str]]:
        """Headers for a call to one of the engine's own services; an OAuth token fetch (blocking HTTP) runs
        off the event loop."""
        if self._bearer is None:
            return self.metadata(None)
        return await asyncio.to_thread(self.metadata, None)

    async def run(self, plan: Plan) -> Any:
        if self._bearer is not None:  # an OAuth token fetch is blocking HTTP: keep it off the event loop
            await asyncio.to_thread(self._bearer.token)
        return await adrive(plan, self._perform)

    async def resume_cluster(self) -> None:
        if self._resume_lock is None:
            self._resume_lock = asyncio.Lock()
        async with self._resume_lock:
            await adrive(self.resume_plan(), self._perform)

    async def _perform(self, op: Any) -> Any:
        if isinstance(op, Rpc):
            if op.method == "FetchArrow" and self.same_host_arrow is not None:
                try:  # a blocking exchange on the socket: on a thread, the loop goes on meanwhile
                    return await asyncio.get_running_loop().run_in_executor(
                        None, local_transfer.fetch_arrow, self.same_host_arrow, op.request, op.metadata, op.timeout)
                except local_transfer.Unavailable as exc:
                    log.debug("FetchArrow through gRPC: %s", exc)
            try:
                return await getattr(self.transport.stub(op.service), op.method)(
                    op.request, metadata=op.metadata, timeout=op.timeout)
            except grpc.RpcError as exc:  # a rejected certificate is final: never retried as "unreachable"
                rejected = tls_rejection(exc, self.transport.secure)
                if rejected is not None:
                    raise rejected from None
                raise
        if isinstance(op, Sleep):
            await asyncio.sleep(op.seconds)
            return None
        if isinstance(op, EnsureSession):
            return await self.session_id()
        if isinstance(op, ResumeCluster):
            return await self.resume_cluster()
        raise TypeError(f"unknown protocol operation {op!r}")


class AsyncChunkStream(ReceivedChunks):
    """Chunks of :class:`~e6driver.protocol.stream.ChunkStream`'s fetches (``(chunks, ended)``): the batch fetched
    with execute first, then fetched when asked; once a further fetch is needed, one task fetches ``depth``
    ahead (``depth == 0``: always fetched when asked)."""

    def __init__(self, fetch: Callable[[], Awaitable[Batch]], depth: int = 2, first: Optional[Batch] = None):
        self._fetch, self._depth = fetch, depth
        self._queue: Optional[asyncio.Queue] = None
        self._task: Optional[asyncio.Task] = None
        super().__init__(first)

    def use(self, fetch: Callable[[], Awaitable[Batch]]) -> None:
        """Fetch with ``fetch`` from the next fetch on (see ``ChunkStream.use``)."""
        self._fetch = fetch

    async def next_chunk(self) -> Optional[Any]:
        self.check_open()
        while not self._pending:
            if self.exhausted or self._ended:
                self.exhausted = True
                return None
            try:
                self._take(await self._next_batch())
            except BaseException:
                self.exhausted = True
                raise
        chunk = self._pending.popleft()
        if not self._pending and not self._ended and self._depth and self._task is None and not self.exhausted:
            self._queue = asyncio.Queue(maxsize=self._depth)
            self._task = asyncio.ensure_future(self._produce())
        return chunk

    async def _next_batch(self) -> Batch:
        if self._task is None:
            return await self._fetch()
        assert self._queue is not None
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def _produce(self) -> None:
        assert self._queue is not None
        while True:
            try:
                batch = await self._fetch()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # delivered to the consumer, which decides
                await self._queue.put(exc)
                return
            await self._queue.put(batch)
            if batch[1]:
                return

    def close(self) -> None:
        self.exhausted = self.closed = True
        self._pending.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._queue is not None:  # a reader awaiting the queue is woken, and fails (check_open)
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(closed_while_read())


class AsyncServerQuery(QueryPlans):
    """A query the server knows, driven with asyncio (see :class:`~e6driver.protocol.query.ServerQuery`)."""

    def __init__(self, session: AsyncSession, handle: QueryHandle, deadline: Optional[float] = None):
        super().__init__(session, handle, deadline)
        self._stream: Optional[AsyncChunkStream] = None
        self._attached = False

    @classmethod
    async def start(cls, session: AsyncSession, sql: str, catalog: Optional[str], schema: Optional[str],
                    deadline: Optional[float] = None, prefetch: int = 2,
                    on_prepared: Optional[Callable[["AsyncServerQuery"], None]] = None) -> "AsyncServerQuery":
        """See ``ServerQuery.start`` (``on_prepared`` lets another task cancel the query while it executes)."""
        run = None
        if (await acapabilities(session)).get("run"):
            handle, run = await session.run(cls.run_plan(session, sql, catalog, schema, deadline))
        else:
            handle = await session.run(cls.prepare_plan(session, sql, catalog, schema, deadline))
        query = cls(session, handle, deadline)
        query.owned = True
        try:
            if on_prepared is not None:
                on_prepared(query)
            await session.run(query.opened_plan(run) if run is not None else query.open_plan(bool(catalog)))
            query._stream = AsyncChunkStream(query._fetch_batch, prefetch, query.first_batch)
        except BaseException:
            query.release_in_background()
            raise
        return query

    @classmethod
    def attach(cls, session: AsyncSession, query_id: str, engine_ip: str = "") -> "AsyncServerQuery":
        query = cls(session, QueryHandle(query_id, engine_ip, session.colours.colour_of(query_id)))
        query._attached = True
        return query

    async def _run(self, plan: Plan) -> Any:
        """Run a plan of this query; for a query addressed by id, the releases this session sent without
        waiting reach the server first (a query closed just before is gone)."""
        if self._attached:
            await self.session.flush_releases()
        return await self.session.run(plan)

    async def _fetch_batch(self) -> Batch:
        return await self._run(self.fetch_plan())

    async def _fetch_arrow(self) -> Batch:
        return await self._run(self.fetch_arrow_plan())

    async def prefer_arrow(self) -> None:
        """See ``ServerQuery.prefer_arrow``."""
        stream = self._stream
        if stream is not None and not stream.ended and self.metadata is not None \
                and (await acapabilities(self.session)).get("arrow_results"):
            if self.session.same_host_arrow is None:
                self.session.same_host_arrow = await local_transfer.asocket_name(self.session)
            stream.use(self._fetch_arrow)

    async def next_chunk(self) -> Optional[Any]:
        if self._stream is None:
            return None
        return await self._stream.next_chunk()

    def headers(self) -> list:
        return self.session.metadata(self.handle.colour, self.handle.engine_ip)

    async def refresh_metadata(self) -> ResultMetadata:
        return await self._run(self.metadata_plan())

    async def status(self) -> Any:
        return await self._run(self.status_plan())

    async def explain(self) -> str:
        return await self._run(self.explain_plan())

    async def explain_analyze(self) -> Dict[str, Any]:
        return await self._run(self.explain_analyze_plan())

    async def cancel(self) -> None:
        self.stop_fetching()
        await self._run(self.cancel_plan())

    def stop_fetching(self) -> None:
        if self._stream is not None:
            self._stream.close()

    async def clear(self, timeout: Optional[float] = None) -> None:
        await self._run(self.clear_plan(timeout))

    async def release(self, swallow: bool = True, timeout: Optional[float] = 10.0) -> None:
        """Free the query on the server once; a closed session releases nothing remotely. A query whose result
        was read to its end is released without waiting unless the caller wants its errors (as the blocking
        :meth:`~e6driver.protocol.query.ServerQuery.release`)."""
        if self.released:
            return
        self.released = True
        self.stop_fetching()
        if self.session.closed:
            return
        if swallow and self._stream is not None and self._stream.ended:
            self.session.colours.query_finished(self.query_id)  # at once: a pending switch applies now
            self.session.release_later(self.session.run(self.release_plan(swallow, timeout)))
            return
        await self._run(self.release_plan(swallow, timeout))

    def release_in_background(self) -> None:
        """Release from a task of its own: used when the awaiting task is being cancelled (its own awaits would
        be cancelled too), so the server still stops the query."""
        if self.released:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop (interpreter exit, another thread): the server's query TTL ends it
            return
        self.session.release_later(self.release())  # the session's close waits for it
