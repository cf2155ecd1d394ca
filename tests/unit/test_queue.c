/*  Unit tests of gw_queue: a connection's outgoing ring, capped in frames and bytes. */
#include "gw_queue.h"
#include "pl_test.h"

static int items[2000];

static void test_fifo_across_growth_and_wrap(void)
{
    gw_queue_t q = {0};
    int next_in = 0, next_out = 0;
    /* push 3, pop 2, repeatedly: the ring wraps and grows while holding items */
    for (int round = 0; round < 300; round++) {
        for (int k = 0; k < 3; k++)
            PL_CHECK(gw_queue_push(&q, &items[next_in++], 10, 1024, 1 << 20) == GW_QUEUE_OK);
        for (int k = 0; k < 2; k++)
            PL_CHECK(gw_queue_pop(&q) == &items[next_out++]);
    }
    PL_CHECK(q.count == 300 && q.bytes == 3000);
    while (q.count)
        PL_CHECK(gw_queue_pop(&q) == &items[next_out++]);
    PL_CHECK(next_out == next_in && q.bytes == 0);
    PL_CHECK(gw_queue_pop(&q) == NULL && gw_queue_peek(&q) == NULL);
    gw_queue_free(&q);
}

static void test_frame_cap(void)
{
    gw_queue_t q = {0};
    for (int i = 0; i < 16; i++)
        PL_CHECK(gw_queue_push(&q, &items[i], 1, 16, 1 << 20) == GW_QUEUE_OK);
    PL_CHECK(gw_queue_push(&q, &items[16], 1, 16, 1 << 20) == GW_QUEUE_FULL);
    PL_CHECK(q.cap == 16); /* never grown past the cap */
    gw_queue_pop(&q);
    PL_CHECK(gw_queue_push(&q, &items[16], 1, 16, 1 << 20) == GW_QUEUE_OK);
    gw_queue_free(&q);
}

static void test_byte_cap_lets_the_first_frame_through(void)
{
    gw_queue_t q = {0};
    /* a 5 MB frame into an empty queue capped at 1 MB: taken, it is written at once */
    PL_CHECK(gw_queue_push(&q, &items[0], 5000000, 1024, 1000000) == GW_QUEUE_OK);
    PL_CHECK(gw_queue_push(&q, &items[1], 1, 1024, 1000000) == GW_QUEUE_FULL);
    gw_queue_pop(&q);
    PL_CHECK(gw_queue_push(&q, &items[1], 600000, 1024, 1000000) == GW_QUEUE_OK);
    PL_CHECK(gw_queue_push(&q, &items[2], 400000, 1024, 1000000) == GW_QUEUE_OK);
    PL_CHECK(gw_queue_push(&q, &items[3], 1, 1024, 1000000) == GW_QUEUE_FULL);
    PL_CHECK(q.bytes == 1000000);
    gw_queue_free(&q);
}

PL_TEST_MAIN(PL_CASE(fifo_across_growth_and_wrap),
             PL_CASE(frame_cap),
             PL_CASE(byte_cap_lets_the_first_frame_through))
