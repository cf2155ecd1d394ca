/*  Unit tests of gw_limit: the per-connection token bucket and its flood rule. */
#include "gw_limit.h"
#include "pl_test.h"

static void test_burst_then_refill(void)
{
    gw_bucket_t b;
    gw_bucket_init(&b, 5, 1000);
    for (int i = 0; i < 5; i++)
        PL_CHECK(gw_bucket_take(&b, 2, 5, 1000) == GW_LIMIT_PASS);
    PL_CHECK(gw_bucket_take(&b, 2, 5, 1000) == GW_LIMIT_REFUSED);
    /* 2 tokens a second: one more after 500 ms, not before */
    PL_CHECK(gw_bucket_take(&b, 2, 5, 1400) == GW_LIMIT_REFUSED);
    PL_CHECK(gw_bucket_take(&b, 2, 5, 1500) == GW_LIMIT_PASS);
    /* a long pause refills to the burst, never beyond */
    for (int i = 0; i < 5; i++)
        PL_CHECK(gw_bucket_take(&b, 2, 5, 100000) == GW_LIMIT_PASS);
    PL_CHECK(gw_bucket_take(&b, 2, 5, 100000) == GW_LIMIT_REFUSED);
}

static void test_flood_is_said_once(void)
{
    gw_bucket_t b;
    gw_bucket_init(&b, 3, 0);
    for (int i = 0; i < 3; i++)
        PL_CHECK(gw_bucket_take(&b, 1, 3, 0) == GW_LIMIT_PASS);
    for (int i = 0; i < 3; i++) /* burst further frames while limited: refused */
        PL_CHECK(gw_bucket_take(&b, 1, 3, 10) == GW_LIMIT_REFUSED);
    PL_CHECK(gw_bucket_take(&b, 1, 3, 20) == GW_LIMIT_FLOOD);
    PL_CHECK(gw_bucket_take(&b, 1, 3, 30) == GW_LIMIT_REFUSED);
}

static void test_flood_window_restarts(void)
{
    gw_bucket_t b;
    gw_bucket_init(&b, 2, 0);
    PL_CHECK(gw_bucket_take(&b, 1, 2, 0) == GW_LIMIT_PASS);
    PL_CHECK(gw_bucket_take(&b, 1, 2, 0) == GW_LIMIT_PASS);
    PL_CHECK(gw_bucket_take(&b, 1, 2, 0) == GW_LIMIT_REFUSED);
    PL_CHECK(gw_bucket_take(&b, 1, 2, 100) == GW_LIMIT_REFUSED);
    /* 11 s later the bucket is full again; limited frames after it count anew */
    PL_CHECK(gw_bucket_take(&b, 1, 2, 11100) == GW_LIMIT_PASS);
    PL_CHECK(gw_bucket_take(&b, 1, 2, 11100) == GW_LIMIT_PASS);
    PL_CHECK(gw_bucket_take(&b, 1, 2, 11100) == GW_LIMIT_REFUSED);
    PL_CHECK(b.limited_frames == 1);
}

static void test_off_and_clock_steps(void)
{
    gw_bucket_t b;
    gw_bucket_init(&b, 1, 5000);
    for (int i = 0; i < 1000; i++)
        PL_CHECK(gw_bucket_take(&b, 0, 1, 5000) == GW_LIMIT_PASS); /* per_s 0: off */
    PL_CHECK(gw_bucket_take(&b, 1, 1, 5000) == GW_LIMIT_PASS);
    PL_CHECK(gw_bucket_take(&b, 1, 1, 4000) == GW_LIMIT_REFUSED); /* backwards: no refill */
}

/* A charge may put the bucket in debt, at most one burst deep; the refill pays it back
   before anything passes. Off (per_s 0), a charge does nothing. */
static void test_charge_is_a_bounded_debt(void)
{
    gw_bucket_t b;
    gw_bucket_init(&b, 20, 0);
    gw_bucket_charge(&b, 10, 20, 0, 25); /* 20 - 25 = -5 */
    PL_CHECK(gw_bucket_take(&b, 10, 20, 0) != GW_LIMIT_PASS);
    PL_CHECK(gw_bucket_take(&b, 10, 20, 500) != GW_LIMIT_PASS); /* -5 + 5 = 0 */
    PL_CHECK(gw_bucket_take(&b, 10, 20, 600) == GW_LIMIT_PASS); /* +1 */
    gw_bucket_charge(&b, 10, 20, 600, 1000);                    /* floor: -20 */
    PL_CHECK(gw_bucket_take(&b, 10, 20, 2600) != GW_LIMIT_PASS); /* -20 + 20 = 0 */
    PL_CHECK(gw_bucket_take(&b, 10, 20, 2700) == GW_LIMIT_PASS);
    gw_bucket_t off;
    gw_bucket_init(&off, 5, 0);
    gw_bucket_charge(&off, 0, 5, 0, 100);
    PL_CHECK(gw_bucket_take(&off, 0, 5, 0) == GW_LIMIT_PASS);
}

PL_TEST_MAIN(PL_CASE(burst_then_refill),
             PL_CASE(charge_is_a_bounded_debt),
             PL_CASE(flood_is_said_once),
             PL_CASE(flood_window_restarts),
             PL_CASE(off_and_clock_steps))
