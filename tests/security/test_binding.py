"""Hostile parameters through the engine: exact or refused, never rounded or broken SQL."""
from __future__ import annotations

import decimal

import pytest

from e6driver.errors import DataError
from e6driver.params import HUGEINT_MAX


def test_wide_values_round_trip_exactly_or_are_refused(connect, server, still_serves):
    cur = connect("alice").cursor()
    big = decimal.Decimal("9" * 38)
    cur.execute("SELECT %s, %s, %s", (10 ** 30, big, decimal.Decimal("-0." + "1" * 38)))
    assert cur.fetchall() == [(10 ** 30, big, decimal.Decimal("-0." + "1" * 38))]
    cur.execute("SELECT %s = 170141183460469231731687303715884105727", (HUGEINT_MAX,))
    assert cur.fetchall() == [(True,)]
    for value in (HUGEINT_MAX + 1, decimal.Decimal("1." + "1" * 40), "bad \ud800 text"):
        with pytest.raises(DataError):
            cur.execute("SELECT %s", (value,))
    np = pytest.importorskip("numpy")
    cur.execute("SELECT %s + 1, %s", (np.float64(0.5), np.int32(7)))
    assert cur.fetchall() == [(1.5, 7)]
    still_serves(server)


@pytest.mark.parametrize("negative", [-1, -1.5, -(2 ** 62)])
def test_a_negative_parameter_after_a_minus_cannot_comment_out_the_rest(connect, negative):
    """"a > 1-%s AND owner = %s" with -1 was sent as "1--1 AND owner = ...": the owner filter became a comment
    and every row came back."""
    cur = connect("alice").cursor()
    cur.execute("SELECT x FROM (VALUES (1, 'me'), (2, 'you')) t(x, owner) WHERE x > 0-%s - 10 AND owner = %s",
                (negative, "me"))
    assert cur.fetchall() == ([(1,)] if 0 - negative - 10 < 1 else [])
