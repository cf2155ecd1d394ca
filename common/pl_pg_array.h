/*  pl_pg_array: one-dimensional PostgreSQL arrays in binary wire format, for passing a
    whole batch as one parameter (`unnest($1::bigint[], $2::text[], ...)`).
    The one thing to know: elements are sent as raw bytes with explicit lengths, so
    nothing is quoted or escaped and any text arrives exactly as given. The element
    type must match the cast in the SQL ($1::text[] takes PL_PG_TEXT elements). */
#ifndef PL_PG_ARRAY_H
#define PL_PG_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "pl_buf.h"
#include "pl_pg.h"

/* Element type OIDs (pg_type.dat): fixed since PostgreSQL 7. */
#define PL_PG_BYTEA 17
#define PL_PG_INT8 20
#define PL_PG_TEXT 25

typedef struct {
    pl_buf_t buf;  /* header, then each element as int32 length + bytes */
    uint32_t elem; /* element type OID */
    uint32_t n;    /* elements so far */
    int has_null;
    int failed; /* out of memory: pl_pg_array_param refuses */
} pl_pg_array_t;

void pl_pg_array_init(pl_pg_array_t *a, uint32_t elem);
void pl_pg_array_free(pl_pg_array_t *a);
/* Append raw element bytes (text, bytea); NULL `data` appends SQL NULL. */
void pl_pg_array_bytes(pl_pg_array_t *a, const char *data, size_t len);
void pl_pg_array_int8(pl_pg_array_t *a, int64_t v);
/* Finish the header and add the array as the next binary parameter. The array must
   outlive the statement's execution. -1 if building it ran out of memory. */
int pl_pg_array_param(pl_pg_array_t *a, pl_pg_params_t *p);

#endif
