/*  pl_metrics_http: a service's counters and histograms, and the non-blocking HTTP
    listener that serves them (see pl_metrics_http.h). One request per connection
    (`Connection: close`): scrapers open a connection per scrape anyway. */
#define _GNU_SOURCE /* accept4 */
#include "pl_metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pl_buf.h"
#include "pl_config.h"
#include "pl_clock.h"
#include "pl_log.h"
#include "pl_metrics.h"
#include "proto.h"

#define MAX_CLIENTS (PL_METRICS_HTTP_POLL_MAX - 1)
#define REQ_MAX 2048
#define CLIENT_IDLE_US (5 * 1000000LL)

/* Batch size buckets (requests per batch; BATCH_MAX is 128). */
static const double s_batch_le[] = {1, 2, 4, 8, 16, 32, 64, 128};
#define BATCH_BUCKETS (sizeof s_batch_le / sizeof s_batch_le[0])

/* Internal request names a service may handle (proto.h), after the client events. */
static const char *const s_internal[] = {
    PROTO_EV_SESSION_OPEN,   PROTO_EV_CONN_OPEN,         PROTO_EV_CONN_CLOSE, PROTO_EV_GW_LEASE,
    PROTO_EV_PRESENCE_QUERY, PROTO_EV_AVAILABLE_MENTORS, PROTO_EV_ACTIVITY};
#define N_INTERNAL (sizeof s_internal / sizeof s_internal[0])
#define MAX_EVENTS 96 /* client events + internal + "other" */

static const char *s_txn_names[PL_TXN_KINDS] = {"batch", "retry", "event", "tick"};

typedef struct {
    int fd;
    int64_t opened_us;
    char in[REQ_MAX + 1];
    size_t in_len;
    pl_buf_t out;
    size_t out_off;
} client_t;

struct pl_metrics_http_t {
    char kind[32];
    char instance[40];
    int listen_fd;
    int port;
    client_t clients[MAX_CLIENTS];
    /* metrics */
    const char *ev_names[MAX_EVENTS];
    size_t n_events; /* the last one is "other" */
    uint64_t requests[MAX_EVENTS];
    pl_hist_t latency[MAX_EVENTS];
    uint64_t errors[PL_ERROR_CODES], staged_errors[PL_ERROR_CODES];
    pl_hist_t txn[PL_TXN_KINDS];
    uint64_t txn_failed[PL_TXN_KINDS];
    uint64_t batch_bucket[BATCH_BUCKETS + 1], batch_count, batch_sum;
    uint64_t batches_full, failed_batches, dropped_late, shed, scrapes;
    int64_t last_batch;
    pl_metrics_render_fn *render_fn; /* set: not a service, render this instead */
    void *render_arg;
};

int64_t pl_metrics_now_us(void)
{
    return pl_mono_us();
}

static void close_client(client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in_len = 0;
    c->out_off = 0;
    pl_buf_free(&c->out);
}

static int listen_on(pl_metrics_http_t *self, const char *bind_host, int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_host, &sa.sin_addr) != 1) {
        pl_error("bad configuration",
                 "var=METRICS_BIND value=\"%.40s\" expected=\"an IPv4 address\"", bind_host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
        pl_error("cannot listen", "what=metrics bind=%s port=%d err=\"%s\"", bind_host, port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    self->listen_fd = fd;
    self->port = port;
    pl_info("metrics listening", "bind=%s port=%d", bind_host, port);
    return 0;
}

pl_metrics_http_t *pl_metrics_http_new(const char *kind, const char *instance)
{
    int64_t port;
    if (pl_env_int("METRICS_PORT", 0, 0, 65535, &port))
        return NULL;
    pl_metrics_http_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->kind, sizeof self->kind, "%s", kind);
    snprintf(self->instance, sizeof self->instance, "%s", instance);
    self->listen_fd = -1;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        self->clients[i].fd = -1;
        pl_buf_init(&self->clients[i].out, 0);
    }
    size_t n;
    const proto_event_t *evs = proto_events(&n);
    for (size_t i = 0; i < n && self->n_events < MAX_EVENTS - N_INTERNAL - 1; i++)
        self->ev_names[self->n_events++] = evs[i].name;
    for (size_t i = 0; i < N_INTERNAL; i++)
        self->ev_names[self->n_events++] = s_internal[i];
    self->ev_names[self->n_events++] = "other";
    if (port > 0 && listen_on(self, pl_env_str("METRICS_BIND", "127.0.0.1"), (int)port) != 0) {
        pl_metrics_http_destroy(&self);
        return NULL;
    }
    return self;
}

void pl_metrics_http_destroy(pl_metrics_http_t **self_p)
{
    pl_metrics_http_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < MAX_CLIENTS; i++)
        close_client(&self->clients[i]);
    if (self->listen_fd >= 0)
        close(self->listen_fd);
    free(self);
    *self_p = NULL;
}

void pl_metrics_http_set_render(pl_metrics_http_t *self, pl_metrics_render_fn *fn, void *arg)
{
    self->render_fn = fn;
    self->render_arg = arg;
}

int pl_metrics_http_port(const pl_metrics_http_t *self)
{
    return self->port;
}

/* ---- recording ------------------------------------------------------------------ */

static size_t event_index(const pl_metrics_http_t *self, const char *ev)
{
    for (size_t i = 0; i + 1 < self->n_events; i++)
        if (strcmp(self->ev_names[i], ev) == 0)
            return i;
    return self->n_events - 1;
}

void pl_metrics_batch(pl_metrics_http_t *self, size_t received, size_t run, int full)
{
    size_t i = 0;
    while (i < BATCH_BUCKETS && (double)run > s_batch_le[i])
        i++;
    if (run > 0) {
        self->batch_bucket[i]++;
        self->batch_count++;
        self->batch_sum += run;
    }
    self->last_batch = (int64_t)received;
    self->batches_full += full != 0;
}

void pl_metrics_request(pl_metrics_http_t *self, const char *ev, int64_t latency_us)
{
    size_t i = event_index(self, ev);
    self->requests[i]++;
    pl_hist_observe(&self->latency[i], pl_lat_le, PL_LAT_BUCKETS, (double)latency_us / 1e6);
}

void pl_metrics_dropped_late(pl_metrics_http_t *self)
{
    self->dropped_late++;
}

void pl_metrics_shed(pl_metrics_http_t *self)
{
    self->shed++;
}

void pl_metrics_failed_batch(pl_metrics_http_t *self)
{
    self->failed_batches++;
}

void pl_metrics_txn(pl_metrics_http_t *self, pl_txn_kind_t kind, int64_t us, int ok)
{
    if (kind >= PL_TXN_KINDS)
        return;
    if (ok)
        pl_hist_observe(&self->txn[kind], pl_lat_le, PL_LAT_BUCKETS, (double)us / 1e6);
    else
        self->txn_failed[kind]++;
}

void pl_metrics_error(pl_metrics_http_t *self, const char *code)
{
    self->staged_errors[pl_error_code_index(code)]++;
}

void pl_metrics_outbox(pl_metrics_http_t *self, int published)
{
    for (size_t i = 0; i < PL_ERROR_CODES; i++) {
        if (published)
            self->errors[i] += self->staged_errors[i];
        self->staged_errors[i] = 0;
    }
}

/* ---- rendering ------------------------------------------------------------------ */

static void render(pl_metrics_http_t *self, pl_buf_t *o, int db_up)
{
    char base[96], lab[192];
    snprintf(base, sizeof base, "service=\"%s\"", self->kind);
    pl_metrics_help(o, "parley_service_info", "gauge",
                    "This process: service kind and instance id");
    pl_buf_printf(o, "parley_service_info{%s,instance=\"%s\"} 1\n", base, self->instance);
    pl_metrics_help(o, "parley_service_db_up", "gauge", "1 when the database connection is usable");
    pl_buf_printf(o, "parley_service_db_up{%s} %d\n", base, db_up ? 1 : 0);

    pl_metrics_help(o, "parley_service_requests_total", "counter",
                    "Requests answered (reply published after COMMIT), by event type");
    for (size_t i = 0; i < self->n_events; i++)
        if (self->requests[i])
            pl_buf_printf(o, "parley_service_requests_total{%s,event=\"%s\"} %llu\n", base,
                          self->ev_names[i], (unsigned long long)self->requests[i]);
    pl_metrics_help(
        o, "parley_service_request_duration_seconds", "histogram",
        "Time from taking a request off the queue to publishing its reply, by event type");
    for (size_t i = 0; i < self->n_events; i++)
        if (self->latency[i].count) {
            snprintf(lab, sizeof lab, "%s,event=\"%s\"", base, self->ev_names[i]);
            pl_metrics_render_hist(o, "parley_service_request_duration_seconds", lab,
                                   &self->latency[i], pl_lat_le, PL_LAT_BUCKETS);
        }
    pl_metrics_help(o, "parley_service_errors_total", "counter",
                    "Error replies published, by code");
    for (size_t i = 0; i < PL_ERROR_CODES; i++)
        pl_buf_printf(o, "parley_service_errors_total{%s,code=\"%s\"} %llu\n", base,
                      pl_error_codes[i], (unsigned long long)self->errors[i]);

    pl_metrics_help(o, "parley_service_batch_size", "histogram",
                    "Requests handled per batch (one database transaction)");
    uint64_t cum = 0;
    for (size_t i = 0; i < BATCH_BUCKETS; i++) {
        cum += self->batch_bucket[i];
        pl_buf_printf(o, "parley_service_batch_size_bucket{%s,le=\"%g\"} %llu\n", base,
                      s_batch_le[i], (unsigned long long)cum);
    }
    cum += self->batch_bucket[BATCH_BUCKETS];
    pl_buf_printf(o, "parley_service_batch_size_bucket{%s,le=\"+Inf\"} %llu\n", base,
                  (unsigned long long)cum);
    pl_buf_printf(o, "parley_service_batch_size_sum{%s} %llu\n", base,
                  (unsigned long long)self->batch_sum);
    pl_buf_printf(o, "parley_service_batch_size_count{%s} %llu\n", base,
                  (unsigned long long)self->batch_count);
    pl_metrics_help(o, "parley_service_backlog", "gauge",
                    "Messages waiting in this process' queue at the last batch (taken in one go; "
                    "ZeroMQ does not expose its own queue lengths)");
    pl_buf_printf(o, "parley_service_backlog{%s} %lld\n", base, (long long)self->last_batch);
    pl_metrics_help(o, "parley_service_batches_full_total", "counter",
                    "Batches that hit the batch limit: more requests were already waiting");
    pl_buf_printf(o, "parley_service_batches_full_total{%s} %llu\n", base,
                  (unsigned long long)self->batches_full);
    pl_metrics_help(o, "parley_service_failed_batches_total", "counter",
                    "Batches rolled back and retried one request at a time");
    pl_buf_printf(o, "parley_service_failed_batches_total{%s} %llu\n", base,
                  (unsigned long long)self->failed_batches);
    pl_metrics_help(
        o, "parley_service_dropped_late_total", "counter",
        "Requests dropped because their deadline had passed (the gateway answered unavailable)");
    pl_buf_printf(o, "parley_service_dropped_late_total{%s} %llu\n", base,
                  (unsigned long long)self->dropped_late);
    pl_metrics_help(o, "parley_service_shed_total", "counter",
                    "Requests refused `overloaded` without acting on them: they had waited in "
                    "the queue longer than SHED_AFTER_MS");
    pl_buf_printf(o, "parley_service_shed_total{%s} %llu\n", base,
                  (unsigned long long)self->shed);

    pl_metrics_help(o, "parley_service_db_transaction_seconds", "histogram",
                    "Database transactions, BEGIN to COMMIT, by what they were for");
    for (int k = 0; k < PL_TXN_KINDS; k++) {
        snprintf(lab, sizeof lab, "%s,kind=\"%s\"", base, s_txn_names[k]);
        pl_metrics_render_hist(o, "parley_service_db_transaction_seconds", lab, &self->txn[k],
                               pl_lat_le, PL_LAT_BUCKETS);
    }
    pl_metrics_help(o, "parley_service_db_transaction_failures_total", "counter",
                    "Database transactions rolled back or failed, by what they were for");
    for (int k = 0; k < PL_TXN_KINDS; k++)
        pl_buf_printf(o, "parley_service_db_transaction_failures_total{%s,kind=\"%s\"} %llu\n",
                      base, s_txn_names[k], (unsigned long long)self->txn_failed[k]);
    pl_metrics_help(o, "parley_service_metrics_scrapes_total", "counter",
                    "Requests to this listener");
    pl_buf_printf(o, "parley_service_metrics_scrapes_total{%s} %llu\n", base,
                  (unsigned long long)self->scrapes);
}

/* ---- serving -------------------------------------------------------------------- */

int pl_metrics_http_poll_items(pl_metrics_http_t *self, zmq_pollitem_t *items, int cap)
{
    if (self->listen_fd < 0 || cap < 1)
        return 0;
    int n = 0;
    items[n++] = (zmq_pollitem_t){NULL, self->listen_fd, ZMQ_POLLIN, 0};
    for (int i = 0; i < MAX_CLIENTS && n < cap; i++) {
        client_t *c = &self->clients[i];
        if (c->fd >= 0)
            items[n++] = (zmq_pollitem_t){NULL, c->fd, c->out.len ? ZMQ_POLLOUT : ZMQ_POLLIN, 0};
    }
    return n;
}

static void respond(pl_metrics_http_t *self, client_t *c, int db_up)
{
    char method[8] = "", path[128] = "";
    /* "GET /metrics?x HTTP/1.1": the path ends at a space or a query. */
    if (sscanf(c->in, "%7s %127s", method, path) != 2)
        snprintf(method, sizeof method, "?");
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    pl_buf_t body;
    pl_buf_init(&body, 0);
    int status = 200;
    const char *type = "text/plain; version=0.0.4; charset=utf-8";
    int head_only = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !head_only) {
        status = 405;
        pl_buf_puts(&body, "method not allowed\n");
    } else if (strcmp(path, "/metrics") == 0) {
        if (self->render_fn)
            self->render_fn(self->render_arg, &body);
        else
            render(self, &body, db_up);
    } else if (strcmp(path, "/healthz") == 0) {
        status = db_up ? 200 : 503;
        type = "application/json";
        pl_buf_printf(&body, "{\"status\":\"%s\",\"service\":\"%s\",\"instance\":\"%s\"}\n",
                      db_up ? "ok" : "unavailable", self->kind, self->instance);
    } else {
        status = 404;
        pl_buf_puts(&body, "not found: try /metrics or /healthz\n");
    }
    self->scrapes++;
    const char *reason = status == 200   ? "OK"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                                         : "Service Unavailable";
    pl_buf_printf(&c->out,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                  "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                  status, reason, type, body.len);
    if (!head_only && body.len)
        pl_buf_append(&c->out, body.data, body.len);
    pl_buf_free(&body);
    if (!c->out.data) /* out of memory: nothing to say */
        close_client(c);
}

/* Write what is pending; close when all is out or the peer is gone. */
static void flush_client(client_t *c)
{
    while (c->out_off < c->out.len) {
        ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (w <= 0) {
            close_client(c);
            return;
        }
        c->out_off += (size_t)w;
    }
    close_client(c);
}

static void read_client(client_t *c, int db_up, pl_metrics_http_t *self)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->in + c->in_len, REQ_MAX - c->in_len, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            close_client(c);
            return;
        }
        c->in_len += (size_t)r;
        c->in[c->in_len] = '\0';
        if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n")) {
            respond(self, c, db_up);
            if (c->fd >= 0)
                flush_client(c);
            return;
        }
        if (c->in_len >= REQ_MAX) { /* no header end within 2 KiB: not a scraper */
            close_client(c);
            return;
        }
    }
}

static void accept_all(pl_metrics_http_t *self)
{
    for (;;) {
        int fd = accept4(self->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: the next poll retries */
        client_t *slot = NULL;
        for (int i = 0; i < MAX_CLIENTS && !slot; i++)
            if (self->clients[i].fd < 0)
                slot = &self->clients[i];
        if (!slot) { /* every slot busy: refuse rather than queue */
            close(fd);
            continue;
        }
        slot->fd = fd;
        slot->opened_us = pl_metrics_now_us();
        slot->in_len = 0;
        slot->out_off = 0;
        pl_buf_reset(&slot->out);
    }
}

void pl_metrics_http_serve(pl_metrics_http_t *self, const zmq_pollitem_t *items, int n, int db_up)
{
    if (self->listen_fd < 0)
        return;
    /* Items hold fds; find each client by its fd (slots may have changed since). */
    for (int k = 1; k < n; k++) {
        if (!items[k].revents)
            continue;
        for (int i = 0; i < MAX_CLIENTS; i++) {
            client_t *c = &self->clients[i];
            if (c->fd != items[k].fd)
                continue;
            if (items[k].revents & ZMQ_POLLERR)
                close_client(c);
            else if (c->out.len)
                flush_client(c);
            else
                read_client(c, db_up, self);
            break;
        }
    }
    if (n > 0 && (items[0].revents & ZMQ_POLLIN))
        accept_all(self);
    int64_t now = pl_metrics_now_us();
    for (int i = 0; i < MAX_CLIENTS; i++) {
        client_t *c = &self->clients[i];
        if (c->fd >= 0 && now - c->opened_us > CLIENT_IDLE_US)
            close_client(c);
    }
}
