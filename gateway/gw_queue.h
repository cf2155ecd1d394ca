/*  gw_queue: a connection's outgoing frames, a ring capped in frames and in bytes.
    Pure (no lws, no gateway state), so it is unit-tested on its own
    (tests/unit/test_queue.c). It holds pointers and their sizes; taking a reference
    and giving it back is the caller's (gw_conn.c). */
#ifndef GW_QUEUE_H
#define GW_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    void **items; /* ring; capacity grows by doubling up to the frame cap */
    uint32_t *sizes;
    uint32_t head, count, cap;
    size_t bytes; /* sum of the queued sizes */
} gw_queue_t;

typedef enum {
    GW_QUEUE_OK = 0,
    GW_QUEUE_FULL = -1, /* past max_frames or max_bytes: the consumer is too slow */
    GW_QUEUE_NOMEM = -2,
} gw_queue_rc_t;

/* Append item of `size` bytes. The first item of an empty queue is always taken,
   however large (it is about to be written); after it, neither cap is passed. */
gw_queue_rc_t gw_queue_push(gw_queue_t *q, void *item, uint32_t size, uint32_t max_frames,
                            size_t max_bytes);
/* The oldest item, or NULL when empty. */
void *gw_queue_peek(const gw_queue_t *q);
/* Remove and return the oldest item (NULL when empty). */
void *gw_queue_pop(gw_queue_t *q);
/* Free the ring itself (the items are the caller's: pop them first). */
void gw_queue_free(gw_queue_t *q);

#endif
