"""Each blue-green rule of e6driver.protocol.bluegreen, without a server."""
import os

import pytest

from e6driver.protocol import bluegreen
from e6driver.protocol.bluegreen import BlueGreenRegistry, EndpointColours, is_refused_colour, normalise


def test_detection_order_then_active_only():
    state = EndpointColours()
    assert state.candidates() == ["blue", "green"]
    state.confirm("green")
    assert state.candidates() == ["green"]


def test_refused_colour_is_forgotten_and_detection_restarts():
    state = EndpointColours()
    state.confirm("blue")
    generation = state.generation
    state.refused("blue")
    assert state.candidates() == ["blue", "green"]
    assert state.generation > generation


def test_refusing_an_unrelated_colour_keeps_the_active_one():
    state = EndpointColours()
    state.confirm("green")
    state.refused("blue")
    assert state.candidates() == ["green"]


def test_announcement_waits_for_open_queries_to_finish():
    state = EndpointColours()
    state.confirm("blue")
    state.query_started("q1", "blue")
    state.query_started("q2", "blue")
    state.announce("GREEN")
    assert state.pending == "green" and state.candidates() == ["blue"]
    state.query_finished("q1")
    assert state.candidates() == ["blue"]
    generation = state.generation
    state.query_finished("q2")
    assert state.candidates() == ["green"] and state.pending is None
    assert state.generation == generation + 1


def test_announcement_with_no_open_query_applies_at_once():
    state = EndpointColours()
    state.confirm("blue")
    state.announce("green")
    assert state.active == "green"


@pytest.mark.parametrize("value", [None, "", "purple", "blue-ish"])
def test_invalid_announcements_are_ignored(value):
    state = EndpointColours()
    state.confirm("blue")
    state.announce(value)
    assert state.active == "blue" and state.pending is None


def test_queries_keep_their_own_colour_across_a_switch():
    state = EndpointColours()
    state.confirm("blue")
    state.query_started("old", "blue")
    state.announce("green")
    state.query_finished("old")
    state.query_started("new", "green")
    state.query_started("old2", "blue")  # e.g. prepared just before the switch
    assert state.colour_of("new") == "green"
    assert state.colour_of("old2") == "blue"
    assert state.colour_of("someone-elses-query") == "green"


def test_authentication_announcement_switches_immediately_once():
    state = EndpointColours()
    state.confirm("blue")
    assert state.announce_at_authentication("blue", "green") == "green"
    assert state.active == "green"
    assert state.announce_at_authentication("green", "green") is None
    assert state.announce_at_authentication("green", "nonsense") is None


def test_finishing_unknown_or_empty_queries_is_harmless():
    state = EndpointColours()
    state.query_finished(None)
    state.query_finished("never-started")
    assert state.open_queries == {}


def test_registry_is_per_endpoint():
    registry = BlueGreenRegistry()
    a, b = registry.for_endpoint("h:1"), registry.for_endpoint("h:2")
    a.confirm("green")
    assert registry.for_endpoint("h:1") is a
    assert b.candidates() == ["blue", "green"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_starts_without_the_parents_state():
    bluegreen.REGISTRY.for_endpoint("fork-test:1").confirm("green")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            candidates = bluegreen.REGISTRY.for_endpoint("fork-test:1").candidates()
            os.write(write_fd, ",".join(candidates).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    assert os.read(read_fd, 100).decode() == "blue,green"
    assert bluegreen.REGISTRY.for_endpoint("fork-test:1").candidates() == ["green"]


def test_refused_colour_signal():
    assert is_refused_colour("UNKNOWN", "status: 456")
    assert is_refused_colour("UNKNOWN", "Received http2 header with status: 456")
    assert not is_refused_colour("INTERNAL", "status: 456")
    assert not is_refused_colour("UNKNOWN", "status: 503")
    assert normalise(" Blue ") == "blue" and normalise("red") is None


def test_apply_pending_only_when_idle():
    state = EndpointColours(active="blue")
    state.query_started("q1", "blue")
    state.announce("green")
    assert state.apply_pending() is False and state.active == "blue"
    state.open_queries.clear()  # the query ended without telling (e.g. another process cleared it)
    assert state.apply_pending() is True and state.active == "green"
    assert state.apply_pending() is False
