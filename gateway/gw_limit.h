/*  gw_limit: the per-connection rate limit, a pure token bucket with a flood rule
    (no gateway state, so it is unit-tested on its own: tests/unit/test_limit.c).
    The bucket holds up to `burst` tokens and refills at `per_s` a second; a frame takes
    one. Flood rule: a connection that sends more than `burst` further frames while
    limited, within 10 s of its first refused frame, is to be closed. */
#ifndef GW_LIMIT_H
#define GW_LIMIT_H

#include <stdint.h>

#define GW_LIMIT_FLOOD_WINDOW_MS 10000

typedef struct {
    double tokens;
    int64_t refill_ms;
    int64_t limited_since; /* start of the current limited window, 0 if none */
    uint32_t limited_frames;
} gw_bucket_t;

typedef enum {
    GW_LIMIT_PASS = 0,    /* the frame may proceed */
    GW_LIMIT_REFUSED = 1, /* over the limit: answer rate_limited */
    GW_LIMIT_FLOOD = 2,   /* over the limit, and flooding: close the connection (said once) */
} gw_limit_t;

/* A full bucket at now_ms. */
void gw_bucket_init(gw_bucket_t *b, int64_t burst, int64_t now_ms);
/* Take a token for one frame at now_ms. per_s == 0 turns the limit off. */
gw_limit_t gw_bucket_take(gw_bucket_t *b, int64_t per_s, int64_t burst, int64_t now_ms);
/* Take n tokens at once, as a penalty: the bucket may go into debt (down to -burst),
   which the refill pays back before anything passes again. */
void gw_bucket_charge(gw_bucket_t *b, int64_t per_s, int64_t burst, int64_t now_ms, int64_t n);

#endif
