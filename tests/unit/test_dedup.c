/*  Unit tests of pl_dedup: the window of recent event ids that drops the copies a
    subscriber gets from several brokers. */
#include "pl_dedup.h"
#include "pl_test.h"

static void test_copy_is_seen_once(void)
{
    pl_dedup_t *d = pl_dedup_new(16);
    PL_CHECK(d != NULL);
    pl_evid_t a = {1, 1}, b = {1, 2}, c = {2, 1};
    PL_CHECK(pl_dedup_seen(d, &a) == 0);
    PL_CHECK(pl_dedup_seen(d, &b) == 0);
    PL_CHECK(pl_dedup_seen(d, &c) == 0); /* same seq, another publisher: not a copy */
    PL_CHECK(pl_dedup_seen(d, &a) == 1);
    PL_CHECK(pl_dedup_seen(d, &c) == 1);
    PL_CHECK(pl_dedup_count(d) == 3);
    pl_dedup_destroy(&d);
    PL_CHECK(d == NULL);
}

/* The bound: the window never holds more than cap ids; the oldest goes first, and
   everything younger is still recognised. */
static void test_window_is_bounded(void)
{
    enum { CAP = 64 };
    pl_dedup_t *d = pl_dedup_new(CAP);
    for (uint64_t i = 0; i < CAP; i++) {
        pl_evid_t id = {7, i};
        PL_CHECK(pl_dedup_seen(d, &id) == 0);
    }
    PL_CHECK(pl_dedup_count(d) == CAP);
    pl_evid_t next = {7, CAP};
    PL_CHECK(pl_dedup_seen(d, &next) == 0);
    PL_CHECK(pl_dedup_count(d) == CAP); /* full: id 0 was evicted */
    for (uint64_t i = 1; i <= CAP; i++) {
        pl_evid_t id = {7, i};
        PL_CHECK(pl_dedup_seen(d, &id) == 1);
    }
    pl_evid_t first = {7, 0};
    PL_CHECK(pl_dedup_seen(d, &first) == 0); /* forgotten, taken as new (evicts 1) */
    pl_evid_t second = {7, 1};
    PL_CHECK(pl_dedup_seen(d, &second) == 0);
    pl_dedup_destroy(&d);
}

/* Against a reference (the last CAP distinct ids, by brute force) over a long stream
   with many copies and a tiny table, so that chains and evictions interleave. */
static void test_matches_reference(void)
{
    enum { CAP = 5, N = 20000 };
    pl_dedup_t *d = pl_dedup_new(CAP);
    pl_evid_t recent[CAP];
    size_t nrecent = 0, head = 0;
    uint64_t x = 88172645463325252ull;
    int mismatches = 0;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pl_evid_t id = {x % 3, (x >> 8) % 11};
        int want = 0;
        for (size_t k = 0; k < nrecent; k++)
            if (recent[k].pub == id.pub && recent[k].seq == id.seq)
                want = 1;
        if (!want) {
            recent[head] = id;
            head = (head + 1) % CAP;
            if (nrecent < CAP)
                nrecent++;
        }
        if (pl_dedup_seen(d, &id) != want)
            mismatches++;
    }
    PL_CHECK(mismatches == 0);
    PL_CHECK(pl_dedup_count(d) == CAP);
    pl_dedup_destroy(&d);
}

static void test_wire_form(void)
{
    pl_evid_t id = {0x0102030405060708ull, 0xfffefdfcfbfaf9f8ull}, back;
    unsigned char b[PL_EVID_BYTES];
    pl_evid_encode(&id, b);
    PL_CHECK(b[0] == 1 && b[7] == 8 && b[8] == 0xff && b[15] == 0xf8);
    PL_CHECK(pl_evid_decode(b, sizeof b, &back) == 0);
    PL_CHECK(back.pub == id.pub && back.seq == id.seq);
    PL_CHECK(pl_evid_decode(b, 15, &back) == -1);
    PL_CHECK(pl_evid_decode(b, 17, &back) == -1);
    PL_CHECK(pl_dedup_new(0) == NULL);
}

PL_TEST_MAIN(PL_CASE(copy_is_seen_once), PL_CASE(window_is_bounded), PL_CASE(matches_reference),
             PL_CASE(wire_form))
