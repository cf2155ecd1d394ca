/*  pl_dedup: a fixed-size window of recent event ids (see pl_dedup.h).
    A ring holds the ids in arrival order; a chained hash table over the ring's slots
    finds them. Both are allocated once: nothing an event does can grow them. */
#include "pl_dedup.h"

#include <stdlib.h>

#include "pl_hash.h"

#define NIL UINT32_MAX

struct pl_dedup_t {
    size_t cap, count, head; /* head: the slot the next id takes (the oldest when full) */
    size_t nbuckets;         /* a power of two, at least 2 * cap */
    pl_evid_t *ids;          /* ring */
    uint32_t *next;          /* ring slot -> next slot in the same bucket, or NIL */
    uint32_t *buckets;       /* bucket -> first slot, or NIL */
};

void pl_evid_encode(const pl_evid_t *id, unsigned char out[PL_EVID_BYTES])
{
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(id->pub >> (56 - 8 * i));
        out[8 + i] = (unsigned char)(id->seq >> (56 - 8 * i));
    }
}

int pl_evid_decode(const void *data, size_t len, pl_evid_t *out)
{
    if (len != PL_EVID_BYTES)
        return -1;
    const unsigned char *p = data;
    out->pub = out->seq = 0;
    for (int i = 0; i < 8; i++) {
        out->pub = out->pub << 8 | p[i];
        out->seq = out->seq << 8 | p[8 + i];
    }
    return 0;
}

pl_dedup_t *pl_dedup_new(size_t cap)
{
    if (cap == 0 || cap >= NIL / 2)
        return NULL;
    pl_dedup_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = cap;
    self->nbuckets = 1;
    while (self->nbuckets < 2 * cap)
        self->nbuckets <<= 1;
    self->ids = calloc(cap, sizeof *self->ids);
    self->next = calloc(cap, sizeof *self->next);
    self->buckets = malloc(self->nbuckets * sizeof *self->buckets);
    if (!self->ids || !self->next || !self->buckets) {
        pl_dedup_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < self->nbuckets; i++)
        self->buckets[i] = NIL;
    return self;
}

void pl_dedup_destroy(pl_dedup_t **self_p)
{
    pl_dedup_t *self = *self_p;
    if (!self)
        return;
    free(self->ids);
    free(self->next);
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

/* Keyed: ids come from other processes, and a chosen set of colliding ids must not
   turn a bucket into a long list. */
static size_t bucket_of(const pl_dedup_t *self, const pl_evid_t *id)
{
    return (size_t)(pl_hash_keyed(id, sizeof *id) & (self->nbuckets - 1));
}

static int same(const pl_evid_t *a, const pl_evid_t *b)
{
    return a->pub == b->pub && a->seq == b->seq;
}

/* Unlink ring slot `slot` (the oldest) from its bucket's chain. */
static void evict(pl_dedup_t *self, uint32_t slot)
{
    uint32_t *link = &self->buckets[bucket_of(self, &self->ids[slot])];
    while (*link != NIL && *link != slot)
        link = &self->next[*link];
    if (*link == slot)
        *link = self->next[slot];
    self->count--;
}

int pl_dedup_seen(pl_dedup_t *self, const pl_evid_t *id)
{
    size_t b = bucket_of(self, id);
    for (uint32_t s = self->buckets[b]; s != NIL; s = self->next[s])
        if (same(&self->ids[s], id))
            return 1;
    uint32_t slot = (uint32_t)self->head;
    if (self->count == self->cap)
        evict(self, slot);
    self->ids[slot] = *id;
    self->next[slot] = self->buckets[b];
    self->buckets[b] = slot;
    self->count++;
    self->head = (self->head + 1) % self->cap;
    return 0;
}

size_t pl_dedup_count(const pl_dedup_t *self)
{
    return self->count;
}
