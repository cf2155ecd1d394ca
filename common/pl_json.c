/*  pl_json: JSON text <-> MessagePack with no DOM in between (see pl_json.h).
    The one thing to know: the parser writes MessagePack straight into the caller's
    msgpack_sbuffer in one pass. A container's count and a string's decoded length are
    only known at its end, so each gets a worst-case header first; at the end the header
    is rewritten in its smallest form and the body slid back over the spare bytes. The
    output is therefore the same canonical MessagePack msgpack_pack_* would produce.
    Numbers go through strtod/snprintf and so assume the "C" LC_NUMERIC locale, which
    is what a process has unless it calls setlocale (Parley never does).

    Choices the header leaves open:
    - a number that overflows a double (1e400, -1e400) is rejected ("number out of
      range"); one that underflows (1e-400) becomes 0.0 or a subnormal;
    - "-0" is an integer, so it becomes uint 0; "-0.0" stays a float (-0.0);
    - floats are written with the fewest of 15..17 significant digits that read back
      equal (6..9 for float32), and always look like floats: 3.0 is "3.0", not "3", so
      a JSON -> MessagePack -> JSON -> MessagePack trip keeps the float type;
    - "\u0000" is legal JSON and becomes a NUL byte inside the str: what a string may
      hold is the caller's rule (the gateway's is proto_validate's, for every field);
    - duplicate object keys are passed through as they are;
    - error offsets are 0-based byte offsets into the input;
    - depth counts containers (a top-level array is 1) in both directions, so the
      writer accepts anything the parser produced; 32 is also msgpack-c's own unpack
      limit (MSGPACK_EMBED_STACK_SIZE), so services can always unpack what we emit. */
#include "pl_json.h"

#include "pl_text.h"

#include <assert.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- UTF-8 */

/* Well-formed UTF-8 and code point counts: pl_text.c. */

/* ------------------------------------------------- MessagePack emission */

typedef struct {
    const unsigned char *start, *p, *end;
    msgpack_sbuffer *out;
    char *err;
    size_t errlen;
    unsigned flags; /* PL_JSON_* */
} parser_t;

/* Record why parsing stopped; `at` NULL means the reason has no position. Messages
   never quote the input, so they are safe to send back to the client. */
static int fail(parser_t *ps, const unsigned char *at, const char *why)
{
    if (ps->err && ps->errlen) {
        if (at)
            snprintf(ps->err, ps->errlen, "invalid JSON at byte %zu: %s", (size_t)(at - ps->start),
                     why);
        else
            snprintf(ps->err, ps->errlen, "invalid JSON: %s", why);
    }
    return -1;
}

static int oom(parser_t *ps)
{
    if (ps->err && ps->errlen)
        snprintf(ps->err, ps->errlen, "out of memory");
    return -1;
}

/* Make room for n more bytes. Grows the sbuffer the way msgpack_sbuffer_write does
   (realloc, doubling) so msgpack_sbuffer_destroy still frees it correctly; doing it
   here lets the parser write in place instead of through a copy. */
static int reserve(parser_t *ps, size_t n)
{
    msgpack_sbuffer *sb = ps->out;
    if (sb->alloc - sb->size >= n)
        return 0;
    size_t cap = sb->alloc ? sb->alloc : MSGPACK_SBUFFER_INIT_SIZE;
    while (cap - sb->size < n) {
        if (cap > SIZE_MAX / 2)
            return oom(ps);
        cap *= 2;
    }
    char *d = realloc(sb->data, cap);
    if (!d)
        return oom(ps);
    sb->data = d;
    sb->alloc = cap;
    return 0;
}

static unsigned char *tail(parser_t *ps)
{
    return (unsigned char *)ps->out->data + ps->out->size;
}

/* Big-endian store of the low `n` bytes of v. */
static void put_be(unsigned char *d, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        d[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
}

static int emit_byte(parser_t *ps, unsigned char b)
{
    if (reserve(ps, 1))
        return -1;
    *tail(ps) = b;
    ps->out->size++;
    return 0;
}

static int emit_uint(parser_t *ps, uint64_t v)
{
    if (reserve(ps, 9))
        return -1;
    unsigned char *d = tail(ps);
    size_t n;
    if (v <= 0x7F) {
        d[0] = (unsigned char)v;
        n = 1;
    } else if (v <= 0xFF) {
        d[0] = 0xcc;
        n = 2;
    } else if (v <= 0xFFFF) {
        d[0] = 0xcd;
        n = 3;
    } else if (v <= 0xFFFFFFFF) {
        d[0] = 0xce;
        n = 5;
    } else {
        d[0] = 0xcf;
        n = 9;
    }
    if (n > 1)
        put_be(d + 1, v, (int)n - 1);
    ps->out->size += n;
    return 0;
}

/* Only for v < 0; non-negative values go through emit_uint as msgpack-c does. */
static int emit_negint(parser_t *ps, int64_t v)
{
    if (reserve(ps, 9))
        return -1;
    unsigned char *d = tail(ps);
    size_t n;
    if (v >= -32) {
        d[0] = (unsigned char)((uint64_t)v & 0xFF); /* negative fixint 0xe0..0xff */
        n = 1;
    } else if (v >= INT8_MIN) {
        d[0] = 0xd0;
        n = 2;
    } else if (v >= INT16_MIN) {
        d[0] = 0xd1;
        n = 3;
    } else if (v >= INT32_MIN) {
        d[0] = 0xd2;
        n = 5;
    } else {
        d[0] = 0xd3;
        n = 9;
    }
    if (n > 1)
        put_be(d + 1, (uint64_t)v, (int)n - 1); /* two's complement low bytes */
    ps->out->size += n;
    return 0;
}

static int emit_double(parser_t *ps, double v)
{
    if (reserve(ps, 9))
        return -1;
    unsigned char *d = tail(ps);
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    d[0] = 0xcb;
    put_be(d + 1, bits, 8);
    ps->out->size += 9;
    return 0;
}

static size_t str_hdr_len(size_t n)
{
    return n <= 31 ? 1 : n <= 0xFF ? 2 : n <= 0xFFFF ? 3 : 5;
}

static void str_hdr(unsigned char *d, size_t n)
{
    if (n <= 31) {
        d[0] = (unsigned char)(0xa0 | n);
    } else if (n <= 0xFF) {
        d[0] = 0xd9;
        d[1] = (unsigned char)n;
    } else if (n <= 0xFFFF) {
        d[0] = 0xda;
        put_be(d + 1, n, 2);
    } else {
        d[0] = 0xdb;
        put_be(d + 1, n, 4);
    }
}

static size_t cont_hdr_len(size_t n)
{
    return n <= 15 ? 1 : n <= 0xFFFF ? 3 : 5;
}

static void cont_hdr(unsigned char *d, size_t n, int is_map)
{
    if (n <= 15) {
        d[0] = (unsigned char)((is_map ? 0x80 : 0x90) | n);
    } else if (n <= 0xFFFF) {
        d[0] = is_map ? 0xde : 0xdc;
        put_be(d + 1, n, 2);
    } else {
        d[0] = is_map ? 0xdf : 0xdd;
        put_be(d + 1, n, 4);
    }
}

/* The header at `pos` was given `had` bytes but needs only `need`: slide everything
   after it back. Cheap in practice (small bodies); bounded by depth x frame size. */
static void shrink_header(msgpack_sbuffer *sb, size_t pos, size_t had, size_t need)
{
    if (need < had) {
        memmove(sb->data + pos + need, sb->data + pos + had, sb->size - pos - had);
        sb->size -= had - need;
    }
}

/* ------------------------------------------------------------ parsing */

static int parse_value(parser_t *ps, int depth);

static void skip_ws(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The code unit of "\uXXXX" at s (s[0] is the backslash), or -1. */
static long hex4(const unsigned char *s, const unsigned char *e)
{
    if (e - s < 6 || s[0] != '\\' || s[1] != 'u')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t utf8_put(unsigned char *d, unsigned long cp)
{
    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode the string body [s, e) into d; raw bytes there are already validated, and
   every escape yields fewer bytes than it occupies, so d needs at most e - s bytes. */
static int decode_escapes(parser_t *ps, const unsigned char *s, const unsigned char *e,
                          unsigned char *d, size_t *len)
{
    unsigned char *d0 = d;
    while (s < e) {
        const unsigned char *bs = memchr(s, '\\', (size_t)(e - s));
        size_t run = (size_t)((bs ? bs : e) - s);
        memcpy(d, s, run);
        d += run;
        s += run;
        if (!bs)
            break;
        switch (s[1]) { /* pass 1 checked the letter is one of these */
        case '"':
            *d++ = '"';
            break;
        case '\\':
            *d++ = '\\';
            break;
        case '/':
            *d++ = '/';
            break;
        case 'b':
            *d++ = '\b';
            break;
        case 'f':
            *d++ = '\f';
            break;
        case 'n':
            *d++ = '\n';
            break;
        case 'r':
            *d++ = '\r';
            break;
        case 't':
            *d++ = '\t';
            break;
        default: { /* 'u' */
            long cu = hex4(s, e);
            if (cu < 0)
                return fail(ps, s, "invalid \\u escape");
            unsigned long cp = (unsigned long)cu;
            long lo = cu >= 0xD800 && cu <= 0xDBFF ? hex4(s + 6, e) : -1;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + (((unsigned long)cu - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
                s += 6;
            } else if (cu >= 0xD800 && cu <= 0xDFFF && !(ps->flags & PL_JSON_RAW_TEXT)) {
                return fail(ps, s, "lone surrogate");
            } /* else raw text: its 3 bytes below are ill-formed UTF-8 the caller refuses */
            d += utf8_put(d, cp);
            s += 4; /* plus the 2 below */
        }
        }
        s += 2;
    }
    *len = (size_t)(d - d0);
    return 0;
}

/* ps->p is at the opening quote. Pass 1 finds the closing quote while validating raw
   bytes (UTF-8, control characters, escape letters); its span bounds the decoded length,
   so pass 2 can write straight into the output. Strings without escapes, the common
   case, are a single memcpy with an exact header. */
static int parse_string(parser_t *ps)
{
    const unsigned char *s = ps->p + 1, *q = s, *end = ps->end;
    int escaped = 0;
    for (;;) {
        if (q >= end)
            return fail(ps, q, "unterminated string");
        unsigned char c = *q;
        if (c == '"')
            break;
        if (c == '\\') {
            if (q + 1 >= end)
                return fail(ps, q + 1, "unterminated string");
            switch (q[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
            case 'u':
                break;
            default:
                return fail(ps, q, "invalid escape");
            }
            escaped = 1;
            q += 2;
        } else if (c < 0x20) {
            return fail(ps, q, "control character in string");
        } else if (c < 0x80) {
            q++;
        } else {
            size_t bad, n = pl_utf8_seq(q, end, &bad);
            if (!n && !(ps->flags & PL_JSON_RAW_TEXT))
                return fail(ps, q, "invalid UTF-8");
            q += n ? n : bad; /* an ill-formed prefix never swallows the closing quote */
        }
    }
    size_t span = (size_t)(q - s);
    if (span > UINT32_MAX)
        return fail(ps, s, "string too long");
    size_t had = str_hdr_len(span);
    if (reserve(ps, had + span))
        return -1;
    msgpack_sbuffer *sb = ps->out;
    size_t pos = sb->size, len = span;
    unsigned char *d = (unsigned char *)sb->data + pos + had;
    if (!escaped)
        memcpy(d, s, span);
    else if (decode_escapes(ps, s, q, d, &len))
        return -1;
    sb->size = pos + had + len;
    size_t need = str_hdr_len(len);
    shrink_header(sb, pos, had, need);
    str_hdr((unsigned char *)sb->data + pos, len);
    ps->p = q + 1;
    return 0;
}

static int is_digit(const unsigned char *q, const unsigned char *end)
{
    return q < end && *q >= '0' && *q <= '9';
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(parser_t *ps)
{
    const unsigned char *s = ps->p, *q = s, *end = ps->end;
    int neg = 0, is_int = 1;
    if (*q == '-') {
        neg = 1;
        q++;
    }
    if (!is_digit(q, end))
        return fail(ps, q, "invalid number");
    if (*q == '0') {
        q++;
        if (is_digit(q, end))
            return fail(ps, q, "invalid number (leading zero)");
    } else {
        while (is_digit(q, end))
            q++;
    }
    const unsigned char *int_end = q;
    if (q < end && *q == '.') {
        is_int = 0;
        q++;
        if (!is_digit(q, end))
            return fail(ps, q, "invalid number");
        while (is_digit(q, end))
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        is_int = 0;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (!is_digit(q, end))
            return fail(ps, q, "invalid number");
        while (is_digit(q, end))
            q++;
    }
    ps->p = q;

    if (is_int) {
        uint64_t mag = 0;
        int over = 0;
        for (const unsigned char *r = s + neg; r < int_end; r++) {
            unsigned dg = (unsigned)(*r - '0');
            if (mag > (UINT64_MAX - dg) / 10) {
                over = 1;
                break;
            }
            mag = mag * 10 + dg;
        }
        if (!over && (!neg || mag == 0))
            return emit_uint(ps, mag);
        if (!over && mag <= (uint64_t)INT64_MAX + 1)
            return emit_negint(ps, mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag);
        /* too big for int64/uint64: falls through to float64 */
    }

    /* strtod needs a NUL-terminated copy: the input is not terminated, and the next
       input byte could be a digit that is not part of this value. */
    char small[64], *buf = small;
    size_t n = (size_t)(q - s);
    if (n >= sizeof small && !(buf = malloc(n + 1)))
        return oom(ps);
    memcpy(buf, s, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    if (isinf(v))
        return fail(ps, s, "number out of range");
    return emit_double(ps, v);
}

static int parse_literal(parser_t *ps, const char *word, size_t n, unsigned char byte)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, ps->p, "invalid literal");
    ps->p += n;
    return emit_byte(ps, byte);
}

/* Arrays and objects: reserve a 5-byte header, count members, then shrink the header
   to the canonical size. `depth` is this container's nesting level (top level = 1). */
static int parse_container(parser_t *ps, int depth, int is_map)
{
    if (depth > PL_JSON_MAX_DEPTH)
        return fail(ps, ps->p, "nesting too deep");
    unsigned char close = is_map ? '}' : ']';
    if (reserve(ps, 5))
        return -1;
    size_t pos = ps->out->size, count = 0;
    ps->out->size += 5;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
    } else {
        for (;;) {
            if (is_map) {
                skip_ws(ps);
                if (ps->p >= ps->end)
                    return fail(ps, ps->p, "unexpected end of input");
                if (*ps->p != '"')
                    return fail(ps, ps->p, "expected string key");
                if (parse_string(ps))
                    return -1;
                skip_ws(ps);
                if (ps->p >= ps->end)
                    return fail(ps, ps->p, "unexpected end of input");
                if (*ps->p != ':')
                    return fail(ps, ps->p, "expected ':'");
                ps->p++;
            }
            if (parse_value(ps, depth))
                return -1;
            count++;
            skip_ws(ps);
            if (ps->p >= ps->end)
                return fail(ps, ps->p, "unexpected end of input");
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p == close) {
                ps->p++;
                break;
            }
            return fail(ps, ps->p, is_map ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    if (count > UINT32_MAX)
        return fail(ps, ps->p, "too many members");
    shrink_header(ps->out, pos, 5, cont_hdr_len(count));
    cont_hdr((unsigned char *)ps->out->data + pos, count, is_map);
    return 0;
}

/* `depth` is the nesting level of the enclosing container (0 at top level). */
static int parse_value(parser_t *ps, int depth)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, ps->p, "unexpected end of input");
    switch (*ps->p) {
    case '{':
        return parse_container(ps, depth + 1, 1);
    case '[':
        return parse_container(ps, depth + 1, 0);
    case '"':
        return parse_string(ps);
    case 't':
        return parse_literal(ps, "true", 4, 0xc3);
    case 'f':
        return parse_literal(ps, "false", 5, 0xc2);
    case 'n':
        return parse_literal(ps, "null", 4, 0xc0);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return parse_number(ps);
    default:
        return fail(ps, ps->p, "unexpected character");
    }
}

int pl_json_to_msgpack(const char *json, size_t len, msgpack_sbuffer *out, char *err, size_t errlen)
{
    return pl_json_to_msgpack_ex(json, len, 0, out, err, errlen);
}

int pl_json_to_msgpack_ex(const char *json, size_t len, unsigned flags, msgpack_sbuffer *out,
                          char *err, size_t errlen)
{
    assert(out);
    assert(json || len == 0);
    if (!json)
        json = ""; /* keeps pointer arithmetic off NULL */
    parser_t ps = {.start = (const unsigned char *)json,
                   .p = (const unsigned char *)json,
                   .end = (const unsigned char *)json + len,
                   .out = out,
                   .err = err,
                   .errlen = errlen,
                   .flags = flags};
    if (err && errlen)
        err[0] = '\0';
    size_t mark = out->size;
    skip_ws(&ps);
    int rc;
    if (ps.p == ps.end)
        rc = fail(&ps, NULL, "empty input");
    else if ((rc = parse_value(&ps, 0)) == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            rc = fail(&ps, ps.p, "trailing characters");
    }
    if (rc)
        out->size = mark; /* stricter than promised: no partial object is left behind */
    return rc;
}

/* -------------------------------------------------------------- writing */

static int put_str(pl_buf_t *out, const char *str, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    if (n == 0) /* msgpack-c gives an empty str a NULL ptr: no arithmetic on it */
        return pl_buf_append(out, "\"\"", 2);
    const unsigned char *p = (const unsigned char *)str, *end = p + n, *run = p;
    if (pl_buf_grow(out, n + 2) || pl_buf_putc(out, '"'))
        return -1;
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0x80) {
            size_t bad, k = pl_utf8_seq(p, end, &bad);
            if (k) {
                p += k;
                continue;
            }
        }
        if (pl_buf_append(out, run, (size_t)(p - run)))
            return -1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2, skip = 1;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (c < 0x20) {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hexd[c >> 4];
                esc[5] = hexd[c & 0xF];
                elen = 6;
            } else { /* ill-formed UTF-8: one U+FFFD per maximal ill-formed prefix */
                memcpy(esc, "\xEF\xBF\xBD", 3);
                elen = 3;
                pl_utf8_seq(p, end, &skip);
            }
        }
        if (pl_buf_append(out, esc, elen))
            return -1;
        p += skip;
        run = p;
    }
    if (pl_buf_append(out, run, (size_t)(p - run)))
        return -1;
    return pl_buf_putc(out, '"');
}

static int put_u64(pl_buf_t *out, uint64_t v, int neg)
{
    char tmp[24], *e = tmp + sizeof tmp, *q = e;
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (neg)
        *--q = '-';
    return pl_buf_append(out, q, (size_t)(e - q));
}

/* Shortest of %.15g..%.17g (%.6g..%.9g for float32) that reads back equal. Starting
   at DBL_DIG (FLT_DIG) digits is enough: any shorter decimal that round-trips would be
   what %.15g prints anyway. That guarantee does not cover subnormals (5e-324 would
   come out as 4.94065645841247e-324), so those rare values search from 1 digit. */
static int put_double(pl_buf_t *out, double v, int is_f32)
{
    if (!isfinite(v))
        return pl_buf_append(out, "null", 4);
    char tmp[48];
    int sub = v != 0 && fabs(v) < (is_f32 ? FLT_MIN : DBL_MIN);
    int lo = sub ? 1 : is_f32 ? FLT_DIG : DBL_DIG, hi = is_f32 ? 9 : 17;
    for (int prec = lo; prec <= hi; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        double back = strtod(tmp, NULL);
        if (is_f32 ? (float)back == (float)v : back == v)
            break;
    }
    /* "3" would read back as an integer; keep the float type visible */
    if (!strpbrk(tmp, ".e"))
        strcat(tmp, ".0");
    return pl_buf_puts(out, tmp);
}

static int put_obj(const msgpack_object *o, pl_buf_t *out, int depth);

/* Members of map o, whose own nesting level is `depth`. */
static int put_members(const msgpack_object *o, pl_buf_t *out, int depth)
{
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR)
            return -1;
        if ((i && pl_buf_putc(out, ',')) ||
            put_str(out, kv->key.via.str.ptr, kv->key.via.str.size) || pl_buf_putc(out, ':') ||
            put_obj(&kv->val, out, depth))
            return -1;
    }
    return 0;
}

/* `depth` is the nesting level of the enclosing container (0 at top level). */
static int put_obj(const msgpack_object *o, pl_buf_t *out, int depth)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return pl_buf_append(out, "null", 4);
    case MSGPACK_OBJECT_BOOLEAN:
        return o->via.boolean ? pl_buf_append(out, "true", 4) : pl_buf_append(out, "false", 5);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return put_u64(out, o->via.u64, 0);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        if (o->via.i64 < 0)
            return put_u64(out, (uint64_t)0 - (uint64_t)o->via.i64, 1);
        return put_u64(out, (uint64_t)o->via.i64, 0);
    case MSGPACK_OBJECT_FLOAT32:
        return put_double(out, o->via.f64, 1);
    case MSGPACK_OBJECT_FLOAT64:
        return put_double(out, o->via.f64, 0);
    case MSGPACK_OBJECT_STR:
        return put_str(out, o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        if (depth >= PL_JSON_MAX_DEPTH || pl_buf_putc(out, '['))
            return -1;
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if ((i && pl_buf_putc(out, ',')) || put_obj(&o->via.array.ptr[i], out, depth + 1))
                return -1;
        return pl_buf_putc(out, ']');
    case MSGPACK_OBJECT_MAP:
        if (depth >= PL_JSON_MAX_DEPTH || pl_buf_putc(out, '{') || put_members(o, out, depth + 1))
            return -1;
        return pl_buf_putc(out, '}');
    default: /* bin, ext: JSON has no byte strings */
        return -1;
    }
}

int pl_msgpack_to_json(const msgpack_object *obj, pl_buf_t *out)
{
    assert(obj && out);
    return put_obj(obj, out, 0);
}

int pl_msgpack_map_members_to_json(const msgpack_object *obj, pl_buf_t *out)
{
    assert(out);
    if (!obj || obj->type != MSGPACK_OBJECT_MAP || obj->via.map.size > INT_MAX)
        return -1;
    if (put_members(obj, out, 1))
        return -1;
    return (int)obj->via.map.size;
}
