/*  pl_map: a hash map from a key (bytes or uint64) to a pointer, with chaining.
    The one thing to know: keys of string maps are copied into the entry; values are
    the caller's (the map never frees them). Iteration order is unspecified. */
#ifndef PL_MAP_H
#define PL_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pl_map_t pl_map_t;

pl_map_t *pl_map_new(void);
void pl_map_destroy(pl_map_t **self_p);
size_t pl_map_size(const pl_map_t *self);

/* Byte-string keys. put returns 0, or -1 on allocation failure; it replaces the value
   of an existing key. */
void *pl_map_get(const pl_map_t *self, const void *key, size_t klen);
int pl_map_put(pl_map_t *self, const void *key, size_t klen, void *value);
void *pl_map_remove(pl_map_t *self, const void *key, size_t klen);

/* Integer keys, stored as their 8 bytes. */
void *pl_map_geti(const pl_map_t *self, uint64_t key);
int pl_map_puti(pl_map_t *self, uint64_t key, void *value);
void *pl_map_removei(pl_map_t *self, uint64_t key);

/* Call fn for every entry; fn must not change the map. */
void pl_map_each(const pl_map_t *self, void (*fn)(const void *key, size_t klen, void *value, void *arg),
                 void *arg);

#endif
