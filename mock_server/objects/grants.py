"""Who may use which bucket: owners, grants and the admin user, kept in one JSON file.

Access levels are ``none`` < ``read`` < ``write``. The admin user (the server's first user) has every access
to every bucket. The user who creates a bucket owns it (``write``) and, like the admin, may grant ``read`` or
``write`` on it to other users or revoke it (``none``). The file is rewritten atomically on every change.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Dict, Optional

import grpc

from mock_server.access import LEVELS, NONE, access_level, allows
from mock_server.errors import EngineError



def denied(user: str, bucket: str, action: str) -> EngineError:
    return EngineError(grpc.StatusCode.PERMISSION_DENIED,
                       f"user {user!r} may not {action} bucket {bucket!r} (no grant)")


class BucketGrants:
    def __init__(self, path: Optional[str], admin_user: str) -> None:
        self.path = path
        self.admin_user = admin_user
        self._lock = threading.Lock()
        self._owners: Dict[str, str] = {}
        self._grants: Dict[str, Dict[str, str]] = {}
        if path and os.path.exists(path):
            with open(path) as handle:
                state = json.load(handle)
            self._owners = dict(state.get("owners", {}))
            self._grants = {b: dict(g) for b, g in state.get("grants", {}).items()}

    def _save(self) -> None:
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump({"owners": self._owners, "grants": self._grants}, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def access(self, user: str, bucket: str) -> str:
        """``admin``, ``write``, ``read`` or ``none`` (:func:`mock_server.access.access_level`; a bucket without
        an owner — made by the admin — is reached by grants alone)."""
        with self._lock:
            return access_level(user, self.admin_user, self._owners.get(bucket, ""),
                                lambda: self._grants.get(bucket, {}).get(user))

    def can_read(self, user: str, bucket: str) -> bool:
        return allows(self.access(user, bucket), write=False)

    def can_write(self, user: str, bucket: str) -> bool:
        return allows(self.access(user, bucket), write=True)

    def require(self, user: str, bucket: str, write: bool = False) -> None:
        ok = self.can_write(user, bucket) if write else self.can_read(user, bucket)
        if not ok:
            raise denied(user, bucket, "write to" if write else "read")

    def created(self, user: str, bucket: str) -> None:
        """Record ``user`` as the owner of a bucket they just created (the admin owns nothing)."""
        if user == self.admin_user:
            return
        with self._lock:
            self._owners.setdefault(bucket, user)
            self._save()

    def grant(self, granter: str, bucket: str, grantee: str, level: str) -> str:
        """Set ``grantee``'s access to ``bucket``; only the admin or the bucket's owner may."""
        if level not in LEVELS:
            raise EngineError(grpc.StatusCode.INVALID_ARGUMENT,
                              f"access must be one of {', '.join(LEVELS)}, not {level!r}")
        with self._lock:
            if granter != self.admin_user and self._owners.get(bucket) != granter:
                raise denied(granter, bucket, "grant access to")
            if self._owners.get(bucket) == grantee and level != "write":
                raise EngineError(grpc.StatusCode.FAILED_PRECONDITION,
                                  f"user {grantee!r} owns bucket {bucket!r}; the owner keeps write access")
            users = self._grants.setdefault(bucket, {})
            if level == NONE:
                users.pop(grantee, None)
            else:
                users[grantee] = level
            self._save()
        return self.access(grantee, bucket)
