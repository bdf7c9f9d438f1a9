"""AdminService (protos/e6driver_admin.proto): operator controls of the local engine over gRPC.

Switch the blue-green colour, suspend/resume the cluster and expire every session. Only the admin user
(the server's first configured user) may call it: wrong credentials → UNAUTHENTICATED, any other valid
user → PERMISSION_DENIED. ``GetCapabilities`` (what the engine offers beyond the e6data protocol, for the
driver's discovery of transactions) needs no credentials. The operations themselves live in :mod:`mock_server.control.bluegreen`,
:mod:`mock_server.control.cluster` and :mod:`mock_server.sessions`; this module only authorizes and reports.
"""
from __future__ import annotations

import logging
from typing import Any

import grpc

from e6driver._proto import e6driver_admin_pb2 as admin_pb, e6driver_admin_pb2_grpc
from mock_server import errors
from mock_server.control.cluster import ClusterState
from mock_server.query.queries import QueryRegistry
from mock_server.sessions import SessionStore
from mock_server.control.bluegreen import BlueGreenState, check_colour

log = logging.getLogger(__name__)


def switch_report(strategy: BlueGreenState, queries: QueryRegistry,
                  switched: bool) -> admin_pb.SwitchStrategyResponse:
    """The state after a switch request: active/retired colour, switch time, queries still draining."""
    active, retired, switched_at = strategy.snapshot()
    return admin_pb.SwitchStrategyResponse(
        active_strategy=active, retired_strategy=retired or "", switched=switched,
        switched_at=switched_at or 0.0, draining_queries=queries.count_on(retired) if retired else 0)


class AdminServicer(e6driver_admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, sessions: SessionStore, strategy: BlueGreenState, cluster: ClusterState,
                 queries: QueryRegistry, admin_user: str) -> None:
        self.sessions = sessions
        self.strategy = strategy
        self.cluster = cluster
        self.queries = queries
        self.admin_user = admin_user

    def _authorize(self, request: Any, action: str) -> None:
        user = self.sessions.verify(request.user, request.password)
        if user != self.admin_user:
            log.info("admin %s refused for user %r", action, user)
            raise errors.EngineError(grpc.StatusCode.PERMISSION_DENIED,
                                     f"user {user!r} is not the admin user")
        log.info("admin %s by %s", action, user)

    @errors.rpc_method
    def SwitchStrategy(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._authorize(request, "switch-strategy")
        try:
            colour = check_colour(request.strategy)
        except ValueError as exc:
            raise errors.invalid(str(exc)) from None
        switched = self.strategy.switch(colour)
        return switch_report(self.strategy, self.queries, switched)

    @errors.rpc_method
    def Suspend(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._authorize(request, "suspend")
        return admin_pb.SuspendResponse(status=self.cluster.suspend())

    @errors.rpc_method
    def Resume(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._authorize(request, "resume")
        return admin_pb.ResumeResponse(status=self.cluster.resume())

    @errors.rpc_method
    def GetCapabilities(self, request: Any, context: grpc.ServicerContext) -> Any:
        """What the engine offers beyond the e6data protocol; any caller (no credentials needed)."""
        return admin_pb.GetCapabilitiesResponse(**self.queries.engine.capabilities())

    @errors.rpc_method
    def ExpireSessions(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._authorize(request, "expire-sessions")
        return admin_pb.ExpireSessionsResponse(expired=self.sessions.expire_all())
