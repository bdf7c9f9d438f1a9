# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""C twin of ``e6driver/_decode.py``: Thrift Binary ``Chunk`` (spec §7) → Python values, same rules, same results.

The validation rules are those of ``_decode``'s module docstring; every input gives the same values or the same
exception class (``DataError``) under both implementations. The bytes are parsed in place from a
``const unsigned char*``: each read checks the bytes left, so no input can read out of bounds. Hot paths build
Python objects with the C API; rare values (decimal literals and 16-byte values beyond int64, zone names) reuse
the Python helpers of ``_decode`` so both implementations agree by construction.
"""
from cpython.object cimport PyObject
from cpython.datetime cimport import_datetime
from cpython.exc cimport PyErr_Clear, PyErr_ExceptionMatches
from cpython.list cimport PyList_New
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int16_t, int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy

import datetime
import decimal

from e6driver.errors import DataError
from e6driver import _decode

cdef extern from *:
    """
    #include <datetime.h>
    /* width of fixed-size Thrift types (0: variable or unknown) */
    static int e6_fixed_width(int t) {
        switch (t) { case 2: case 3: return 1; case 6: return 2; case 8: return 4; case 4: case 10: return 8; }
        return 0;
    }
    static PyObject *e6_date(int y, int m, int d) {
        return PyDateTimeAPI->Date_FromDate(y, m, d, PyDateTimeAPI->DateType);
    }
    static PyObject *e6_datetime(int y, int mo, int d, int h, int mi, int s, int us, PyObject *tz) {
        return PyDateTimeAPI->DateTime_FromDateAndTime(y, mo, d, h, mi, s, us, tz, PyDateTimeAPI->DateTimeType);
    }
    static PyObject *e6_timedelta(int d, int s, int us) {
        return PyDateTimeAPI->Delta_FromDelta(d, s, us, 1, PyDateTimeAPI->DeltaType);
    }
    static PyObject **e6_list_items(PyObject *o) { return ((PyListObject *)o)->ob_item; }
    static PyObject **e6_tuple_items(PyObject *o) { return ((PyTupleObject *)o)->ob_item; }
    static PyObject *e6_ref(PyObject *o) { Py_INCREF(o); return o; }
    """
    int e6_fixed_width(int t) noexcept nogil
    PyObject* e6_date(int y, int m, int d)
    PyObject* e6_datetime(int y, int mo, int d, int h, int mi, int s, int us, PyObject* tz)
    PyObject* e6_timedelta(int d, int s, int us)
    PyObject** e6_list_items(object o)
    PyObject** e6_tuple_items(PyObject* o)
    PyObject* e6_ref(PyObject* o)

cdef extern from "Python.h":
    PyObject* new_int "PyLong_FromLongLong"(long long v)
    PyObject* new_float "PyFloat_FromDouble"(double v)
    PyObject* new_utf8 "PyUnicode_DecodeUTF8"(const char* s, Py_ssize_t n, const char* errors)
    PyObject* new_ascii "PyUnicode_DecodeASCII"(const char* s, Py_ssize_t n, const char* errors)
    PyObject* new_bytes "PyBytes_FromStringAndSize"(const char* s, Py_ssize_t n)
    PyObject* new_tuple "PyTuple_New"(Py_ssize_t n)
    PyObject* call_one "PyObject_CallOneArg"(object callable, PyObject* arg)
    void raw_decref "Py_DECREF"(PyObject* o)
    void PyObject_GC_UnTrack(void* o)
    void PyObject_GC_Track(void* o)
    PyObject* Py_True
    PyObject* Py_False

import_datetime()

# VectorType codes: C constants for speed; e6driver.types.VectorType is their definition, and
# tests/unit/test_decoder_constants.py holds each of them to it through VECTOR_TYPES.
cdef enum:
    BINARY, BOOLEAN, DOUBLE, FLOAT, INT96, INTEGER, LONG, STRING, DATE, DATETIME, TIMESTAMP, STRUCT, MAP, ARRAY, \
        NULL_TYPE, TIMESTAMP_TZ, DECIMAL128, INTERVAL_DAY_SECOND, N_TYPES
VECTOR_TYPES = {
    "BINARY": BINARY, "BOOLEAN": BOOLEAN, "DOUBLE": DOUBLE, "FLOAT": FLOAT, "INT96": INT96, "INTEGER": INTEGER,
    "LONG": LONG, "STRING": STRING, "DATE": DATE, "DATETIME": DATETIME, "TIMESTAMP": TIMESTAMP, "STRUCT": STRUCT,
    "MAP": MAP, "ARRAY": ARRAY, "NULL": NULL_TYPE, "TIMESTAMP_TZ": TIMESTAMP_TZ, "DECIMAL128": DECIMAL128,
    "INTERVAL_DAY_SECOND": INTERVAL_DAY_SECOND,
}

# Data union members with extra fields
cdef enum:
    M_TIME_CONST = 14
    M_TIME = 16
    M_DEC128 = 17
    M_DEC128_CONST = 18

cdef int64_t MICROS_PER_DAY = 86400000000
cdef int64_t MIN_MICROS = -62135596800000000  # 0001-01-01T00:00:00Z
cdef int64_t MAX_MICROS = 253402300799999999  # 9999-12-31T23:59:59.999999Z
# The other C constants that twin _decode's, by _decode's names (checked by the same test).
CONSTANTS = {"M_TIME_CONST": M_TIME_CONST, "M_TIME": M_TIME, "M_DEC128": M_DEC128, "M_DEC128_CONST": M_DEC128_CONST,
             "MICROS_PER_DAY": MICROS_PER_DAY, "MIN_MICROS": MIN_MICROS, "MAX_MICROS": MAX_MICROS}

# Member tables, loaded from _decode's (their one source of truth), 0 where nothing applies:
cdef int LIST_ELEMENT[19]  # Data union member -> element type of its list field 1
cdef int CONST_ELEMENT[19]  # Data union member -> type of its scalar field 1
cdef int LIST_MEMBER[N_TYPES]  # vector type -> its non-constant member (0: type not decodable)
cdef int CONST_MEMBER[N_TYPES]  # vector type -> its constant member


cdef int load_tables() except -1:
    for member, element in _decode.LIST_ELEMENT.items():
        LIST_ELEMENT[in_range(member, 19)] = element
    for member, element in _decode.CONST_ELEMENT.items():
        CONST_ELEMENT[in_range(member, 19)] = element
    for vtype, (listed, constant) in _decode.ALLOWED_MEMBERS.items():
        LIST_MEMBER[in_range(vtype, N_TYPES)], CONST_MEMBER[in_range(vtype, N_TYPES)] = listed, constant
    return 0


cdef int in_range(int index, int size) except -1:
    if not 0 <= index < size:
        raise ImportError(f"_decode's tables do not fit the C decoder's (index {index})")
    return index


load_tables()

cdef PyObject* NONE = <PyObject*>None
cdef PyObject* TRUE = Py_True
cdef PyObject* FALSE = Py_False
cdef object UTC = datetime.timezone.utc
cdef object Decimal = decimal.Decimal
cdef object TYPE_NAMES = _decode.TYPE_NAMES
cdef object zone = _decode.zone  # cached tzinfo lookup for zone names
cdef object decimal_fallback = _decode.decimal_from_bytes  # decimal literals and 16-byte values beyond int64


include "_cthrift.pxi"


# ---------------------------------------------------------------- structure

cdef class RawVector:
    """One vector as read from the wire: offsets into the chunk bytes, nothing converted yet."""
    cdef bint has_size, has_vtype, has_nulls, constant, has_values, has_scale, has_zones
    cdef int32_t size, vtype, scale
    cdef int member  # Data union member id, 0 = none
    cdef Py_ssize_t nulls_pos, nulls_count
    # list members: offset of the first element and count; string constants: offset and length
    cdef Py_ssize_t values_pos, values_count
    cdef int64_t const_int  # bool, byte and i64 constants
    cdef double const_double
    # timeData zoneData: offset of the first element and count; timeConstantData zoneData: offset and length
    cdef Py_ssize_t zones_pos, zones_count


cdef int read_member(Reader* r, RawVector v, int member) except -1:
    cdef int fid = 0, ftype, list_element = LIST_ELEMENT[member], const_element = CONST_ELEMENT[member]
    cdef Py_ssize_t i, count, length, pos
    v.member = member
    while True:
        ftype = read_field(r, &fid, b"data member")
        if ftype == T_STOP:
            return 0
        if fid == 1 and list_element:
            expect(r, ftype, T_LIST, b"data list")
            count = list_header(r, list_element, b"data list")
            pos = r.pos
            if list_element == T_STRING:
                for i in range(count):
                    read_binary(r, &length, b"data list element")
            else:
                need(r, <int64_t>count * e6_fixed_width(list_element), b"data list")
            v.values_pos, v.values_count, v.has_values = pos, count, True
        elif fid == 1 and const_element:
            expect(r, ftype, const_element, b"constant")
            if const_element == T_STRING:
                v.values_pos = read_binary(r, &v.values_count, b"constant")
            elif const_element == T_DOUBLE:
                v.const_double = be_double(r.buf + need(r, 8, b"constant"))
            elif const_element == T_I64:
                v.const_int = be_i64(r.buf + need(r, 8, b"constant"))
            elif const_element == T_BYTE:
                v.const_int = <signed char>read_byte(r, b"constant")
            else:
                v.const_int = read_byte(r, b"constant")
            v.has_values = True
        elif fid == 2 and (member == M_DEC128 or member == M_DEC128_CONST):
            expect(r, ftype, T_I32, b"decimal scale")
            v.scale, v.has_scale = read_i32(r, b"decimal scale"), True
        elif fid == 2 and member == M_TIME:
            expect(r, ftype, T_LIST, b"zoneData")
            count = list_header(r, T_STRING, b"zoneData")
            pos = r.pos
            for i in range(count):
                read_binary(r, &length, b"zoneData element")
            v.zones_pos, v.zones_count, v.has_zones = pos, count, True
        elif fid == 2 and member == M_TIME_CONST:
            expect(r, ftype, T_STRING, b"zoneData")
            v.zones_pos, v.has_zones = read_binary(r, &v.zones_count, b"zoneData"), True
        else:
            skip(r, ftype, 0)


cdef int read_data(Reader* r, RawVector v) except -1:
    cdef int fid = 0, ftype, seen = 0
    # a repeated Data field replaces the earlier one entirely
    v.member, v.has_values, v.has_scale, v.has_zones = 0, False, False, False
    while True:
        ftype = read_field(r, &fid, b"data")
        if ftype == T_STOP:
            return 0
        if 1 <= fid <= 18:
            expect(r, ftype, T_STRUCT, b"data member")
            seen += 1
            if seen > 1:
                malformed(r, "sets more than one Data union member")
            read_member(r, v, fid)
        else:
            skip(r, ftype, 0)


cdef RawVector read_vector(Reader* r):
    cdef RawVector v = RawVector.__new__(RawVector)
    cdef int fid = 0, ftype
    while True:
        ftype = read_field(r, &fid, b"field")
        if ftype == T_STOP:
            return v
        if fid == 1:
            expect(r, ftype, T_I32, b"size")
            v.size, v.has_size = read_i32(r, b"size"), True
        elif fid == 2:
            expect(r, ftype, T_I32, b"vectorType")
            v.vtype, v.has_vtype = read_i32(r, b"vectorType"), True
        elif fid == 3:
            expect(r, ftype, T_LIST, b"nullSet")
            v.nulls_count = list_header(r, T_BOOL, b"nullSet")
            v.nulls_pos, v.has_nulls = need(r, v.nulls_count, b"nullSet"), True
        elif fid == 4:
            expect(r, ftype, T_STRUCT, b"data")
            read_data(r, v)
        elif fid == 5:
            expect(r, ftype, T_BOOL, b"isConstantVector")
            v.constant = read_byte(r, b"isConstantVector") != 0
        else:
            skip(r, ftype, 0)


cdef list read_chunk(const unsigned char* buf, Py_ssize_t length, int32_t* size_out):
    """Parse a chunk into its raw vectors and row count, checking the structural rules."""
    cdef Reader r
    cdef int fid = 0, ftype
    cdef bint has_size = False
    cdef int32_t size = 0
    cdef Py_ssize_t count, i
    cdef list vectors = []
    r.buf, r.pos, r.end, r.column = buf, 0, length, -1
    while True:
        ftype = read_field(&r, &fid, b"field")
        if ftype == T_STOP:
            break
        if fid == 1:
            expect(&r, ftype, T_I32, b"Chunk.size")
            size, has_size = read_i32(&r, b"Chunk.size"), True
        elif fid == 2:
            expect(&r, ftype, T_LIST, b"vectors")
            count = list_header(&r, T_STRUCT, b"vectors")
            vectors = []
            for i in range(count):
                r.column = i
                vectors.append(read_vector(&r))
            r.column = -1
        else:
            skip(&r, ftype, 0)
    if not has_size:
        raise DataError("malformed chunk: Chunk.size is missing")
    if size < 0:
        raise DataError(f"malformed chunk: negative Chunk.size {size}")
    if size > _decode.MAX_CHUNK_ROWS:
        raise DataError(f"malformed chunk: Chunk.size {size} exceeds the limit of {_decode.MAX_CHUNK_ROWS} rows "
                        "per chunk")
    for i in range(len(vectors)):
        check_vector(vectors[i], buf, i, size)
    size_out[0] = size
    return vectors


cdef inline bint all_null(RawVector v, const unsigned char* buf) noexcept:
    if v.constant:
        return v.nulls_count > 0 and buf[v.nulls_pos] != 0
    return memchr(buf + v.nulls_pos, 0, v.nulls_count) == NULL


cdef int check_vector(RawVector v, const unsigned char* buf, Py_ssize_t index, int32_t size) except -1:
    cdef int32_t vtype = v.vtype
    cdef int expected
    if not v.has_vtype:
        raise DataError(f"malformed chunk: column {index} has no vectorType")
    if not (0 <= vtype < N_TYPES and (LIST_MEMBER[vtype] or vtype == NULL_TYPE)):
        name = TYPE_NAMES[vtype] if 0 <= vtype < N_TYPES else f"code {vtype}"
        raise DataError(f"unsupported vector type {name} in column {index}")
    col = f"column {index} ({TYPE_NAMES[vtype]})"
    if not v.has_size or v.size != size:
        raise DataError(f"malformed chunk: {col} has size {v.size if v.has_size else None}, chunk has {size} rows")
    if not v.has_nulls:
        raise DataError(f"malformed chunk: {col} has no nullSet")
    if v.constant:
        if size and v.nulls_count < 1:
            raise DataError(f"malformed chunk: constant {col} has an empty nullSet")
    elif v.nulls_count != size:
        raise DataError(f"malformed chunk: {col} nullSet has {v.nulls_count} entries for {size} rows")
    if vtype == NULL_TYPE:
        return 0
    expected = CONST_MEMBER[vtype] if v.constant else LIST_MEMBER[vtype]
    if v.member == 0:
        if size == 0 or all_null(v, buf):
            return 0
        raise DataError(f"malformed chunk: {col} has no data")
    if v.member != expected:
        raise DataError(f"malformed chunk: {col} carries Data member {v.member}, expected {expected}")
    if not v.has_values:
        if size == 0 or all_null(v, buf):
            return 0
        raise DataError(f"malformed chunk: {col} data has no values")
    if not v.constant and v.values_count != size:
        raise DataError(f"malformed chunk: {col} holds {v.values_count} values for {size} rows")
    if vtype == DECIMAL128 and not v.has_scale and not all_null(v, buf):
        raise DataError(f"malformed chunk: {col} has no decimal scale")
    if vtype == TIMESTAMP_TZ and not v.constant and v.has_zones and v.zones_count != size:
        raise DataError(f"malformed chunk: {col} zoneData has {v.zones_count} entries for {size} rows")
    return 0


include "_cvalues.pxi"


# ---------------------------------------------------------------- public functions

cdef list unfilled_list(Py_ssize_t size):
    """A list of ``size`` NULL items, hidden from the garbage collector (so from ``gc.get_objects()`` in a gc
    callback or another thread) until ``filled`` shows it; freed safely whatever was stored if an error drops it."""
    cdef list items = PyList_New(size)
    PyObject_GC_UnTrack(<PyObject*>items)
    return items


cdef inline list filled(list items):
    PyObject_GC_Track(<PyObject*>items)
    return items


cdef list column_list(RawVector v, const unsigned char* buf, Py_ssize_t length, Py_ssize_t size,
                      Py_ssize_t index):
    cdef list column = unfilled_list(size)
    try:
        fill_column(v, buf, buf + length, size, e6_list_items(column))
    except DataError as exc:
        message = str(exc)
        if f"column {index}" in message:
            raise
        raise DataError(f"column {index} ({TYPE_NAMES[v.vtype]}): {message}") from None
    return filled(column)


cdef inline const unsigned char* start_of(const unsigned char[::1] view):
    """The first byte of a chunk's buffer (never NULL: an empty chunk points at an empty string)."""
    return &view[0] if view.shape[0] else <const unsigned char*>b""


def decode_chunk_columns(const unsigned char[::1] data not None):
    """Row count and one list of Python values per column, from a chunk's bytes or any contiguous buffer (a view
    of the answer that brought it), read in place."""
    cdef const unsigned char* buf = start_of(data)
    cdef Py_ssize_t length = data.shape[0]
    cdef int32_t size = 0
    cdef list vectors = read_chunk(buf, length, &size)
    return size, [column_list(vectors[i], buf, length, size, i) for i in range(len(vectors))]


def decode_chunk(const unsigned char[::1] data not None):
    """Rows of one chunk as tuples; the chunk as for :func:`decode_chunk_columns`."""
    cdef const unsigned char* buf = start_of(data)
    cdef Py_ssize_t length = data.shape[0]
    cdef int32_t size = 0
    cdef list vectors = read_chunk(buf, length, &size)
    cdef Py_ssize_t ncols = len(vectors), row, col
    if ncols == 0:
        return [()] * size
    cdef list columns = [column_list(vectors[i], buf, length, size, i) for i in range(ncols)]
    cdef list rows = unfilled_list(size)
    cdef PyObject** row_items = e6_list_items(rows)
    cdef PyObject** cells
    cdef PyObject*** column_items = <PyObject***>PyMem_Malloc(ncols * sizeof(PyObject**))
    cdef PyObject* t
    if column_items == NULL:
        raise MemoryError()
    try:
        for col in range(ncols):
            PyObject_GC_UnTrack(<PyObject*>columns[col])  # about to hold NULLs again as cells move out
            column_items[col] = e6_list_items(columns[col])
        for row in range(size):
            t = new_tuple(ncols)
            if t == NULL:
                raise MemoryError()
            cells = e6_tuple_items(t)
            for col in range(ncols):  # move each cell's reference from its column into the row
                cells[col] = column_items[col][row]
                column_items[col][row] = NULL
            # Every cell is an atomic object (int, float, str, bytes, date, Decimal, ...), so the row can
            # never be part of a cycle: untrack it now rather than let the collector scan and untrack it later.
            PyObject_GC_UnTrack(t)
            row_items[row] = t
    finally:
        PyMem_Free(column_items)
    return filled(rows)


def string_list_buffers(data, Py_ssize_t pos, Py_ssize_t count):
    """Arrow buffers of a Thrift ``list<binary>`` body (``count`` items from ``pos``, after the list header):
    ``(offsets, values, end)`` — little-endian int32 offsets (count + 1), the concatenated bytes, and the
    offset just past the list. Bounds-checked like every read here."""
    if not isinstance(data, bytes):
        data = bytes(data)
    cdef const unsigned char* buf = data
    cdef Py_ssize_t end = len(data), p = pos, i
    cdef int64_t total = 0
    cdef int32_t n
    if pos < 0 or count < 0 or pos > end:
        raise DataError(f"malformed chunk: bad string list position {pos} / count {count}")
    for i in range(count):
        if end - p < 4:
            raise DataError(f"malformed chunk: string {i} length needs 4 bytes at offset {p}, {end - p} left")
        n = <int32_t>be_u32(buf + p)
        if n < 0 or n > end - p - 4:
            raise DataError(f"malformed chunk: string {i} has length {n} at offset {p}, {end - p - 4} bytes left")
        total += n
        p += 4 + n
    if total > 2147483647:
        raise DataError("a string column of one chunk exceeds 2 GiB")
    offsets = PyBytes_FromStringAndSize(NULL, 4 * (count + 1))
    values = PyBytes_FromStringAndSize(NULL, total)
    cdef char* out_offsets = PyBytes_AS_STRING(offsets)
    cdef char* out_values = PyBytes_AS_STRING(values)
    cdef int32_t at = 0
    cdef uint32_t le
    p = pos
    for i in range(count + 1):
        le = <uint32_t>at  # little-endian int32 regardless of host order
        out_offsets[4 * i] = <char>(le & 0xff)
        out_offsets[4 * i + 1] = <char>((le >> 8) & 0xff)
        out_offsets[4 * i + 2] = <char>((le >> 16) & 0xff)
        out_offsets[4 * i + 3] = <char>((le >> 24) & 0xff)
        if i == count:
            break
        n = <int32_t>be_u32(buf + p)
        memcpy(out_values + at, buf + p + 4, n)
        at += n
        p += 4 + n
    return offsets, values, p
