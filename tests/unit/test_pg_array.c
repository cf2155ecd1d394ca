/*  test_pg_array: the binary array layout pl_pg_array builds, byte for byte, against
    PostgreSQL's array_recv format (ndim, has-nulls, element OID, size, lower bound,
    then length-prefixed elements, all big-endian). The database round trip itself is
    covered by the integration tests (chat_batch). */
#include "pl_pg_array.h"
#include "pl_test.h"

static int bytes_equal(const pl_pg_params_t *p, int i, const unsigned char *want, size_t n)
{
    return p->fmt[i] == 1 && p->len[i] == (int)n && memcmp(p->v[i], want, n) == 0;
}

static void test_int8_array(void)
{
    pl_pg_array_t a;
    pl_pg_params_t p = {.n = 0};
    pl_pg_array_init(&a, PL_PG_INT8);
    pl_pg_array_int8(&a, 1);
    pl_pg_array_int8(&a, -2);
    PL_CHECK(pl_pg_array_param(&a, &p) == 0);
    static const unsigned char want[] = {
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 1, /* header */
        0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1,                          /* 1 */
        0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,  /* -2 */
    };
    PL_CHECK(p.n == 1);
    PL_CHECK(bytes_equal(&p, 0, want, sizeof want));
    pl_pg_array_free(&a);
}

static void test_text_with_null_and_empty(void)
{
    pl_pg_array_t a;
    pl_pg_params_t p = {.n = 0};
    pl_pg_array_init(&a, PL_PG_TEXT);
    pl_pg_array_bytes(&a, "a\"b\\", 4); /* nothing is escaped */
    pl_pg_array_bytes(&a, NULL, 0);     /* SQL NULL */
    pl_pg_array_bytes(&a, "", 0);       /* the empty string, not NULL */
    PL_CHECK(pl_pg_array_param(&a, &p) == 0);
    static const unsigned char want[] = {
        0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 25, 0, 0, 0, 3, 0, 0, 0, 1,
        0, 0, 0, 4, 'a', '"', 'b', '\\',
        0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0,
    };
    PL_CHECK(bytes_equal(&p, 0, want, sizeof want));
    pl_pg_array_free(&a);
}

static void test_params_in_order(void)
{
    pl_pg_array_t x, y;
    pl_pg_params_t p = {.n = 0};
    pl_pg_array_init(&x, PL_PG_BYTEA);
    pl_pg_array_init(&y, PL_PG_INT8);
    pl_pg_array_bytes(&x, "\0\1", 2);
    PL_CHECK(pl_pg_array_param(&x, &p) == 0);
    PL_CHECK(pl_pg_array_param(&y, &p) == 0); /* empty: one dimension of size 0 */
    PL_CHECK(p.n == 2);
    static const unsigned char empty[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 1};
    PL_CHECK(bytes_equal(&p, 1, empty, sizeof empty));
    PL_CHECK(p.len[0] == 20 + 4 + 2);
    pl_pg_array_free(&x);
    pl_pg_array_free(&y);
}

PL_TEST_MAIN(PL_CASE(int8_array),
             PL_CASE(text_with_null_and_empty),
             PL_CASE(params_in_order))
