"""Dataset names and ids: what a name may be, and how a request's ``name`` field tells one from the other.

A name is 1-63 characters of lower-case ``a-z``, digits, ``_`` and ``-``; it starts with a letter or ``_``,
does not end with ``-``, has no ``--`` (an SQL comment when unquoted) and is not shaped like an id (a UUID,
which would be read as one). Names with a ``-`` are read in SQL quoted: ``datasets.main."sales-2024"``. The
name is also the dataset's folder under ``DATA_DIR/datasets``, which these rules keep a single plain path part.
"""
from __future__ import annotations

import re

import grpc

from mock_server.errors import EngineError

MAX_NAME = 63
_NAME = re.compile(r"^[a-z_](?:[a-z0-9_-]{0,%d}[a-z0-9_])?$" % (MAX_NAME - 2))
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RULES = (f"1-{MAX_NAME} characters of a-z, 0-9, '_' and '-', starting with a letter or '_', not ending with '-', "
         "without '--', not shaped like a dataset id")
_SHOWN = 80  # characters of a refused name repeated in the error


def is_id(text: str) -> bool:
    return bool(UUID.match(text or ""))


def check_name(name: str) -> str:
    """``name`` if it is a valid dataset name, else INVALID_ARGUMENT stating the rules."""
    if not _NAME.match(name or "") or "--" in name or is_id(name):
        shown = name if len(name or "") <= _SHOWN else name[:_SHOWN] + "..."
        raise EngineError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid dataset name {shown!r}: {RULES}")
    return name
