"""Who may read or write a resource of a store (bucket, key-value table, stream): one rule for every store.

The admin reaches everything; the owner (whoever created it) may write; others get what a grant gives them
(``read`` or ``write``), else nothing. A resource that does not exist is ``none`` to all but the admin, so a
name never tells a user that someone else's resource exists.
"""
from __future__ import annotations

from typing import Callable, Optional

ADMIN, WRITE, READ, NONE = "admin", "write", "read", "none"
LEVELS = (NONE, READ, WRITE)  # what a grant may give


def access_level(user: str, admin_user: str, owner: Optional[str], granted: Callable[[], Optional[str]]) -> str:
    """``admin``, ``write``, ``read`` or ``none``; ``owner`` None: no such resource; ``granted()``: the grant's
    level for ``user`` (None without one), asked only when it matters."""
    if user == admin_user:
        return ADMIN
    if owner is None:
        return NONE
    if owner == user:
        return WRITE
    return granted() or NONE


def allows(access: str, write: bool) -> bool:
    """Whether ``access`` is enough to read (``write``: to write)."""
    return access in (ADMIN, WRITE) if write else access != NONE
