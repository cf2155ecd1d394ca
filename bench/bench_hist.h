/*  bench_hist: a log-linear latency histogram (HDR-like) in microseconds.
    The one thing to know: every value lands in a bucket whose width is at most 1/32
    of its magnitude, so a percentile is exact to about 3 % while recording costs a
    few instructions and no allocation; min, max and the mean are exact. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB 32                        /* sub-buckets per power of two */
#define BENCH_HIST_BUCKETS (BENCH_HIST_SUB * 38) /* covers up to 2^42 us */

typedef struct {
    uint64_t count;
    uint64_t min, max; /* microseconds */
    double sum;
    uint64_t bucket[BENCH_HIST_BUCKETS];
} bench_hist_t;

void bench_hist_init(bench_hist_t *self);
void bench_hist_record(bench_hist_t *self, uint64_t us);
/* Value at percentile `p` (0..100): the upper edge of the bucket holding that rank,
   clamped to the exact max. 0 when empty. */
uint64_t bench_hist_pct(const bench_hist_t *self, double p);
double bench_hist_mean(const bench_hist_t *self);

#endif
