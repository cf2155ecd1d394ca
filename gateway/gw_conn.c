/*  gw_conn: one client connection: its outgoing queue, rate limit and close.
    The one thing to know: a frame for a connection with nothing queued is written at
    once; otherwise it queues and the WRITEABLE callback writes the queue, as much as
    the socket takes (why: docs/design/gateway.md, "Encode once"). lws keeps whatever part of a frame the
    kernel did not take and asks for WRITEABLE itself; lws_partial_buffered() says so,
    and then nothing more is written until that part is out. The queue is capped
    (OUT_QUEUE_MAX frames, OUT_QUEUE_MAX_BYTES bytes): a client that does not read is
    cut off, never buffered without limit. */
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_sio.h"
#include "pl_clock.h"
#include "pl_json.h"
#include "pl_log.h"
#include "pl_mp.h"

/* lws 4.1 keeps the close opcode's write type private ("handled by
   lws_close_reason()"); its value is the WebSocket close opcode's slot, 4. */
#define GW_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)

/* ---- shared frames ------------------------------------------------------------- */

gw_msg_t *gw_msg_new(const char *payload, size_t len)
{
    gw_msg_t *m = malloc(GW_MSG_HEAD + len + 1);
    if (!m)
        return NULL;
    m->refs = 1;
    m->len = (uint32_t)len;
    m->sio = NULL;
    m->wire = 0;
    memcpy(GW_MSG_PAYLOAD(m), payload, len);
    GW_MSG_PAYLOAD(m)[len] = '\0';
    /* frames built here are ours and start with their type: {"type":"pong",... */
    m->type_idx = GW_METRICS_OUT_TYPES - 1;
    if (len > 9 && memcmp(payload, "{\"type\":\"", 9) == 0) {
        const char *end = memchr(payload + 9, '"', len - 9);
        if (end)
            m->type_idx = gw_metrics_out_index(payload + 9, (size_t)(end - payload - 9));
    }
    return m;
}

void gw_msg_unref(gw_msg_t *m)
{
    if (m && --m->refs == 0) {
        gw_msg_unref(m->sio);
        free(m);
    }
}

gw_msg_t *gw_msg_wire(gw_msg_t *m, const gw_conn_t *c)
{
    if (!c->sio || m->wire)
        return m;
    if (!m->sio) {
        /* Built once for however many Socket.IO connections the frame goes to. */
        pl_buf_t b;
        pl_buf_init(&b, GW_MSG_HEAD);
        if (gw_sio_from_json((const char *)GW_MSG_PAYLOAD(m), m->len, &b) != 0) {
            pl_buf_free(&b);
            return NULL;
        }
        size_t len;
        gw_msg_t *w = (gw_msg_t *)pl_buf_detach(&b, &len);
        w->refs = 1;
        w->len = (uint32_t)len;
        w->sio = NULL;
        w->wire = 1;
        w->type_idx = m->type_idx;
        m->sio = w;
    }
    return m->sio;
}

gw_msg_t *gw_msg_from_event(gw_t *gw, const msgpack_object *event, const char *id_json)
{
    pl_buf_t *b = &gw->json;
    pl_buf_reset(b);
    /* The frame is built straight into a buffer whose headroom is the gw_msg_t header
       plus LWS_PRE, then handed over without a copy. */
    if (b->reserve != GW_MSG_HEAD) {
        pl_buf_free(b);
        pl_buf_init(b, GW_MSG_HEAD);
    }
    int rc = pl_buf_putc(b, '{');
    int members = pl_msgpack_map_members_to_json(event, b);
    if (members < 0)
        rc = -1;
    if (id_json && *id_json)
        rc |= pl_buf_printf(b, "%s\"id\":%s", members > 0 ? "," : "", id_json);
    rc |= pl_buf_putc(b, '}');
    if (rc) {
        pl_warn("cannot encode event", "%s", "");
        return NULL;
    }
    size_t len;
    char *base = pl_buf_detach(b, &len);
    pl_buf_init(b, GW_MSG_HEAD);
    gw_msg_t *m = (gw_msg_t *)base;
    m->refs = 1;
    m->len = (uint32_t)len;
    m->sio = NULL;
    m->wire = 0;
    const msgpack_object *type = pl_mp_get(event, "type");
    m->type_idx = type && type->type == MSGPACK_OBJECT_STR
                      ? gw_metrics_out_index(type->via.str.ptr, type->via.str.size)
                      : GW_METRICS_OUT_TYPES - 1;
    return m;
}

void gw_send_error(gw_t *gw, gw_conn_t *c, const char *id_json, const char *code,
                   const char *message)
{
    gw_send_error_retry(gw, c, id_json, code, message, -1);
}

void gw_send_error_retry(gw_t *gw, gw_conn_t *c, const char *id_json, const char *code,
                         const char *message, int64_t retry_after_ms)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    int rc = pl_buf_puts(&b, "{\"type\":\"error\",");
    if (id_json && *id_json)
        rc |= pl_buf_printf(&b, "\"id\":%s,", id_json);
    rc |= pl_buf_printf(&b, "\"code\":\"%s\",\"message\":\"", code);
    for (const char *p = message; *p; p++) { /* messages are ours, but stay valid JSON */
        if (*p == '"' || *p == '\\')
            rc |= pl_buf_putc(&b, '\\');
        if ((unsigned char)*p >= 0x20)
            rc |= pl_buf_putc(&b, *p);
    }
    rc |= pl_buf_putc(&b, '"');
    if (retry_after_ms >= 0)
        rc |= pl_buf_printf(&b, ",\"retry_after_ms\":%lld", (long long)retry_after_ms);
    rc |= pl_buf_putc(&b, '}');
    gw->metrics.errors[pl_error_code_index(code)]++;
    /* out of memory midway would send truncated JSON: send nothing instead */
    gw_msg_t *m = rc == 0 && b.data ? gw_msg_new(b.data, b.len) : NULL;
    pl_buf_free(&b);
    if (m) {
        gw_conn_send(gw, c, m);
        gw_msg_unref(m);
    }
}

/* ---- life cycle ---------------------------------------------------------------- */

static void unauth_append(gw_t *gw, gw_conn_t *c)
{
    PL_LIST_APPEND(gw->unauth_head, gw->unauth_tail, c, unauth_prev, unauth_next);
}

void gw_unauth_remove(gw_t *gw, gw_conn_t *c)
{
    if (PL_LIST_LINKED(gw->unauth_head, c, unauth_prev))
        PL_LIST_UNLINK(gw->unauth_head, gw->unauth_tail, c, unauth_prev, unauth_next);
}

void gw_conn_open(gw_t *gw, gw_conn_t *c, struct lws *wsi)
{
    /* lws zeroes per-session data, but keep the fields we rely on explicit */
    c->wsi = wsi;
    c->id = ++gw->next_conn_id;
    c->state = GW_CONN_NEW;
    c->opened_ms = pl_mono_ms();
    gw_bucket_init(&c->rate, gw->cfg.rate_burst, c->opened_ms);
    pl_buf_init(&c->rx, 0);
    if (pl_map_puti(gw->conns, c->id, c) != 0) {
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    unauth_append(gw, c);
    gw_keepalive_open(gw, c);
    gw->metrics.connections_opened++;
    gw->metrics.connections_open++;
}

/* The services hear that an authenticated connection is gone; the role topic goes
   with the role's last connection here. */
static void end_session(gw_t *gw, gw_conn_t *c)
{
    if (c->state != GW_CONN_AUTHED)
        return;
    gw->metrics.connections_authed--;
    gw_bus_notify(gw, c, PROTO_SVC_PRESENCE, PROTO_EV_CONN_CLOSE);
    gw_bus_notify(gw, c, PROTO_SVC_CALL, PROTO_EV_CONN_CLOSE);
    if (--gw->role_conns[c->role] == 0) {
        const char *role = pl_role_name(c->role);
        gw_bus_topic(gw, PROTO_TOPIC_ROLE, role, strlen(role), 0);
    }
}

static void free_own_memory(gw_conn_t *c)
{
    gw_msg_t *m;
    while ((m = gw_queue_pop(&c->out)))
        gw_msg_unref(m);
    gw_queue_free(&c->out);
    free(c->uid);
    free(c->name);
    free(c->sio_token);
    pl_buf_free(&c->rx);
    c->sio_token = NULL;
    c->uid = c->name = NULL;
}

/* Everything a closed connection held, released here and only here, in this order:
   1. its session (the services are told; the role topic may go);
   2. the indexes that route events to it: its user, conversations, presence watches;
   3. the timers that would wake for it: auth timeout, Engine.IO heartbeat, token expiry;
   4. its slot in the connection caps, and its id;
   5. its own memory: queued frames, identity, buffers. */
void gw_conn_closed(gw_t *gw, gw_conn_t *c)
{
    if (!c->id)
        return; /* never fully opened */
    end_session(gw, c);
    gw_index_drop_conn(gw, c);
    gw_watch_drop_conn(gw, c);
    gw_unauth_remove(gw, c);
    gw_sio_session_closed(gw, c);
    gw_keepalive_closed(gw, c);
    gw_expiry_drop(gw, c);
    gw_admission_closed(gw, c);
    pl_map_removei(gw->conns, c->id);
    free_own_memory(c);
    gw->metrics.connections_closed++;
    gw->metrics.connections_open--;
    c->id = 0;
}

void gw_conn_session_id(const gw_t *gw, const gw_conn_t *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%llx", gw->gwid, (unsigned long long)c->id);
}

/* ---- outgoing ------------------------------------------------------------------ */

/* Write the head of the queue: one whole frame, or its start with lws keeping the
   rest. -1 when the socket failed. */
static int write_head(gw_t *gw, gw_conn_t *c)
{
    gw_msg_t *m = gw_queue_peek(&c->out);
    gw_msg_t *w = gw_msg_wire(m, c);
    if (w) {
        int n = lws_write(c->wsi, GW_MSG_PAYLOAD(w), w->len, LWS_WRITE_TEXT);
        if (n < (int)w->len)
            return -1;
        gw->metrics.frames_out++;
        gw->metrics.frames_out_by_type[m->type_idx < GW_METRICS_OUT_TYPES
                                           ? m->type_idx
                                           : GW_METRICS_OUT_TYPES - 1]++;
        gw->metrics.bytes_out += w->len;
    } else { /* only out of memory, or a frame that is not a typed object: a bug */
        pl_warn("frame dropped: no Socket.IO form", "conn=%llu", (unsigned long long)c->id);
    }
    gw_queue_pop(&c->out);
    gw_msg_unref(m);
    return 0;
}

/* Write queued frames while the socket takes them whole; ask for WRITEABLE for the
   rest. Several writes in one go are allowed as long as none was left partly
   buffered (lws-ws-state.h, lws_partial_buffered). */
static int write_queue(gw_t *gw, gw_conn_t *c)
{
    while (c->out.count && !lws_partial_buffered(c->wsi))
        if (write_head(gw, c) != 0)
            return -1;
    if (c->out.count)
        lws_callback_on_writable(c->wsi);
    return 0;
}

static void slow_consumer(gw_t *gw, gw_conn_t *c)
{
    gw->metrics.slow_consumers_cut++;
    pl_warn("slow consumer cut off", "conn=%llu user=%s queued=%u bytes=%zu",
            (unsigned long long)c->id, c->uid ? c->uid : "-", c->out.count, c->out.bytes);
    gw_conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer");
}

void gw_conn_send(gw_t *gw, gw_conn_t *c, gw_msg_t *m)
{
    if (!c->wsi || c->close_code)
        return;
    /* Capped in frames and in bytes (a few frames can be megabytes each: history pages
       of long messages). The first frame always goes, however large: it is written at
       once. */
    if (gw_queue_push(&c->out, m, m->len, (uint32_t)gw->cfg.out_queue_max,
                      (size_t)gw->cfg.out_queue_max_bytes) != GW_QUEUE_OK) {
        slow_consumer(gw, c);
        return;
    }
    m->refs++;
    if (c->out.count > 1)
        return; /* a WRITEABLE callback is already asked for */
    if (lws_partial_buffered(c->wsi)) {
        lws_callback_on_writable(c->wsi);
        return;
    }
    /* Nothing ahead of it: write now. A failed write means the socket is dead; lws
       closes the connection on its next pass. */
    if (write_queue(gw, c) != 0)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void gw_conn_close(gw_conn_t *c, uint16_t code, const char *reason)
{
    if (c->close_code || !c->wsi)
        return;
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    lws_callback_on_writable(c->wsi);
    /* A client that does not read never becomes writeable: drop it regardless. */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 2);
}

void gw_conn_close_drained(gw_conn_t *c, uint16_t code, const char *reason)
{
    if (c->close_code || !c->wsi)
        return;
    c->close_drain = 1;
    gw_conn_close(c, code, reason);
}

int gw_conn_writeable(gw_t *gw, gw_conn_t *c)
{
    if (c->close_code && c->close_drain && c->out.count && !c->close_sent) {
        /* A close that is not a cut-off (a token's expiry): what was said before it,
           the Socket.IO client's last events, goes out first. */
        if (write_queue(gw, c) != 0)
            return -1;
        if (!c->out.count)
            lws_callback_on_writable(c->wsi); /* now the close */
        return 0;
    }
    if (c->close_code) {
        /* A close goes out ahead of anything still queued: the client is being
           dropped (policy, size, slow) or the server is going away. The close frame
           is written here explicitly: in lws 4.1, lws_close_reason() followed by -1
           from WRITEABLE hangs up without sending it (from RECEIVE it works). */
        unsigned char frame[LWS_PRE + 2 + sizeof c->close_reason];
        size_t rl = strlen(c->close_reason);
        frame[LWS_PRE] = (unsigned char)(c->close_code >> 8);
        frame[LWS_PRE + 1] = (unsigned char)(c->close_code & 0xff);
        memcpy(frame + LWS_PRE + 2, c->close_reason, rl);
        if (c->close_sent)
            return 0;
        c->close_sent = 1;
        if (lws_write(c->wsi, frame + LWS_PRE, 2 + rl, GW_LWS_WRITE_CLOSE) < 0)
            return -1;
        /* Closing handshake: keep the socket until the client answers with its own
           close (lws finishes it), discarding anything else it sends. Hanging up at
           once would make the kernel reset a connection that still has unread input,
           and the client would never read our close frame. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, 3);
        return 0;
    }
    if (gw_keepalive_write(c) != 0) /* a ping is two bytes: ahead of the queue */
        return -1;
    return write_queue(gw, c);
}

/* ---- rate limit ---------------------------------------------------------------- */

int gw_conn_admit(gw_t *gw, gw_conn_t *c, int64_t now_ms)
{
    gw_limit_t v = gw_bucket_take(&c->rate, gw->cfg.rate_per_s, gw->cfg.rate_burst, now_ms);
    if (v == GW_LIMIT_PASS)
        return 1;
    gw->metrics.rate_limited++;
    if (v == GW_LIMIT_FLOOD) {
        gw->metrics.floods_closed++;
        gw_admission_flooded(gw, c);
        pl_warn("flooding client closed", "conn=%llu user=%s", (unsigned long long)c->id,
                c->uid ? c->uid : "-");
        gw_conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "flooding");
    }
    return 0;
}
