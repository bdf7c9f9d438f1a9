# Value conversion for _cdecode.pyx (included there): raw wire values of one checked vector → Python objects.
# Every function that makes an object returns a new reference, or NULL with an exception set.

cdef inline object steal(PyObject* o):
    """Hand a new reference over to Cython's reference counting."""
    cdef object owned = <object>o
    raw_decref(o)
    return owned


cdef inline int64_t split_days(int64_t micros, int64_t* rest) noexcept nogil:
    """Whole days (floored, as Python's ``//``) of ``micros``; ``rest`` gets the microseconds into the day.
    Never overflows, even at the ends of int64."""
    cdef int64_t days = micros / MICROS_PER_DAY
    rest[0] = micros % MICROS_PER_DAY
    if rest[0] < 0:
        rest[0] += MICROS_PER_DAY
        days -= 1
    return days


cdef inline void civil_from_days(int64_t days, int* year, int* month, int* day) noexcept nogil:
    """Proleptic Gregorian date of ``days`` since 1970-01-01 (H. Hinnant's algorithm)."""
    cdef int64_t z = days + 719468
    cdef int64_t era = (z if z >= 0 else z - 146096) / 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
    cdef int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    cdef int64_t mp = (5 * doy + 2) / 153
    day[0] = <int>(doy - (153 * mp + 2) / 5 + 1)
    month[0] = <int>(mp + 3 if mp < 10 else mp - 9)
    year[0] = <int>(yoe + era * 400 + (1 if month[0] <= 2 else 0))


cdef inline const unsigned char* next_string(const unsigned char** cursor, const unsigned char* end,
                                             Py_ssize_t* length) except NULL:
    """Step over one length-prefixed string of a list validated by the parser (checked again all the same)."""
    cdef const unsigned char* p = cursor[0]
    cdef int32_t n
    if end - p < 4:
        raise DataError("malformed chunk: string list overruns the chunk")
    n = <int32_t>be_u32(p)
    if n < 0 or n > end - p - 4:
        raise DataError("malformed chunk: string list overruns the chunk")
    length[0] = n
    cursor[0] = p + 4 + n
    return p + 4


cdef PyObject* text_value(const unsigned char* p, Py_ssize_t n) except NULL:
    cdef PyObject* s = new_utf8(<const char*>p, n, NULL)
    if s == NULL:
        if not PyErr_ExceptionMatches(UnicodeDecodeError):
            return NULL
        PyErr_Clear()
        _decode.utf8_text(new_bytes_obj(p, n))  # raises DataError naming the bad byte
        raise DataError("invalid UTF-8 in a text value")
    return s


cdef inline object new_bytes_obj(const unsigned char* p, Py_ssize_t n):
    return steal(new_bytes(<const char*>p, n))


cdef PyObject* date_value(int64_t micros) except NULL:
    cdef int y, m, d
    if micros % MICROS_PER_DAY != 0:
        raise DataError(f"DATE value {micros} µs is not a whole day")
    if micros < MIN_MICROS or micros > MAX_MICROS:
        raise DataError(f"DATE value {micros} µs is outside years 1-9999")
    civil_from_days(micros / MICROS_PER_DAY, &y, &m, &d)
    return e6_date(y, m, d)


cdef PyObject* datetime_value(int64_t micros, PyObject* tz) except NULL:
    """Naive datetime (``tz`` None) or the UTC instant (``tz`` UTC) of ``micros`` since the epoch."""
    cdef int y, m, d
    cdef int64_t days, rest, seconds
    if micros < MIN_MICROS or micros > MAX_MICROS:
        raise DataError(f"TIMESTAMP value {micros} µs is outside years 1-9999")
    days = split_days(micros, &rest)
    seconds = rest / 1000000
    civil_from_days(days, &y, &m, &d)
    return e6_datetime(y, m, d, <int>(seconds / 3600), <int>(seconds / 60 % 60), <int>(seconds % 60),
                       <int>(rest % 1000000), tz)


cdef object aware_value(int64_t micros, object tz):
    if micros < MIN_MICROS or micros > MAX_MICROS:
        raise DataError(f"TIMESTAMP WITH TIME ZONE value {micros} µs is outside years 1-9999")
    instant = steal(datetime_value(micros, <PyObject*>UTC))
    try:
        return instant.astimezone(tz)
    except OverflowError:
        raise DataError(f"TIMESTAMP WITH TIME ZONE value {micros} µs in zone {tz} is outside years 1-9999") \
            from None


cdef object zone_of(const unsigned char* p, Py_ssize_t n):
    return zone(steal(text_value(p, n)))


cdef PyObject* timedelta_value(int64_t micros) except NULL:
    cdef int64_t rest
    cdef int64_t days = split_days(micros, &rest)
    return e6_timedelta(<int>days, <int>(rest / 1000000), <int>(rest % 1000000))


cdef char* write_int(char* end, int64_t value) noexcept nogil:
    """Decimal digits of ``value`` written backwards ending at ``end``; returns the first character."""
    cdef uint64_t magnitude = <uint64_t>value
    if value < 0:
        magnitude = 0 - magnitude
    while True:
        end -= 1
        end[0] = <char>(48 + magnitude % 10)
        magnitude //= 10
        if magnitude == 0:
            break
    if value < 0:
        end -= 1
        end[0] = c'-'
    return end


cdef PyObject* decimal_value(const unsigned char* p, Py_ssize_t n, int32_t scale) except NULL:
    """Exact Decimal of a 16-byte unscaled value (fast path when it fits int64) or a decimal literal."""
    cdef int64_t high, low
    cdef char text[48]
    cdef char* start
    cdef PyObject* literal
    cdef PyObject* result
    if n == 16:
        high = be_i64(p)
        low = be_i64(p + 8)
        if (high == 0 and low >= 0) or (high == -1 and low < 0):
            if scale == 0:  # Decimal(int) is exact and the same value, exponent 0, as Decimal("<n>E0")
                literal = new_int(low)
                if literal == NULL:
                    return NULL
                result = call_one(Decimal, literal)
                raw_decref(literal)
                return result
            start = write_int(text + 48, -<int64_t>scale)  # "<unscaled>E<-scale>", as _decode builds it
            start -= 1
            start[0] = c'E'
            start = write_int(start, low)
            literal = new_ascii(start, text + 48 - start, NULL)
            if literal == NULL:
                return NULL
            result = call_one(Decimal, literal)
            raw_decref(literal)
            return result
    value = decimal_fallback(new_bytes_obj(p, n), scale)
    return e6_ref(<PyObject*>value)


cdef object constant_value(RawVector v, const unsigned char* buf):
    """The Python value of a constant vector's single value."""
    cdef int vtype = v.vtype
    cdef const unsigned char* p = buf + v.values_pos
    if vtype == INTEGER:
        if not -2147483648 <= v.const_int <= 2147483647:
            raise DataError(f"INTEGER constant {v.const_int} is out of 32-bit range")
        return v.const_int
    if vtype == LONG:
        return v.const_int
    if vtype == FLOAT or vtype == DOUBLE:
        return v.const_double
    if vtype == BOOLEAN:
        return v.const_int != 0
    if vtype == BINARY:
        return new_bytes_obj(p, v.values_count)
    if vtype == STRING or vtype == ARRAY or vtype == MAP or vtype == STRUCT:
        return steal(text_value(p, v.values_count))
    if vtype == DATE:
        return steal(date_value(v.const_int))
    if vtype == DATETIME:
        return steal(datetime_value(v.const_int, NONE))
    if vtype == TIMESTAMP_TZ:
        tz = zone_of(buf + v.zones_pos, v.zones_count) if v.has_zones else zone("UTC")
        return aware_value(v.const_int, tz)
    if vtype == DECIMAL128:
        return steal(decimal_value(p, v.values_count, v.scale if v.has_scale else 0))
    if vtype == INTERVAL_DAY_SECOND:
        return steal(timedelta_value(v.const_int))
    raise DataError(f"unsupported vector type {vtype}")


cdef int fill_column(RawVector v, const unsigned char* buf, const unsigned char* end, Py_ssize_t size,
                     PyObject** out) except -1:
    """Store the ``size`` values of a checked vector as new references in ``out``; NULL slots become None
    without their placeholder being looked at."""
    cdef Py_ssize_t i, n, zone_n, last_n = -1
    cdef int vtype = v.vtype
    cdef int32_t scale = v.scale if v.has_scale else 0
    cdef const unsigned char* nulls = buf + v.nulls_pos
    cdef const unsigned char* p = buf + v.values_pos
    cdef const unsigned char* zones = buf + v.zones_pos
    cdef const unsigned char* s
    cdef const unsigned char* zone_s
    cdef const unsigned char* last_zone = NULL
    cdef PyObject* o
    if size == 0:
        return 0
    if vtype == NULL_TYPE or all_null(v, buf):
        for i in range(size):
            out[i] = e6_ref(NONE)
        return 0
    if v.constant:
        value = constant_value(v, buf)
        for i in range(size):
            out[i] = e6_ref(<PyObject*>value)
        return 0
    for i in range(size):  # NULL slots first: the loops below skip them
        if nulls[i]:
            out[i] = e6_ref(NONE)
    if vtype == LONG:
        for i in range(size):
            if not nulls[i]:
                o = new_int(be_i64(p + 8 * i))
                if o == NULL:
                    return -1
                out[i] = o
    elif vtype == INTEGER:
        for i in range(size):
            if not nulls[i]:
                o = new_int(<int32_t>be_u32(p + 4 * i))
                if o == NULL:
                    return -1
                out[i] = o
    elif vtype == DOUBLE or vtype == FLOAT:
        for i in range(size):
            if not nulls[i]:
                o = new_float(be_double(p + 8 * i))
                if o == NULL:
                    return -1
                out[i] = o
    elif vtype == BOOLEAN:
        for i in range(size):
            if not nulls[i]:
                out[i] = e6_ref(TRUE if p[i] else FALSE)
    elif vtype == STRING or vtype == ARRAY or vtype == MAP or vtype == STRUCT or vtype == BINARY:
        for i in range(size):
            s = next_string(&p, end, &n)
            if not nulls[i]:
                out[i] = new_bytes(<const char*>s, n) if vtype == BINARY else text_value(s, n)
                if out[i] == NULL:
                    return -1
    elif vtype == DATE:
        for i in range(size):
            if not nulls[i]:
                out[i] = date_value(be_i64(p + 8 * i))
    elif vtype == DATETIME:
        for i in range(size):
            if not nulls[i]:
                out[i] = datetime_value(be_i64(p + 8 * i), NONE)
    elif vtype == TIMESTAMP_TZ:
        tz = None if v.has_zones else zone("UTC")
        for i in range(size):
            if v.has_zones:
                zone_s = next_string(&zones, end, &zone_n)
            if nulls[i]:
                continue
            if v.has_zones and (zone_n != last_n or memcmp(zone_s, last_zone, zone_n) != 0):
                tz = zone_of(zone_s, zone_n)
                last_zone, last_n = zone_s, zone_n
            value = aware_value(be_i64(p + 8 * i), tz)
            out[i] = e6_ref(<PyObject*>value)
    elif vtype == DECIMAL128:
        for i in range(size):
            s = next_string(&p, end, &n)
            if not nulls[i]:
                out[i] = decimal_value(s, n, scale)
    elif vtype == INTERVAL_DAY_SECOND:
        for i in range(size):
            if not nulls[i]:
                out[i] = timedelta_value(be_i64(p + 8 * i))
    else:
        raise DataError(f"unsupported vector type {vtype}")
    return 0
