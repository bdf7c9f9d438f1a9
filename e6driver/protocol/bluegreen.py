"""Blue-green state: the one place that knows which deployment colour each endpoint wants.

The wire calls a colour a *strategy* (the ``strategy`` header, ``new_strategy`` fields); here it is a colour.

Rules (spec §8, without the official client's defects listed in §11.1):

* State is per endpoint (``host:port``), shared by every connection of the process to that endpoint, guarded by
  a lock and reset in a forked child (a child must detect again rather than trust its parent's copy).
* New work (authenticate, prepare) uses the *active* colour; before one is known, detection tries ``blue`` then
  ``green`` — a bounded list, never recursion.
* Every query remembers the colour it was prepared under; all its later calls, cancel included, send that
  colour so in-flight queries finish on the deployment that started them.
* A ``new_strategy`` announcement becomes *pending*; it is applied once the endpoint has no open queries. An
  announcement in an authenticate response is applied at once (that session is not bound to any query).
* Applying a switch bumps ``generation``: sessions minted under an older generation must re-authenticate.
* ``status: 456`` on new work means the cached colour is retired: forget it and detect again.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

log = logging.getLogger(__name__)

COLOURS: Tuple[str, str] = ("blue", "green")
REFUSED_COLOUR_DETAIL = "status: 456"


def normalise(colour: Optional[str]) -> Optional[str]:
    """A valid announced colour in lower case, or None for anything else (spec §8.1)."""
    if not colour:
        return None
    lowered = colour.strip().lower()
    return lowered if lowered in COLOURS else None


def is_refused_colour(code_name: str, details: str) -> bool:
    """The server refused the colour we sent (spec §8.1: UNKNOWN with ``status: 456``)."""
    return code_name == "UNKNOWN" and REFUSED_COLOUR_DETAIL in (details or "")


@dataclass
class EndpointColours:
    """Colour state of one endpoint. Use through the methods: they hold the lock."""

    active: Optional[str] = None
    pending: Optional[str] = None
    generation: int = 0
    open_queries: Dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ---- new work
    def candidates(self) -> List[str]:
        """Colours to try, in order, for new work: the active one, or detection order when none is known."""
        with self.lock:
            self._apply_pending_if_idle()
            return [self.active] if self.active else list(COLOURS)

    def confirm(self, colour: str) -> None:
        """New work succeeded under ``colour``: it is the active colour from now on."""
        with self.lock:
            if self.active != colour:
                log.info("colour for new work is now %s", colour)
                self.active = colour
                self.generation += 1
            if self.pending == colour:
                self.pending = None

    def refused(self, colour: str) -> None:
        """``colour`` was refused with 456: forget it so the next attempt detects again."""
        with self.lock:
            if self.active == colour:
                log.info("colour %s refused by the server; detecting again", colour)
                self.active = None
                self.generation += 1
            if self.pending == colour:
                self.pending = None

    # ---- announcements
    def announce(self, colour: Optional[str]) -> None:
        """A response carried ``new_strategy``: switch when no query of this endpoint is open."""
        colour = normalise(colour)
        if colour is None:
            return
        with self.lock:
            if colour != self.active:
                self.pending = colour
                self._apply_pending_if_idle()

    def announce_at_authentication(self, used: str, colour: Optional[str]) -> Optional[str]:
        """An authenticate response announced a colour: returns the colour to re-authenticate with, if any."""
        colour = normalise(colour)
        if colour is None or colour == used:
            return None
        with self.lock:
            self.active = colour
            self.pending = None
            self.generation += 1
        return colour

    # ---- queries
    def query_started(self, query_id: str, colour: Optional[str]) -> None:
        if not query_id or colour is None:
            return
        with self.lock:
            self.open_queries[query_id] = colour

    def colour_of(self, query_id: Optional[str]) -> Optional[str]:
        """The colour a query was prepared under (falls back to the active colour for foreign ids)."""
        with self.lock:
            return self.open_queries.get(query_id or "", self.active)

    def query_finished(self, query_id: Optional[str]) -> None:
        with self.lock:
            self.open_queries.pop(query_id or "", None)
            self._apply_pending_if_idle()

    def apply_pending(self) -> bool:
        """Apply a pending switch now if no query is open; True if the colour changed."""
        with self.lock:
            generation = self.generation
            self._apply_pending_if_idle()
            return self.generation != generation

    def _apply_pending_if_idle(self) -> None:
        if self.pending and not self.open_queries:
            log.info("applying pending blue-green switch %s -> %s", self.active, self.pending)
            self.active, self.pending = self.pending, None
            self.generation += 1


class BlueGreenRegistry:
    """Process-wide map endpoint → EndpointColours, emptied in forked children."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._endpoints: Dict[str, EndpointColours] = {}

    def for_endpoint(self, endpoint: str) -> EndpointColours:
        with self._lock:
            state = self._endpoints.get(endpoint)
            if state is None:
                state = self._endpoints[endpoint] = EndpointColours()
            return state

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._endpoints = {}


REGISTRY = BlueGreenRegistry()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=REGISTRY.reset)
