/*  bench_scan: one-pass field extraction from server frames (see bench_scan.h).
    Why not pl_json: the load tool reads tens of thousands of frames per second and
    needs five fields; converting every frame to MessagePack first would make the
    tool, not the server, the thing being measured. */
#include "bench_scan.h"

#include <string.h>

#define MAX_DEPTH 64

/* Return the index just past the closing quote of the string opening at s[i], or
   0 if unterminated. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
    i++; /* opening quote */
    while (i < len) {
        const char *q = memchr(s + i, '"', len - i);
        if (!q)
            return 0;
        size_t j = (size_t)(q - s);
        size_t bs = 0; /* count backslashes right before the quote */
        while (j - bs > i && s[j - bs - 1] == '\\')
            bs++;
        if (bs % 2 == 0)
            return j + 1;
        i = j + 1;
    }
    return 0;
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Read an integer value at s[i]; -1 when it is not a plain non-negative integer. */
static int64_t read_int(const char *s, size_t len, size_t i)
{
    int64_t v = 0;
    size_t start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
        i++;
    }
    if (i == start)
        return -1;
    if (i < len && (s[i] == '.' || s[i] == 'e' || s[i] == 'E'))
        return -1;
    return v;
}

/* Read a string value at s[i] as a slice without quotes. */
static bench_str_t read_str(const char *s, size_t len, size_t i)
{
    bench_str_t r = {NULL, 0};
    if (i >= len || s[i] != '"')
        return r;
    size_t end = skip_string(s, len, i);
    if (!end)
        return r;
    r.p = s + i + 1;
    r.n = end - i - 2;
    return r;
}

static int key_is(const char *k, size_t kn, const char *lit, size_t litn)
{
    return kn == litn && memcmp(k, lit, kn) == 0;
}

/* Record the value that follows key `k` (at nesting `depth`) if it is wanted. */
static void take(bench_frame_t *out, const char *k, size_t kn, int depth, const char *s, size_t len,
                 size_t v)
{
    if (depth == 1) {
        if (!out->type.p && key_is(k, kn, "type", 4))
            out->type = read_str(s, len, v);
        else if (!out->code.p && key_is(k, kn, "code", 4))
            out->code = read_str(s, len, v);
        else if (!out->user_id.p && key_is(k, kn, "user_id", 7))
            out->user_id = read_str(s, len, v);
        else if (out->id < 0 && key_is(k, kn, "id", 2))
            out->id = read_int(s, len, v);
    }
    if (depth == 1 || depth == 2) {
        if (!out->temp_id.p && key_is(k, kn, "temp_id", 7))
            out->temp_id = read_str(s, len, v);
        else if (out->conversation_id < 0 && key_is(k, kn, "conversation_id", 15))
            out->conversation_id = read_int(s, len, v);
    }
}

int bench_scan(const char *s, size_t len, bench_frame_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = -1;
    out->conversation_id = -1;

    uint64_t is_obj = 0; /* bit d set: container at depth d+1 is an object */
    int depth = 0;
    int want_key = 0;
    size_t i = skip_ws(s, len, 0);
    if (i >= len || s[i] != '{')
        return -1;
    while (i < len) {
        char c = s[i];
        if (c == '{' || c == '[') {
            if (depth >= MAX_DEPTH)
                return -1;
            if (c == '{')
                is_obj |= (uint64_t)1 << depth;
            else
                is_obj &= ~((uint64_t)1 << depth);
            depth++;
            want_key = (c == '{');
            i++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return -1;
            depth--;
            want_key = 0;
            i++;
            if (depth == 0)
                return 0;
        } else if (c == ',') {
            want_key = depth > 0 && (is_obj >> (depth - 1)) & 1;
            i++;
        } else if (c == '"') {
            size_t end = skip_string(s, len, i);
            if (!end)
                return -1;
            if (want_key) {
                size_t v = skip_ws(s, len, end);
                if (v < len && s[v] == ':')
                    v = skip_ws(s, len, v + 1);
                take(out, s + i + 1, end - i - 2, depth, s, len, v);
                want_key = 0;
            }
            i = end;
        } else {
            i++;
        }
    }
    return -1;
}

int bench_str_eq(bench_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.p && s.n == n && memcmp(s.p, lit, n) == 0;
}

static int parse_u32(const char *p, const char *end, uint32_t *out)
{
    uint64_t v = 0;
    if (p == end)
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int bench_parse_pair(bench_str_t s, uint32_t *a, uint32_t *b)
{
    if (!s.p)
        return -1;
    const char *dot = memchr(s.p, '.', s.n);
    if (!dot)
        return -1;
    if (parse_u32(s.p, dot, a) || parse_u32(dot + 1, s.p + s.n, b))
        return -1;
    return 0;
}
