/*  pl_map: chained hash map (see pl_map.h). Keyed SipHash (pl_hash_keyed: keys are
    often a client's choice, and an unkeyed hash lets one pick colliding keys),
    power-of-two buckets, doubling when the load passes 1. */
#include "pl_map.h"

#include <stdlib.h>
#include <string.h>

#include "pl_hash.h"

typedef struct entry_t {
    struct entry_t *next;
    uint64_t hash;
    void *value;
    size_t klen;
    unsigned char key[]; /* klen bytes */
} entry_t;

struct pl_map_t {
    entry_t **buckets;
    size_t nbuckets; /* power of two */
    size_t size;
};

static uint64_t hash_bytes(const void *key, size_t n)
{
    return pl_hash_keyed(key, n);
}

pl_map_t *pl_map_new(void)
{
    pl_map_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->nbuckets = 64;
    self->buckets = calloc(self->nbuckets, sizeof *self->buckets);
    if (!self->buckets) {
        free(self);
        return NULL;
    }
    return self;
}

void pl_map_destroy(pl_map_t **self_p)
{
    pl_map_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nbuckets; i++) {
        entry_t *e = self->buckets[i];
        while (e) {
            entry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

size_t pl_map_size(const pl_map_t *self)
{
    return self->size;
}

static entry_t **find(const pl_map_t *self, const void *key, size_t klen, uint64_t h)
{
    entry_t **link = &self->buckets[h & (self->nbuckets - 1)];
    while (*link) {
        entry_t *e = *link;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return link;
        link = &e->next;
    }
    return link;
}

static void grow(pl_map_t *self)
{
    size_t n = self->nbuckets * 2;
    entry_t **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep working with longer chains */
    for (size_t i = 0; i < self->nbuckets; i++) {
        entry_t *e = self->buckets[i];
        while (e) {
            entry_t *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(self->buckets);
    self->buckets = b;
    self->nbuckets = n;
}

void *pl_map_get(const pl_map_t *self, const void *key, size_t klen)
{
    entry_t *e = *find(self, key, klen, hash_bytes(key, klen));
    return e ? e->value : NULL;
}

int pl_map_put(pl_map_t *self, const void *key, size_t klen, void *value)
{
    uint64_t h = hash_bytes(key, klen);
    entry_t **link = find(self, key, klen, h);
    if (*link) {
        (*link)->value = value;
        return 0;
    }
    entry_t *e = malloc(sizeof *e + klen);
    if (!e)
        return -1;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    e->klen = klen;
    memcpy(e->key, key, klen);
    *link = e;
    if (++self->size > self->nbuckets)
        grow(self);
    return 0;
}

void *pl_map_remove(pl_map_t *self, const void *key, size_t klen)
{
    entry_t **link = find(self, key, klen, hash_bytes(key, klen));
    entry_t *e = *link;
    if (!e)
        return NULL;
    void *v = e->value;
    *link = e->next;
    free(e);
    self->size--;
    return v;
}

void *pl_map_geti(const pl_map_t *self, uint64_t key)
{
    return pl_map_get(self, &key, sizeof key);
}

int pl_map_puti(pl_map_t *self, uint64_t key, void *value)
{
    return pl_map_put(self, &key, sizeof key, value);
}

void *pl_map_removei(pl_map_t *self, uint64_t key)
{
    return pl_map_remove(self, &key, sizeof key);
}

void pl_map_each(const pl_map_t *self, void (*fn)(const void *, size_t, void *, void *), void *arg)
{
    for (size_t i = 0; i < self->nbuckets; i++)
        for (entry_t *e = self->buckets[i]; e; e = e->next)
            fn(e->key, e->klen, e->value, arg);
}
