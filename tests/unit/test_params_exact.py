"""Parameters the engine cannot hold exactly are refused, never rounded; numpy scalars bind as their Python
values; text that is not valid Unicode raises a PEP 249 error (issue 11, driver binding)."""
from __future__ import annotations

import datetime
import decimal

import duckdb
import pytest

from e6driver.errors import DatabaseError, DataError
from e6driver.params import HUGEINT_MAX, HUGEINT_MIN, literal, prepare_operation

D = decimal.Decimal


def evaluate(text: str):
    return duckdb.connect().execute(f"SELECT {text}").fetchone()[0]


@pytest.mark.parametrize("value", [2 ** 63, -(2 ** 63) - 1, 10 ** 37, HUGEINT_MAX, HUGEINT_MIN, 12345678901234567890123])
def test_wide_integers_bind_exactly(value):
    assert evaluate(literal(value)) == value


@pytest.mark.parametrize("value", [HUGEINT_MAX + 1, HUGEINT_MIN - 1, 10 ** 40, -(10 ** 50)])
def test_integers_beyond_hugeint_are_refused(value):
    with pytest.raises(DataError, match="HUGEINT"):
        literal(value)


@pytest.mark.parametrize("value", [D("1" * 38), D("-0." + "9" * 38), D("1.5" + "0" * 40), D("1." + "0" * 42),
                                   D("0E-50"), D("-0E+50"), D("1E-38"), D("0.01" + "0" * 50), D("9" * 37 + ".5000")])
def test_decimals_that_fit_decimal_38_bind_exactly_as_decimals(value):
    """Only trailing zeros of the fraction may go (a value of more than 38 digits written with them)."""
    bound = evaluate(literal(value))
    assert type(bound) is D and bound == value


@pytest.mark.parametrize("value", [D("1." + "1" * 38), D("1" * 39 + ".5"), D("1E+50"), D("0." + "0" * 30 + "1" * 10),
                                   D("1" + "0" * 38), D("1E+38"), D(HUGEINT_MAX), D("1E-39"),
                                   D("1." + "0" * 1000 + "1")])
def test_decimals_beyond_38_digits_are_refused_not_rounded_nor_retyped(value):
    """Integral ones too: as HUGEINT they would come back as int (the caller can pass int(value) for that)."""
    with pytest.raises(DataError, match="DECIMAL\\(38\\)"):
        literal(value)


def test_numpy_scalars_bind_as_python_values():
    np = pytest.importorskip("numpy")
    assert evaluate(literal(np.float64(1.5))) == 1.5
    assert evaluate(literal(np.float32(0.25))) == 0.25
    assert evaluate(literal(np.int64(-7))) == -7
    assert evaluate(literal(np.uint64(2 ** 64 - 1))) == 2 ** 64 - 1
    assert evaluate(literal(np.bool_(True))) is True
    assert evaluate(literal(np.str_("text"))) == "text"
    assert evaluate(literal(np.datetime64("2024-05-06T07:08:09.123456789"))) == \
        datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)
    assert evaluate(literal(np.float64("nan"))) != evaluate(literal(np.float64("nan")))  # NaN, not text


def test_lone_surrogates_raise_a_pep249_error():
    with pytest.raises(DataError, match="surrogate"):
        literal("a\ud800b")
    with pytest.raises(DatabaseError):
        prepare_operation("SELECT %s", ["\udfff"])
    with pytest.raises(DataError):
        prepare_operation("SELECT '\ud800'")
