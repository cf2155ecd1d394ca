/*  bench_hist: log-linear histogram (see bench_hist.h).
    Layout: values below 2*SUB have one bucket each; above, the exponent e = msb - 5
    selects a row of SUB buckets holding v >> e (always in [SUB, 2*SUB)), so bucket
    index = e * SUB + (v >> e) runs on contiguously from the exact range. */
#include "bench_hist.h"

#include <string.h>

static unsigned msb64(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

static unsigned index_of(uint64_t v)
{
    if (v < 2 * BENCH_HIST_SUB)
        return (unsigned)v;
    unsigned e = msb64(v) - 5; /* log2(BENCH_HIST_SUB) == 5 */
    unsigned idx = e * BENCH_HIST_SUB + (unsigned)(v >> e);
    return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

/* Largest value that maps to bucket `idx`. */
static uint64_t upper_of(unsigned idx)
{
    if (idx < 2 * BENCH_HIST_SUB)
        return idx;
    unsigned e = idx / BENCH_HIST_SUB - 1;
    uint64_t m = idx - e * BENCH_HIST_SUB;
    return ((m + 1) << e) - 1;
}

void bench_hist_init(bench_hist_t *self)
{
    memset(self, 0, sizeof *self);
}

void bench_hist_record(bench_hist_t *self, uint64_t us)
{
    if (self->count == 0 || us < self->min)
        self->min = us;
    if (us > self->max)
        self->max = us;
    self->count++;
    self->sum += (double)us;
    self->bucket[index_of(us)]++;
}

uint64_t bench_hist_pct(const bench_hist_t *self, double p)
{
    if (self->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)self->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > self->count)
        rank = self->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += self->bucket[i];
        if (seen >= rank) {
            uint64_t v = upper_of(i);
            if (v > self->max)
                v = self->max;
            if (v < self->min)
                v = self->min;
            return v;
        }
    }
    return self->max;
}

double bench_hist_mean(const bench_hist_t *self)
{
    return self->count ? self->sum / (double)self->count : 0.0;
}
