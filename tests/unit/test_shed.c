/*  Unit tests of pl_shed: when a request is old enough to be refused `overloaded`,
    what retry_after_ms it is told, and the rate limit of the log line about it. */
#include "pl_shed.h"
#include "pl_test.h"

static void test_due_only_past_the_budget(void)
{
    PL_CHECK(pl_shed_due(1000, 950, 50) == 0); /* exactly the budget: kept */
    PL_CHECK(pl_shed_due(1000, 949, 50) == 1);
    PL_CHECK(pl_shed_due(1000, 10, 0) == 0);    /* budget 0: shedding is off */
    PL_CHECK(pl_shed_due(1000, 0, 50) == 0);    /* not stamped: never shed */
    PL_CHECK(pl_shed_due(1000, 5000, 50) == 0); /* sender's clock ahead: no wait */
}

/* Saturation (a full batch, more behind it) gets the budget; a short queue aged by a
   stall gets PL_SHED_STALL_FACTOR times it; 0 stays off either way. */
static void test_budget_by_backlog(void)
{
    PL_CHECK(pl_shed_budget(50, 1) == 50);
    PL_CHECK(pl_shed_budget(50, 0) == 50 * PL_SHED_STALL_FACTOR);
    PL_CHECK(pl_shed_budget(0, 0) == 0 && pl_shed_budget(0, 1) == 0);
    PL_CHECK(pl_shed_due(1000, 1000 - 60, pl_shed_budget(50, 1)) == 1);
    PL_CHECK(pl_shed_due(1000, 1000 - 60, pl_shed_budget(50, 0)) == 0);
}

static void test_retry_after_is_bounded(void)
{
    for (uint32_t r = 0; r < 5000; r += 7) {
        int64_t a = pl_shed_retry_after_ms(0, r);
        PL_CHECK(a >= PL_SHED_RETRY_MIN_MS && a <= PL_SHED_RETRY_MIN_MS * 3 / 2);
        int64_t b = pl_shed_retry_after_ms(600, r);
        PL_CHECK(b >= 600 && b <= 900);
        int64_t c = pl_shed_retry_after_ms(INT64_C(1) << 40, r);
        PL_CHECK(c >= PL_SHED_RETRY_MAX_MS && c <= PL_SHED_RETRY_MAX_MS * 3 / 2);
    }
    PL_CHECK(pl_shed_retry_after_ms(-5, 0) == PL_SHED_RETRY_MIN_MS);
    PL_CHECK(pl_shed_retry_after_ms(600, UINT32_MAX) <= 900);
}

static void test_jitter_spreads(void)
{
    uint64_t st = 42;
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t a = pl_shed_retry_after_ms(1000, pl_shed_rand(&st));
        lo = a < lo ? a : lo;
        hi = a > hi ? a : hi;
    }
    PL_CHECK(lo < 1100 && hi > 1400); /* not one value for everyone */
    uint64_t zero = 0;
    PL_CHECK(pl_shed_rand(&zero) != 0 || zero != 0); /* a zero state still moves */
}

static void test_log_is_rate_limited(void)
{
    pl_shed_log_t log = {0, 0};
    PL_CHECK(pl_shed_log_note(&log, 5000) == 1); /* the first is told at once */
    for (int i = 0; i < 99; i++)
        PL_CHECK(pl_shed_log_note(&log, 5000 + i) == 0);
    PL_CHECK(pl_shed_log_note(&log, 5000 + PL_SHED_LOG_EVERY_MS - 1) == 0);
    PL_CHECK(pl_shed_log_note(&log, 5000 + PL_SHED_LOG_EVERY_MS) == 101);
    PL_CHECK(pl_shed_log_note(&log, 5001 + PL_SHED_LOG_EVERY_MS) == 0);
}

/* The gateway's in-flight limit: a cut keeps a fraction of what is in flight, never
   rises, never goes under the floor (or under max when max is smaller); raises add
   about PL_SHED_RAISE_PER_ROUND per `limit` answers, up to max. */
static void test_limit_cut_and_raise(void)
{
    PL_CHECK(pl_shed_limit_cut(4096, 1000, 4096) == 750);
    PL_CHECK(pl_shed_limit_cut(300, 1000, 4096) == 300); /* never raised by a cut */
    PL_CHECK(pl_shed_limit_cut(300, 10, 4096) == PL_SHED_LIMIT_MIN);
    PL_CHECK(pl_shed_limit_cut(4, 4, 4) == 4); /* a small max is the floor */
    double l = 100;
    for (int i = 0; i < 100; i++)
        l = pl_shed_limit_raise(l, 4096, 0);
    PL_CHECK(l > 100 + PL_SHED_RAISE_PER_ROUND * 0.9 && l < 100 + PL_SHED_RAISE_PER_ROUND * 1.1);
    PL_CHECK(pl_shed_limit_raise(4095.9995, 4096, 0) == 4096);
    PL_CHECK(pl_shed_limit_raise(0, 10, 0) == 5); /* from 1, +4 */
    /* recovering: +1 an answer, so a round trip of `limit` answers doubles it */
    l = 100;
    for (int i = 0; i < 100; i++)
        l = pl_shed_limit_raise(l, 4096, 1);
    PL_CHECK(l == 200);
    PL_CHECK(pl_shed_limit_raise(4096, 4096, 1) == 4096);
}

PL_TEST_MAIN(PL_CASE(limit_cut_and_raise), PL_CASE(due_only_past_the_budget),
             PL_CASE(budget_by_backlog), PL_CASE(retry_after_is_bounded), PL_CASE(jitter_spreads),
             PL_CASE(log_is_rate_limited))
