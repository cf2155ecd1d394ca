/*  pl_shed: refusing work at capacity (see pl_shed.h). */
#include "pl_shed.h"

int64_t pl_shed_budget(int64_t shed_after_ms, int backlog)
{
    return backlog ? shed_after_ms : shed_after_ms * PL_SHED_STALL_FACTOR;
}

int pl_shed_due(int64_t now_ms, int64_t sent_ms, int64_t budget_ms)
{
    if (budget_ms <= 0 || sent_ms <= 0)
        return 0;
    return now_ms - sent_ms > budget_ms; /* a future sent_ms (skew) is negative: kept */
}

int64_t pl_shed_retry_after_ms(int64_t waited_ms, uint32_t rnd)
{
    int64_t base = waited_ms;
    if (base < PL_SHED_RETRY_MIN_MS)
        base = PL_SHED_RETRY_MIN_MS;
    if (base > PL_SHED_RETRY_MAX_MS)
        base = PL_SHED_RETRY_MAX_MS;
    return base + (int64_t)(rnd % (uint32_t)(base / 2 + 1));
}

uint64_t pl_shed_log_note(pl_shed_log_t *log, int64_t now_ms)
{
    log->pending++;
    if (log->last_ms != 0 && now_ms - log->last_ms < PL_SHED_LOG_EVERY_MS)
        return 0;
    uint64_t n = log->pending;
    log->pending = 0;
    log->last_ms = now_ms > 0 ? now_ms : 1;
    return n;
}

uint32_t pl_shed_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return (uint32_t)(x >> 32);
}

double pl_shed_limit_cut(double limit, uint32_t inflight, double max)
{
    double floor = max < PL_SHED_LIMIT_MIN ? max : PL_SHED_LIMIT_MIN;
    double to = (double)inflight * PL_SHED_CUT_KEEP;
    if (to < floor)
        to = floor;
    return to < limit ? to : limit;
}

double pl_shed_limit_raise(double limit, double max, int recovering)
{
    if (limit < 1.0)
        limit = 1.0;
    limit += recovering ? 1.0 : PL_SHED_RAISE_PER_ROUND / limit;
    return limit > max ? max : limit;
}
