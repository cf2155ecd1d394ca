/*  pl_metrics: see pl_metrics.h. */
#include "pl_metrics.h"

#include <string.h>

const double pl_lat_le[PL_LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,    0.25,  0.5,    1,     2.5,  5,     10};

const char *const pl_error_codes[PL_ERROR_CODES] = {
    "bad_request", "unauthenticated", "forbidden",  "not_found", "conflict", "rate_limited",
    "too_large",   "unavailable",     "overloaded", "internal",  "other"};

int pl_error_code_index(const char *code)
{
    for (int i = 0; i < PL_ERROR_CODES - 1; i++)
        if (strcmp(code, pl_error_codes[i]) == 0)
            return i;
    return PL_ERROR_CODES - 1;
}

void pl_hist_observe(pl_hist_t *h, const double *le, size_t nb, double v)
{
    size_t i = 0;
    while (i < nb && i < PL_HIST_MAX_BUCKETS && v > le[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += v;
}

void pl_metrics_render_hist(pl_buf_t *o, const char *name, const char *labels, const pl_hist_t *h,
                            const double *le, size_t nb)
{
    uint64_t cum = 0;
    if (nb > PL_HIST_MAX_BUCKETS)
        nb = PL_HIST_MAX_BUCKETS;
    for (size_t i = 0; i < nb; i++) {
        cum += h->bucket[i];
        pl_buf_printf(o, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, le[i],
                      (unsigned long long)cum);
    }
    cum += h->bucket[nb];
    pl_buf_printf(o, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cum);
    pl_buf_printf(o, "%s_sum{%s} %.6f\n", name, labels, h->sum);
    pl_buf_printf(o, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
}

void pl_metrics_help(pl_buf_t *o, const char *name, const char *type, const char *text)
{
    pl_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}
