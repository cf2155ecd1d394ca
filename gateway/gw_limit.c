/*  gw_limit: see gw_limit.h. */
#include "gw_limit.h"

void gw_bucket_init(gw_bucket_t *b, int64_t burst, int64_t now_ms)
{
    b->tokens = (double)burst;
    b->refill_ms = now_ms;
    b->limited_since = 0;
    b->limited_frames = 0;
}

static void refill(gw_bucket_t *b, int64_t per_s, int64_t burst, int64_t now_ms)
{
    if (now_ms > b->refill_ms) { /* a clock that steps back refills nothing */
        b->tokens += (double)(now_ms - b->refill_ms) * (double)per_s / 1000.0;
        if (b->tokens > (double)burst)
            b->tokens = (double)burst;
        b->refill_ms = now_ms;
    }
}

void gw_bucket_charge(gw_bucket_t *b, int64_t per_s, int64_t burst, int64_t now_ms, int64_t n)
{
    if (per_s == 0)
        return;
    refill(b, per_s, burst, now_ms);
    b->tokens -= (double)n;
    if (b->tokens < -(double)burst) /* a debt of one burst at most */
        b->tokens = -(double)burst;
}

gw_limit_t gw_bucket_take(gw_bucket_t *b, int64_t per_s, int64_t burst, int64_t now_ms)
{
    if (per_s == 0)
        return GW_LIMIT_PASS;
    refill(b, per_s, burst, now_ms);
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return GW_LIMIT_PASS;
    }
    if (!b->limited_since || now_ms - b->limited_since > GW_LIMIT_FLOOD_WINDOW_MS) {
        b->limited_since = now_ms;
        b->limited_frames = 0;
    }
    b->limited_frames++;
    /* once: the close it asks for takes a moment, and frames meanwhile are refused */
    return b->limited_frames == (uint64_t)burst + 1 ? GW_LIMIT_FLOOD : GW_LIMIT_REFUSED;
}
