"""Sessions, their idle TTL, and authentication against the accounts (:mod:`mock_server.accounts`).

Configured users come from the command line (``--user/--password``, default ``admin``/``admin``); the admin
creates more at run time (kept in DATA_DIR/accounts.json). A session id is a random UUID; it expires after
``ttl`` seconds without use, unless a live query still refers to it. OAuth-style calls may instead carry
``authorization: Bearer <password or token>`` with an empty session id.

Secrets are kept only as salted PBKDF2-SHA256 digests, never as text. A bearer token belongs to exactly one
user: a password two users share is refused as a token (each must log in with their user name). A disabled
user cannot authenticate, and disabling one (or resetting their token) ends their sessions. Failed logins
are logged with the user name cut to :data:`LOGGED_NAME_CHARS` characters.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import grpc

from mock_server import errors
from mock_server.accounts import Accounts, Credential, open_accounts
from mock_server.limits import DEFAULT_LIMITS, Limits

log = logging.getLogger(__name__)

DEFAULT_USERS: Mapping[str, str] = {"admin": "admin"}
LOGGED_NAME_CHARS = 64
__all__ = ["Credential", "DEFAULT_USERS", "LOGGED_NAME_CHARS", "SessionStore", "bearer_token", "shown_name"]


def shown_name(user: str) -> str:
    """A user name as failure logs show it: at most LOGGED_NAME_CHARS characters, control characters escaped."""
    if len(user) <= LOGGED_NAME_CHARS:
        return repr(user)
    return f"{user[:LOGGED_NAME_CHARS]!r}... ({len(user)} characters)"


def disabled(user: str) -> errors.EngineError:
    return errors.EngineError(grpc.StatusCode.UNAUTHENTICATED, f"user {user!r} is disabled")


def bearer_token(metadata: Optional[Iterable[Tuple[str, Any]]]) -> Optional[str]:
    """The token of an ``authorization: Bearer <token>`` header, or None."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value[:7].lower() == "bearer ":
            return value[7:].strip()
    return None


class SessionStore:
    """Thread-safe map of session id → (user, last use)."""

    def __init__(self, users: Optional[Mapping[str, str]] = None, ttl: float = 3600.0,
                 data_dir: Optional[str] = None, limits: Limits = DEFAULT_LIMITS,
                 admin_user: Optional[str] = None, accounts: Optional[Accounts] = None) -> None:
        """``users``: the configured users (name → password); ``data_dir`` keeps the created ones."""
        if accounts is None:
            accounts = open_accounts(data_dir, users if users is not None else DEFAULT_USERS, limits, admin_user)
        self.accounts = accounts
        self.ttl = ttl
        self.limits = limits
        self._lock = threading.Lock()
        self._sessions: Dict[str, Tuple[str, float]] = {}
        self._on_end: List[Callable[[List[str], str], Any]] = []

    def on_end(self, callback: Callable[[List[str], str], Any]) -> None:
        """Call ``callback(session_ids, reason)`` whenever sessions end (expired, forgotten)."""
        self._on_end.append(callback)

    def _ended(self, session_ids: List[str], reason: str) -> None:
        if not session_ids:
            return
        for callback in self._on_end:
            try:
                callback(session_ids, reason)
            except Exception:  # noqa: BLE001 - ending a session never fails the caller
                log.exception("ending sessions failed")

    @property
    def users(self) -> Accounts:
        """Every account: a mapping of name → :class:`Credential` (never the secret itself)."""
        return self.accounts

    @property
    def admin_user(self) -> str:
        return self.accounts.admin_user

    def _admitted(self, user: str) -> str:
        """``user`` (whose secret matched) unless disabled; records the login."""
        account = self.accounts.account(user)
        if account is None or account.disabled:
            log.info("authentication refused for disabled user %s", shown_name(user))
            raise disabled(user)
        self.accounts.logged_in(user)
        return user

    def verify(self, user: str, password: str) -> str:
        """``user`` if the password is right and the user not disabled (no session is opened), else
        UNAUTHENTICATED."""
        if self.accounts.matching(user, password) is None:
            log.info("authentication failed for user %s", shown_name(user))
            raise errors.bad_credentials()
        return self._admitted(user)

    def authenticate(self, user: str, password: str) -> str:
        """A new session id, or UNAUTHENTICATED."""
        self.verify(user, password)
        session_id = str(uuid.uuid4())
        with self._lock:
            self._sessions[session_id] = (user, time.monotonic())
            evicted = self._over_limit(user)
        # Each session may hold a DuckDB connection (~70 KB) for the TTL, and the protocol has no call that
        # closes one: without a bound, logging in in a loop grew the engine's memory for good (300: +21 MiB).
        self._ended(evicted, f"user {shown_name(user)!r} opened more sessions than max_sessions_per_user="
                             f"{self.limits.max_sessions_per_user} (server flag --max-sessions-per-user): "
                             "the least recently used one ended")
        account = self.accounts.account(user)
        if account is None or account.disabled:  # disabled meanwhile: its end_user may have run before this
            with self._lock:
                self._sessions.pop(session_id, None)
            raise disabled(user)
        log.debug("session %s opened for %s", session_id, user)
        return session_id

    def _over_limit(self, user: str) -> List[str]:
        """Forget ``user``'s least recently used sessions beyond max_sessions_per_user (hold the lock)."""
        mine = sorted((last, sid) for sid, (owner, last) in self._sessions.items() if owner == user)
        evicted = [sid for _, sid in mine[:max(0, len(mine) - self.limits.max_sessions_per_user)]]
        for sid in evicted:
            del self._sessions[sid]
        return evicted

    def user_for_token(self, token: str) -> str:
        """The one user whose password is ``token`` (bearer authentication), or UNAUTHENTICATED (also for a
        password several users share)."""
        found = self.accounts.bearer(token)
        if len(found) == 1 and found[0].credential.bearer:
            return self._admitted(found[0].name)
        if found:
            log.info("bearer token refused: it is the password of %d users", len(found))
        raise errors.bad_credentials()

    def caller(self, auth: Any, metadata: Optional[Iterable[Tuple[str, Any]]] = None) -> str:
        """The user a store call acts for: its ``auth`` message's user + password, else its session id, else
        the bearer token in the call's ``metadata`` (the object and dataset services share this rule)."""
        if auth.user or auth.password:
            return self.verify(auth.user, auth.password)
        if auth.session_id:
            return self.resolve(auth.session_id)
        token = bearer_token(metadata)
        if token is not None:
            return self.user_for_token(token)
        raise errors.bad_credentials()

    def lookup(self, session_id: str) -> Optional[str]:
        """User of a live session (and mark it used), else None."""
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            entry = self._sessions.get(session_id)
            if entry is None:
                return None
            user, last = entry
            expired = now - last > self.ttl
            if expired:
                del self._sessions[session_id]
            else:
                self._sessions[session_id] = (user, now)
        if expired:
            self._ended([session_id], "expired")
            return None
        return user

    def resolve(self, session_id: str) -> str:
        """User of a live session, or INTERNAL ``Access denied`` (makes clients re-authenticate)."""
        user = self.lookup(session_id)
        if user is None:
            raise errors.session_denied()
        return user

    def touch(self, session_id: str) -> None:
        with self._lock:
            entry = self._sessions.get(session_id)
            if entry is not None:
                self._sessions[session_id] = (entry[0], time.monotonic())

    def sweep(self, keep: Iterable[str] = ()) -> int:
        """Drop sessions idle for longer than the TTL, except those in ``keep`` (live queries)."""
        keep = set(keep)
        now = time.monotonic()
        with self._lock:
            stale = [sid for sid, (_, last) in self._sessions.items()
                     if now - last > self.ttl and sid not in keep]
            for sid in stale:
                del self._sessions[sid]
        self._ended(stale, "expired")
        self.accounts.flush()  # last logins, at most one sweep interval late
        return len(stale)

    def end_user(self, user: str, reason: str) -> int:
        """End every session of ``user`` now (disabled, or a new token); returns how many."""
        with self._lock:
            ended = [sid for sid, (owner, _) in self._sessions.items() if owner == user]
            for sid in ended:
                del self._sessions[sid]
        self._ended(ended, reason)
        if ended:
            log.info("%d session(s) of %s ended: %s", len(ended), shown_name(user), reason)
        return len(ended)

    def expire_all(self) -> int:
        """Forget every session now (live queries stay usable with their own session id); returns how many."""
        with self._lock:
            ended = list(self._sessions)
            count = len(ended)
            self._sessions.clear()
        self._ended(ended, "sessions expired by the administrator")
        log.info("%d session(s) expired on request", count)
        return count

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
