/*  gw_keepalive: server WebSocket pings (WS_PING_INTERVAL_S) and the hang-up of
    connections that do not answer within GW_KEEPALIVE_GRACE_MS.
    Why not lws' own idle policy (retry_and_idle_policy): lws 4.1 keeps each
    connection's validity timer in one sorted linked list per thread and re-arms it,
    walking that list, at every connection and every pong — O(N) per connection, so a
    storm of N connections costs O(N²) (at 19,000 connections half the gateway's CPU
    was that walk; docs/design/gateway.md). Here every connection sits in one of two
    lists, both in due order because every connection uses the same interval:
    ka_wait (next ping due at ka_due_ms) and ka_pong (ping out, answer due by
    ka_due_ms). Entering, answering and leaving are O(1); the tick's sweep looks at the
    heads only, so its cost is the number of connections that are due.
    An answer is the pong or any other frame from the client after the ping. */
#include "gw.h"

#include "pl_clock.h"
#include "pl_log.h"

#define GW_KEEPALIVE_GRACE_MS 10000 /* ping out -> answer due (as lws' hangup did) */

static void list_append(gw_conn_list_t *l, gw_conn_t *c)
{
    PL_LIST_APPEND(l->head, l->tail, c, ka_prev, ka_next);
}

static void list_remove(gw_conn_list_t *l, gw_conn_t *c)
{
    if (PL_LIST_LINKED(l->head, c, ka_prev))
        PL_LIST_UNLINK(l->head, l->tail, c, ka_prev, ka_next);
}

static int64_t interval_ms(const gw_t *gw)
{
    return gw->cfg.ping_interval_s * 1000;
}

void gw_keepalive_open(gw_t *gw, gw_conn_t *c)
{
    c->ka_due_ms = pl_mono_ms() + interval_ms(gw);
    list_append(&gw->ka_wait, c);
}

void gw_keepalive_closed(gw_t *gw, gw_conn_t *c)
{
    list_remove(c->ka_ping_out ? &gw->ka_pong : &gw->ka_wait, c);
    c->ka_ping_out = 0;
}

void gw_keepalive_alive(gw_t *gw, gw_conn_t *c)
{
    if (!c->ka_ping_out)
        return; /* nothing asked: the next ping is due on schedule anyway */
    list_remove(&gw->ka_pong, c);
    c->ka_ping_out = 0;
    c->ka_due_ms = pl_mono_ms() + interval_ms(gw);
    list_append(&gw->ka_wait, c);
}

void gw_keepalive_sweep(gw_t *gw, int64_t now_ms)
{
    while (gw->ka_pong.head && gw->ka_pong.head->ka_due_ms <= now_ms) {
        gw_conn_t *c = gw->ka_pong.head;
        list_remove(&gw->ka_pong, c);
        c->ka_ping_out = 0; /* in no list from now on */
        pl_info("ping timeout", "conn=%llu user=%s", (unsigned long long)c->id,
                c->uid ? c->uid : "-");
        gw_conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "ping timeout");
    }
    while (gw->ka_wait.head && gw->ka_wait.head->ka_due_ms <= now_ms) {
        gw_conn_t *c = gw->ka_wait.head;
        list_remove(&gw->ka_wait, c);
        c->ka_ping_out = 1;
        c->ka_ping_write = 1; /* gw_keepalive_write, at the next WRITEABLE */
        c->ka_due_ms = now_ms + GW_KEEPALIVE_GRACE_MS;
        list_append(&gw->ka_pong, c);
        lws_callback_on_writable(c->wsi);
    }
}

int gw_keepalive_write(gw_conn_t *c)
{
    /* Not empty: lws 4.1 does not hand an empty pong to the protocol callback
       (roles/ws: "opcode == LWSWSOPC_PONG && !ebuf.len"), and the pong echoes this. */
    unsigned char frame[LWS_PRE + 2];
    if (!c->ka_ping_write)
        return 0;
    c->ka_ping_write = 0;
    frame[LWS_PRE] = 'k';
    frame[LWS_PRE + 1] = 'a';
    return lws_write(c->wsi, frame + LWS_PRE, 2, LWS_WRITE_PING) < 0 ? -1 : 0;
}
