# Bounds-checked Thrift Binary reads for _cdecode.pyx (included there). Every read claims its bytes with
# need(), so no input can read past the buffer; failures raise DataError naming what was being read.

# Thrift binary type ids
cdef enum:
    T_STOP = 0
    T_BOOL = 2
    T_BYTE = 3
    T_DOUBLE = 4
    T_I16 = 6
    T_I32 = 8
    T_I64 = 10
    T_STRING = 11
    T_STRUCT = 12
    T_MAP = 13
    T_SET = 14
    T_LIST = 15
    MAX_DEPTH = 64
# The same ids as Python values, checked against e6driver/_thrift.py by tests/unit/test_decoder_constants.py.
THRIFT_TYPES = {"T_STOP": T_STOP, "T_BOOL": T_BOOL, "T_BYTE": T_BYTE, "T_DOUBLE": T_DOUBLE, "T_I16": T_I16,
                "T_I32": T_I32, "T_I64": T_I64, "T_STRING": T_STRING, "T_STRUCT": T_STRUCT, "T_MAP": T_MAP,
                "T_SET": T_SET, "T_LIST": T_LIST, "MAX_DEPTH": MAX_DEPTH}


cdef struct Reader:
    const unsigned char* buf
    Py_ssize_t pos
    Py_ssize_t end
    int column  # vector being read, -1 at chunk level (for messages)


cdef inline uint32_t be_u32(const unsigned char* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | <uint32_t>p[3]


cdef inline int64_t be_i64(const unsigned char* p) noexcept nogil:
    return <int64_t>((<uint64_t>be_u32(p) << 32) | <uint64_t>be_u32(p + 4))


cdef inline double be_double(const unsigned char* p) noexcept nogil:
    cdef uint64_t bits = <uint64_t>be_i64(p)
    cdef double value
    memcpy(&value, &bits, 8)
    return value


cdef str where(Reader* r):
    return "chunk" if r.column < 0 else f"vector {r.column}"


cdef int malformed(Reader* r, str problem) except -1:
    raise DataError(f"malformed chunk: {where(r)} {problem}")


cdef Py_ssize_t short_read(Reader* r, int64_t n, const char* what) except -1:
    raise DataError(f"malformed chunk: {where(r)} {what.decode()} needs {n} bytes at offset {r.pos}, "
                    f"{r.end - r.pos} left")


cdef inline Py_ssize_t need(Reader* r, int64_t n, const char* what) except -1:
    """Claim ``n`` bytes; returns their offset."""
    cdef Py_ssize_t pos = r.pos
    if n < 0 or n > r.end - pos:
        return short_read(r, n, what)
    r.pos = pos + <Py_ssize_t>n
    return pos


cdef inline int read_byte(Reader* r, const char* what) except -1:
    return r.buf[need(r, 1, what)]


cdef inline int32_t read_i32(Reader* r, const char* what) except? -1:
    return <int32_t>be_u32(r.buf + need(r, 4, what))


cdef inline Py_ssize_t read_binary(Reader* r, Py_ssize_t* length, const char* what) except -1:
    """Length-prefixed bytes; returns their offset and sets ``length``."""
    cdef int32_t n = read_i32(r, what)
    if n < 0:
        malformed(r, f"{what.decode()} has negative length {n}")
    length[0] = n
    return need(r, n, what)


cdef inline int read_field(Reader* r, int* fid, const char* what) except -1:
    """Field header: returns the Thrift type (T_STOP ends the struct) and sets ``fid``."""
    cdef int ftype = read_byte(r, what)
    cdef const unsigned char* p
    if ftype == T_STOP:
        return T_STOP
    p = r.buf + need(r, 2, what)
    fid[0] = <int16_t>((p[0] << 8) | p[1])
    return ftype


cdef inline int expect(Reader* r, int ftype, int wanted, const char* what) except -1:
    if ftype != wanted:
        malformed(r, f"{what.decode()} has Thrift type {ftype}, expected {wanted}")
    return 0


cdef Py_ssize_t list_header(Reader* r, int element, const char* what) except -1:
    """Header of a list whose elements must be ``element``; the count is checked against the bytes left."""
    cdef int etype = read_byte(r, what)
    cdef int64_t count = read_i32(r, what)
    cdef int64_t minimum = e6_fixed_width(element)
    if minimum == 0:
        minimum = 1 if element == T_STRUCT else 4
    if etype != element:
        malformed(r, f"{what.decode()} has element type {etype}, expected {element}")
    if count < 0:
        malformed(r, f"{what.decode()} has negative element count {count}")
    if count * minimum > r.end - r.pos:
        malformed(r, f"{what.decode()} claims {count} elements but only {r.end - r.pos} bytes remain")
    return <Py_ssize_t>count


cdef int skip(Reader* r, int ftype, int depth) except -1:
    """Skip one value of an unknown field, nesting at most MAX_DEPTH deep."""
    cdef int inner, ktype, vtype, width, fid
    cdef int64_t count, i
    cdef Py_ssize_t length
    if depth > MAX_DEPTH:
        return malformed(r, f"nests deeper than {MAX_DEPTH} levels")
    width = e6_fixed_width(ftype)
    if width:
        need(r, width, b"skipped value")
    elif ftype == T_STRING:
        read_binary(r, &length, b"skipped value")
    elif ftype == T_STRUCT:
        while True:
            inner = read_field(r, &fid, b"skipped struct")
            if inner == T_STOP:
                return 0
            skip(r, inner, depth + 1)
    elif ftype == T_LIST or ftype == T_SET or ftype == T_MAP:
        ktype = read_byte(r, b"skipped container")
        vtype = read_byte(r, b"skipped container") if ftype == T_MAP else ktype
        count = read_i32(r, b"skipped container")
        if count < 0 or count > r.end - r.pos:
            return malformed(r, f"skipped container has bad element count {count}")
        if count == 0:
            return 0
        width = e6_fixed_width(ktype) + (e6_fixed_width(vtype) if ftype == T_MAP else 0)
        if e6_fixed_width(ktype) and e6_fixed_width(vtype):  # fixed-width elements: one bounds check
            if depth + 1 > MAX_DEPTH:
                return malformed(r, f"nests deeper than {MAX_DEPTH} levels")
            need(r, count * width, b"skipped container")
            return 0
        for i in range(count):
            skip(r, ktype, depth + 1)
            if ftype == T_MAP:
                skip(r, vtype, depth + 1)
    else:
        malformed(r, f"has unknown Thrift type {ftype}")
    return 0
