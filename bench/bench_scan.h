/*  bench_scan: pulls the few fields parley-bench needs out of a server frame.
    The one thing to know: this is not a JSON parser. It walks the text once, tracks
    object/array nesting and string boundaries, and records the first occurrence of a
    handful of keys at depth 1 (the event) or depth 2 (the `message`/`conversation`
    object inside it). Values are slices of the input, escapes are not decoded; that is
    enough for the ids and codes the tool itself generated or the server chose. */
#ifndef BENCH_SCAN_H
#define BENCH_SCAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *p; /* NULL when absent */
    size_t n;
} bench_str_t;

typedef struct {
    bench_str_t type;        /* depth 1 "type" */
    bench_str_t code;        /* depth 1 "code" (error frames) */
    bench_str_t user_id;     /* depth 1 "user_id" (auth_success) */
    bench_str_t temp_id;     /* depth 1 or 2 "temp_id" */
    int64_t id;              /* depth 1 "id" when it is an integer, else -1 */
    int64_t conversation_id; /* depth 1 or 2 "conversation_id", else -1 */
} bench_frame_t;

/* Scan `len` bytes of one JSON object into `out`. Returns 0, or -1 if the text is
   not shaped like an object (unbalanced, unterminated string). */
int bench_scan(const char *json, size_t len, bench_frame_t *out);

/* 1 if the slice equals the NUL-terminated `lit`. */
int bench_str_eq(bench_str_t s, const char *lit);

/* Parse "<a>.<b>" (two unsigned decimals) from a slice. 0 on success, -1 otherwise. */
int bench_parse_pair(bench_str_t s, uint32_t *a, uint32_t *b);

#endif
