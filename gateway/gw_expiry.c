/*  gw_expiry: a session lives no longer than its token.
    TOKEN_EXPIRING_NOTICE_S before the token's `exp` the connection gets
    `token_expiring {exp}`; at `exp` it is closed 4001 "token expired", unless a
    `refresh` (gw_router.c) brought a new token and with it a new exp.
    The one thing to know: one min-heap of authenticated connections whose token has an
    exp, keyed by what is due next for each (the notice, then the close), so the tick
    looks at the heap's top only: its cost is the number of connections due, times
    log n, never a scan of every connection. The heap holds at most one entry per open
    connection (its bound); an entry leaves when its connection closes. exp is epoch
    seconds, so this runs on the wall clock, not the monotonic one. */
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_clock.h"
#include "pl_log.h"

/* 9999-12-31T23:59:59Z: an exp later than this has no ISO 8601 form and is as good
   as none. */
#define EXP_MAX_S 253402300799LL
#define HEAP_MIN_CAP 64

/* ---- the heap ------------------------------------------------------------------ */

static void place(gw_t *gw, uint32_t i, gw_conn_t *c)
{
    gw->exp_heap[i] = c;
    c->exp_slot = i + 1;
}

static void sift_up(gw_t *gw, uint32_t i)
{
    gw_conn_t *c = gw->exp_heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (gw->exp_heap[parent]->exp_due_ms <= c->exp_due_ms)
            break;
        place(gw, i, gw->exp_heap[parent]);
        i = parent;
    }
    place(gw, i, c);
}

static void sift_down(gw_t *gw, uint32_t i)
{
    gw_conn_t *c = gw->exp_heap[i];
    for (;;) {
        uint32_t kid = 2 * i + 1;
        if (kid >= gw->exp_n)
            break;
        if (kid + 1 < gw->exp_n &&
            gw->exp_heap[kid + 1]->exp_due_ms < gw->exp_heap[kid]->exp_due_ms)
            kid++;
        if (gw->exp_heap[kid]->exp_due_ms >= c->exp_due_ms)
            break;
        place(gw, i, gw->exp_heap[kid]);
        i = kid;
    }
    place(gw, i, c);
}

/* Restore the order around slot i after its key changed either way. */
static void fix(gw_t *gw, uint32_t i)
{
    if (i > 0 && gw->exp_heap[(i - 1) / 2]->exp_due_ms > gw->exp_heap[i]->exp_due_ms)
        sift_up(gw, i);
    else
        sift_down(gw, i);
}

static int push(gw_t *gw, gw_conn_t *c)
{
    if (gw->exp_n == gw->exp_cap) {
        uint32_t cap = gw->exp_cap ? gw->exp_cap * 2 : HEAP_MIN_CAP;
        gw_conn_t **h = realloc(gw->exp_heap, cap * sizeof *h);
        if (!h)
            return -1;
        gw->exp_heap = h;
        gw->exp_cap = cap;
    }
    place(gw, gw->exp_n++, c);
    sift_up(gw, gw->exp_n - 1);
    return 0;
}

static void heap_remove(gw_t *gw, gw_conn_t *c)
{
    uint32_t i = c->exp_slot - 1;
    gw_conn_t *last = gw->exp_heap[--gw->exp_n];
    c->exp_slot = 0;
    if (i < gw->exp_n) {
        place(gw, i, last);
        fix(gw, i);
    }
}

/* ---- frames --------------------------------------------------------------------- */

/* {"type":…,"exp":"<ISO 8601>"|null[,"id":…]}: token_expiring and refreshed. */
static void send_exp(gw_t *gw, gw_conn_t *c, const char *type, const char *id_json)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    int rc = pl_buf_printf(&b, "{\"type\":\"%s\",\"exp\":", type);
    if (c->exp_s) {
        char iso[32];
        pl_iso8601_ms(c->exp_s * 1000000, iso, sizeof iso);
        rc |= pl_buf_printf(&b, "\"%s\"", iso);
    } else {
        rc |= pl_buf_puts(&b, "null");
    }
    if (*id_json)
        rc |= pl_buf_printf(&b, ",\"id\":%s", id_json);
    rc |= pl_buf_putc(&b, '}');
    gw_msg_t *m = rc == 0 ? gw_msg_new(b.data, b.len) : NULL;
    pl_buf_free(&b);
    if (m) {
        gw_conn_send(gw, c, m);
        gw_msg_unref(m);
    }
}

/* The token ran out: close 4001 once what is queued is out. A Socket.IO client sees
   no close code, so it is told in its own terms first: an `error` event
   (unauthenticated, "token expired"), then a DISCONNECT, after which its client does
   not reconnect by itself (reason "io server disconnect"). */
static void expired(gw_t *gw, gw_conn_t *c)
{
    gw->metrics.tokens_expired++;
    pl_info("token expired", "conn=%llu user=%s", (unsigned long long)c->id, c->uid ? c->uid : "-");
    if (c->sio) {
        gw_send_error(gw, c, NULL, "unauthenticated", "token expired");
        gw_sio_session_disconnect(gw, c);
    }
    gw_conn_close_drained(c, GW_CLOSE_TOKEN_EXPIRED, "token expired");
}

/* ---- life cycle ------------------------------------------------------------------ */

void gw_expiry_set(gw_t *gw, gw_conn_t *c, int64_t exp_s)
{
    c->exp_s = exp_s > 0 && exp_s <= EXP_MAX_S ? exp_s : 0;
    if (c->state != GW_CONN_AUTHED)
        return; /* scheduled when the session opens */
    if (!c->exp_s) {
        if (c->exp_slot)
            heap_remove(gw, c);
        return;
    }
    int64_t notice_ms = gw->cfg.token_notice_s * 1000;
    c->exp_noticed = notice_ms == 0;
    c->exp_due_ms = c->exp_s * 1000 - notice_ms;
    if (c->exp_slot) {
        fix(gw, c->exp_slot - 1);
    } else if (push(gw, c) != 0) {
        /* Unwatched, the session would outlive its token: end it now instead. */
        pl_warn("out of memory: session closed", "conn=%llu", (unsigned long long)c->id);
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    }
}

void gw_expiry_refreshed(gw_t *gw, gw_conn_t *c, int64_t exp_s, const char *id_json)
{
    gw_expiry_set(gw, c, exp_s);
    gw->metrics.token_refreshes++;
    pl_info("token refreshed", "conn=%llu user=%s exp=%lld", (unsigned long long)c->id, c->uid,
            (long long)c->exp_s);
    send_exp(gw, c, "refreshed", id_json);
}

void gw_expiry_drop(gw_t *gw, gw_conn_t *c)
{
    if (c->exp_slot)
        heap_remove(gw, c);
}

void gw_expiry_sweep(gw_t *gw, int64_t now_ms)
{
    while (gw->exp_n && gw->exp_heap[0]->exp_due_ms <= now_ms) {
        gw_conn_t *c = gw->exp_heap[0];
        int64_t at_ms = c->exp_s * 1000;
        if (!c->exp_noticed && now_ms < at_ms) {
            c->exp_noticed = 1;
            c->exp_due_ms = at_ms;
            sift_down(gw, 0);
            send_exp(gw, c, "token_expiring", "");
            continue;
        }
        heap_remove(gw, c);
        expired(gw, c);
    }
}

void gw_expiry_free(gw_t *gw)
{
    free(gw->exp_heap);
    gw->exp_heap = NULL;
    gw->exp_n = gw->exp_cap = 0;
}
