"""Cluster life cycle (spec §9): active → suspended → resuming → active, and the ClusterService servicer.

While the cluster is not active (suspended or still resuming) every QueryEngineService call is answered
``UNAVAILABLE`` / ``status: 503, cluster is suspended``, which triggers the official client's auto-resume.
``resume`` moves a suspended cluster to ``resuming``; it becomes ``active`` ``resume_seconds`` later.
Sessions and queries survive a suspension (their idle TTLs keep running).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Optional

import grpc

from e6driver._proto import cluster_pb2, cluster_pb2_grpc
from mock_server import errors
from mock_server.sessions import SessionStore, bearer_token

log = logging.getLogger(__name__)

ACTIVE, SUSPENDED, RESUMING = "active", "suspended", "resuming"
SUSPENDED_DETAILS = "status: 503, cluster is suspended"


def cluster_suspended() -> errors.EngineError:
    """The refusal every client path recognises as "resume the cluster" (spec §9.1)."""
    return errors.EngineError(grpc.StatusCode.UNAVAILABLE, SUSPENDED_DETAILS)


class ClusterState:
    """The cluster's status and the pending resume; thread-safe."""

    def __init__(self, resume_seconds: float = 2.0) -> None:
        if resume_seconds < 0:
            raise ValueError("resume_seconds must be >= 0")
        self.resume_seconds = resume_seconds
        self._lock = threading.Lock()
        self._status = ACTIVE
        self._timer: Optional[threading.Timer] = None

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    def check_available(self) -> None:
        """Raise ``status: 503`` unless the cluster is active."""
        if self.status != ACTIVE:
            raise cluster_suspended()

    def suspend(self) -> str:
        """Suspend (also interrupts a resume in progress); returns the new status."""
        with self._lock:
            self._cancel_timer()
            previous, self._status = self._status, SUSPENDED
        if previous != SUSPENDED:
            log.info("cluster suspended")
        return SUSPENDED

    def resume(self) -> str:
        """Start resuming a suspended cluster; returns the status after the call (idempotent)."""
        with self._lock:
            if self._status != SUSPENDED:
                return self._status
            if self.resume_seconds <= 0:
                self._status = ACTIVE
            else:
                self._status = RESUMING
                timer = threading.Timer(self.resume_seconds, self._resumed)
                timer.daemon = True
                self._timer = timer
                timer.start()
            status = self._status
        log.info("cluster %s", "resumed" if status == ACTIVE else f"resuming ({self.resume_seconds}s)")
        return status

    def _resumed(self) -> None:
        with self._lock:
            if self._timer is not threading.current_thread():
                return  # suspended again (or closed) meanwhile
            self._timer = None
            self._status = ACTIVE
        log.info("cluster resumed")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        with self._lock:
            self._cancel_timer()


class ClusterServicer(cluster_pb2_grpc.ClusterServiceServicer):
    """ClusterService on the query port. Callers authenticate with user/password, or a bearer token when
    the user is empty (OAuth mode, spec §9.3). The ``strategy`` header is accepted whatever its colour.
    Any authenticated user may ask for the status or resume (drivers auto-resume); only ``admin_user`` may
    suspend (others: PERMISSION_DENIED)."""

    def __init__(self, cluster: ClusterState, sessions: SessionStore, admin_user: str = "") -> None:
        self.cluster = cluster
        self.sessions = sessions
        self.admin_user = admin_user

    def _authorize(self, request: Any, context: grpc.ServicerContext) -> str:
        if request.user:
            return self.sessions.verify(request.user, request.password)
        token = bearer_token(context.invocation_metadata())
        if token is None:
            raise errors.bad_credentials()
        return self.sessions.user_for_token(token)

    @errors.rpc_method
    def status(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._authorize(request, context)
        return cluster_pb2.ClusterStatusResponse(status=self.cluster.status)

    @errors.rpc_method
    def resume(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._authorize(request, context)
        return cluster_pb2.ResumeResponse(status=self.cluster.resume())

    @errors.rpc_method
    def suspend(self, request: Any, context: grpc.ServicerContext) -> Any:
        user = self._authorize(request, context)
        if user != self.admin_user:
            log.info("suspend refused to %s (not the admin)", user)
            raise errors.EngineError(grpc.StatusCode.PERMISSION_DENIED,
                                     f"user {user!r} may not suspend the cluster: only the admin user may")
        log.info("suspend requested by %s", user)
        return cluster_pb2.SuspendResponse(status=self.cluster.suspend())
