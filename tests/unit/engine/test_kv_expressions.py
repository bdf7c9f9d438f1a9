"""The key-value expression language (mock_server.kv.expressions) and value rules (mock_server.kv.values),
evaluated without a server."""
from __future__ import annotations

import grpc
import pytest

from mock_server.errors import EngineError
from mock_server.kv import expressions
from mock_server.kv.expressions import Env
from mock_server.kv.values import column_value, decode, encode, widen


def check(text: str, attributes: dict, key: str = "k") -> bool:
    return expressions.condition(text)(Env(key, dict(attributes)))


def apply(text: str, attributes: dict) -> dict:
    env = Env("k", dict(attributes), max_chars=100)
    expressions.update(text)(env)
    return env.attributes


@pytest.mark.parametrize("text, expected", [
    ("a = 1", True), ("a == 1", True), ("a != 1", False), ("a <> 2", True), ("a < 1.5", True),
    ("a >= 1 AND b = 'x'", True), ("a > 1 OR b = 'x'", True), ("NOT (a = 1)", False), ("not a = 2", True),
    ("a IN (3, 2, 1)", True), ("b IN ('y', 'z')", False), ("a + 1 = 2 * 1", True), ("7 % 4 = 3", True),
    ("1 / 2 = 0.5", True), ("-a = -1", True), ("a - -1 = 2", True), ("t", True), ("t AND NOT f", True),
    ("b = 'x' AND b != 'X'", True), ("'it''s' = q", True), ("__name = 'k'", True), ("exists(a)", True),
    ("exists(zz)", False), ("exists(__name)", True), ("length(b) = 1", True), ("starts(q, 'it')", True),
    ("ends(q, 's')", True), ("contains(q, \"'\") ", None), ("contains(q, '''')", True), ("bin = bin", True),
    ("1 < 2 AND (2 < 3 OR 3 < 2)", True), ("a = true", False), ("a = '1'", False), ("a != '1'", True),
    ("a < 'z'", False), ("TRUE and False", False), ("1e2 = 100", True), (".5 = 0.5", True),
])
def test_conditions(text, expected):
    attributes = {"a": 1, "b": "x", "q": "it's", "t": True, "f": False, "bin": b"\x00"}
    if expected is None:
        with pytest.raises(EngineError):
            check(text, attributes)
    else:
        assert check(text, attributes) is expected


@pytest.mark.parametrize("text", ["zz = 1", "zz != 1", "zz < 1", "zz + 1 = 1", "zz IN (1)", "length(zz) = 0",
                                  "starts(zz, '')", "zz"])
def test_missing_attributes_make_comparisons_false(text):
    assert check(text, {"a": 1}) is False


def test_not_of_a_missing_comparison_is_true():
    assert check("NOT (zz = 1)", {}) is True


def test_updates_run_in_order_and_remove():
    assert apply("a = a + 1; b = a * 2; REMOVE c, d; SET e = if_not_exists(e, 'new')",
                 {"a": 1, "c": 1, "d": 2}) == {"a": 2, "b": 4, "e": "new"}
    assert apply("e = if_not_exists(e, 'new');", {"e": "old"}) == {"e": "old"}
    assert apply("s = s + s", {"s": "ab"}) == {"s": "abab"}
    assert apply("x = b + b", {"b": b"\x01"}) == {"b": b"\x01", "x": b"\x01\x01"}
    assert apply("n = -9223372036854775808", {}) == {"n": -(1 << 63)}


@pytest.mark.parametrize("text, code, message", [
    ("a = zz", grpc.StatusCode.INVALID_ARGUMENT, "'zz' is not set"),
    ("a = 9223372036854775807 + 1", grpc.StatusCode.OUT_OF_RANGE, "overflow"),
    ("a = 1 / 0", grpc.StatusCode.INVALID_ARGUMENT, "division by zero"),
    ("a = s + s + s + s + s + s", grpc.StatusCode.RESOURCE_EXHAUSTED, "over 100 characters"),
    ("a = 'x' + 1", grpc.StatusCode.INVALID_ARGUMENT, "cannot apply + to string and int"),
    ("a = 1 AND 2", grpc.StatusCode.INVALID_ARGUMENT, "AND needs true or false"),
    ("__name = 'x'", grpc.StatusCode.INVALID_ARGUMENT, "cannot be changed"),
    ("a = (1", grpc.StatusCode.INVALID_ARGUMENT, "expected ')' at position 6, found the end"),
    ("a = 1 b = 2", grpc.StatusCode.INVALID_ARGUMENT, "expected ';' between statements at position 6"),
    ("a = 'open", grpc.StatusCode.INVALID_ARGUMENT, "unterminated string at position 4"),
    ("a = $", grpc.StatusCode.INVALID_ARGUMENT, "unexpected character '$' at position 4"),
    ("a = f(1)", grpc.StatusCode.INVALID_ARGUMENT, "unknown function f()"),
    ("a = __other", grpc.StatusCode.INVALID_ARGUMENT, "unknown system attribute"),
])
def test_update_errors(text, code, message):
    with pytest.raises(EngineError) as info:
        apply(text, {"s": "x" * 30})
    assert info.value.code == code and message in info.value.message


def test_limits_of_size_and_nesting():
    with pytest.raises(EngineError, match="at most"):
        expressions.condition("a = 1 OR " * 3000 + "a = 1")
    with pytest.raises(EngineError, match="nested deeper"):
        expressions.condition("(" * 40 + "a = 1" + ")" * 40)
    assert check("(" * 30 + "a = 1" + ")" * 30, {"a": 1})
    assert apply("a = " + " + ".join(["1"] * 4000), {}) == {"a": 4000}  # a loop, not a recursion


def test_values_round_trip_and_widen():
    attributes = {"i": 1, "f": 1.0, "s": "x", "t": True, "b": b"\x00\xff", "nan": float("inf")}
    back = decode(encode(attributes))
    assert back == attributes and {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in attributes.items()}
    assert widen("bool", "int") == "int" and widen("int", "float") == "float" and widen("float", "bool") == "float"
    assert widen("int", "string") == "string" and widen("bytes", "int") == "string"
    assert widen("bytes", "bytes") == "bytes"
    assert column_value(True, "int") == 1 and column_value(2, "float") == 2.0
    assert column_value(b"\x00", "string") == "AA=="
    assert column_value(True, "string") == "true" and column_value(None, "int") is None
