/*  Unit tests of presence_reconcile_read: a gateway's list of live connections, off the
    bus, checked whole (the chunk bound included) before presence acts on it. */
#include <string.h>

#include "pl_mp.h"
#include "pl_test.h"
#include "presence_reconcile.h"

typedef struct {
    size_t n;
    uint64_t lo, hi;
    uint64_t first_cn, step;
    const char *role; /* for every entry, unless bad_at says otherwise */
    int bad_at;       /* -1, or the entry whose role is "root" */
    int unsorted;     /* swap the last two ids */
    int short_names;  /* the n array one shorter than the others */
} spec_t;

static int read_spec(const spec_t *sp, presence_reconcile_t *rc)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    pl_pack_str(&pk, "lo");
    msgpack_pack_uint64(&pk, sp->lo);
    pl_pack_str(&pk, "hi");
    msgpack_pack_uint64(&pk, sp->hi);
    pl_pack_str(&pk, "c");
    msgpack_pack_array(&pk, sp->n);
    for (size_t i = 0; i < sp->n; i++) {
        size_t k = i;
        if (sp->unsorted && sp->n >= 2 && i >= sp->n - 2)
            k = i == sp->n - 1 ? sp->n - 2 : sp->n - 1;
        msgpack_pack_uint64(&pk, sp->first_cn + k * sp->step);
    }
    pl_pack_str(&pk, "u");
    msgpack_pack_array(&pk, sp->n);
    for (size_t i = 0; i < sp->n; i++) {
        char uid[32];
        snprintf(uid, sizeof uid, "user-%zu", i);
        pl_pack_str(&pk, uid);
    }
    pl_pack_str(&pk, "r");
    msgpack_pack_array(&pk, sp->n);
    for (size_t i = 0; i < sp->n; i++)
        pl_pack_str(&pk, (int)i == sp->bad_at ? "root" : sp->role);
    pl_pack_str(&pk, "n");
    size_t nn = sp->short_names && sp->n ? sp->n - 1 : sp->n;
    msgpack_pack_array(&pk, nn);
    for (size_t i = 0; i < nn; i++) {
        if (i % 2)
            msgpack_pack_nil(&pk);
        else
            pl_pack_str(&pk, "A Name");
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc_ = -2;
    if (msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS)
        rc_ = presence_reconcile_read(&up.data, rc);
    msgpack_unpacked_destroy(&up); /* rc's strings point into it: checked before this */
    msgpack_sbuffer_destroy(&sb);
    return rc_;
}

static presence_reconcile_t rc;

static void test_a_full_chunk_is_read(void)
{
    spec_t sp = {PROTO_RECONCILE_CHUNK_MAX, 10, 100000, 10, 3, "mentor", -1, 0, 0};
    PL_CHECK(read_spec(&sp, &rc) == 0);
    PL_CHECK(rc.n == PROTO_RECONCILE_CHUNK_MAX && rc.lo == 10 && rc.hi == 100000);
    PL_CHECK(rc.conns[0].cn == 10 && rc.conns[1].cn == 13);
    PL_CHECK(rc.conns[1].name.ptr == NULL && rc.conns[0].name.len == 6);
    PL_CHECK(rc.conns[5].role.len == 6);
}

/* The bound: one connection more than a chunk holds is refused, not truncated. */
static void test_one_past_the_bound_is_refused(void)
{
    spec_t sp = {PROTO_RECONCILE_CHUNK_MAX + 1, 0, 100000, 1, 1, "student", -1, 0, 0};
    PL_CHECK(read_spec(&sp, &rc) == -1);
}

static void test_an_empty_range_is_read(void)
{
    spec_t sp = {0, 0, 42, 1, 1, "student", -1, 0, 0};
    PL_CHECK(read_spec(&sp, &rc) == 0 && rc.n == 0 && rc.hi == 42);
}

static void test_refused(void)
{
    spec_t base = {5, 10, 20, 10, 2, "student", -1, 0, 0};
    spec_t sp = base;
    sp.bad_at = 3; /* a role no token has */
    PL_CHECK(read_spec(&sp, &rc) == -1);
    sp = base;
    sp.unsorted = 1;
    PL_CHECK(read_spec(&sp, &rc) == -1);
    sp = base;
    sp.step = 0; /* the same id twice */
    PL_CHECK(read_spec(&sp, &rc) == -1);
    sp = base;
    sp.first_cn = 9; /* below lo */
    PL_CHECK(read_spec(&sp, &rc) == -1);
    sp = base;
    sp.step = 3; /* 10..22: past hi */
    PL_CHECK(read_spec(&sp, &rc) == -1);
    sp = base;
    sp.lo = 21; /* lo > hi */
    PL_CHECK(read_spec(&sp, &rc) == -1);
    sp = base;
    sp.short_names = 1;
    PL_CHECK(read_spec(&sp, &rc) == -1);
    sp = base;
    sp.hi = (uint64_t)INT64_MAX + 1;
    PL_CHECK(read_spec(&sp, &rc) == -1);
}

PL_TEST_MAIN(PL_CASE(a_full_chunk_is_read), PL_CASE(one_past_the_bound_is_refused),
             PL_CASE(an_empty_range_is_read), PL_CASE(refused))
