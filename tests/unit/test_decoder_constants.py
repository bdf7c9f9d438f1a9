"""Both decoders use the codes of e6driver.types.VectorType, their one definition: the pure-Python decoder derives
its constants from it, and the C twin, which keeps C constants for speed, exposes them to be checked here."""
from decoders import decoder_module
from e6driver import _decode, _thrift
from e6driver.types import VectorType


def _c_decoder():
    return decoder_module("c")  # skips only where the C build is switched off (E6DRIVER_NO_EXT=1)


def test_python_decoder_vector_type_codes_are_vector_type():
    assert _decode.TYPE_NAMES == tuple(VectorType(code).name for code in range(len(VectorType)))
    for member in VectorType:
        assert getattr(_decode, member.name) == member.value, member.name


def test_c_decoder_vector_type_codes_are_vector_type():
    codes = _c_decoder().VECTOR_TYPES
    assert codes == {member.name: member.value for member in VectorType}


def test_c_decoder_thrift_ids_are_those_of_the_python_reader():
    ids = _c_decoder().THRIFT_TYPES
    assert ids and all(value == getattr(_thrift, name) for name, value in ids.items()), ids


def test_c_decoder_member_ids_and_limits_are_those_of_the_python_decoder():
    constants = _c_decoder().CONSTANTS
    assert constants and all(value == getattr(_decode, name) for name, value in constants.items()), constants
