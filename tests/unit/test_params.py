"""Client-side binding: literals per type, hostile strings stay inside their literal, clear errors."""
from __future__ import annotations

import datetime
import decimal
import uuid

import pytest

from e6driver import DataError, ProgrammingError
from e6driver.params import bind, literal, prepare_operation, quote_string


@pytest.mark.parametrize("value, sql", [
    (None, "NULL"), (True, "TRUE"), (False, "FALSE"), (0, "0"), (-12, "(-12)"), (2**70, str(2**70)),
    (1.5, "1.5e0"), (-1.5, "(-1.5e0)"), (-1e300, "(-1e+300)"), (1e300, "1e+300"),
    (float("nan"), "CAST('NaN' AS DOUBLE)"),
    (float("inf"), "CAST('Infinity' AS DOUBLE)"), (float("-inf"), "CAST('-Infinity' AS DOUBLE)"),
    (decimal.Decimal("12.340"), "CAST('12.340' AS DECIMAL(5,3))"),
    (decimal.Decimal("-0.001"), "CAST('-0.001' AS DECIMAL(4,3))"),
    (decimal.Decimal("1E+3"), "CAST('1000' AS DECIMAL(4,0))"),
    (decimal.Decimal("4E+8"), "CAST('400000000' AS DECIMAL(9,0))"),
    (decimal.Decimal("0.001"), "CAST('0.001' AS DECIMAL(4,3))"),
    (decimal.Decimal("-12.5"), "CAST('-12.5' AS DECIMAL(3,1))"),
    (decimal.Decimal("0"), "CAST('0' AS DECIMAL(1,0))"),
    ("plain", "'plain'"), ("", "''"),
    (b"\x00\xff", "X'00FF'"), (bytearray(b"a"), "X'61'"), (memoryview(b""), "X''"),
    (datetime.date(2024, 2, 29), "DATE '2024-02-29'"),
    (datetime.datetime(2024, 1, 2, 3, 4, 5, 6), "TIMESTAMP '2024-01-02 03:04:05.000006'"),
    (datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=-3))),
     "TIMESTAMPTZ '2024-01-02 00:00:00.000000-03:00'"),
    (datetime.time(1, 2, 3, 4), "TIME '01:02:03.000004'"),
    (datetime.timedelta(days=1, microseconds=5), "to_microseconds(86400000005)"),
    (uuid.UUID(int=1), "'00000000-0000-0000-0000-000000000001'"),
    ([1, "a", None], "(1,'a',NULL)"), ((2,), "(2,)"), ({3, 1}, "(1,3)"),
])
def test_literal(value, sql):
    assert literal(value) == sql


def test_a_negative_number_after_a_minus_never_starts_a_comment():
    """"1-%s" with -1 was sent as "1--1 AND owner = 'me'": the rest of the statement a comment."""
    sql = bind("SELECT a FROM t WHERE a > 1-%s AND owner = %s AND b < 2-%s", (-1, "me", -0.5))
    assert sql == "SELECT a FROM t WHERE a > 1-(-1) AND owner = 'me' AND b < 2-(-0.5e0)"


def test_decimal_literal_beyond_38_digits_is_refused_not_rounded():
    with pytest.raises(DataError):  # the engine would read the text as DOUBLE (tests/unit/test_params_exact.py)
        literal(decimal.Decimal("1" * 40 + ".5"))


@pytest.mark.parametrize("value", [datetime.timedelta.max, datetime.timedelta.min,
                                   datetime.timedelta(microseconds=2 ** 63), datetime.timedelta(microseconds=-2 ** 63)])
def test_timedelta_beyond_the_interval_range_is_a_data_error(value):
    with pytest.raises(DataError, match="INTERVAL range"):
        literal(value)


def test_timedelta_at_the_ends_of_the_interval_range_is_bound():
    assert literal(datetime.timedelta(microseconds=2 ** 63 - 1)) == f"to_microseconds({2 ** 63 - 1})"
    assert literal(datetime.timedelta(microseconds=-(2 ** 63 - 1))) == f"to_microseconds({-(2 ** 63 - 1)})"


@pytest.mark.parametrize("hostile", [
    "'; DROP TABLE t; --", "\\'; DROP TABLE t; --", "\\", "'", "\\\\'", "a\nb\rc\td", "O'Reilly\\",
    "' OR '1'='1", "%s", "%(x)s", "\u2019 unicode quote", "$$ dollar $$",
])
def test_hostile_strings_are_escaped(hostile):
    quoted = quote_string(hostile)
    assert quoted.startswith("'") and quoted.endswith("'")
    body = quoted[1:-1]
    # every quote and backslash inside is escaped: removing escape pairs leaves no bare quote or backslash
    i, bare = 0, []
    while i < len(body):
        if body[i] == "\\":
            assert i + 1 < len(body), "dangling backslash would escape the closing quote"
            i += 2
            continue
        bare.append(body[i])
        i += 1
    assert "'" not in bare and "\\" not in bare and "\n" not in bare


def test_nul_is_refused():
    with pytest.raises(ProgrammingError, match="NUL"):
        literal("a\x00b")


@pytest.mark.parametrize("value", [object(), decimal.Decimal("NaN"), decimal.Decimal("Infinity"), [],
                                   datetime.time(1, tzinfo=datetime.timezone.utc)])
def test_unbindable_values(value):
    with pytest.raises(ProgrammingError):
        literal(value)


def test_bind_sequence_and_mapping():
    assert bind("SELECT %s, %s", (1, "x")) == "SELECT 1, 'x'"
    assert bind("SELECT %(a)s, %(b)s, %(a)s", {"a": None, "b": b"\x01"}) == "SELECT NULL, X'01', NULL"
    assert bind("SELECT '100%%', %s", [5]) == "SELECT '100%', 5"


@pytest.mark.parametrize("value, text", [([5], "(5,)"), ((5,), "(5,)"), ({"a"}, "('a',)"), ([5, 6], "(5,6)"),
                                         ([[1]], "((1,),)")])
def test_a_sequence_of_one_item_is_a_one_member_tuple_like_a_longer_one(value, text):
    """'(5)' was the number 5: outside IN a scalar, in '= any(%s)' a binder error, where [5, 6] is a tuple."""
    assert literal(value) == text
    assert bind("SELECT 1 WHERE 5 IN %s", (value,)) == f"SELECT 1 WHERE 5 IN {text}"


def test_missing_values_of_numpy_and_pandas_bind_as_null():
    """NaT of numpy was 'cannot bind NoneType', pandas' NaT the literal TIMESTAMP 'NaT', pandas' NA refused."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    for value in (np.datetime64("NaT"), np.timedelta64("NaT"), pd.NaT, pd.NA):
        assert literal(value) == "NULL"
    assert bind("INSERT INTO t VALUES (%s, %s)", (pd.NaT, 1)) == "INSERT INTO t VALUES (NULL, 1)"


def test_a_numpy_array_is_a_sequence_of_its_items():
    """It failed as 'parameters do not match the placeholders' (the ValueError of ndarray.item())."""
    np = pytest.importorskip("numpy")
    assert literal(np.array([1, 2])) == "(1,2)"
    assert literal(np.array(["2020-01-01"], dtype="datetime64[D]")) == "(TIMESTAMP '2020-01-01 00:00:00.000000',)"
    assert literal(np.array(7)) == "7"


def test_no_params_leaves_percent_alone():
    assert prepare_operation("SELECT '100%' ;  ") == "SELECT '100%'"


@pytest.mark.parametrize("sql, params", [
    ("SELECT %s, %s", (1,)), ("SELECT %s", (1, 2)), ("SELECT %(a)s", {"b": 1}), ("SELECT %s", "ab"),
    ("SELECT %s", 5),
])
def test_mismatched_params_are_programming_errors(sql, params):
    with pytest.raises(ProgrammingError):
        bind(sql, params)


@pytest.mark.parametrize("sql, params, message", [
    ("INSERT INTO dp VALUES (%s)", {"name": "alice"}, "positional %s"),  # % would paste the dict's repr
    ("SELECT %s", {"k": "v"}, "positional %s"),
    ("SELECT %(k)s, %s", {"k": 1}, "do not match"),
    ("SELECT %s, %(k)s", {"k": 1}, "positional %s"),
    ("SELECT %(name)s", ("alice",), "do not match"),
    ("SELECT %(name)s", ["alice"], "do not match"),
    ("SELECT ?", {"k": 1}, "no %\\(name\\)s placeholder"),
    ("SELECT :k", {"k": 1}, "no %\\(name\\)s placeholder"),
    ("SELECT ?", (1,), "do not match"),
])
def test_a_placeholder_style_the_parameters_do_not_fit_is_refused(sql, params, message):
    with pytest.raises(ProgrammingError, match=message):
        bind(sql, params)


def test_a_mapping_may_name_fewer_placeholders_than_it_has_keys():
    assert bind("SELECT %(a)s", {"a": 1, "unused": 2}) == "SELECT 1"
    assert bind("SELECT '100%%'", {}) == "SELECT '100%'"


def test_prepare_operation_strips_one_semicolon_and_rejects_empty():
    assert prepare_operation("  SELECT 1;\n") == "SELECT 1"
    with pytest.raises(ProgrammingError):
        prepare_operation("  ; ")
    with pytest.raises(ProgrammingError):
        prepare_operation(b"SELECT 1")  # type: ignore[arg-type]
