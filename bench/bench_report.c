/*  bench_report: human table and JSON line (see bench_report.h). */
#include "bench_report.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static double stack_cpu_s(const bench_result_t *r)
{
    double s = 0;
    for (int g = 0; g < BENCH_G_COUNT; g++)
        if (g != BENCH_G_KERNEL)
            s += bench_procs_group_s(&r->procs, g, NULL);
    return s;
}

static void text_latency(FILE *out, const char *name, const bench_hist_t *h)
{
    fprintf(out, "  %-22s %9" PRIu64 " %8.2f %8.2f %8.2f %8.2f %8.2f\n", name, h->count,
            ms(bench_hist_pct(h, 50)), ms(bench_hist_pct(h, 90)), ms(bench_hist_pct(h, 99)),
            ms(h->max), bench_hist_mean(h) / 1000.0);
}

/* The pids of a group, the first few only. */
static void text_pids(FILE *out, const bench_procs_t *p, int group)
{
    int shown = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->v[i].group != group || !p->v[i].have1)
            continue;
        if (shown++ == 3) {
            fprintf(out, " ...");
            break;
        }
        fprintf(out, " %d", p->v[i].pid);
    }
    fputc('\n', out);
}

static void text_cpu(FILE *out, const bench_result_t *r, double per_unit, const char *unit)
{
    double window = r->window_s > 0 ? r->window_s : 1;
    fprintf(out, "cpu over %.1f s window (seconds of one core, %% of one core)\n", r->window_s);
    for (int g = 0; g < BENCH_G_KERNEL; g++) {
        int n = 0;
        double s = bench_procs_group_s(&r->procs, g, &n);
        if (n == 0)
            continue;
        fprintf(out, "  %-10s %2d proc %8.2f s %6.1f %%  pid", bench_group_name(g), n, s,
                100.0 * s / window);
        text_pids(out, &r->procs, g);
    }
    double stack = stack_cpu_s(r);
    fprintf(out, "  %-10s         %8.2f s %6.1f %%", "stack", stack, 100.0 * stack / window);
    if (per_unit > 0)
        fprintf(out, "   = %.1f us per %s", 1e6 * stack / per_unit, unit);
    fprintf(out, "\n  %-10s         %8.2f s %6.1f %%\n", "bench", r->own_cpu_s,
            100.0 * r->own_cpu_s / window);
    int nk = 0;
    double kernel = bench_procs_group_s(&r->procs, BENCH_G_KERNEL, &nk);
    if (nk)
        fprintf(out, "  %-10s %3d     %8.2f s %6.1f %%  (kernel threads: I/O, softirq)\n", "kernel",
                nk, kernel, 100.0 * kernel / window);
    double other = r->host_busy_s - stack - r->own_cpu_s - kernel;
    fprintf(out, "  host busy %.1f %% of %d cpus; everything else %.2f s%s\n", r->host_busy_pct,
            r->ncpu, other > 0 ? other : 0.0,
            other > 0.1 * window ? "  <- the run was shared with other work" : "");
    if (r->procs.warn[0])
        fprintf(out, "  note: %s\n", r->procs.warn);
}

static void text_errors(FILE *out, const bench_result_t *r)
{
    uint64_t total = 0;
    for (int i = 0; i < BENCH_E_COUNT; i++)
        total += r->errors[i];
    fprintf(out, "errors %" PRIu64, total);
    for (int i = 0; i < BENCH_E_COUNT; i++)
        if (r->errors[i])
            fprintf(out, "  %s %" PRIu64, bench_error_names[i], r->errors[i]);
    fprintf(out, " | closes setup %" PRIu64 " run %" PRIu64, r->closes_setup, r->closes_run);
    if (r->last_close_code >= 0)
        fprintf(out, " (last code %d)", r->last_close_code);
    fprintf(out, " | unparsed %" PRIu64 "\n", r->unparsed);
}

static void text_setup(FILE *out, const bench_opts_t *o, const bench_result_t *r)
{
    fprintf(out, "setup  %.1f s: %d/%d connected, %d authenticated", r->setup_s, r->connected,
            o->users, r->authed);
    if (!o->idle)
        fprintf(out, ", rooms %d/%d ready", r->rooms_ready, r->rooms);
    if (r->connect_errors)
        fprintf(out, ", %d connect errors (first: %s)", r->connect_errors, r->first_connect_error);
    if (r->auth_mismatch)
        fprintf(out, ", %d auth_success with a wrong user_id", r->auth_mismatch);
    fprintf(out, "\n");
}

/* --storm: how fast the connections were offered and accepted. */
static void text_storm(FILE *out, const bench_result_t *r)
{
    fprintf(out, "storm  opened over %.2f s; first open -> last auth_success %.2f s; window %.2f s"
                 " ended by %s\n",
            (r->last_open_ms - r->first_open_ms) / 1000.0,
            r->last_auth_ms > 0 ? (r->last_auth_ms - r->first_open_ms) / 1000.0 : 0.0,
            (r->window_end_ms - r->window_start_ms) / 1000.0,
            r->settled_by_signal ? "SIGUSR1 (settled)" : "--duration");
    fprintf(out, "latency (ms)               count      p50      p90      p99      max     mean\n");
    text_latency(out, "open->auth_success", &r->auth);
}

static void text_idle(FILE *out, const bench_opts_t *o, const bench_result_t *r)
{
    fprintf(out, "parley-bench --%s  %s  users %d  %s %d s%s%s\n", o->storm ? "storm" : "idle",
            o->url, o->users, o->storm ? "settle at most" : "hold", o->duration_s,
            o->source[0] ? "  source " : "", o->source);
    text_setup(out, o, r);
    if (o->storm)
        text_storm(out, r);
    long delta = r->rss_after_kb - r->rss_before_kb;
    fprintf(out, "gateway pid %d RSS: before %ld KiB, connected %ld KiB, after hold %ld KiB\n",
            r->gateway_pid, r->rss_before_kb, r->rss_connected_kb, r->rss_after_kb);
    if (r->rss_before_kb < 0 || r->rss_after_kb < 0)
        fprintf(out, "gateway RSS unreadable%s: no per-connection figure\n",
                r->rss_before_kb >= 0 ? " after the hold (did it exit?)" : " (not found)");
    else if (r->authed > 0)
        fprintf(out, "per idle authenticated connection: %.1f KiB (%ld KiB / %d)\n",
                (double)delta / r->authed, delta, r->authed);
    fprintf(out, "bench RSS %ld KiB\n", r->own_rss_kb);
    text_errors(out, r);
    if (o->storm)
        text_cpu(out, r, r->authed, "connection (connect + authenticate + settle)");
    else
        text_cpu(out, r, r->authed * (r->window_s > 0 ? r->window_s : 1), "connection-second");
}

void bench_report_text(FILE *out, const bench_opts_t *o, const bench_result_t *r)
{
    if (o->idle) {
        text_idle(out, o, r);
        return;
    }
    double d = r->measured_s > 0 ? r->measured_s : o->duration_s;
    fprintf(out,
            "parley-bench  %s  users %d  room-size %d  rate %.0f/s  window %d s (+%d warmup)"
            "  size %d%s\n",
            o->url, o->users, o->room_size, o->rate, o->duration_s, o->warmup_s, o->size,
            r->interrupted ? "  [INTERRUPTED]" : "");
    text_setup(out, o, r);
    if (r->setup_failed) {
        fprintf(out, "SETUP FAILED: no room became ready, nothing was measured\n");
        text_errors(out, r);
        return;
    }
    uint64_t written = r->sent - r->unsent;
    fprintf(out,
            "messages  scheduled %" PRIu64 "  sent %" PRIu64 "  acked %" PRIu64 "  failed %" PRIu64
            "  no-answer %" PRIu64 "  dup-acks %" PRIu64 "\n",
            r->sent, written, r->acked, r->failed, r->ack_missing, r->dup_acks);
    uint64_t missing =
        r->deliv_expected > r->deliv_received ? r->deliv_expected - r->deliv_received : 0;
    fprintf(out,
            "deliveries expected %" PRIu64 "  received %" PRIu64 "  missing %" PRIu64
            "  duplicates %" PRIu64 "  misrouted %" PRIu64 "  of-unacked %" PRIu64 "\n",
            r->deliv_expected, r->deliv_received, missing, r->duplicates, r->misrouted,
            r->deliv_unacked);
    fprintf(out, "throughput %.0f msgs/s acked, %.0f deliveries/s\n", (double)r->acked / d,
            (double)r->deliv_received / d);
    fprintf(out, "latency (ms)               count      p50      p90      p99      max     mean\n");
    text_latency(out, "ack  send->message_sent", &r->ack);
    text_latency(out, "deliv send->new_message", &r->deliv);
    text_latency(out, "tool send lag", &r->lag);
    if (r->fail.count)
        text_latency(out, "fail send->error", &r->fail);
    text_errors(out, r);
    text_cpu(out, r, (double)r->acked, "message");
}

static void json_hist(FILE *out, const char *name, const bench_hist_t *h)
{
    fprintf(out,
            "\"%s\":{\"count\":%" PRIu64 ",\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,"
            "\"mean\":%.3f}",
            name, h->count, ms(bench_hist_pct(h, 50)), ms(bench_hist_pct(h, 90)),
            ms(bench_hist_pct(h, 99)), ms(h->max), bench_hist_mean(h) / 1000.0);
}

static void json_cpu(FILE *out, const bench_result_t *r)
{
    fprintf(out, "\"cpu_s\":{");
    for (int g = 0; g < BENCH_G_COUNT; g++)
        fprintf(out, "\"%s\":%.3f,", bench_group_name(g), bench_procs_group_s(&r->procs, g, NULL));
    fprintf(out,
            "\"stack\":%.3f,\"bench\":%.3f,\"window\":%.3f,\"host_busy\":%.3f,"
            "\"host_busy_pct\":%.1f,\"ncpu\":%d}",
            stack_cpu_s(r), r->own_cpu_s, r->window_s, r->host_busy_s, r->host_busy_pct, r->ncpu);
}

/* --storm: the raw samples, so that a coordinator can combine several processes'
   reports: per pid, the earliest start and the latest end sample (clock ticks). */
static void json_storm(FILE *out, const bench_result_t *r)
{
    fprintf(out,
            "\"first_open_ms\":%.3f,\"last_open_ms\":%.3f,\"last_auth_ms\":%.3f,"
            "\"window_start_ms\":%.3f,\"window_end_ms\":%.3f,\"settled_by_signal\":%s,",
            r->first_open_ms, r->last_open_ms, r->last_auth_ms, r->window_start_ms,
            r->window_end_ms, r->settled_by_signal ? "true" : "false");
    json_hist(out, "auth_ms", &r->auth);
    fprintf(out, ",\"stack_cpu_us_per_conn\":%.2f,\"clk_tck\":%ld,\"procs\":[",
            r->authed ? 1e6 * stack_cpu_s(r) / r->authed : 0.0, r->procs.clk_tck);
    const char *sep = "";
    for (size_t i = 0; i < r->procs.n; i++) {
        const bench_proc_t *p = &r->procs.v[i];
        if (!p->have1)
            continue; /* gone before the end: not counted here either */
        /* t0 0: appeared during the window, all its CPU falls in it (as in bench_proc) */
        fprintf(out, "%s{\"pid\":%d,\"group\":\"%s\",\"t0\":%" PRIu64 ",\"t1\":%" PRIu64 "}", sep,
                p->pid, bench_group_name(p->group), p->have0 ? p->t0 : 0, p->t1);
        sep = ",";
    }
    fprintf(out, "],\"procs_note\":\"");
    for (const char *c = r->procs.warn; *c; c++) /* plain text; quote what JSON needs */
        fprintf(out, *c == '"' || *c == '\\' ? "\\%c" : (unsigned char)*c < 0x20 ? " " : "%c", *c);
    fprintf(out, "\",");
}

static void json_errors(FILE *out, const bench_result_t *r)
{
    fprintf(out, "\"errors\":{");
    for (int i = 0; i < BENCH_E_COUNT; i++)
        fprintf(out, "%s\"%s\":%" PRIu64, i ? "," : "", bench_error_names[i], r->errors[i]);
    fprintf(out, "},\"closes_setup\":%" PRIu64 ",\"closes_run\":%" PRIu64 ",\"unparsed\":%" PRIu64,
            r->closes_setup, r->closes_run, r->unparsed);
}

void bench_report_json(FILE *out, const bench_opts_t *o, const bench_result_t *r)
{
    fprintf(out,
            "{\"mode\":\"%s\",\"url\":\"%s\",\"users\":%d,\"connected\":%d,\"authed\":%d,"
            "\"connect_errors\":%d,\"setup_s\":%.2f,\"setup_failed\":%s,\"interrupted\":%s,",
            o->storm ? "storm" : o->idle ? "idle" : "chat", o->url, o->users, r->connected, r->authed, r->connect_errors,
            r->setup_s, r->setup_failed ? "true" : "false", r->interrupted ? "true" : "false");
    if (o->idle) {
        long delta = r->rss_after_kb - r->rss_before_kb;
        fprintf(out,
                "\"duration_s\":%d,\"gateway_pid\":%d,\"rss_before_kb\":%ld,"
                "\"rss_connected_kb\":%ld,\"rss_after_kb\":%ld,",
                o->duration_s, r->gateway_pid, r->rss_before_kb, r->rss_connected_kb,
                r->rss_after_kb);
        if (r->authed > 0 && r->rss_before_kb >= 0 && r->rss_after_kb >= 0)
            fprintf(out, "\"rss_per_conn_kb\":%.2f,", (double)delta / r->authed);
        else
            fprintf(out, "\"rss_per_conn_kb\":null,");
        fprintf(out, "\"source\":\"%s\",", o->source);
        if (o->storm)
            json_storm(out, r);
    } else {
        uint64_t missing =
            r->deliv_expected > r->deliv_received ? r->deliv_expected - r->deliv_received : 0;
        double d = r->measured_s > 0 ? r->measured_s : o->duration_s;
        fprintf(out,
                "\"room_size\":%d,\"rooms\":%d,\"rooms_ready\":%d,\"rate\":%.1f,\"duration_s\":%d,"
                "\"warmup_s\":%d,\"size\":%d,\"scheduled\":%" PRIu64 ",\"sent\":%" PRIu64
                ",\"acked\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"no_answer\":%" PRIu64
                ",\"dup_acks\":%" PRIu64 ",\"deliveries_expected\":%" PRIu64
                ",\"deliveries_received\":%" PRIu64 ",\"deliveries_missing\":%" PRIu64
                ",\"duplicates\":%" PRIu64 ",\"misrouted\":%" PRIu64
                ",\"deliveries_of_unacked\":%" PRIu64 ",\"acked_per_s\":%.1f,"
                "\"deliveries_per_s\":%.1f,",
                o->room_size, r->rooms, r->rooms_ready, o->rate, o->duration_s, o->warmup_s,
                o->size, r->sent, r->sent - r->unsent, r->acked, r->failed, r->ack_missing,
                r->dup_acks, r->deliv_expected, r->deliv_received, missing, r->duplicates,
                r->misrouted, r->deliv_unacked, (double)r->acked / d,
                (double)r->deliv_received / d);
        json_hist(out, "ack_ms", &r->ack);
        fputc(',', out);
        json_hist(out, "delivery_ms", &r->deliv);
        fputc(',', out);
        json_hist(out, "send_lag_ms", &r->lag);
        fputc(',', out);
        json_hist(out, "error_ms", &r->fail);
        fprintf(out, ",\"stack_cpu_us_per_msg\":%.2f,",
                r->acked ? 1e6 * stack_cpu_s(r) / (double)r->acked : 0.0);
    }
    json_errors(out, r);
    fputc(',', out);
    json_cpu(out, r);
    fprintf(out, "}\n");
}

int bench_report_timeline(const char *path, const bench_result_t *r)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "parley-bench: --timeline %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "sent_s,acks,max_ms,over_10ms\n");
    for (int i = 0; i < r->nslots; i++) {
        const struct bench_slot *s = &r->slots[i];
        fprintf(f, "%.1f,%u,%.2f,%u\n", i / 10.0, s->acks, (double)s->max_us / 1000.0,
                s->over_10ms);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "parley-bench: --timeline %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}
