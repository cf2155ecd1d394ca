/*  pl_dedup: which bus events were seen recently, to drop the copies.
    The one thing to know: with several brokers, a service publishes each event through
    every broker it is connected to, so a subscriber receives one copy per live broker
    (docs/design/topology.md, "Several brokers"). Each event carries an id (the
    publisher's random 64-bit id and its own counter); a subscriber keeps the last
    `cap` ids it saw and drops an event whose id is among them. Memory is fixed at
    creation: the (cap+1)-th id evicts the oldest, so a copy arriving after `cap`
    other events would get through. The copies travel the same path side by side,
    microseconds to milliseconds apart; cap is sized for seconds of traffic. */
#ifndef PL_DEDUP_H
#define PL_DEDUP_H

#include <stddef.h>
#include <stdint.h>

/* An event's id: who published it and its number there. On the wire it is the third
   frame of an event, 16 bytes, both halves big-endian. */
typedef struct {
    uint64_t pub, seq;
} pl_evid_t;

#define PL_EVID_BYTES 16

void pl_evid_encode(const pl_evid_t *id, unsigned char out[PL_EVID_BYTES]);
/* 0, or -1 when len is not PL_EVID_BYTES (a frame from a peer: never trusted). */
int pl_evid_decode(const void *data, size_t len, pl_evid_t *out);

typedef struct pl_dedup_t pl_dedup_t;

/* A window of the last cap ids (cap >= 1). NULL when out of memory. */
pl_dedup_t *pl_dedup_new(size_t cap);
void pl_dedup_destroy(pl_dedup_t **self_p);
/* 1 if id is in the window (a copy: drop it); else remember it, evicting the oldest
   when full, and return 0. */
int pl_dedup_seen(pl_dedup_t *self, const pl_evid_t *id);
/* How many ids the window holds now (at most cap). */
size_t pl_dedup_count(const pl_dedup_t *self);

#endif
