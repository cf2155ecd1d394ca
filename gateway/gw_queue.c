/*  gw_queue: see gw_queue.h. */
#include "gw_queue.h"

#include <stdlib.h>

static int grow(gw_queue_t *q, uint32_t max_frames)
{
    uint32_t cap = q->cap ? q->cap * 2 : 4;
    if (cap > max_frames)
        cap = max_frames;
    void **items = malloc(cap * sizeof *items);
    uint32_t *sizes = malloc(cap * sizeof *sizes);
    if (!items || !sizes) {
        free(items);
        free(sizes);
        return -1;
    }
    for (uint32_t i = 0; i < q->count; i++) {
        items[i] = q->items[(q->head + i) % q->cap];
        sizes[i] = q->sizes[(q->head + i) % q->cap];
    }
    free(q->items);
    free(q->sizes);
    q->items = items;
    q->sizes = sizes;
    q->cap = cap;
    q->head = 0;
    return 0;
}

gw_queue_rc_t gw_queue_push(gw_queue_t *q, void *item, uint32_t size, uint32_t max_frames,
                            size_t max_bytes)
{
    if (q->count && (q->count >= max_frames || q->bytes + size > max_bytes))
        return GW_QUEUE_FULL;
    if (q->count == q->cap && grow(q, max_frames ? max_frames : 1) != 0)
        return GW_QUEUE_NOMEM;
    if (q->count == q->cap) /* max_frames 0: nothing fits */
        return GW_QUEUE_FULL;
    uint32_t at = (q->head + q->count) % q->cap;
    q->items[at] = item;
    q->sizes[at] = size;
    q->count++;
    q->bytes += size;
    return GW_QUEUE_OK;
}

void *gw_queue_peek(const gw_queue_t *q)
{
    return q->count ? q->items[q->head] : NULL;
}

void *gw_queue_pop(gw_queue_t *q)
{
    if (!q->count)
        return NULL;
    void *item = q->items[q->head];
    q->bytes -= q->sizes[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return item;
}

void gw_queue_free(gw_queue_t *q)
{
    free(q->items);
    free(q->sizes);
    q->items = NULL;
    q->sizes = NULL;
    q->head = q->count = q->cap = 0;
    q->bytes = 0;
}
