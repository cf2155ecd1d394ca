/*  bench_report: prints a run's results as a compact human table and, on request,
    as one JSON line (the last line of stdout) for scripts.
    The one thing to know: latencies are reported in milliseconds, CPU in seconds of
    one core over the measured window, and "server CPU per message" divides the
    stack's CPU (gateway + services + broker + PostgreSQL) by the acked messages. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include "bench_opts.h"
#include "bench_run.h"

void bench_report_text(FILE *out, const bench_opts_t *o, const bench_result_t *r);
void bench_report_json(FILE *out, const bench_opts_t *o, const bench_result_t *r);
/* --timeline: one CSV row per 100 ms of the window. 0, or -1 (said on stderr). */
int bench_report_timeline(const char *path, const bench_result_t *r);

#endif
