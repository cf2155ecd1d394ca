/*  test_json: unit tests for pl_json (JSON text <-> MessagePack, UTF-8 counting).
    The one thing to know: every JSON input goes through an exact-size heap copy with no
    NUL after it (see j2m), so under ASan any read past `len` fails the run. */
#include "pl_test.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

#include "pl_buf.h"
#include "pl_json.h"

/* ------------------------------------------------------------ helpers */

static char s_text[1 << 20]; /* result of the last helper call */

/* pl_json_to_msgpack on an exact-size, non-terminated copy of json[0..len). */
static int j2m(const char *json, size_t len, msgpack_sbuffer *sb, char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, json, len);
    int rc = pl_json_to_msgpack(copy, len, sb, err, errlen);
    free(copy);
    return rc;
}

/* MessagePack bytes -> JSON text via pl_msgpack_to_json; "ERR" if it refuses. */
static const char *m2j(const char *bytes, size_t n)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, bytes, n, &off) != MSGPACK_UNPACK_SUCCESS || off != n) {
        snprintf(s_text, sizeof s_text, "BAD MSGPACK");
    } else {
        pl_buf_t b;
        pl_buf_init(&b, 0);
        if (pl_msgpack_to_json(&u.data, &b) != 0)
            snprintf(s_text, sizeof s_text, "ERR");
        else
            snprintf(s_text, sizeof s_text, "%s", b.data ? b.data : "");
        pl_buf_free(&b);
    }
    msgpack_unpacked_destroy(&u);
    return s_text;
}

/* JSON -> MessagePack -> JSON; on a parse error returns "ERR: <reason>". */
static const char *j2j_n(const char *json, size_t len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char err[128];
    if (j2m(json, len, &sb, err, sizeof err) != 0)
        snprintf(s_text, sizeof s_text, "ERR: %s", err);
    else
        m2j(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return s_text;
}

static const char *j2j(const char *json)
{
    return j2j_n(json, strlen(json));
}

/* JSON -> MessagePack bytes as lowercase hex, or "ERR". */
static const char *j2hex(const char *json)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (j2m(json, strlen(json), &sb, NULL, 0) != 0) {
        snprintf(s_text, sizeof s_text, "ERR");
    } else {
        size_t k = 0;
        for (size_t i = 0; i < sb.size && k + 3 < sizeof s_text; i++)
            k += (size_t)snprintf(s_text + k, 3, "%02x", (unsigned char)sb.data[i]);
        s_text[k] = '\0';
    }
    msgpack_sbuffer_destroy(&sb);
    return s_text;
}

/* Parses json and keeps the object alive (it points into s_sb) until the next call. */
static msgpack_sbuffer s_sb;
static msgpack_unpacked s_up;

static const msgpack_object *parse(const char *json, size_t len)
{
    msgpack_unpacked_destroy(&s_up);
    msgpack_unpacked_init(&s_up);
    msgpack_sbuffer_clear(&s_sb);
    if (j2m(json, len, &s_sb, NULL, 0) != 0)
        return NULL;
    size_t off = 0;
    if (msgpack_unpack_next(&s_up, s_sb.data, s_sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != s_sb.size)
        return NULL;
    return &s_up.data;
}

static const msgpack_object *parse_s(const char *json)
{
    return parse(json, strlen(json));
}

static int is_str(const msgpack_object *o, const char *bytes, size_t n)
{
    /* msgpack-c gives an empty str a NULL ptr, which memcmp must not see */
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           (n == 0 || memcmp(o->via.str.ptr, bytes, n) == 0);
}

/* A string of `n` copies of `unit`, inside quotes if `quote`. Caller frees. */
static char *repeat(const char *unit, size_t n, int quote)
{
    size_t u = strlen(unit), len = u * n + (quote ? 2 : 0);
    char *s = malloc(len + 1), *p = s;
    if (!s)
        abort();
    if (quote)
        *p++ = '"';
    for (size_t i = 0; i < n; i++, p += u)
        memcpy(p, unit, u);
    if (quote)
        *p++ = '"';
    *p = '\0';
    return s;
}

/* open item,item,...,item close with n items. Caller frees. */
static char *json_list(char open, const char *item, size_t n, char close)
{
    size_t u = strlen(item);
    char *s = malloc(2 + n * (u + 1) + 1), *p = s;
    if (!s)
        abort();
    *p++ = open;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, item, u);
        p += u;
    }
    *p++ = close;
    *p = '\0';
    return s;
}

/* ------------------------------------------------------------ JSON -> MessagePack */

static void test_scalars(void)
{
    const msgpack_object *o;
    PL_CHECK((o = parse_s("null")) && o->type == MSGPACK_OBJECT_NIL);
    PL_CHECK((o = parse_s("true")) && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean);
    PL_CHECK((o = parse_s("false")) && o->type == MSGPACK_OBJECT_BOOLEAN && !o->via.boolean);
    PL_CHECK((o = parse_s("0")) && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == 0);
    PL_CHECK((o = parse_s("42")) && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == 42);
    PL_CHECK((o = parse_s("-7")) && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 == -7);
    PL_CHECK((o = parse_s("1.5")) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 1.5);
    PL_CHECK((o = parse_s("\"hi\"")) && is_str(o, "hi", 2));
    PL_CHECK((o = parse_s("\"\"")) && is_str(o, "", 0));
}

static void test_containers(void)
{
    const msgpack_object *o = parse_s("{\"a\":[1,{\"b\":null}],\"c\":{},\"d\":[]}");
    PL_CHECK(o && o->type == MSGPACK_OBJECT_MAP && o->via.map.size == 3);
    if (!o || o->type != MSGPACK_OBJECT_MAP || o->via.map.size != 3)
        return;
    const msgpack_object_kv *kv = o->via.map.ptr;
    PL_CHECK(is_str(&kv[0].key, "a", 1));
    PL_CHECK(kv[0].val.type == MSGPACK_OBJECT_ARRAY && kv[0].val.via.array.size == 2);
    const msgpack_object *inner = &kv[0].val.via.array.ptr[1];
    PL_CHECK(inner->type == MSGPACK_OBJECT_MAP && inner->via.map.size == 1 &&
             is_str(&inner->via.map.ptr[0].key, "b", 1) &&
             inner->via.map.ptr[0].val.type == MSGPACK_OBJECT_NIL);
    PL_CHECK(kv[1].val.type == MSGPACK_OBJECT_MAP && kv[1].val.via.map.size == 0);
    PL_CHECK(kv[2].val.type == MSGPACK_OBJECT_ARRAY && kv[2].val.via.array.size == 0);
    /* duplicate keys pass through unchanged, in order */
    PL_CHECK_STR(j2j("{\"a\":1,\"a\":2}"), "{\"a\":1,\"a\":2}");
}

/* The output is canonical MessagePack: the smallest header for every value. */
static void test_canonical_bytes(void)
{
    static const struct {
        const char *json, *hex;
    } t[] = {
        {"null", "c0"},
        {"true", "c3"},
        {"false", "c2"},
        {"0", "00"},
        {"-0", "00"},
        {"127", "7f"},
        {"128", "cc80"},
        {"255", "ccff"},
        {"256", "cd0100"},
        {"65535", "cdffff"},
        {"65536", "ce00010000"},
        {"4294967295", "ceffffffff"},
        {"4294967296", "cf0000000100000000"},
        {"18446744073709551615", "cfffffffffffffffff"},
        {"-1", "ff"},
        {"-32", "e0"},
        {"-33", "d0df"},
        {"-128", "d080"},
        {"-129", "d1ff7f"},
        {"-32768", "d18000"},
        {"-32769", "d2ffff7fff"},
        {"-2147483648", "d280000000"},
        {"-2147483649", "d3ffffffff7fffffff"},
        {"-9223372036854775808", "d38000000000000000"},
        {"1.5", "cb3ff8000000000000"},
        {"-0.0", "cb8000000000000000"},
        {"[]", "90"},
        {"{}", "80"},
        {"\"\"", "a0"},
        {"\"a\"", "a161"},
        {"[1,[2]]", "92019102"},
        {"{\"a\":[]}", "81a16190"},
        {" [ true , null ] ", "92c3c0"},
        {"[[[[]]]]", "91919190"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        PL_CHECK_STR(j2hex(t[i].json), t[i].hex);
}

/* Header sizes at every boundary, for raw strings, escaped strings (whose placeholder
   header shrinks) and containers. */
static void test_header_sizes(void)
{
    static const struct {
        size_t n;
        const char *prefix;
    } strs[] = {{31, "bf"},      {32, "d920"},      {255, "d9ff"},
                {256, "da0100"}, {65535, "daffff"}, {65536, "db00010000"}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        char *raw = repeat("x", strs[i].n, 1);
        const char *hex = j2hex(raw);
        size_t pl = strlen(strs[i].prefix);
        PL_CHECK(strncmp(hex, strs[i].prefix, pl) == 0 && strlen(hex) == pl + 2 * strs[i].n);
        free(raw);
        /* "\n" escapes: the raw span is twice the decoded length */
        char *esc = repeat("\\n", strs[i].n, 1);
        hex = j2hex(esc);
        PL_CHECK(strncmp(hex, strs[i].prefix, pl) == 0 && strlen(hex) == pl + 2 * strs[i].n);
        free(esc);
    }
    /* 50 x "\u00e9": span 300 (str16 placeholder) decodes to 100 bytes (str8) */
    char *e = repeat("\\u00e9", 50, 1);
    const msgpack_object *o = parse_s(e);
    PL_CHECK(o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == 100 &&
             memcmp(o->via.str.ptr, "\xc3\xa9\xc3\xa9", 4) == 0);
    PL_CHECK(s_sb.size == 102 && (unsigned char)s_sb.data[0] == 0xd9);
    free(e);

    static const struct {
        size_t n;
        const char *arr, *map;
    } conts[] = {{15, "9f", "8f"},
                 {16, "dc0010", "de0010"},
                 {65535, "dcffff", "deffff"},
                 {65536, "dd00010000", "df00010000"}};
    for (size_t i = 0; i < sizeof conts / sizeof conts[0]; i++) {
        size_t n = conts[i].n;
        char *arr = json_list('[', "0", n, ']');
        const char *hex = j2hex(arr);
        size_t pl = strlen(conts[i].arr);
        PL_CHECK(strncmp(hex, conts[i].arr, pl) == 0 && strlen(hex) == pl + 2 * n);
        free(arr);
        /* n members "k":0, each a1 6b 00 (duplicate keys are fine for this purpose) */
        char *map = json_list('{', "\"k\":0", n, '}');
        hex = j2hex(map);
        pl = strlen(conts[i].map);
        PL_CHECK(strncmp(hex, conts[i].map, pl) == 0 && strlen(hex) == pl + 6 * n);
        free(map);
    }
}

static void test_big_numbers(void)
{
    const msgpack_object *o;
    PL_CHECK((o = parse_s("-9223372036854775808")) && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER &&
             o->via.i64 == INT64_MIN);
    PL_CHECK((o = parse_s("9223372036854775807")) && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
             o->via.u64 == INT64_MAX);
    PL_CHECK((o = parse_s("18446744073709551615")) && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
             o->via.u64 == UINT64_MAX);
    /* one past either end of the integer range becomes a float64 */
    PL_CHECK((o = parse_s("18446744073709551616")) && o->type == MSGPACK_OBJECT_FLOAT64 &&
             o->via.f64 == 18446744073709551616.0);
    PL_CHECK((o = parse_s("-9223372036854775809")) && o->type == MSGPACK_OBJECT_FLOAT64 &&
             o->via.f64 == -9223372036854775808.0);
    PL_CHECK((o = parse_s("123456789012345678901234567890")) && o->type == MSGPACK_OBJECT_FLOAT64 &&
             o->via.f64 == 1.2345678901234568e29);
    /* fraction or exponent always means float, even when integral */
    PL_CHECK((o = parse_s("1.0")) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 1.0);
    PL_CHECK((o = parse_s("1e2")) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 100.0);
    PL_CHECK((o = parse_s("1E+2")) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 100.0);
    PL_CHECK((o = parse_s("25e-2")) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 0.25);
    PL_CHECK((o = parse_s("0.1")) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 0.1);
    PL_CHECK((o = parse_s("-0.0")) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 0.0 &&
             signbit(o->via.f64));
    /* overflow is rejected; underflow rounds to zero */
    char err[128];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    PL_CHECK(j2m("1e400", 5, &sb, err, sizeof err) == -1 && strstr(err, "out of range"));
    PL_CHECK(j2m("-1e400", 6, &sb, err, sizeof err) == -1 && strstr(err, "out of range"));
    PL_CHECK(j2m("[1.7976931348623159e308]", 24, &sb, err, sizeof err) == -1);
    PL_CHECK(sb.size == 0);
    msgpack_sbuffer_destroy(&sb);
    PL_CHECK((o = parse_s("1e-400")) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 0.0);
    PL_CHECK((o = parse_s("1.7976931348623157e308")) && o->via.f64 == DBL_MAX);
    /* a number longer than the parser's stack copy */
    char *longnum = repeat("0", 300, 0);
    longnum[0] = '1';
    PL_CHECK((o = parse_s(longnum)) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 1e299);
    memcpy(longnum, "0.", 2);
    longnum[299] = '5';
    PL_CHECK((o = parse_s(longnum)) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 5e-298);
    free(longnum);
}

/* The input is not NUL-terminated: a value ends at len even if digits follow in memory. */
static void test_length_bounded(void)
{
    const msgpack_object *o;
    PL_CHECK((o = parse("12345", 3)) && o->via.u64 == 123);
    PL_CHECK((o = parse("1.5e7", 3)) && o->type == MSGPACK_OBJECT_FLOAT64 && o->via.f64 == 1.5);
    PL_CHECK((o = parse("[1]]]", 3)) && o->type == MSGPACK_OBJECT_ARRAY);
    PL_CHECK(parse("-12", 1) == NULL);
    PL_CHECK(parse("true", 3) == NULL);
    PL_CHECK(parse("\"ab\"", 3) == NULL);
    /* embedded NUL: outside a string it is garbage, "\u0000" inside one is data */
    PL_CHECK(parse("1\0", 2) == NULL);
    PL_CHECK((o = parse_s("\"a\\u0000b\"")) && is_str(o, "a\0b", 3));
    /* NULL with length 0 is simply empty input */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    PL_CHECK(pl_json_to_msgpack(NULL, 0, &sb, NULL, 0) == -1);
    msgpack_sbuffer_destroy(&sb);
}

static void test_unicode(void)
{
    const msgpack_object *o;
    PL_CHECK((o = parse_s("\"\\u0041\\u00e9\\u20AC\"")) && is_str(o, "A\xc3\xa9\xe2\x82\xac", 6));
    PL_CHECK((o = parse_s("\"\\ud83d\\ude00\"")) && is_str(o, "\xf0\x9f\x98\x80", 4));
    PL_CHECK((o = parse_s("\"\\uD834\\uDD1E!\"")) && is_str(o, "\xf0\x9d\x84\x9e!", 5));
    PL_CHECK((o = parse_s("\"\\udbff\\udfff\"")) && is_str(o, "\xf4\x8f\xbf\xbf", 4));
    PL_CHECK((o = parse_s("\"\\uffff\\u0800\\u07ff\\u0080\"")) &&
             is_str(o, "\xef\xbf\xbf\xe0\xa0\x80\xdf\xbf\xc2\x80", 10));
    /* raw multi-byte UTF-8 is copied unchanged, at every range boundary */
    static const char *raw[] = {
        "\xc2\x80",         "\xdf\xbf",         "\xe0\xa0\x80",
        "\xed\x9f\xbf",     "\xee\x80\x80",     "\xef\xbf\xbf",
        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80",
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        char q[64];
        snprintf(q, sizeof q, "\"%s\"", raw[i]);
        PL_CHECK((o = parse_s(q)) && is_str(o, raw[i], strlen(raw[i])));
    }
    static const struct {
        const char *in, *want;
    } esc[] = {
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"},
        {"\"a\\nb\"", "a\nb"},
        {"\"\\u0022\\u005c\"", "\"\\"},
        {"\"\\u00E9t\\u00e9\"", "\xc3\xa9t\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof esc / sizeof esc[0]; i++)
        PL_CHECK((o = parse_s(esc[i].in)) && is_str(o, esc[i].want, strlen(esc[i].want)));
}

/* ------------------------------------------------------------ invalid JSON */

static void test_invalid(void)
{
    static const struct {
        const char *json;
        size_t len; /* 0: strlen */
        const char *why;
    } t[] = {
        /* empty */
        {"", 0, "empty input"},
        {" \t\r\n ", 0, "empty input"},
        /* truncated */
        {"[", 0, "unexpected end"},
        {"[1", 0, "unexpected end"},
        {"[1,", 0, "unexpected end"},
        {"{", 0, "unexpected end"},
        {"{\"a\"", 0, "unexpected end"},
        {"{\"a\":", 0, "unexpected end"},
        {"{\"a\":1", 0, "unexpected end"},
        {"\"abc", 0, "unterminated string"},
        {"\"abc\\", 0, "unterminated string"},
        {"\"\\u12", 0, "unterminated string"},
        {"tru", 0, "invalid literal"},
        {"nul", 0, "invalid literal"},
        {"f", 0, "invalid literal"},
        /* bad escapes */
        {"\"\\x41\"", 0, "invalid escape"},
        {"\"\\a\"", 0, "invalid escape"},
        {"\"\\'\"", 0, "invalid escape"},
        {"\"\\0\"", 0, "invalid escape"},
        {"\"\\U0041\"", 0, "invalid escape"},
        {"\"\\\xc3\xa9\"", 0, "invalid escape"},
        {"\"\\u12\"", 0, "invalid \\u escape"},
        {"\"\\u00G1\"", 0, "invalid \\u escape"},
        {"\"\\u-123\"", 0, "invalid \\u escape"},
        /* lone or misordered surrogates */
        {"\"\\ud800\"", 0, "lone surrogate"},
        {"\"\\udbff\"", 0, "lone surrogate"},
        {"\"\\udc00\"", 0, "lone surrogate"},
        {"\"\\udfff\"", 0, "lone surrogate"},
        {"\"\\ud800x\"", 0, "lone surrogate"},
        {"\"\\ud800\\u0041\"", 0, "lone surrogate"},
        {"\"\\ud83d\\ud83d\"", 0, "lone surrogate"},
        {"\"\\ude00\\ud83d\"", 0, "lone surrogate"},
        {"\"\\ud83d\\ude0\"", 0, "lone surrogate"},
        /* invalid UTF-8 inside strings */
        {"\"\xc3\"", 0, "invalid UTF-8"},
        {"\"\xc0\x80\"", 0, "invalid UTF-8"},
        {"\"\xc1\xbf\"", 0, "invalid UTF-8"},
        {"\"\xe0\x80\xaf\"", 0, "invalid UTF-8"},
        {"\"\xe0\x9f\xbf\"", 0, "invalid UTF-8"},
        {"\"\xf0\x80\x80\xaf\"", 0, "invalid UTF-8"},
        {"\"\xf0\x8f\xbf\xbf\"", 0, "invalid UTF-8"},
        {"\"\xed\xa0\x80\"", 0, "invalid UTF-8"},
        {"\"\xed\xbf\xbf\"", 0, "invalid UTF-8"},
        {"\"\xf4\x90\x80\x80\"", 0, "invalid UTF-8"},
        {"\"\xf5\x80\x80\x80\"", 0, "invalid UTF-8"},
        {"\"\xf8\x88\x80\x80\x80\"", 0, "invalid UTF-8"},
        {"\"\xfe\"", 0, "invalid UTF-8"},
        {"\"\xff\"", 0, "invalid UTF-8"},
        {"\"\x80\"", 0, "invalid UTF-8"},
        {"\"\xbf\"", 0, "invalid UTF-8"},
        {"\"\xe2\x82\"", 0, "invalid UTF-8"},
        {"\"\xf0\x9f\x98\"", 0, "invalid UTF-8"},
        {"\"\xe2\x82", 0, "invalid UTF-8"},
        {"\"\xc3\xa9\xe2\"", 0, "invalid UTF-8"},
        /* unescaped control characters */
        {"\"a\nb\"", 0, "control character"},
        {"\"\t\"", 0, "control character"},
        {"\"\x00\"", 3, "control character"},
        {"\"\x1f\"", 0, "control character"},
        {"{\"k\x01\":1}", 0, "control character"},
        /* structure */
        {"[1,]", 0, "unexpected character"},
        {"[,1]", 0, "unexpected character"},
        {"[1,,2]", 0, "unexpected character"},
        {"{\"a\":1,}", 0, "expected string key"},
        {"{,}", 0, "expected string key"},
        {"[1 2]", 0, "expected ',' or ']'"},
        {"[1}", 0, "expected ',' or ']'"},
        {"{\"a\":1]", 0, "expected ',' or '}'"},
        {"{\"a\":1 \"b\":2}", 0, "expected ',' or '}'"},
        {"{\"a\" 1}", 0, "expected ':'"},
        {"{\"a\"=1}", 0, "expected ':'"},
        {"{\"a\":}", 0, "unexpected character"},
        {"{a:1}", 0, "expected string key"},
        {"{1:2}", 0, "expected string key"},
        {"{null:2}", 0, "expected string key"},
        {"]", 0, "unexpected character"},
        {"}", 0, "unexpected character"},
        {":", 0, "unexpected character"},
        /* single quotes */
        {"'abc'", 0, "unexpected character"},
        {"{'a':1}", 0, "expected string key"},
        {"[\"a\",'b']", 0, "unexpected character"},
        /* comments */
        {"// c\n1", 0, "unexpected character"},
        {"/* c */ 1", 0, "unexpected character"},
        {"[1 /* c */]", 0, "expected ',' or ']'"},
        {"1 # c", 0, "trailing characters"},
        {"1 // c", 0, "trailing characters"},
        /* garbage after the value */
        {"[1]]", 0, "trailing characters"},
        {"{}}", 0, "trailing characters"},
        {"[1] x", 0, "trailing characters"},
        {"1 2", 0, "trailing characters"},
        {"\"a\"\"b\"", 0, "trailing characters"},
        {"truex", 0, "trailing characters"},
        {"nulll", 0, "trailing characters"},
        {"[1]\0", 4, "trailing characters"},
        {"{}, {}", 0, "trailing characters"},
        /* numbers */
        {"01", 0, "leading zero"},
        {"-01", 0, "leading zero"},
        {"00", 0, "leading zero"},
        {"[007]", 0, "leading zero"},
        {"+1", 0, "unexpected character"},
        {".5", 0, "unexpected character"},
        {"-.5", 0, "invalid number"},
        {"1.", 0, "invalid number"},
        {"1.e5", 0, "invalid number"},
        {"1e", 0, "invalid number"},
        {"1e+", 0, "invalid number"},
        {"1E-x", 0, "invalid number"},
        {"-", 0, "invalid number"},
        {"--1", 0, "invalid number"},
        {"- 1", 0, "invalid number"},
        {"0x10", 0, "trailing characters"},
        {"1_000", 0, "trailing characters"},
        {"1.5.2", 0, "trailing characters"},
        {"NaN", 0, "unexpected character"},
        {"-NaN", 0, "invalid number"},
        {"Infinity", 0, "unexpected character"},
        {"-Infinity", 0, "invalid number"},
        {"1e400", 0, "out of range"},
        {"[-1e400]", 0, "out of range"},
        {"1.5e99999999999999999999", 0, "out of range"},
        /* literals are lowercase and exact */
        {"True", 0, "unexpected character"},
        {"NULL", 0, "unexpected character"},
        {"nil", 0, "invalid literal"},
        {"undefined", 0, "unexpected character"},
        {"fals", 0, "invalid literal"},
        /* only JSON's four whitespace characters, no BOM */
        {"\xef\xbb\xbf{}", 0, "unexpected character"},
        {"\v1", 0, "unexpected character"},
        {"\f1", 0, "unexpected character"},
        {"\xc2\xa0"
         "1",
         0, "unexpected character"},
        {"\0", 1, "unexpected character"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t len = t[i].len ? t[i].len : strlen(t[i].json);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        char err[128] = "untouched";
        int rc = j2m(t[i].json, len, &sb, err, sizeof err);
        int ok = rc == -1 && strncmp(err, "invalid JSON", 12) == 0 && strstr(err, t[i].why) &&
                 sb.size == 0;
        if (!ok)
            fprintf(stderr, "  case %zu: rc %d err \"%s\", want \"%s\"\n", i, rc, err, t[i].why);
        PL_CHECK(ok);
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_error_messages(void)
{
    static const struct {
        const char *json, *want;
    } t[] = {
        {"[1,]", "ERR: invalid JSON at byte 3: unexpected character"},
        {"", "ERR: invalid JSON: empty input"},
        {"{\"a\":01}", "ERR: invalid JSON at byte 6: invalid number (leading zero)"},
        {"\"ab\\q\"", "ERR: invalid JSON at byte 3: invalid escape"},
        {"[1] x", "ERR: invalid JSON at byte 4: trailing characters"},
        {"[\"ok\", \"\xff\"]", "ERR: invalid JSON at byte 8: invalid UTF-8"},
        {"[1", "ERR: invalid JSON at byte 2: unexpected end of input"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        PL_CHECK_STR(j2j(t[i].json), t[i].want);
    /* the reason never echoes client content */
    const char *r = j2j("{\"password\":\"hunter2\" x}");
    PL_CHECK(strncmp(r, "ERR: ", 5) == 0 && !strstr(r, "hunter2") && !strstr(r, "password"));
    /* a short error buffer is truncated, not overrun; no buffer at all is fine */
    char small[8];
    memset(small, 'Z', sizeof small);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    PL_CHECK(j2m("[1,]", 4, &sb, small, sizeof small) == -1 && strlen(small) == 7);
    PL_CHECK(j2m("[1,]", 4, &sb, NULL, 0) == -1);
    PL_CHECK(j2m("[1,]", 4, &sb, small, 0) == -1 && small[0] == 'i');
    /* success clears a stale message */
    PL_CHECK(j2m("[1]", 3, &sb, small, sizeof small) == 0 && small[0] == '\0');
    msgpack_sbuffer_destroy(&sb);
}

/* Appends to what is already in the buffer; a failed call leaves it as it was. */
static void test_append(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_write(&sb, "\x01", 1);
    PL_CHECK(j2m("[2]", 3, &sb, NULL, 0) == 0);
    PL_CHECK(j2m("{\"a\":[1,2,", 10, &sb, NULL, 0) == -1);
    PL_CHECK(j2m("\"x\"", 3, &sb, NULL, 0) == 0);
    PL_CHECK(sb.size == 5 && memcmp(sb.data, "\x01\x91\x02\xa1x", 5) == 0);
    msgpack_sbuffer_destroy(&sb);
}

static void test_depth(void)
{
    char *buf = malloc(4 * 200 + 16);
    for (int n = 31; n <= 34; n++) {
        /* n nested arrays */
        size_t k = 0;
        for (int i = 0; i < n; i++)
            buf[k++] = '[';
        for (int i = 0; i < n; i++)
            buf[k++] = ']';
        buf[k] = '\0';
        const char *r = j2j(buf);
        if (n <= PL_JSON_MAX_DEPTH)
            PL_CHECK_STR(r, buf); /* and the writer accepts what the parser accepted */
        else if (n == PL_JSON_MAX_DEPTH + 1)
            PL_CHECK_STR(r, "ERR: invalid JSON at byte 32: nesting too deep");
        else
            PL_CHECK(strstr(r, "nesting too deep") != NULL);
        /* n nested objects {"a":{"a":...{}}} */
        k = 0;
        for (int i = 0; i < n - 1; i++) {
            memcpy(buf + k, "{\"a\":", 5);
            k += 5;
        }
        buf[k++] = '{';
        for (int i = 0; i < n; i++)
            buf[k++] = '}';
        buf[k] = '\0';
        r = j2j(buf);
        if (n <= PL_JSON_MAX_DEPTH)
            PL_CHECK_STR(r, buf);
        else
            PL_CHECK(strstr(r, "nesting too deep") != NULL);
    }
    free(buf);
    /* a hostile 1 MB of '[' fails at the limit rather than exhausting the stack */
    size_t big = 1 << 20;
    char *deep = malloc(big);
    memset(deep, '[', big);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    PL_CHECK(pl_json_to_msgpack(deep, big, &sb, NULL, 0) == -1 && sb.size == 0);
    msgpack_sbuffer_destroy(&sb);
    free(deep);
}

/* ------------------------------------------------------------ round trips */

static void test_roundtrip_identity(void)
{
    static const char *docs[] = {
        "null",
        "true",
        "false",
        "0",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "1.5",
        "-0.25",
        "0.1",
        "3.0",
        "-0.0",
        "1e+20",
        "1.0000000000000002",
        "0.30000000000000004",
        "123456789.123",
        "1.7976931348623157e+308",
        "5e-324",
        "2.2250738585072014e-308",
        "\"\"",
        "\"hello\"",
        "\"\\\"\\\\\\b\\f\\n\\r\\t\"",
        "\"\\u0000\\u0001\\u001f\"",
        "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"",
        "\"\x7f/</script>\"",
        "[]",
        "{}",
        "[[],{}]",
        "{\"\":\"\"}",
        "[1,\"a\",null,true,false,1.5,{\"k\":[]}]",
        "{\"a\":{\"b\":{\"c\":[1,2,3]}},\"d\":\"e\"}",
        "{\"type\":\"chat.send\",\"id\":\"c1\",\"room\":\"r42\",\"text\":\"hi \\\"there\\\"\"}",
        "[-128,-129,255,256,65536,-2147483649,4294967296]",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        PL_CHECK_STR(j2j(docs[i]), docs[i]);
}

static void test_roundtrip_normalised(void)
{
    static const struct {
        const char *in, *out;
    } t[] = {
        {" [ 1 ,\n\t2 ]\r\n", "[1,2]"},
        {"{ \"a\" : 1 }", "{\"a\":1}"},
        {"1E2", "100.0"},
        {"1.50", "1.5"},
        {"0e0", "0.0"},
        {"0.1e1", "1.0"},
        {"-0", "0"},
        {"1e-400", "0.0"},
        {"100000000000000000000000000000", "1e+29"},
        {"18446744073709551616", "1.8446744073709552e+19"},
        {"\"\\/\"", "\"/\""},
        {"\"\\u0041\"", "\"A\""},
        {"\"\\u00e9\"", "\"\xc3\xa9\""},
        {"\"\\u20AC\"", "\"\xe2\x82\xac\""},
        {"\"\\uD83D\\uDE00\"", "\"\xf0\x9f\x98\x80\""},
        {"\"\\uFFFF\"", "\"\xef\xbf\xbf\""},
        {"\"\\u007f\"", "\"\x7f\""},
        {"\"\\u0008\\u000C\"", "\"\\b\\f\""},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        PL_CHECK_STR(j2j(t[i].in), t[i].out);
    /* whatever digits are chosen, a written float reads back as the same double */
    static const double vals[] = {1.0 / 3,       2.0 / 3,           3.141592653589793, 1e-7,
                                  6.02214076e23, DBL_MAX,           DBL_MIN,           5e-324,
                                  -1.0 / 7,      9007199254740993.0};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_double(&pk, vals[i]);
        const char *txt = m2j(sb.data, sb.size);
        PL_CHECK(strtod(txt, NULL) == vals[i] && strlen(txt) <= 24);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* ------------------------------------------------------------ MessagePack -> JSON */

static void test_msgpack_types(void)
{
    static const struct {
        const char *bytes;
        size_t n;
        const char *json;
    } t[] = {
        {"\xc0", 1, "null"},
        {"\xc3", 1, "true"},
        {"\xc2", 1, "false"},
        {"\x00", 1, "0"},
        {"\x7f", 1, "127"},
        {"\xcc\xff", 2, "255"},
        {"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9, "18446744073709551615"},
        {"\xff", 1, "-1"},
        {"\xd0\x80", 2, "-128"},
        {"\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9, "-9223372036854775808"},
        {"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", 9, "1.5"},
        {"\xcb\x40\x08\x00\x00\x00\x00\x00\x00", 9, "3.0"},
        {"\xcb\x80\x00\x00\x00\x00\x00\x00\x00", 9, "-0.0"},
        {"\xcb\x44\x2b\x1a\xe4\xd6\xe2\xef\x50", 9, "2.5e+20"},
        {"\xca\x3f\xc0\x00\x00", 5, "1.5"},
        {"\xca\x3d\xcc\xcc\xcd", 5, "0.1"}, /* float32 0.1f prints as 0.1 */
        {"\xca\x40\x40\x00\x00", 5, "3.0"},
        {"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 9, "null"}, /* NaN */
        {"\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00", 9, "null"}, /* +inf */
        {"\xcb\xff\xf0\x00\x00\x00\x00\x00\x00", 9, "null"}, /* -inf */
        {"\xca\x7f\xc0\x00\x00", 5, "null"},                 /* float32 NaN */
        {"\x92\x01\xa1\x61", 4, "[1,\"a\"]"},
        {"\x90", 1, "[]"},
        {"\x80", 1, "{}"},
        {"\x81\xa1\x61\xc0", 4, "{\"a\":null}"},
        {"\x91\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 10, "[null]"},
        {"\xd9\x01x", 3, "\"x\""}, /* str8 with a short payload is fine */
        /* not representable */
        {"\xc4\x01\x00", 3, "ERR"},          /* bin8 */
        {"\xc4\x00", 2, "ERR"},              /* empty bin */
        {"\x91\xc4\x00", 3, "ERR"},          /* bin inside an array */
        {"\x81\xa1\x61\xc4\x00", 5, "ERR"},  /* bin as a map value */
        {"\xd4\x01\x00", 3, "ERR"},          /* fixext1 */
        {"\xc7\x00\x05", 3, "ERR"},          /* empty ext8 */
        {"\x81\x01\x02", 3, "ERR"},          /* int key */
        {"\x81\xc0\x01", 3, "ERR"},          /* nil key */
        {"\x81\x91\x01\x01", 4, "ERR"},      /* array key */
        {"\x81\xc4\x01k\x01", 5, "ERR"},     /* bin key */
        {"\x82\xa1k\x01\x02\x03", 6, "ERR"}, /* second key bad */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        PL_CHECK_STR(m2j(t[i].bytes, t[i].n), t[i].json);
}

static void test_string_escaping(void)
{
    static const struct {
        const char *raw;
        size_t n;
        const char *json;
    } t[] = {
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\""},
        {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"\x7f/", 2, "\"\x7f/\""},
        {"\xc3\xa9\xf0\x9f\x98\x80", 6, "\"\xc3\xa9\xf0\x9f\x98\x80\""},
        /* ill-formed UTF-8 -> U+FFFD, one per maximal ill-formed prefix */
        {"\xff", 1, "\"\xef\xbf\xbd\""},
        {"a\xc3", 2, "\"a\xef\xbf\xbd\""},
        {"\xe2\x82x", 3, "\"\xef\xbf\xbdx\""},
        {"\xc0\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},
        {"\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
        {"\xf0\x9f\x98", 3, "\"\xef\xbf\xbd\""},
        {"\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
        {"ok\x80\"", 4, "\"ok\xef\xbf\xbd\\\"\""},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_str(&pk, t[i].n);
        msgpack_pack_str_body(&pk, t[i].raw, t[i].n);
        const char *got = m2j(sb.data, sb.size);
        PL_CHECK_STR(got, t[i].json);
        /* the output is always valid UTF-8 and valid JSON */
        PL_CHECK(pl_utf8_count(got, strlen(got)) >= 0);
        PL_CHECK(strncmp(j2j(got), "ERR", 3) != 0);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* Built by hand: msgpack-c's own unpacker stops at 32 levels, so it cannot make the
   deeper objects this needs. */
static void test_output_depth(void)
{
    msgpack_object objs[40], key = {.type = MSGPACK_OBJECT_STR};
    msgpack_object_kv kvs[40];
    key.via.str.ptr = "a";
    key.via.str.size = 1;
    for (int n = 31; n <= 34; n++) {
        /* n nested one-element arrays around nil */
        for (int i = 0; i < n; i++) {
            objs[i].type = MSGPACK_OBJECT_ARRAY;
            objs[i].via.array.size = 1;
            objs[i].via.array.ptr = &objs[i + 1];
        }
        objs[n].type = MSGPACK_OBJECT_NIL;
        pl_buf_t b;
        pl_buf_init(&b, 0);
        int rc = pl_msgpack_to_json(&objs[0], &b);
        PL_CHECK(n <= PL_JSON_MAX_DEPTH ? rc == 0 && b.len == 2 * (size_t)n + 4 : rc == -1);
        pl_buf_free(&b);
        /* n nested maps {"a":{"a":...null}} */
        for (int i = 0; i < n; i++) {
            objs[i].type = MSGPACK_OBJECT_MAP;
            objs[i].via.map.size = 1;
            objs[i].via.map.ptr = &kvs[i];
            kvs[i].key = key;
        }
        for (int i = n - 1; i >= 0; i--) /* kv holds values by copy: fill inside out */
            kvs[i].val = objs[i + 1];
        pl_buf_init(&b, 0);
        rc = pl_msgpack_to_json(&objs[0], &b);
        PL_CHECK(n <= PL_JSON_MAX_DEPTH ? rc == 0 && b.len == 6 * (size_t)n + 4 : rc == -1);
        pl_buf_free(&b);
        /* spliced members sit inside their map: same limit as the whole map */
        pl_buf_init(&b, 0);
        rc = pl_msgpack_map_members_to_json(&objs[0], &b);
        PL_CHECK(n <= PL_JSON_MAX_DEPTH ? rc == 1 && b.len == 6 * (size_t)n + 2 : rc == -1);
        pl_buf_free(&b);
    }
}

static void test_map_members(void)
{
    static const struct {
        const char *bytes;
        size_t n;
        int rc;
        const char *json;
    } t[] = {
        {"\x82\xa1\x61\x01\xa1\x62\xa1x", 8, 2, "<\"a\":1,\"b\":\"x\""},
        {"\x81\xa2id\xa2\x63\x31", 7, 1, "<\"id\":\"c1\""},
        {"\x80", 1, 0, "<"},
        {"\x81\xa1\x61\x92\x01\x80", 6, 1, "<\"a\":[1,{}]"},
        {"\x91\x01", 2, -1, NULL},             /* not a map */
        {"\xa1x", 2, -1, NULL},                /* not a map */
        {"\x81\x01\x01", 3, -1, NULL},         /* int key */
        {"\x81\xa1\x61\xc4\x00", 5, -1, NULL}, /* bin value */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        PL_CHECK(msgpack_unpack_next(&u, t[i].bytes, t[i].n, &off) == MSGPACK_UNPACK_SUCCESS);
        pl_buf_t b;
        pl_buf_init(&b, 16);  /* headroom as the gateway uses it (LWS_PRE) */
        pl_buf_putc(&b, '<'); /* members are appended after existing content */
        int rc = pl_msgpack_map_members_to_json(&u.data, &b);
        PL_CHECK(rc == t[i].rc);
        if (t[i].json)
            PL_CHECK_STR(b.data, t[i].json);
        pl_buf_free(&b);
        msgpack_unpacked_destroy(&u);
    }
    pl_buf_t b;
    pl_buf_init(&b, 0);
    PL_CHECK(pl_msgpack_map_members_to_json(NULL, &b) == -1);
    /* splicing into an event: {"type":"x", <members>} */
    const msgpack_object *o = parse_s("{\"id\":\"c7\",\"n\":-3}");
    pl_buf_puts(&b, "{\"type\":\"x\",");
    PL_CHECK(o && pl_msgpack_map_members_to_json(o, &b) == 2);
    pl_buf_putc(&b, '}');
    PL_CHECK_STR(b.data, "{\"type\":\"x\",\"id\":\"c7\",\"n\":-3}");
    pl_buf_free(&b);
}

static void test_utf8_count(void)
{
    static const struct {
        const char *s;
        size_t n; /* 0: strlen */
        long want;
    } t[] = {
        {"", 0, 0},
        {"abc", 0, 3},
        {"\xc3\xa9", 0, 1},
        {"\xe2\x82\xac", 0, 1},
        {"\xf0\x9f\x98\x80", 0, 1},
        {"h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80!", 0, 9},
        {"a\0b", 3, 3},
        {"\xf4\x8f\xbf\xbf", 0, 1},
        {"\xef\xbf\xbf", 0, 1},
        {"\xc0\x80", 0, -1},
        {"\xc1\xbf", 0, -1},
        {"\xe0\x80\x80", 0, -1},
        {"\xed\xa0\x80", 0, -1},
        {"\xf0\x8f\xbf\xbf", 0, -1},
        {"\xf4\x90\x80\x80", 0, -1},
        {"\xf5\x80\x80\x80", 0, -1},
        {"\xe2\x82", 0, -1},
        {"ab\xf0\x9f\x98", 0, -1},
        {"\x80", 0, -1},
        {"\xff", 0, -1},
        {"ok\xc3", 0, -1},
        {"\xc3\xa9", 1, -1}, /* the length, not a NUL, ends the text */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t n = t[i].n ? t[i].n : strlen(t[i].s);
        long got = pl_utf8_count(t[i].s, n);
        if (got != t[i].want)
            fprintf(stderr, "  case %zu: got %ld want %ld\n", i, got, t[i].want);
        PL_CHECK(got == t[i].want);
    }
    PL_CHECK(pl_utf8_count(NULL, 0) == 0);
}

/* Mutated documents never crash the parser, and whatever it accepts is a fixed point:
   JSON -> MessagePack -> JSON -> MessagePack gives the same bytes. */
static void test_mutations(void)
{
    static const char *seeds[] = {
        "{\"type\":\"chat.send\",\"id\":\"c1\",\"text\":\"h\xc3\xa9 \\ud83d\\ude00\\n\"}",
        "[1,-2,3.5e-3,18446744073709551615,true,false,null,{\"a\":[[]]}]",
        "{\"k\":\"\\u00e9\\\"\\\\\",\"n\":-0.0,\"m\":{\"x\":1e10}}",
    };
    uint32_t seed = 12345;
    int accepted = 0, stable = 0;
    for (int iter = 0; iter < 3000; iter++) {
        char buf[256];
        const char *src = seeds[iter % 3];
        size_t len = strlen(src);
        memcpy(buf, src, len);
        for (int m = 0; m < 1 + iter % 3; m++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            unsigned char v = (unsigned char)(seed >> 20);
            switch ((seed >> 16) % 3) {
            case 0:
                buf[at] = (char)v;
                break; /* replace */
            case 1:
                len = at ? at : 1;
                break; /* truncate */
            default:
                buf[at] = "[]{}\",:\\u0e-."[v % 13];
                break; /* JSON-ish byte */
            }
        }
        msgpack_sbuffer a, b;
        msgpack_sbuffer_init(&a);
        msgpack_sbuffer_init(&b);
        if (j2m(buf, len, &a, NULL, 0) == 0) {
            accepted++;
            const char *txt = m2j(a.data, a.size);
            if (j2m(txt, strlen(txt), &b, NULL, 0) == 0 && a.size == b.size &&
                memcmp(a.data, b.data, a.size) == 0)
                stable++;
        } else {
            PL_CHECK(a.size == 0);
        }
        msgpack_sbuffer_destroy(&a);
        msgpack_sbuffer_destroy(&b);
    }
    PL_CHECK(accepted > 50); /* the mutator does leave some documents valid */
    PL_CHECK(stable == accepted);
}

/* PL_JSON_RAW_TEXT: a string's bytes are kept as sent, even ill-formed; the syntax is
   still checked. `want` is the str's bytes, or NULL for a refusal. */
static void test_raw_text(void)
{
    static const struct {
        const char *json, *want;
        size_t want_len;
    } t[] = {
        {"\"a\xff" "b\"", "a\xff" "b", 3},
        {"\"\xc0\x80\"", "\xc0\x80", 2},
        {"\"\xe2\x82\"", "\xe2\x82", 2},             /* truncated: stops at the quote */
        {"\"\\ud800x\"", "\xed\xa0\x80x", 4},          /* lone high surrogate */
        {"\"\\udc00\"", "\xed\xb0\x80", 3},            /* lone low surrogate */
        {"\"\\ud800\\u0041\"", "\xed\xa0\x80" "A", 4}, /* high, then no low */
        {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4}, /* a pair is joined as ever */
        {"\"a\\u0000b\"", "a\0b", 3},
        {"\"\xe2\x82", NULL, 0},                     /* unterminated all the same */
        {"\"\x01\"", NULL, 0},                       /* control characters all the same */
        {"\"\\x\"", NULL, 0},                       /* bad escapes all the same */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        int rc = pl_json_to_msgpack_ex(t[i].json, strlen(t[i].json), PL_JSON_RAW_TEXT, &sb, NULL, 0);
        if (!t[i].want) {
            PL_CHECK(rc == -1 && sb.size == 0);
        } else {
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t off = 0;
            PL_CHECK(rc == 0);
            PL_CHECK(rc == 0 && msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
                     u.data.type == MSGPACK_OBJECT_STR && u.data.via.str.size == t[i].want_len &&
                     memcmp(u.data.via.str.ptr, t[i].want, t[i].want_len) == 0);
            msgpack_unpacked_destroy(&u);
        }
        msgpack_sbuffer_destroy(&sb);
        /* without the flag every ill-formed one is refused */
        msgpack_sbuffer_init(&sb);
        int strict = pl_json_to_msgpack(t[i].json, strlen(t[i].json), &sb, NULL, 0);
        PL_CHECK(strict == (t[i].want && pl_utf8_count(t[i].want, t[i].want_len) >= 0 ? 0 : -1));
        msgpack_sbuffer_destroy(&sb);
    }
}

static void init_buffers(void)
{
    msgpack_sbuffer_init(&s_sb);
    msgpack_unpacked_init(&s_up);
}

static void free_buffers(void)
{
    msgpack_unpacked_destroy(&s_up);
    msgpack_sbuffer_destroy(&s_sb);
}

PL_TEST_MAIN_AROUND(init_buffers, free_buffers,
                    PL_CASE(scalars),
                    PL_CASE(containers),
                    PL_CASE(canonical_bytes),
                    PL_CASE(header_sizes),
                    PL_CASE(big_numbers),
                    PL_CASE(length_bounded),
                    PL_CASE(unicode),
                    PL_CASE(invalid),
                    PL_CASE(error_messages),
                    PL_CASE(append),
                    PL_CASE(depth),
                    PL_CASE(roundtrip_identity),
                    PL_CASE(roundtrip_normalised),
                    PL_CASE(msgpack_types),
                    PL_CASE(string_escaping),
                    PL_CASE(output_depth),
                    PL_CASE(map_members),
                    PL_CASE(utf8_count),
                    PL_CASE(mutations),
                    PL_CASE(raw_text))
