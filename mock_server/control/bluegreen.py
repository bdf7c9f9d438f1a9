"""Blue-green deployment ("strategy", spec §8): the one source of truth for which colour is active.

The server runs one active colour. After :meth:`BlueGreenState.switch` the previous colour is *retired*:

* new work (``authenticate``, ``prepareStatement``, ``prepareStatementV2``) whose ``strategy`` header names
  any colour other than the active one is refused with ``UNKNOWN`` / ``status: 456`` — the official client then
  re-detects its colour and replays the execute (§8.4);
* every other call is served whatever colour it carries, so queries prepared before a switch finish on the
  colour that started them; the response announces ``new_strategy=<active>`` whenever the request carried
  a stale colour (§8.3);
* calls without a ``strategy`` header (OAuth clients, non-blue-green clients) run under the active colour.

Header values other than ``blue``/``green`` (compared case-insensitively) are treated as no header.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterable, List, Optional, Tuple

import grpc

from mock_server import errors

log = logging.getLogger(__name__)

COLOURS = ("blue", "green")
HEADER = "strategy"
WRONG_STRATEGY = "status: 456"
NEW_STRATEGY_FIELD = "new_strategy"
NEW_WORK = frozenset({"authenticate", "prepareStatement", "prepareStatementV2", "Run"})  # Run: QueryRunService


def check_colour(colour: str) -> str:
    """``colour`` normalised to lowercase; ValueError unless it is ``blue`` or ``green``."""
    normalised = colour.strip().lower() if isinstance(colour, str) else ""
    if normalised not in COLOURS:
        raise ValueError(f"strategy must be one of {', '.join(COLOURS)}, not {colour!r}")
    return normalised


def requested_colour(metadata: Optional[Iterable[Tuple[str, Any]]]) -> Optional[str]:
    """The colour a call's ``strategy`` header names, or None (absent or not a colour)."""
    for key, value in metadata or ():
        if key == HEADER and isinstance(value, str) and value.strip().lower() in COLOURS:
            return value.strip().lower()
    return None


def wrong_strategy() -> errors.EngineError:
    """The refusal the official client recognises as "re-detect your colour" (spec §8.1)."""
    return errors.EngineError(grpc.StatusCode.UNKNOWN, WRONG_STRATEGY)


class BlueGreenState:
    """Active colour, the colour retired by the last switch and when; thread-safe."""

    def __init__(self, active: str = "blue") -> None:
        self._lock = threading.Lock()
        self._active = check_colour(active)
        self._retired: Optional[str] = None
        self._switched_at: Optional[float] = None  # time.time() of the last switch
        self._on_switch: List[Callable[[str], Any]] = []

    def on_switch(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(active_colour)`` after every switch (e.g. to end the retired colour's transactions)."""
        self._on_switch.append(callback)

    @property
    def active(self) -> str:
        with self._lock:
            return self._active

    def snapshot(self) -> Tuple[str, Optional[str], Optional[float]]:
        """(active colour, retired colour or None, wall-clock time of the last switch or None)."""
        with self._lock:
            return self._active, self._retired, self._switched_at

    def switch(self, colour: str) -> bool:
        """Make ``colour`` active; False (and no change) when it already is."""
        colour = check_colour(colour)
        with self._lock:
            if colour == self._active:
                return False
            retired, self._retired, self._active = self._active, self._active, colour
            self._switched_at = time.time()
        log.info("strategy switched: %s is active, %s retired", colour, retired)
        for callback in self._on_switch:
            try:
                callback(colour)
            except Exception:  # noqa: BLE001 - the switch itself has happened
                log.exception("switch callback failed")
        return True

    def colour_for(self, requested: Optional[str]) -> str:
        """The colour a call runs under: the one it asked for, else the active one."""
        return requested or self.active

    def admit(self, method: str, requested: Optional[str]) -> None:
        """Raise ``status: 456`` for new work that names a colour other than the active one."""
        if method in NEW_WORK and requested is not None and requested != self.active:
            raise wrong_strategy()

    def announcement(self, requested: Optional[str]) -> Optional[str]:
        """The colour to announce in a response: the active one if the request carried another, else None.

        Computed when the response is built, so an ``AuthenticateResponse`` only ever names the colour
        ``authenticate`` accepts at that moment (announcing a refused colour makes the official client
        recurse without bound, §8.2).
        """
        if requested is None:
            return None
        active = self.active
        return active if requested != active else None


def announce(response: Any, colour: Optional[str]) -> Any:
    """Set ``new_strategy`` on a response message that has that field (spec §8.3); a response prepared as wire
    bytes (``mock_server.query.wire_bytes.Prepared``) gets the field appended."""
    if colour is not None and response is not None:
        appended = getattr(response, "with_new_strategy", None)
        if appended is not None:
            return appended(colour)
        descriptor = getattr(response, "DESCRIPTOR", None)
        if descriptor is not None and NEW_STRATEGY_FIELD in descriptor.fields_by_name:
            setattr(response, NEW_STRATEGY_FIELD, colour)
    return response
