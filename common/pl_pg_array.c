/*  pl_pg_array: binary arrays (see pl_pg_array.h). The layout is array_recv's in
    PostgreSQL's arrayfuncs.c: int32 ndim, int32 has-nulls flag, int32 element OID,
    per dimension int32 size and int32 lower bound, then each element as int32 length
    (-1 for NULL) and its bytes; every integer in network byte order. */
#include "pl_pg_array.h"

#include <limits.h>
#include <string.h>

#define HEADER 20 /* one dimension */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void append32(pl_pg_array_t *a, uint32_t v)
{
    unsigned char b[4];
    put32(b, v);
    a->failed |= pl_buf_append(&a->buf, b, sizeof b) != 0;
}

void pl_pg_array_init(pl_pg_array_t *a, uint32_t elem)
{
    memset(a, 0, sizeof *a);
    pl_buf_init(&a->buf, 0);
    a->elem = elem;
    static const unsigned char zero[HEADER];
    a->failed = pl_buf_append(&a->buf, zero, sizeof zero) != 0; /* filled in at the end */
}

void pl_pg_array_free(pl_pg_array_t *a)
{
    pl_buf_free(&a->buf);
}

void pl_pg_array_bytes(pl_pg_array_t *a, const char *data, size_t len)
{
    if (!data) {
        append32(a, UINT32_MAX); /* -1: NULL */
        a->has_null = 1;
    } else if (len > INT32_MAX) {
        a->failed = 1;
        return;
    } else {
        append32(a, (uint32_t)len);
        a->failed |= len && pl_buf_append(&a->buf, data, len) != 0;
    }
    a->n++;
}

void pl_pg_array_int8(pl_pg_array_t *a, int64_t v)
{
    unsigned char b[8];
    uint64_t u = (uint64_t)v;
    put32(b, (uint32_t)(u >> 32));
    put32(b + 4, (uint32_t)u);
    append32(a, sizeof b);
    a->failed |= pl_buf_append(&a->buf, b, sizeof b) != 0;
    a->n++;
}

int pl_pg_array_param(pl_pg_array_t *a, pl_pg_params_t *p)
{
    if (a->failed || a->buf.len > INT_MAX)
        return -1;
    unsigned char *h = (unsigned char *)a->buf.data;
    put32(h, 1);
    put32(h + 4, a->has_null ? 1 : 0);
    put32(h + 8, a->elem);
    put32(h + 12, a->n);
    put32(h + 16, 1); /* lower bound */
    pl_pg_param_bytes(p, a->buf.data, a->buf.len);
    return 0;
}
