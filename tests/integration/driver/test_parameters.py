"""Parameters reach the engine intact: every type round-trips, hostile strings stay data."""
from __future__ import annotations

import datetime
import decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from e6driver import DataError, ProgrammingError

HOSTILE = ["'; DROP TABLE param_t; --", "\\'; DROP TABLE param_t; --", "\\", "'", "a\\'b", "x\ny\rz\tw",
           "O'Reilly\\", "' OR '1'='1", "%s %(x)s %%", "\u2019\u02bc", "$$ $tag$ E'\\x41'", "\\x41\\u0041",
           "/* comment */ --"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_round_trip(cur, value):
    cur.execute("SELECT %s AS v, length(%s) AS n", (value, value))
    assert cur.fetchone() == (value, len(value))


@given(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_round_trips(connect, text):
    with connect() as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT %(t)s", {"t": text})
        assert cursor.fetchone() == (text,)


@pytest.mark.parametrize("value", [
    0, -1, 2**63 - 1, -2**63, 1.25, -0.5, True, False, None,
    decimal.Decimal("12345678901234567890.123456789012345678"), decimal.Decimal("-0.01"),
    decimal.Decimal("4E+8"),
    b"\x00\x01\xfe\xff'\\", b"",
    datetime.date(1, 1, 1), datetime.date(9999, 12, 31),
    datetime.datetime(2020, 2, 29, 23, 59, 59, 999999), datetime.time(12, 30, 0, 1),
    datetime.timedelta(days=-2, seconds=5, microseconds=7),
])
def test_typed_values_round_trip(cur, value):
    cur.execute("SELECT %s", (value,))
    (got,) = cur.fetchone()
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("value", [-2 ** 127, 2 ** 127 - 1, -2 ** 63])
def test_widest_integers_round_trip_cast(cur, value):
    """The driver writes an int as its digits: a negative one before '::' is still that one value."""
    cur.execute("SELECT %s::HUGEINT, %s", (value, value))
    assert cur.fetchone() == (decimal.Decimal(value), decimal.Decimal(value) if abs(value) >= 2 ** 63 else value)


def test_aware_datetime_parameter_keeps_its_instant(cur):
    value = datetime.datetime(2021, 3, 4, 5, 6, 7, 8, tzinfo=datetime.timezone(datetime.timedelta(hours=9)))
    cur.execute("SELECT %s", (value,))
    (got,) = cur.fetchone()
    assert got == value and got.tzinfo is not None


def test_nan_parameter(cur):
    cur.execute("SELECT %s", (float("nan"),))
    (got,) = cur.fetchone()
    assert got != got


def test_sequence_parameter_is_an_in_list(cur):
    cur.execute("SELECT count(*) FROM range(10) WHERE range IN %s", ((1, 3, 5),))
    assert cur.fetchone() == (3,)


def test_sequence_parameter_selected_is_a_json_array(cur):
    """Outside IN, the rendered (1,2,3) is DuckDB's unnamed STRUCT: sent, as the contract says, as JSON text."""
    cur.execute("SELECT %s", ([1, 2, 3],))
    assert cur.fetchone() == ("[1,2,3]",) and cur.description[0][1] == "STRUCT"


@pytest.mark.parametrize("value", [[7], (7,), {7}])
def test_a_one_item_sequence_is_a_tuple_like_a_longer_one(cur, value):
    """[7] was sent as (7), the number 7: selected it came back as 7, not the one-member STRUCT [7, 8] is."""
    cur.execute("SELECT count(*) FROM range(10) WHERE range IN %s", (value,))
    assert cur.fetchone() == (1,)
    cur.execute("SELECT %s, %s", (value, [7, 8]))
    assert cur.fetchone() == ("[7]", "[7,8]") and [d[1] for d in cur.description] == ["STRUCT", "STRUCT"]


def test_rows_of_a_dataframe_with_missing_values_insert_nulls(cur):
    """pandas' NaT was sent as TIMESTAMP 'NaT' (the engine's conversion error), NA refused, numpy's NaT
    'cannot bind NoneType'."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    cur.execute("CREATE OR REPLACE TABLE param_missing (t TIMESTAMP, i BIGINT, d TIMESTAMP)")
    rows = [(pd.NaT, pd.NA, np.datetime64("NaT")), (pd.Timestamp("2020-01-02"), 5, np.datetime64("2020-01-03"))]
    cur.executemany("INSERT INTO param_missing VALUES (%s, %s, %s)", rows)
    cur.execute("INSERT INTO param_missing VALUES (%s, %s, %s)", rows[0])
    cur.execute("SELECT * FROM param_missing ORDER BY t NULLS LAST")
    assert cur.fetchall() == [(datetime.datetime(2020, 1, 2), 5, datetime.datetime(2020, 1, 3)),
                              (None, None, None), (None, None, None)]


def test_hostile_insert_leaves_table_intact(cur):
    cur.execute("CREATE OR REPLACE TABLE param_t (s VARCHAR)")
    cur.executemany("INSERT INTO param_t VALUES (%s)", [(v,) for v in HOSTILE])
    cur.execute("SELECT s FROM param_t")
    assert sorted(r[0] for r in cur.fetchall()) == sorted(HOSTILE)
    cur.execute("DROP TABLE param_t")


def test_decimals_below_one_keep_their_text(cur):
    # pandas.to_sql of Decimal('0.01') into a text column stored '.01' when the literal was DECIMAL(2,2).
    cur.execute("CREATE OR REPLACE TABLE param_decimal_text (v VARCHAR)")
    cur.executemany("INSERT INTO param_decimal_text VALUES (%s)",
                    [(decimal.Decimal(text),) for text in ("0.01", "-0.5", "0.000", "0.9999")])
    cur.execute("SELECT v FROM param_decimal_text")
    assert [row[0] for row in cur.fetchall()] == ["0.01", "-0.5", "0.000", "0.9999"]


@pytest.mark.parametrize("many", [False, True])
@pytest.mark.parametrize("sql, rows", [
    ("INSERT INTO param_style VALUES (%s)", [{"name": "alice"}, {"name": "bob"}]),
    ("INSERT INTO param_style VALUES (%(name)s)", [("alice",), ("bob",)]),
    ("INSERT INTO param_style VALUES (?)", [{"name": "alice"}, {"name": "bob"}]),
])
def test_parameters_that_do_not_fit_the_placeholders_insert_nothing(cur, sql, rows, many):
    cur.execute("CREATE OR REPLACE TABLE param_style (name VARCHAR)")
    with pytest.raises(ProgrammingError):
        if many:
            cur.executemany(sql, rows)  # two rows: the bulk path is asked first
        else:
            cur.execute(sql, rows[0])
    cur.execute("SELECT count(*) FROM param_style")
    assert cur.fetchone() == (0,)


def test_a_mapping_for_a_positional_select_is_refused_not_a_struct(cur):
    with pytest.raises(ProgrammingError, match="positional"):
        cur.execute("SELECT %s", {"k": "v"})


@pytest.mark.parametrize("value", [datetime.timedelta.max, datetime.timedelta.min])
def test_timedelta_beyond_the_interval_range_is_a_data_error_not_the_engine_binder(cur, value):
    with pytest.raises(DataError, match="INTERVAL range"):
        cur.execute("SELECT %s", (value,))
    cur.execute("SELECT %s", (datetime.timedelta(days=-100000, microseconds=1),))  # centuries still fine
    assert cur.fetchone() == (datetime.timedelta(days=-100000, microseconds=1),)


@pytest.mark.parametrize("value", [decimal.Decimal("1." + "0" * 42), decimal.Decimal("0E-50"),
                                   decimal.Decimal("-12.5" + "0" * 40)])
def test_decimals_written_with_more_than_38_digits_come_back_as_equal_decimals(cur, value):
    cur.execute("SELECT %s", (value,))
    (got,) = cur.fetchone()
    assert type(got) is decimal.Decimal and got == value


@pytest.mark.parametrize("value", [decimal.Decimal("1E+38"), decimal.Decimal("1." + "1" * 38)])
def test_decimals_decimal_38_cannot_hold_are_a_data_error(cur, value):
    with pytest.raises(DataError, match="DECIMAL\\(38\\)"):
        cur.execute("SELECT %s", (value,))
