"""The engine's user accounts: who may authenticate, with which secret, and since when.

Two kinds of account. *Configured* users come from the server's configuration (``EngineServer(users=...)``,
``--user/--password``) at every start. *Created* users are made at run time by the admin
(:meth:`Accounts.create`); their generated token is returned once and kept only as a salted PBKDF2-SHA256
digest (:class:`Credential`) in ``DATA_DIR/accounts.json`` (mode 0600, rewritten atomically), so they survive
a restart. The disabled flag, creation time and last login of both kinds are kept there too (in memory
without a data directory). A configured user wins over a created one of the same name.

A created token reads ``e6u_<id>_<secret>``: the public ``id`` picks the one account whose digest a bearer
token is checked against, instead of one digest per user. Created names are 1-64 characters of ``a-z``,
``0-9``, ``_``, ``-`` and ``.``, starting with a letter; their number (configured ones included) is capped by
``Limits.max_users``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, replace
from typing import Dict, Iterator, List, Mapping, Optional

import grpc

from mock_server.errors import EngineError
from mock_server.limits import DEFAULT_LIMITS, Limits, exceeded

log = logging.getLogger(__name__)

ACCOUNTS_FILE = "accounts.json"
TOKEN_PREFIX = "e6u_"
_ROUNDS = 2000  # every store call checks its credentials: cheap enough per call, no plaintext at rest
_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}\Z")
# Schemas of catalog ``datasets`` that a user's name (a dataset owner's schema) would shadow.
RESERVED_NAMES = frozenset({"main", "information"})


class Credential:
    """A secret as a salted digest; :meth:`matches` compares in constant time."""

    __slots__ = ("_salt", "_digest", "bearer")

    def __init__(self, secret: str, bearer: bool = True, salt: Optional[bytes] = None,
                 digest: Optional[bytes] = None) -> None:
        self._salt = salt if salt is not None else os.urandom(16)
        self._digest = digest if digest is not None else self._hash(secret)
        self.bearer = bearer  # usable as a bearer token (no other user has the same secret)

    @classmethod
    def stored(cls, record: Mapping[str, str]) -> "Credential":
        """The credential :meth:`record` wrote."""
        return cls("", salt=bytes.fromhex(record["salt"]), digest=bytes.fromhex(record["digest"]))

    def record(self) -> Dict[str, str]:
        return {"salt": self._salt.hex(), "digest": self._digest.hex()}

    def _hash(self, secret: str) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8", "surrogatepass"), self._salt, _ROUNDS)

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self._digest, self._hash(secret))

    def __repr__(self) -> str:
        return "Credential(<hashed>)"


DUMMY = Credential("")  # compared against when a user is unknown, for similar timing


@dataclass(frozen=True)
class Account:
    name: str
    credential: Credential
    configured: bool  # from the server's configuration (else created at run time)
    created: float  # Unix time; for a configured user, the first start that knew it
    disabled: bool = False
    last_login: float = 0.0  # Unix time of the last successful authentication; 0 if none
    token_id: str = ""  # public part of a created token


def check_name(name: str) -> str:
    """A valid name for a created user, else INVALID_ARGUMENT."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise EngineError(grpc.StatusCode.INVALID_ARGUMENT,
                          f"invalid user name {name[:80]!r}: 1-64 characters of a-z, 0-9, '_', '-' and '.', "
                          "starting with a letter")
    if name in RESERVED_NAMES:
        raise EngineError(grpc.StatusCode.INVALID_ARGUMENT, f"user name {name!r} is reserved")
    return name


def _shared_secrets(users: Mapping[str, str]) -> Dict[str, bool]:
    """name → whether its password is its alone (only then is it a bearer token)."""
    holders: Dict[str, List[str]] = {}
    for user, password in users.items():
        holders.setdefault(password, []).append(user)
    for names in holders.values():
        if len(names) > 1:
            log.warning("users %s share a password: it is refused as a bearer token", ", ".join(names))
    return {user: len(holders[password]) == 1 for user, password in users.items()}


def _new_token() -> tuple:
    token_id = secrets.token_hex(6)
    return token_id, f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


class Accounts(MappingABC):
    """name → :class:`Credential` of every account (configured first), plus their state; thread-safe."""

    def __init__(self, configured: Mapping[str, str], path: Optional[str] = None,
                 limits: Limits = DEFAULT_LIMITS, admin_user: Optional[str] = None) -> None:
        self.path = path
        self.limits = limits
        self.admin_user = admin_user if admin_user is not None else next(iter(configured), "")
        self._lock = threading.Lock()
        self._dirty = False  # logins not yet written
        now = time.time()
        state = self._load()
        kept = state.get("configured", {})
        bearer = _shared_secrets(configured)
        self._accounts: Dict[str, Account] = {}
        for name, password in configured.items():
            seen = kept.get(name, {})
            self._accounts[name] = Account(name, Credential(password, bearer=bearer[name]), True,
                                           float(seen.get("created", now)), bool(seen.get("disabled", False)),
                                           float(seen.get("last_login", 0.0)))
        self._shadowed: Dict[str, dict] = {}  # created accounts a configured one hides: kept in the file
        for name, record in state.get("created", {}).items():
            if name in self._accounts:
                log.warning("created user %r is shadowed by the configured user of the same name", name)
                self._shadowed[name] = record
                continue
            self._accounts[name] = Account(name, Credential.stored(record), False, float(record["created"]),
                                           bool(record.get("disabled", False)),
                                           float(record.get("last_login", 0.0)), record.get("token_id", ""))
        self._by_token = {a.token_id: a.name for a in self._accounts.values() if a.token_id}
        if path and not state:
            self._save()

    # ------------------------------------------------------------------ persistence

    def _load(self) -> dict:
        if not self.path or not os.path.exists(self.path):
            return {}
        try:
            with open(self.path) as handle:
                state = json.load(handle)
            if not isinstance(state, dict):
                raise ValueError("not an object")
            return state
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"cannot read the accounts file {ACCOUNTS_FILE} in the data directory: "
                               f"{exc.__class__.__name__}") from None

    def _save(self) -> None:
        """Write every account's state (caller holds the lock, or is the constructor)."""
        self._dirty = False
        if not self.path:
            return
        created = dict(self._shadowed)
        configured = {}
        for a in self._accounts.values():
            state = {"created": a.created, "disabled": a.disabled, "last_login": a.last_login}
            if a.configured:
                configured[a.name] = state
            else:
                created[a.name] = dict(state, token_id=a.token_id, **a.credential.record())
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"created": created, "configured": configured}, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def flush(self) -> None:
        """Write the last logins recorded since the last write (the server's sweeper calls this)."""
        with self._lock:
            if self._dirty:
                self._save()

    # ------------------------------------------------------------------ Mapping: name → Credential

    def __getitem__(self, name: str) -> Credential:
        with self._lock:
            return self._accounts[name].credential

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._accounts))

    def __len__(self) -> int:
        with self._lock:
            return len(self._accounts)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._accounts

    # ------------------------------------------------------------------ authentication

    def account(self, name: str) -> Optional[Account]:
        with self._lock:
            return self._accounts.get(name)

    def matching(self, name: str, secret: str) -> Optional[Account]:
        """The account ``name`` if ``secret`` is its password or token, else None (similar timing)."""
        found = self.account(name)
        if found is None:
            DUMMY.matches(secret)
            return None
        return found if found.credential.matches(secret) else None

    def bearer(self, token: str) -> List[Account]:
        """The accounts whose secret is ``token``: a created token's one account, else the configured users'
        (several when they share a password)."""
        if token.startswith(TOKEN_PREFIX):
            with self._lock:
                owner = self._accounts.get(self._by_token.get(token[len(TOKEN_PREFIX):].split("_", 1)[0], ""))
            if owner is not None and owner.credential.matches(token):
                return [owner]
        with self._lock:
            configured = [a for a in self._accounts.values() if a.configured]
        return [a for a in configured if a.credential.matches(token)]

    def logged_in(self, name: str) -> None:
        """Record a successful authentication (written by :meth:`flush` or the next change)."""
        with self._lock:
            found = self._accounts.get(name)
            if found is not None:
                self._accounts[name] = replace(found, last_login=time.time())
                self._dirty = True

    # ------------------------------------------------------------------ administration

    def require_admin(self, user: str, what: str) -> None:
        """PERMISSION_DENIED unless ``user`` is the admin user."""
        if user != self.admin_user:
            log.info("%s refused for user %r", what, user)
            raise EngineError(grpc.StatusCode.PERMISSION_DENIED, f"{what} is for the admin user only "
                              f"(user {user!r} is not the admin)")

    def listing(self) -> List[Account]:
        with self._lock:
            return list(self._accounts.values())

    def create(self, name: str) -> str:
        """A new account; returns its token (shown once)."""
        check_name(name)
        token_id, token = _new_token()
        credential = Credential(token)
        with self._lock:
            if name in self._accounts or name == self.admin_user:
                raise EngineError(grpc.StatusCode.ALREADY_EXISTS, f"user {name!r} already exists")
            if len(self._accounts) >= self.limits.max_users:
                raise exceeded(self.limits, "max_users", f"the engine has {len(self._accounts)} users")
            self._accounts[name] = Account(name, credential, False, time.time(), token_id=token_id)
            self._by_token[token_id] = name
            self._save()
        log.info("user %r created", name)
        return token

    def _existing(self, name: str) -> Account:
        found = self._accounts.get(name)
        if found is None:
            raise EngineError(grpc.StatusCode.NOT_FOUND, f"no user {name[:80]!r}")
        return found

    def set_disabled(self, name: str, disabled: bool) -> bool:
        """Disable or enable ``name``; False when it already was. The admin cannot be disabled."""
        with self._lock:
            found = self._existing(name)
            if disabled and name == self.admin_user:
                raise EngineError(grpc.StatusCode.FAILED_PRECONDITION, "the admin user cannot be disabled")
            if found.disabled == disabled:
                return False
            self._accounts[name] = replace(found, disabled=disabled)
            self._save()
        log.info("user %r %s", name, "disabled" if disabled else "enabled")
        return True

    def reset_token(self, name: str) -> str:
        """A new token for created user ``name`` (the old one stops working); returns it (shown once)."""
        token_id, token = _new_token()
        credential = Credential(token)
        with self._lock:
            found = self._existing(name)
            if found.configured:
                raise EngineError(grpc.StatusCode.FAILED_PRECONDITION,
                                  f"user {name!r} is configured: its password is set by the server's "
                                  "configuration (--user/--password)")
            self._by_token.pop(found.token_id, None)
            self._by_token[token_id] = name
            self._accounts[name] = replace(found, credential=credential, token_id=token_id)
            self._save()
        log.info("token of user %r reset", name)
        return token


def open_accounts(data_dir: Optional[str], configured: Mapping[str, str], limits: Limits = DEFAULT_LIMITS,
                  admin_user: Optional[str] = None) -> Accounts:
    """The server's accounts, kept in DATA_DIR/accounts.json (in memory without ``data_dir``)."""
    path = None
    if data_dir:
        os.makedirs(data_dir, exist_ok=True)
        path = os.path.join(data_dir, ACCOUNTS_FILE)
    return Accounts(configured, path, limits, admin_user)
