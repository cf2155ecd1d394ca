/*  pl_metrics: what the gateway's and the services' /metrics have in common, defined
    once: the latency buckets, the histogram and its Prometheus rendering, the error
    codes of the contract, and the HELP/TYPE header lines.
    The one thing to know: label sets stay bounded because every label value comes
    from a fixed list here or in proto/, never from a client's string. */
#ifndef PL_METRICS_H
#define PL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "pl_buf.h"

/* Latency buckets in seconds (upper bounds; +Inf is implicit). */
#define PL_LAT_BUCKETS 14
extern const double pl_lat_le[PL_LAT_BUCKETS];

/* A histogram of up to PL_HIST_MAX_BUCKETS bounds; buckets are non-cumulative and the
   one past the last bound counts everything above it. */
#define PL_HIST_MAX_BUCKETS 16
typedef struct {
    uint64_t bucket[PL_HIST_MAX_BUCKETS + 1];
    uint64_t count;
    double sum;
} pl_hist_t;

void pl_hist_observe(pl_hist_t *h, const double *le, size_t nb, double v);
/* name_bucket{labels,le=…} (cumulative), name_sum{labels}, name_count{labels}. */
void pl_metrics_render_hist(pl_buf_t *o, const char *name, const char *labels, const pl_hist_t *h,
                            const double *le, size_t nb);
/* # HELP name text / # TYPE name type */
void pl_metrics_help(pl_buf_t *o, const char *name, const char *type, const char *text);

/* The contract's error codes, then "other" for anything else. */
#define PL_ERROR_CODES 11
extern const char *const pl_error_codes[PL_ERROR_CODES];
/* Index of code in pl_error_codes (the last, "other", for an unknown code). */
int pl_error_code_index(const char *code);

#endif
