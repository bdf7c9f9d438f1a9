"""Every engine type reaches Python as the right type and exact value, under both decoders."""
from __future__ import annotations

import datetime
import decimal

import pytest

import e6driver
from value_cases import VALUE_CASES

UTC = datetime.timezone.utc


@pytest.mark.parametrize("sql, expected", VALUE_CASES)
def test_value(cur, sql, expected):
    cur.execute(sql)
    assert cur.fetchall() == [expected]
    row = expected
    for value, want in zip(row, expected):
        assert type(value) is type(want)


@pytest.mark.parametrize("value", [2 ** 127, 2 ** 128 - 1])
def test_uhugeint_beyond_decimal128_is_refused_by_value(cur, value):
    """A DECIMAL128 vector holds a signed 128-bit value: a larger UHUGEINT fails the query, naming the value and
    the range, never the engine's own rewritten SQL."""
    with pytest.raises(e6driver.DataError) as raised:
        cur.execute(f"SELECT 1 AS a, {value}::UHUGEINT AS big")
        cur.fetchall()
    message = str(raised.value)
    assert f"column 'big': UHUGEINT value {value} is above {2 ** 127 - 1} (2^127 - 1)" in message
    assert "OUT_OF_RANGE" in message and "LINE" not in message and "#2" not in message


def test_decimal_keeps_every_digit_and_scale(cur):
    cur.execute("SELECT 99999999999999999999999999999999999999::DECIMAL(38,0), "
                "0.00000000000000000000000000000000000001::DECIMAL(38,38)")
    big, tiny = cur.fetchone()
    assert big == decimal.Decimal("99999999999999999999999999999999999999") and len(big.as_tuple().digits) == 38
    assert tiny == decimal.Decimal("1E-38") and tiny.as_tuple().exponent == -38


def test_timestamptz_is_aware_in_the_engine_zone(fresh_server, impl):
    import e6driver
    srv = fresh_server(time_zone="Asia/Kolkata")
    host, port = srv.address.rsplit(":", 1)
    with e6driver.connect(host=host, port=int(port), username="alice", password="alice-token") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT TIMESTAMPTZ '2023-11-15 00:00:00+00:00', TIMESTAMPTZ '1950-06-01 00:00:00+00:00'")
        recent, old = cursor.fetchone()
    assert recent.utcoffset() == datetime.timedelta(hours=5, minutes=30)
    assert recent == datetime.datetime(2023, 11, 15, tzinfo=UTC)
    assert old == datetime.datetime(1950, 6, 1, tzinfo=UTC)  # pre-1970 instants keep their real offset


def test_mixed_types_with_nulls_in_many_chunks(cur):
    cur.execute("""
        SELECT i::BIGINT AS b, (i % 7)::INTEGER AS n, i / 3.0 AS d, i % 2 = 0 AS f, 'v' || i AS s,
               DATE '2000-01-01' + (i % 1000)::INTEGER AS dt,
               TIMESTAMP '2000-01-01' + to_microseconds(i * 1000) AS ts,
               (i / 100)::DECIMAL(18,4) AS m
        FROM (SELECT CASE WHEN range % 10 = 0 THEN NULL ELSE range END AS i FROM range(50000))
        ORDER BY i NULLS FIRST""")
    rows = cur.fetchall()
    assert len(rows) == 50000
    assert rows[:5000] == [(None,) * 8] * 5000
    b, n, d, f, s, dt, ts, m = rows[5000]
    assert (b, n, f, s, dt) == (1, 1, False, "v1", datetime.date(2000, 1, 2))
    assert ts == datetime.datetime(2000, 1, 1, 0, 0, 0, 1000)
    assert m == decimal.Decimal("0.0100") and abs(d - 1 / 3) < 1e-12
    last = rows[-1]
    assert last[0] == 49999 and last[7] == decimal.Decimal("499.9900")
