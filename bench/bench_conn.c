/*  bench_conn: the libwebsockets side of parley-bench — opening connections, the
    one protocol callback, frames out (built at WRITEABLE time, one lws_write each)
    and frames in (matched to messages by temp_id and counted).
    The one thing to know: a frame that arrives in pieces is reassembled in the
    connection's rx buffer; a whole frame (the usual case) is scanned in place. */
#include <string.h>
#include <unistd.h>

#include "bench_int.h"
#include "bench_scan.h"
#include "bench_token.h"

/* ---------------------------------------------------------------- frames out */

void bench_enqueue(conn_t *c, uint32_t e)
{
    c->q[(c->qhead + c->qlen) % QCAP] = e;
    c->qlen++;
    lws_callback_on_writable(c->wsi);
}

static size_t build_create(bench_t *b, conn_t *c, char *out, size_t cap)
{
    pl_buf_t tmp; /* only for room creation, once per room */
    pl_buf_init(&tmp, 0);
    uint32_t first = c->idx - c->idx % (uint32_t)b->o->room_size;
    pl_buf_printf(&tmp,
                  "{\"type\":\"create_conversation\",\"id\":\"create\",\"kind\":\"group\","
                  "\"title\":\"bench %u\",\"participants\":[",
                  first / (uint32_t)b->o->room_size);
    for (uint32_t i = first; i < first + (uint32_t)b->o->room_size; i++) {
        if (i == c->idx)
            continue;
        char uid[64];
        user_id(b, i, uid, sizeof uid);
        pl_buf_printf(&tmp, "%s\"%s\"", tmp.data[tmp.len - 1] == '[' ? "" : ",", uid);
    }
    pl_buf_puts(&tmp, "]}");
    size_t n = tmp.data && tmp.len < cap ? tmp.len : 0;
    if (n)
        memcpy(out, tmp.data, n);
    pl_buf_free(&tmp);
    return n;
}

static size_t build_message(bench_t *b, conn_t *c, uint32_t g, char *out, size_t cap)
{
    char head[48];
    int hn = snprintf(head, sizeof head, "m%u from %u ", g, c->idx);
    size_t size = (size_t)b->o->size;
    int n = snprintf(out, cap,
                     "{\"type\":\"message\",\"id\":%u,\"conversation_id\":%lld,\"content\":\"", g,
                     (long long)room_of(b, c)->conv_id);
    size_t o = (size_t)n;
    size_t take = (size_t)hn < size ? (size_t)hn : size;
    memcpy(out + o, head, take);
    memcpy(out + o + take, b->pad, size - take);
    o += size;
    o += (size_t)snprintf(out + o, cap - o, "\",\"temp_id\":\"%u.%u\"}", c->idx, g);
    return o;
}

static size_t build_auth(bench_t *b, conn_t *c, char *out, size_t cap);

static int on_writeable(bench_t *b, conn_t *c)
{
    if (!c->qlen)
        return 0;
    uint32_t e = c->q[c->qhead];
    c->qhead = (uint8_t)((c->qhead + 1) % QCAP);
    c->qlen--;
    char *buf = b->scratch + LWS_PRE;
    size_t cap = b->scratch_cap - LWS_PRE;
    size_t n = e == Q_CREATE ? build_create(b, c, buf, cap)
               : e == Q_AUTH ? build_auth(b, c, buf, cap)
                             : build_message(b, c, e, buf, cap);
    if (n == 0 || lws_write(c->wsi, (unsigned char *)buf, n, LWS_WRITE_TEXT) < (int)n)
        return -1;
    if (e != Q_CREATE && e != Q_AUTH) {
        msg_t *m = &b->msgs[e];
        m->flags |= M_WRITTEN;
        if (m->flags & M_MEASURED) {
            b->m_written++;
            int64_t lag = now_ns() - m->t_ns;
            bench_hist_record(&b->r->lag, lag > 0 ? (uint64_t)lag / 1000 : 0);
        }
    }
    if (c->qlen)
        lws_callback_on_writable(c->wsi);
    return 0;
}

/* ---------------------------------------------------------------- frames in */

static void on_auth_success(bench_t *b, conn_t *c, const bench_frame_t *f)
{
    char uid[64];
    user_id(b, c->idx, uid, sizeof uid);
    if (!bench_str_eq(f->user_id, uid))
        b->r->auth_mismatch++;
    if (c->state != C_OPEN)
        return;
    c->state = C_AUTHED;
    b->r->authed++;
    b->t_last_auth_ns = now_ns();
    bench_hist_record(&b->r->auth, (uint64_t)(b->t_last_auth_ns - c->t_open_ns) / 1000);
    room_t *rm = room_of(b, c);
    if (rm && ++rm->authed == (uint32_t)b->o->room_size && !rm->failed) {
        conn_t *creator = &b->conns[c->idx - c->idx % (uint32_t)b->o->room_size];
        rm->create_queued = 1;
        if (b->phase < P_ROOMS)
            b->phase = P_ROOMS;
        bench_enqueue(creator, Q_CREATE);
    }
    bench_setup_progress(b);
}

static void on_conversation_created(bench_t *b, conn_t *c, const bench_frame_t *f)
{
    room_t *rm = room_of(b, c);
    if (!rm || c->in_conv || f->conversation_id < 0)
        return;
    if (rm->conv_id < 0)
        rm->conv_id = f->conversation_id;
    else if (rm->conv_id != f->conversation_id)
        return; /* not our room's conversation */
    c->in_conv = 1;
    if (++rm->ready == (uint32_t)b->o->room_size && !rm->failed) {
        rm->usable = 1;
        b->r->rooms_ready++;
        b->rooms_done++;
        bench_setup_progress(b);
    }
}

/* Look up the message a temp_id names; NULL (and counted) if it is not one of ours. */
static msg_t *msg_of(bench_t *b, const bench_frame_t *f)
{
    uint32_t sender, g;
    if (bench_parse_pair(f->temp_id, &sender, &g) || g >= b->nmsgs || b->msgs[g].sender != sender) {
        b->r->unparsed++;
        return NULL;
    }
    return &b->msgs[g];
}

static uint64_t age_us(int64_t t_ns, int64_t t)
{
    return t > t_ns ? (uint64_t)(t - t_ns) / 1000 : 0;
}

static void on_message_sent(bench_t *b, const bench_frame_t *f, int64_t t)
{
    msg_t *m = msg_of(b, f);
    if (!m)
        return;
    if (m->flags & M_ACKED) {
        b->r->dup_acks++;
        return;
    }
    b->tot_acked++;
    if (!(m->flags & M_MEASURED)) {
        m->flags |= M_ACKED;
        return;
    }
    if (!(m->flags & M_FAILED))
        b->m_acked_or_failed++;
    else
        b->r->failed--; /* an error and then the ack: the ack wins */
    m->flags = (uint8_t)((m->flags | M_ACKED) & ~M_FAILED);
    b->r->acked++;
    b->m_deliv_acked += m->ndeliv;
    uint64_t us = age_us(m->t_ns, t);
    bench_hist_record(&b->r->ack, us);
    int64_t slot = (m->t_ns - b->t_meas_ns) / 100000000;
    if (b->r->slots && slot >= 0 && slot < b->r->nslots) {
        struct bench_slot *s = &b->r->slots[slot];
        s->acks++;
        s->over_10ms += us > 10000;
        if (us > s->max_us)
            s->max_us = us;
    }
}

static void on_new_message(bench_t *b, conn_t *c, const bench_frame_t *f, int64_t t)
{
    msg_t *m = msg_of(b, f);
    if (!m)
        return;
    uint32_t rs = (uint32_t)b->o->room_size;
    if (m->sender / rs != c->idx / rs || m->sender == c->idx) {
        b->r->misrouted++;
        return;
    }
    uint32_t pos = c->idx % rs;
    if (rs <= 64) {
        uint64_t bit = (uint64_t)1 << pos;
        if (m->mask & bit) {
            b->r->duplicates++;
            return;
        }
        m->mask |= bit;
    } else if (m->ndeliv >= rs - 1) {
        b->r->duplicates++;
        return;
    }
    m->ndeliv++;
    b->tot_deliv++;
    if (!(m->flags & M_MEASURED))
        return;
    if (m->flags & M_ACKED)
        b->m_deliv_acked++;
    bench_hist_record(&b->r->deliv, age_us(m->t_ns, t));
}

static int error_index(bench_str_t code)
{
    for (int i = 0; i < BENCH_E_OTHER; i++)
        if (bench_str_eq(code, bench_error_names[i]))
            return i;
    return BENCH_E_OTHER;
}

static void on_error(bench_t *b, conn_t *c, const bench_frame_t *f, int64_t t)
{
    b->r->errors[error_index(f->code)]++;
    b->tot_err++;
    if (b->phase <= P_ROOMS && bench_str_eq(f->code, "overloaded")) {
        if (c->state == C_OPEN) /* the session did not open: auth again */
            c->retry = 1;
        else if (f->id < 0 && !c->in_conv && room_of(b, c)) /* its create_conversation */
            c->retry = 2;
        return;
    }
    if (f->id < 0 || (uint64_t)f->id >= b->nmsgs)
        return;
    msg_t *m = &b->msgs[f->id];
    if ((m->flags & (M_MEASURED | M_ACKED | M_FAILED)) == M_MEASURED) {
        m->flags |= M_FAILED;
        b->r->failed++;
        b->m_acked_or_failed++;
        bench_hist_record(&b->r->fail, age_us(m->t_ns, t)); /* how soon it was refused */
    }
}

static void on_frame(bench_t *b, conn_t *c, const char *text, size_t len)
{
    int64_t t = now_ns();
    bench_frame_t f;
    if (bench_scan(text, len, &f) || !f.type.p) {
        b->r->unparsed++;
        return;
    }
    if (bench_str_eq(f.type, "new_message"))
        on_new_message(b, c, &f, t);
    else if (bench_str_eq(f.type, "message_sent"))
        on_message_sent(b, &f, t);
    else if (bench_str_eq(f.type, "error"))
        on_error(b, c, &f, t);
    else if (bench_str_eq(f.type, "auth_success"))
        on_auth_success(b, c, &f);
    else if (bench_str_eq(f.type, "conversation_created"))
        on_conversation_created(b, c, &f);
    /* presence and other events are expected and ignored */
}

static void on_receive(bench_t *b, conn_t *c, const char *in, size_t len)
{
    int complete = lws_is_final_fragment(c->wsi) && !lws_remaining_packet_payload(c->wsi);
    if (c->rx.len == 0 && complete) {
        on_frame(b, c, in, len);
        return;
    }
    if (c->rx.len + len > RX_MAX || pl_buf_append(&c->rx, in, len)) {
        b->r->unparsed++;
        pl_buf_free(&c->rx);
        return;
    }
    if (complete) {
        on_frame(b, c, c->rx.data, c->rx.len);
        pl_buf_free(&c->rx); /* rare: give the memory back */
    }
}

/* ---------------------------------------------------------------- connections */

static void on_closed(bench_t *b, conn_t *c)
{
    int was = c->state;
    c->state = C_CLOSED;
    c->wsi = NULL;
    c->qlen = 0;
    pl_buf_free(&c->rx);
    if (b->shutting_down || was == C_CLOSED)
        return;
    if (was != C_AUTHED)
        b->dead_unauthed++;
    if (b->phase <= P_ROOMS) {
        b->r->closes_setup++;
        bench_room_failed(b, room_of(b, c));
        bench_setup_progress(b);
    } else {
        b->r->closes_run++;
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    conn_t *c = lws_get_opaque_user_data(wsi);
    struct lws_context *ctx = lws_get_context(wsi);
    bench_t *b = ctx ? lws_context_user(ctx) : NULL;
    if (!c || !b)
        return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (!b->shutting_down) {
            if (!b->r->first_connect_error[0])
                snprintf(b->r->first_connect_error, sizeof b->r->first_connect_error, "%s",
                         in ? (const char *)in : "(no reason)");
            b->r->connect_errors++;
        }
        c->state = C_CLOSED; /* counted above, not as a close */
        c->wsi = NULL;
        if (!b->shutting_down) {
            b->dead_unauthed++;
            bench_room_failed(b, room_of(b, c));
            bench_setup_progress(b);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->state = C_OPEN;
        b->r->connected++;
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        on_receive(b, c, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(b, c);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (in && len >= 2)
            b->r->last_close_code =
                ((const unsigned char *)in)[0] << 8 | ((const unsigned char *)in)[1];
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        on_closed(b, c);
        return 0;
    default:
        return 0;
    }
}

const struct lws_protocols bench_protocols[] = {
    {"parley-bench", callback, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}, /* terminator */
};

/* The user's token, valid for the whole run. 0, or -1 if it could not be made. */
static int mint(bench_t *b, conn_t *c, char *token, size_t cap)
{
    char sub[64];
    user_id(b, c->idx, sub, sizeof sub);
    int64_t iat = (int64_t)time(NULL);
    int64_t exp =
        iat + b->o->setup_timeout_s + b->o->warmup_s + b->o->duration_s + b->o->drain_s + 3600;
    return bench_token_mint(b->o->secret, sub, "student", iat, exp, token, cap) < 0 ? -1 : 0;
}

static size_t build_auth(bench_t *b, conn_t *c, char *out, size_t cap)
{
    char token[512];
    if (mint(b, c, token, sizeof token) != 0)
        return 0;
    int n = snprintf(out, cap, "{\"type\":\"auth\",\"token\":\"%s\"}", token);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void bench_setup_retry(bench_t *b)
{
    for (int i = 0; i < b->r->opened; i++) {
        conn_t *c = &b->conns[i];
        if (!c->retry || c->state == C_CLOSED || !c->wsi || c->qlen >= QCAP) {
            c->retry = 0;
            continue;
        }
        bench_enqueue(c, c->retry == 1 ? Q_AUTH : Q_CREATE);
        c->retry = 0;
    }
}

static void open_one(bench_t *b, conn_t *c)
{
    char token[512];
    b->r->opened++;
    if (mint(b, c, token, sizeof token) != 0)
        goto fail;
    snprintf(b->path, sizeof b->path, "%s?token=%s", b->o->path, token);

    char host[80];
    snprintf(host, sizeof host, strchr(b->o->host, ':') ? "[%s]:%d" : "%s:%d", b->o->host,
             b->o->port);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = b->ctx;
    ci.address = b->o->host;
    ci.port = b->o->port;
    ci.path = b->path; /* lws copies address, path and host into the new wsi */
    ci.host = host;
    ci.ietf_version_or_minus_one = -1;
    ci.local_protocol_name = bench_protocols[0].name;
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    /* lws binds the client socket to this address before connecting: the server sees
       the connections of different bench processes come from different addresses */
    ci.iface = b->o->source[0] ? b->o->source : NULL;
    ci.retry_and_idle_policy = &bench_no_idle_policy;
    c->state = C_CONNECTING;
    c->t_open_ns = now_ns();
    if (!b->t_first_open_ns)
        b->t_first_open_ns = c->t_open_ns;
    b->t_last_open_ns = c->t_open_ns;
    if (lws_client_connect_via_info(&ci))
        return;
fail:
    /* CONNECTION_ERROR may already have run for this wsi; count only once */
    if (c->state == C_CONNECTING) {
        b->r->connect_errors++;
        b->dead_unauthed++;
        c->state = C_CLOSED;
        c->wsi = NULL;
        bench_room_failed(b, room_of(b, c));
        bench_setup_progress(b);
    }
}

/* Open connections at --connect-rate. */
void bench_connect_timer_cb(uv_timer_t *timer)
{
    bench_t *b = timer->data;
    double due = secs(now_ns() - b->t_connect_ns) * b->o->connect_rate + 1;
    while (b->r->opened < b->o->users && b->r->opened < due && b->phase <= P_ROOMS)
        open_one(b, &b->conns[b->r->opened]);
    if (b->r->opened >= b->o->users)
        uv_timer_stop(&b->connect_timer);
}
