/*  hooks_deliver: the HTTP side — up to WEBHOOK_CONCURRENCY POSTs in flight on one
    libcurl multi handle, driven from main's poll loop (no thread).
    The one thing to know: a slot owns its row, body and headers from start to
    completion; libcurl reads the body in place (CURLOPT_POSTFIELDS is not copied),
    so the slot's buffer must not move while the transfer runs. Response bodies are
    read and thrown away: nothing a receiver says but its status matters. */
#include "hooks_deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "pl_clock.h"
#include "pl_log.h"

typedef struct {
    CURL *easy;
    struct curl_slist *hdrs;
    hooks_row_t row;
    pl_buf_t body;
    int busy;
    int64_t t0_us;
    char err[CURL_ERROR_SIZE];
} slot_t;

struct hooks_deliver {
    const hooks_cfg_t *cfg;
    CURLM *multi;
    slot_t *slots;
    int n, busy;
};

hooks_deliver_t *hooks_deliver_new(const hooks_cfg_t *cfg)
{
    hooks_deliver_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->n = (int)cfg->concurrency;
    self->slots = calloc((size_t)self->n, sizeof *self->slots);
    self->multi = curl_multi_init();
    if (!self->slots || !self->multi) {
        hooks_deliver_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < self->n; i++)
        pl_buf_init(&self->slots[i].body, 0);
    return self;
}

static void release(hooks_deliver_t *self, slot_t *s)
{
    if (s->easy) {
        curl_multi_remove_handle(self->multi, s->easy);
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
    }
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    if (s->busy)
        self->busy--;
    s->busy = 0;
}

void hooks_deliver_destroy(hooks_deliver_t **self_p)
{
    hooks_deliver_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; self->slots && i < self->n; i++) {
        release(self, &self->slots[i]);
        pl_buf_free(&self->slots[i].body);
    }
    free(self->slots);
    if (self->multi)
        curl_multi_cleanup(self->multi);
    free(self);
    *self_p = NULL;
}

int hooks_deliver_free(const hooks_deliver_t *self)
{
    return self->n - self->busy;
}

int hooks_deliver_busy(const hooks_deliver_t *self)
{
    return self->busy;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

static struct curl_slist *headers(const hooks_row_t *row, const char *sig)
{
    char line[256];
    struct curl_slist *h = NULL, *t;
    const char *fixed[] = {"Content-Type: application/json", "User-Agent: parley-hooks",
                           "Expect:"}; /* no 100-continue round trip */
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!(t = curl_slist_append(h, fixed[i])))
            goto fail;
        h = t;
    }
    snprintf(line, sizeof line, "Parley-Event-Id: %s", row->event_id);
    if (!(t = curl_slist_append(h, line)))
        goto fail;
    h = t;
    snprintf(line, sizeof line, "Parley-Signature: %s", sig);
    if (!(t = curl_slist_append(h, line)))
        goto fail;
    h = t;
    snprintf(line, sizeof line, "Parley-Attempt: %lld", (long long)row->attempts);
    if (!(t = curl_slist_append(h, line)))
        goto fail;
    return t;
fail:
    curl_slist_free_all(h);
    return NULL;
}

int hooks_deliver_start(hooks_deliver_t *self, const hooks_row_t *row, pl_buf_t *body)
{
    slot_t *s = NULL;
    for (int i = 0; i < self->n && !s; i++)
        if (!self->slots[i].busy)
            s = &self->slots[i];
    if (!s)
        return -1;
    /* Take the body: swap buffers, so the caller's keeps a reusable allocation. */
    pl_buf_t tmp = s->body;
    s->body = *body;
    *body = tmp;
    pl_buf_reset(body);
    s->row = *row;
    char sig[HOOKS_SIG_MAX];
    if (hooks_sign(self->cfg->secret, (int64_t)time(NULL), s->body.data, s->body.len, sig,
                   sizeof sig) ||
        !(s->hdrs = headers(row, sig)) || !(s->easy = curl_easy_init()))
        goto fail;
    CURL *e = s->easy;
    s->err[0] = '\0';
    if (curl_easy_setopt(e, CURLOPT_URL, self->cfg->url) ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) || curl_easy_setopt(e, CURLOPT_POST, 1L) ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body.data) ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body.len) ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->hdrs) ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)self->cfg->timeout_ms) ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard) ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->err) ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, s) ||
        curl_multi_add_handle(self->multi, e) != CURLM_OK)
        goto fail;
    s->busy = 1;
    self->busy++;
    s->t0_us = pl_mono_us();
    return 0;
fail:
    release(self, s);
    pl_error("webhook attempt not started", "event=%s", row->event_id);
    return -1;
}

int hooks_deliver_poll_items(hooks_deliver_t *self, zmq_pollitem_t *items, int cap,
                             long *timeout_ms)
{
    fd_set r, w, x;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_ZERO(&x);
    int maxfd = -1, n = 0;
    long t = -1;
    if (curl_multi_fdset(self->multi, &r, &w, &x, &maxfd) != CURLM_OK)
        maxfd = -1;
    for (int fd = 0; fd <= maxfd && n < cap; fd++) {
        short ev =
            (short)((FD_ISSET(fd, &r) ? ZMQ_POLLIN : 0) | (FD_ISSET(fd, &w) ? ZMQ_POLLOUT : 0) |
                    (FD_ISSET(fd, &x) ? ZMQ_POLLERR : 0));
        if (ev)
            items[n++] = (zmq_pollitem_t){NULL, fd, ev, 0};
    }
    if (curl_multi_timeout(self->multi, &t) != CURLM_OK)
        t = -1;
    /* Transfers without a descriptor yet (name resolution): libcurl asks to be
       called again soon. */
    if (self->busy && (maxfd < 0 || t < 0 || t > 50))
        t = maxfd < 0 ? 10 : (t < 0 || t > 50 ? 50 : t);
    *timeout_ms = t;
    return n;
}

void hooks_deliver_perform(hooks_deliver_t *self, hooks_done_fn *done, void *arg)
{
    int running = 0;
    (void)curl_multi_perform(self->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(self->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        slot_t *s = NULL;
        (void)curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (!s)
            continue;
        long status = 0;
        (void)curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        CURLcode cc = m->data.result;
        hooks_outcome_t out = HOOKS_OK;
        char why[HOOKS_ERROR_MAX];
        why[0] = '\0';
        if (cc == CURLE_OPERATION_TIMEDOUT) {
            out = HOOKS_TIMEOUT;
            snprintf(why, sizeof why, "timeout after %lld ms", (long long)self->cfg->timeout_ms);
        } else if (cc != CURLE_OK) {
            out = HOOKS_NETWORK;
            /* cut to what a row keeps */
            snprintf(why, sizeof why, "%.150s", s->err[0] ? s->err : curl_easy_strerror(cc));
        } else if (status < 200 || status > 299) {
            out = HOOKS_HTTP;
            snprintf(why, sizeof why, "HTTP %ld", status);
        }
        hooks_row_t row = s->row;
        int64_t took_us = pl_mono_us() - s->t0_us;
        release(self, s);
        done(arg, &row, out, why, took_us);
    }
}
