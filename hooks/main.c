/*  parley-hooks: the webhook worker (see hooks.h). main reads the configuration and
    runs one loop: claim what the free slots can take, poll the transfers and the
    metrics listener together, record each attempt's outcome. Run as many as you
    like against the same databases (docs/operations.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "hooks_deliver.h"
#include "pl_clock.h"
#include "pl_config.h"
#include "pl_log.h"
#include "pl_metrics_http.h"

#define DEPTH_EVERY_MS 2000
#define PRUNE_EVERY_MS (3600 * 1000)
#define POLL_ITEMS (HOOKS_CONCURRENCY_MAX * 2 + PL_METRICS_HTTP_POLL_MAX)

static volatile sig_atomic_t s_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

int hooks_config_from_env(hooks_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->url = pl_env_str("WEBHOOK_URL", NULL);
    cfg->secret = pl_env_str("WEBHOOK_SECRET", NULL);
    if (!cfg->url || strncmp(cfg->url, "http://", 7) != 0) {
        if (!cfg->url || strncmp(cfg->url, "https://", 8) != 0) {
            fprintf(stderr, "parley-hooks: WEBHOOK_URL must be an http:// or https:// URL\n");
            return -1;
        }
    }
    if (!cfg->secret || strlen(cfg->secret) < 16) {
        fprintf(stderr, "parley-hooks: WEBHOOK_SECRET must be set, at least 16 characters\n");
        return -1;
    }
    if (pl_env_int("WEBHOOK_MAX_ATTEMPTS", 15, 1, 100, &cfg->max_attempts) ||
        pl_env_int("WEBHOOK_TIMEOUT_MS", 10000, 100, 60000, &cfg->timeout_ms) ||
        pl_env_int("WEBHOOK_BACKOFF_BASE_MS", 1000, 1, 3600000, &cfg->backoff_base_ms) ||
        pl_env_int("WEBHOOK_BACKOFF_MAX_MS", 600000, 1, 86400000, &cfg->backoff_max_ms) ||
        pl_env_int("WEBHOOK_CONCURRENCY", 16, 1, HOOKS_CONCURRENCY_MAX, &cfg->concurrency) ||
        pl_env_int("WEBHOOK_POLL_MS", 200, 10, 60000, &cfg->poll_ms) ||
        pl_env_int("WEBHOOK_DEAD_RETENTION_DAYS", 30, 1, 3650, &cfg->dead_retention_days))
        return -1;
    if (cfg->backoff_max_ms < cfg->backoff_base_ms)
        cfg->backoff_max_ms = cfg->backoff_base_ms;
    cfg->lease_ms = 2 * cfg->timeout_ms + 5000;
    return 0;
}

typedef struct {
    hooks_cfg_t cfg;
    hooks_source_t *src[HOOKS_SOURCES];
    hooks_deliver_t *deliver;
    hooks_metrics_t metrics;
    pl_buf_t bodies[HOOKS_CONCURRENCY_MAX];
    hooks_row_t rows[HOOKS_CONCURRENCY_MAX];
    unsigned seed;
} hooks_t;

/* An attempt ended: the row is deleted, backs off or dies. A database failure here
   leaves the row leased: it comes back when the lease ends (at least once). */
static void on_done(void *arg, const hooks_row_t *row, hooks_outcome_t out, const char *why,
                    int64_t took_us)
{
    hooks_t *h = arg;
    hooks_metrics_t *m = &h->metrics;
    m->attempts[out]++;
    pl_hist_observe(&m->attempt, pl_lat_le, PL_LAT_BUCKETS, (double)took_us / 1e6);
    int64_t backoff = 0;
    if (out == HOOKS_OK) {
        double age = (double)(pl_wall_ms() * 1000 - row->created_us) / 1e6;
        pl_hist_observe(&m->delivery, hooks_delivery_le, HOOKS_DELIVERY_BUCKETS, age < 0 ? 0 : age);
    } else {
        backoff = hooks_backoff_ms(&h->cfg, row->attempts, (double)rand_r(&h->seed) / RAND_MAX);
    }
    int rc = hooks_source_done(h->src[row->src], &h->cfg, row, out == HOOKS_OK, why, backoff);
    if (rc < 0) {
        /* The row stays leased and comes back when the lease ends (at least once). */
        pl_warn("webhook outcome not recorded", "event=%s attempt=%lld outcome=%d",
                row->event_id, (long long)row->attempts, (int)out);
    } else if (rc == 1) {
        m->dead_total++;
        pl_warn("webhook dead letter", "event=%s type=%s attempts=%lld error=\"%s\"", row->event_id,
                row->type, (long long)row->attempts, why);
    } else if (out != HOOKS_OK) {
        pl_info("webhook attempt failed", "event=%s attempt=%lld retry_ms=%lld error=\"%s\"",
                row->event_id, (long long)row->attempts, (long long)backoff, why);
    } else {
        pl_debug("webhook delivered", "event=%s attempt=%lld", row->event_id,
                 (long long)row->attempts);
    }
}

/* Claim from each source in turn what the free slots can take. 1 when some source
   gave all it was asked for (more may be waiting: claim again at once). */
static int claim(hooks_t *h, int *next_src)
{
    int full = 0;
    for (int k = 0; k < HOOKS_SOURCES; k++) {
        int i = (*next_src + k) % HOOKS_SOURCES;
        int want = hooks_deliver_free(h->deliver);
        if (want <= 0)
            break;
        if (!hooks_source_ready(h->src[i]))
            continue;
        int n = hooks_source_claim(h->src[i], &h->cfg, want, h->rows, h->bodies);
        if (n < 0)
            continue;
        full |= n == want;
        for (int j = 0; j < n; j++)
            (void)hooks_deliver_start(h->deliver, &h->rows[j], &h->bodies[j]);
    }
    *next_src = (*next_src + 1) % HOOKS_SOURCES;
    return full;
}

static void refresh_depth(hooks_t *h)
{
    hooks_metrics_t *m = &h->metrics;
    for (int i = 0; i < HOOKS_SOURCES; i++) {
        m->up[i] = hooks_source_ready(h->src[i]) &&
                   hooks_source_depth(h->src[i], &m->depth[i], &m->oldest_s[i], &m->dead[i]) == 0;
    }
}

static int run(hooks_t *h, pl_metrics_http_t *http)
{
    zmq_pollitem_t items[POLL_ITEMS];
    int next_src = 0;
    int64_t next_claim = 0, next_depth = 0, next_prune = pl_mono_ms() + 60000;
    while (!s_stop || hooks_deliver_busy(h->deliver)) {
        int64_t now = pl_mono_ms();
        if (!s_stop && now >= next_claim && hooks_deliver_free(h->deliver) > 0)
            next_claim = claim(h, &next_src) ? now : now + h->cfg.poll_ms;
        if (now >= next_depth) {
            refresh_depth(h);
            next_depth = now + DEPTH_EVERY_MS;
        }
        if (now >= next_prune) {
            for (int i = 0; i < HOOKS_SOURCES; i++)
                if (hooks_source_ready(h->src[i]))
                    (void)hooks_source_prune(h->src[i], &h->cfg);
            next_prune = now + PRUNE_EVERY_MS;
        }
        h->metrics.in_flight = hooks_deliver_busy(h->deliver);
        long curl_ms = -1;
        int n = hooks_deliver_poll_items(h->deliver, items, HOOKS_CONCURRENCY_MAX * 2, &curl_ms);
        int nm = pl_metrics_http_poll_items(http, items + n, PL_METRICS_HTTP_POLL_MAX);
        int64_t wait = next_claim > now ? next_claim - now : 0;
        if (hooks_deliver_free(h->deliver) == 0 || s_stop)
            wait = h->cfg.poll_ms;
        if (next_depth - now < wait)
            wait = next_depth - now > 0 ? next_depth - now : 0;
        if (curl_ms >= 0 && curl_ms < wait)
            wait = curl_ms;
        if (zmq_poll(items, n + nm, (long)wait) < 0 && !s_stop)
            continue; /* EINTR: the signal is seen at the top */
        pl_metrics_http_serve(http, items + n, nm,
                              h->metrics.up[0] || h->metrics.up[1] || h->metrics.up[2]);
        hooks_deliver_perform(h->deliver, on_done, h);
    }
    return 0;
}

int main(void)
{
    if (pl_log_init("hooks")) {
        fprintf(stderr, "parley-hooks: bad LOG_LEVEL or LOG_FORMAT\n");
        return 2;
    }
    static hooks_t h; /* large (bodies, rows): not on the stack */
    if (hooks_config_from_env(&h.cfg))
        return 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "parley-hooks: libcurl failed to start\n");
        return 1;
    }
    static const char *const schemas[HOOKS_SOURCES] = {"chat", "presence", "call"};
    static const char *const dsn_vars[HOOKS_SOURCES] = {"CHAT_DB_URL", "PRESENCE_DB_URL",
                                                        "CALL_DB_URL"};
    int rc = 1;
    char instance[24];
    snprintf(instance, sizeof instance, "%d", (int)getpid());
    pl_metrics_http_t *http = pl_metrics_http_new("hooks", instance);
    if (!http) {
        rc = 2;
        goto done;
    }
    for (int i = 0; i < HOOKS_SOURCES; i++) {
        h.metrics.names[i] = schemas[i];
        if (!(h.src[i] = hooks_source_new(schemas[i], dsn_vars[i], i))) {
            rc = 2;
            goto done;
        }
    }
    for (int i = 0; i < HOOKS_CONCURRENCY_MAX; i++)
        pl_buf_init(&h.bodies[i], 0);
    if (!(h.deliver = hooks_deliver_new(&h.cfg)))
        goto done;
    h.seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    pl_metrics_http_set_render(http, hooks_metrics_render, &h.metrics);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pl_info("hooks ready", "concurrency=%lld max_attempts=%lld timeout_ms=%lld metrics_port=%d",
            (long long)h.cfg.concurrency, (long long)h.cfg.max_attempts,
            (long long)h.cfg.timeout_ms, pl_metrics_http_port(http));
    /* A stop lets the attempts in flight finish (each within WEBHOOK_TIMEOUT_MS), so
       their outcomes are recorded instead of waiting out a lease. */
    rc = run(&h, http);
    pl_info("hooks stopping", "delivered=%llu dead=%llu",
            (unsigned long long)h.metrics.attempts[HOOKS_OK],
            (unsigned long long)h.metrics.dead_total);
done:
    hooks_deliver_destroy(&h.deliver);
    for (int i = 0; i < HOOKS_CONCURRENCY_MAX; i++)
        pl_buf_free(&h.bodies[i]);
    for (int i = 0; i < HOOKS_SOURCES; i++)
        hooks_source_destroy(&h.src[i]);
    pl_metrics_http_destroy(&http);
    curl_global_cleanup();
    return rc;
}
