"""Engine values and the Python values both cursors (blocking and asyncio) must return, under both decoders."""
import datetime
import decimal

UTC = datetime.timezone.utc

VALUE_CASES = [
    ("SELECT true, false, NULL::BOOLEAN", (True, False, None)),
    ("SELECT 1::TINYINT, (-32768)::SMALLINT, 2147483647::INTEGER, (-9223372036854775808)::BIGINT",
     (1, -32768, 2147483647, -9223372036854775808)),
    ("SELECT 18446744073709551615::UBIGINT", (decimal.Decimal("18446744073709551615"),)),
    # Each signed type's minimum written as a cast literal ("::" binds tighter than the minus: DuckDB cast the
    # positive literal first and overflowed).
    ("SELECT -170141183460469231731687303715884105728::HUGEINT, 170141183460469231731687303715884105727::HUGEINT, "
     "-9223372036854775808::BIGINT, -128::TINYINT",
     (decimal.Decimal(-2 ** 127), decimal.Decimal(2 ** 127 - 1), -2 ** 63, -128)),
    ("SELECT 170141183460469231731687303715884105727::UHUGEINT, 0::UHUGEINT",  # up to 2^127 - 1: exact
     (decimal.Decimal(2 ** 127 - 1), decimal.Decimal(0))),
    ("SELECT 1.5::FLOAT, (-2.25)::DOUBLE, 'inf'::DOUBLE", (1.5, -2.25, float("inf"))),
    ("SELECT 'héllo ☃ 😀'", ("héllo ☃ 😀",)),
    ("SELECT X'00FF', X''", (b"\x00\xff", b"")),
    ("SELECT DATE '0001-01-01', DATE '9999-12-31', DATE '1969-12-31'",
     (datetime.date(1, 1, 1), datetime.date(9999, 12, 31), datetime.date(1969, 12, 31))),
    ("SELECT TIMESTAMP '1969-12-31 23:59:59.999999', TIMESTAMP '9999-12-31 23:59:59.999999'",
     (datetime.datetime(1969, 12, 31, 23, 59, 59, 999999), datetime.datetime(9999, 12, 31, 23, 59, 59, 999999))),
    ("SELECT TIMESTAMP '0001-01-01 00:00:00'", (datetime.datetime(1, 1, 1),)),
    ("SELECT TIMESTAMPTZ '2020-06-01 12:00:00.5+02:00'",
     (datetime.datetime(2020, 6, 1, 10, 0, 0, 500000, tzinfo=UTC),)),
    # DuckDB's TIMESTAMPTZ_NS (an Arrow timestamp[ns, tz] read, e.g. a pandas column): aware, to the microsecond
    ("SELECT TIMESTAMPTZ_NS '2020-06-01 12:00:00.123456789+02', '1960-01-01 00:00:00.5+00'::TIMESTAMPTZ_NS",
     (datetime.datetime(2020, 6, 1, 10, 0, 0, 123456, tzinfo=UTC), datetime.datetime(1960, 1, 1, 0, 0, 0, 500000,
                                                                                      tzinfo=UTC))),
    ("SELECT TIME '23:59:59.999999', TIME '00:00:00'", (datetime.time(23, 59, 59, 999999), datetime.time(0))),
    ("SELECT INTERVAL 90 MINUTE, INTERVAL '-1 day 2 seconds'",
     (datetime.timedelta(minutes=90), datetime.timedelta(days=-1, seconds=2))),
    # Beyond ~292 years of time part DuckDB's Arrow export wrapped (2^63 - 1 us came back as -1 us).
    ("SELECT to_microseconds(9223372036854775807), to_microseconds(-9223372036854775807), INTERVAL 200000 DAY",
     (datetime.timedelta(microseconds=2 ** 63 - 1), datetime.timedelta(microseconds=-(2 ** 63 - 1)),
      datetime.timedelta(days=200000))),
    ("SELECT 12345678901234567890123456789012345.678::DECIMAL(38,3), (-0.0001)::DECIMAL(18,4), 0::DECIMAL(5,2)",
     (decimal.Decimal("12345678901234567890123456789012345.678"), decimal.Decimal("-0.0001"),
      decimal.Decimal("0.00"))),
    ("SELECT [1, 2, NULL], {'a': 1, 'b': 'x'}, MAP {'k': 1}",
     ('[1,2,null]', '{"a":1,"b":"x"}', '{"k":1}')),
    # Unnamed STRUCTs: a JSON array of the members, at top level as when nested (not DuckDB's text "(1, a)").
    ("SELECT row(1, 'a'), (1, 'a, b'), [row(1, 'x')], row(NULL, [1, 2])",
     ('[1,"a"]', '[1,"a, b"]', '[[1,"x"]]', '[null,[1,2]]')),
    ("SELECT NULL", (None,)),
]
