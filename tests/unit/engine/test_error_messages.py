"""Engine error texts: DuckDB's errors keep the user's SQL context, never the engine's own rewritten SQL."""
from __future__ import annotations

import duckdb
import grpc
import pytest

from mock_server import errors


def _raised(run) -> BaseException:
    with pytest.raises(duckdb.Error) as raised:
        run()
    return raised.value


def test_projection_context_is_left_out():
    con = duckdb.connect()
    relation = con.sql("SELECT 340282366920938463463374607431768211455::UHUGEINT AS u")
    exc = _raised(lambda: relation.project("CAST(#1 AS HUGEINT) AS u").fetchall())
    assert "LINE" in str(exc) and "#1" in str(exc)  # what DuckDB says
    error = errors.from_exception(exc)
    assert error.code == grpc.StatusCode.OUT_OF_RANGE
    assert error.message.startswith("Conversion Error: Type UINT128 with value 340282366920938463463374607431768211455")
    assert "LINE" not in error.message and "#1" not in error.message and "^" not in error.message


def test_user_sql_context_is_kept():
    exc = _raised(lambda: duckdb.connect().sql("SELECT 1 +").fetchall())
    assert "LINE 1: SELECT 1 +" in errors.from_exception(exc).message


def test_user_sql_context_with_a_hash_digit_in_a_string_is_kept():
    exc = _raised(lambda: duckdb.connect().sql("SELECT '#1' + ").fetchall())
    assert "LINE 1: SELECT '#1' +" in errors.from_exception(exc).message
