/*  parley-relay: a bare libwebsockets chat relay, the yardstick of docs/performance.md.
    The one thing to know: it is not Parley and never serves users. It speaks just
    enough of the client protocol for parley-bench (a token in the query,
    create_conversation, message) and keeps everything in memory: no database, no
    broker, no services, no limits. What it spends per message is what any
    libwebsockets server on this machine pays to parse a frame and write it to each
    room member. Issue 3 set its aims against that cost ("a bare libwebsockets relay
    ... ≈ 0.2 ms per message in rooms of 10"), so measuring it here says how this
    machine compares with the one the aims were set on.

    Two ways to write, because they cost differently: by default the idiomatic one of
    the libwebsockets examples (queue the frame, ask for WRITEABLE, write there);
    with --direct a frame goes out at once when nothing is queued, as parley-gateway
    does (gateway/gw_conn.c). */
#include <getopt.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "pl_buf.h"
#include "pl_json.h"
#include "pl_jwt.h"
#include "pl_log.h"
#include "pl_map.h"

#define QUEUE_MAX 1024       /* frames waiting for one connection; more: it is closed */
#define FRAME_MAX (64 * 1024) /* a longer incoming frame closes the connection */
#define MEMBERS_MAX 1000

/* One outgoing frame, shared by every recipient; freed with the last reference. */
typedef struct {
    int refs;
    size_t len;
    unsigned char bytes[]; /* LWS_PRE of headroom, then len bytes of JSON */
} frame_t;

typedef struct {
    struct lws *wsi;
    char user_id[PL_USER_ID_MAX + 1];
    frame_t *queue[QUEUE_MAX];
    size_t qhead, qlen;
    pl_buf_t rx; /* a frame that arrives in pieces */
    int overflowed;
} conn_t;

typedef struct {
    int64_t id, last_seq;
    size_t n;
    char **members;
} conv_t;

typedef struct {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    struct lws_context *ctx;
    pl_jwt_verifier_t *jwt;
    pl_map_t *users; /* user_id → conn_t (the latest connection of that user) */
    pl_map_t *convs; /* id → conv_t */
    int64_t next_conv, next_msg;
    int direct;
    int no_idle_policy; /* --no-idle-policy: lws arms no validity timer (see main) */
    int port;
} relay_t;

static relay_t R;

/* ---------------------------------------------------------------- frames out */

static frame_t *frame_new(const pl_buf_t *json)
{
    frame_t *f = malloc(sizeof *f + LWS_PRE + json->len);
    if (!f)
        return NULL;
    f->refs = 0;
    f->len = json->len;
    memcpy(f->bytes + LWS_PRE, json->data, json->len);
    return f;
}

static void frame_unref(frame_t *f)
{
    if (--f->refs == 0)
        free(f);
}

static int write_frame(conn_t *c, frame_t *f)
{
    return lws_write(c->wsi, f->bytes + LWS_PRE, f->len, LWS_WRITE_TEXT) < (int)f->len ? -1 : 0;
}

/* Queue `f` for `c` (or, with --direct and nothing queued, write it now). */
static void send_frame(conn_t *c, frame_t *f)
{
    if (c->overflowed)
        return;
    if (R.direct && c->qlen == 0 && !lws_partial_buffered(c->wsi)) {
        if (write_frame(c, f))
            c->overflowed = 1; /* lws closes it; CLOSED releases the rest */
        else if (lws_partial_buffered(c->wsi))
            lws_callback_on_writable(c->wsi);
        return;
    }
    if (c->qlen == QUEUE_MAX) {
        pl_warn("slow consumer closed", "user=\"%s\"", c->user_id);
        c->overflowed = 1;
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
        return;
    }
    f->refs++;
    c->queue[(c->qhead + c->qlen++) % QUEUE_MAX] = f;
    lws_callback_on_writable(c->wsi);
}

static void send_json(conn_t *c, const pl_buf_t *json)
{
    frame_t *f = frame_new(json);
    if (!f)
        return;
    f->refs = 1;
    send_frame(c, f);
    frame_unref(f);
}

/* WRITEABLE: one frame per callback, as lws asks. */
static int on_writeable(conn_t *c)
{
    if (c->qlen == 0 || lws_partial_buffered(c->wsi))
        return 0;
    frame_t *f = c->queue[c->qhead];
    c->qhead = (c->qhead + 1) % QUEUE_MAX;
    c->qlen--;
    int rc = write_frame(c, f);
    frame_unref(f);
    if (rc)
        return -1;
    if (c->qlen)
        lws_callback_on_writable(c->wsi);
    return 0;
}

static void release_queue(conn_t *c)
{
    while (c->qlen) {
        frame_unref(c->queue[c->qhead]);
        c->qhead = (c->qhead + 1) % QUEUE_MAX;
        c->qlen--;
    }
}

/* ---------------------------------------------------------------- requests */

static const msgpack_object *field(const msgpack_object *map, const char *key)
{
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == klen &&
            memcmp(kv->key.via.str.ptr, key, klen) == 0)
            return &kv->val;
    }
    return NULL;
}

static int is_str(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_STR;
}

static int64_t as_int(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX
               ? (int64_t)o->via.u64
               : -1;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* JSON of `o`, or null when it is absent or not representable. */
static int put_json_or_null(pl_buf_t *out, const msgpack_object *o)
{
    size_t mark = out->len;
    if (o && pl_msgpack_to_json(o, out) == 0)
        return 0;
    out->len = mark;
    return pl_buf_puts(out, "null");
}

/* A C string as a JSON string (user ids come from tokens: escape them). */
static int put_str(pl_buf_t *out, const char *s)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR, .via.str = {(uint32_t)strlen(s), s}};
    return pl_msgpack_to_json(&o, out);
}

static void reply_error(conn_t *c, const msgpack_object *id, const char *code)
{
    pl_buf_t out;
    pl_buf_init(&out, 0);
    int bad = pl_buf_puts(&out, "{\"type\":\"error\",\"id\":");
    bad |= put_json_or_null(&out, id);
    bad |= pl_buf_printf(&out, ",\"code\":\"%s\",\"message\":\"%s\"}", code, code);
    if (!bad)
        send_json(c, &out);
    pl_buf_free(&out);
}

static conn_t *online(const char *user_id)
{
    return pl_map_get(R.users, user_id, strlen(user_id));
}

static int is_member(const conv_t *cv, const char *user_id)
{
    for (size_t i = 0; i < cv->n; i++)
        if (strcmp(cv->members[i], user_id) == 0)
            return 1;
    return 0;
}

static void free_conv(conv_t *cv)
{
    for (size_t i = 0; cv && i < cv->n; i++)
        free(cv->members[i]);
    if (cv)
        free(cv->members);
    free(cv);
}

static int add_member(conv_t *cv, const char *p, size_t n)
{
    if (n == 0 || n > PL_USER_ID_MAX || cv->n == MEMBERS_MAX)
        return -1;
    char *uid = strndup(p, n);
    if (!uid || strlen(uid) != n) { /* an embedded NUL */
        free(uid);
        return -1;
    }
    if (is_member(cv, uid)) {
        free(uid);
        return 0;
    }
    cv->members[cv->n++] = uid;
    return 0;
}

static conv_t *new_conv(conn_t *c, const msgpack_object *parts)
{
    conv_t *cv = calloc(1, sizeof *cv);
    if (!cv || !(cv->members = calloc(MEMBERS_MAX, sizeof *cv->members))) {
        free(cv);
        return NULL;
    }
    if (add_member(cv, c->user_id, strlen(c->user_id)))
        goto fail;
    for (uint32_t i = 0; i < parts->via.array.size; i++) {
        const msgpack_object *p = &parts->via.array.ptr[i];
        if (!is_str(p) || add_member(cv, p->via.str.ptr, p->via.str.size))
            goto fail;
    }
    cv->id = ++R.next_conv;
    if (pl_map_puti(R.convs, (uint64_t)cv->id, cv) == 0)
        return cv;
fail:
    free_conv(cv);
    return NULL;
}

static void create_conversation(conn_t *c, const msgpack_object *req, const msgpack_object *id)
{
    const msgpack_object *parts = field(req, "participants");
    if (!parts || parts->type != MSGPACK_OBJECT_ARRAY || parts->via.array.size >= MEMBERS_MAX) {
        reply_error(c, id, "bad_request");
        return;
    }
    conv_t *cv = new_conv(c, parts);
    if (!cv) {
        reply_error(c, id, "bad_request");
        return;
    }
    pl_buf_t out;
    pl_buf_init(&out, 0);
    int bad = pl_buf_printf(&out, "{\"type\":\"conversation_created\",\"conversation\":{"
                                  "\"conversation_id\":%" PRId64 ",\"kind\":\"group\",\"participants\":[",
                            cv->id);
    for (size_t i = 0; i < cv->n; i++) {
        bad |= (i ? pl_buf_putc(&out, ',') : 0) | put_str(&out, cv->members[i]);
    }
    bad |= pl_buf_puts(&out, "],\"last_seq\":0,\"unread_count\":0}}");
    frame_t *f = bad ? NULL : frame_new(&out);
    pl_buf_free(&out);
    if (!f)
        return;
    f->refs = 1;
    for (size_t i = 0; i < cv->n; i++) {
        conn_t *m = online(cv->members[i]);
        if (m)
            send_frame(m, f);
    }
    frame_unref(f);
}

/* The sender gets message_sent; every other member online gets one shared new_message. */
static void relay_message(conn_t *c, const msgpack_object *req, const msgpack_object *id)
{
    conv_t *cv = pl_map_geti(R.convs, (uint64_t)as_int(field(req, "conversation_id")));
    const msgpack_object *content = field(req, "content"), *temp = field(req, "temp_id");
    if (!cv || !is_str(content) || (temp && !is_str(temp)) || !is_member(cv, c->user_id)) {
        reply_error(c, id, cv ? "bad_request" : "not_found");
        return;
    }
    int64_t seq = ++cv->last_seq, mid = ++R.next_msg, at = now_us();
    pl_buf_t out;
    pl_buf_init(&out, 0);
    int bad = pl_buf_printf(&out, "{\"type\":\"new_message\",\"message\":{\"message_id\":%" PRId64
                        ",\"conversation_id\":%" PRId64 ",\"seq\":%" PRId64 ",\"sender_id\":",
                  mid, cv->id, seq);
    bad |= put_str(&out, c->user_id) | pl_buf_puts(&out, ",\"content\":");
    bad |= pl_msgpack_to_json(content, &out) | pl_buf_puts(&out, ",\"temp_id\":");
    bad |= put_json_or_null(&out, temp);
    bad |= pl_buf_printf(&out, ",\"created_at\":%" PRId64 "}}", at);
    frame_t *f = bad ? NULL : frame_new(&out);
    if (f) {
        f->refs = 1;
        for (size_t i = 0; i < cv->n; i++) {
            conn_t *m = strcmp(cv->members[i], c->user_id) ? online(cv->members[i]) : NULL;
            if (m)
                send_frame(m, f);
        }
        frame_unref(f);
    }
    pl_buf_reset(&out);
    bad = pl_buf_puts(&out, "{\"type\":\"message_sent\",\"id\":");
    bad |= put_json_or_null(&out, id);
    bad |= pl_buf_printf(&out, ",\"message_id\":%" PRId64 ",\"conversation_id\":%" PRId64 ",\"seq\":%" PRId64
                        ",\"temp_id\":",
                  mid, cv->id, seq);
    bad |= put_json_or_null(&out, temp);
    bad |= pl_buf_printf(&out, ",\"created_at\":%" PRId64 "}", at);
    if (!bad)
        send_json(c, &out);
    pl_buf_free(&out);
}

static void on_request(conn_t *c, const char *json, size_t len)
{
    msgpack_sbuffer mp;
    msgpack_sbuffer_init(&mp);
    char err[128];
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    if (pl_json_to_msgpack(json, len, &mp, err, sizeof err) ||
        msgpack_unpack_next(&up, mp.data, mp.size, NULL) != MSGPACK_UNPACK_SUCCESS ||
        up.data.type != MSGPACK_OBJECT_MAP) {
        reply_error(c, NULL, "bad_request");
    } else {
        const msgpack_object *type = field(&up.data, "type"), *id = field(&up.data, "id");
        if (is_str(type) && type->via.str.size == 7 && !memcmp(type->via.str.ptr, "message", 7))
            relay_message(c, &up.data, id);
        else if (is_str(type) && type->via.str.size == 19 &&
                 !memcmp(type->via.str.ptr, "create_conversation", 19))
            create_conversation(c, &up.data, id);
        else
            reply_error(c, id, "bad_request");
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&mp);
}

/* ---------------------------------------------------------------- connections */

static int on_established(conn_t *c, struct lws *wsi)
{
    char token[PL_TOKEN_MAX + 1], err[128];
    pl_identity_t who;
    c->wsi = wsi;
    pl_buf_init(&c->rx, 0);
    const char *v = lws_get_urlarg_by_name(wsi, "token=", token, sizeof token);
    if (!v || !*v) {
        pl_warn("connection refused", "reason=\"no ?token=\"");
        return -1;
    }
    if (pl_jwt_verify(R.jwt, v, (int64_t)time(NULL), &who, err, sizeof err)) {
        pl_warn("connection refused", "reason=\"%s\"", err);
        return -1;
    }
    memcpy(c->user_id, who.user_id, sizeof c->user_id);
    if (pl_map_put(R.users, c->user_id, strlen(c->user_id), c))
        return -1;
    pl_buf_t out;
    pl_buf_init(&out, 0);
    int bad = pl_buf_puts(&out, "{\"type\":\"auth_success\",\"user_id\":");
    bad |= put_str(&out, c->user_id) | pl_buf_puts(&out, ",\"conversations\":[]}");
    if (!bad)
        send_json(c, &out);
    pl_buf_free(&out);
    return 0;
}

static void on_closed(conn_t *c)
{
    if (c->user_id[0] && online(c->user_id) == c)
        pl_map_remove(R.users, c->user_id, strlen(c->user_id));
    release_queue(c);
    pl_buf_free(&c->rx);
}

static int on_receive(conn_t *c, struct lws *wsi, const char *in, size_t len)
{
    int complete = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (c->rx.len == 0 && complete) {
        on_request(c, in, len);
        return 0;
    }
    if (c->rx.len + len > FRAME_MAX || pl_buf_append(&c->rx, in, len))
        return -1;
    if (complete) {
        on_request(c, c->rx.data, c->rx.len);
        pl_buf_free(&c->rx);
        pl_buf_init(&c->rx, 0);
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    conn_t *c = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(c, wsi);
    case LWS_CALLBACK_RECEIVE:
        return on_receive(c, wsi, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writeable(c);
    case LWS_CALLBACK_CLOSED:
        on_closed(c);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    {"relay", callback, sizeof(conn_t), 512, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---------------------------------------------------------------- process */

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_stop(h->loop);
}

static void free_conv_each(const void *key, size_t klen, void *value, void *arg)
{
    (void)key, (void)klen, (void)arg;
    free_conv(value);
}

static void usage(void)
{
    fprintf(stderr, "usage: parley-relay [--port P] [--secret S] [--direct] [--no-idle-policy]\n"
                    "  a bare chat relay for calibrating parley-bench (docs/performance.md);\n"
                    "  not for users. --secret defaults to $JWT_SECRET, --port to 27650.\n");
}

static int parse_args(int argc, char **argv, const char **secret)
{
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"secret", required_argument, NULL, 's'},
                                         {"direct", no_argument, NULL, 'd'},
                                         {"no-idle-policy", no_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    R.port = 27650;
    *secret = getenv("JWT_SECRET");
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 'p')
            R.port = atoi(optarg);
        else if (o == 's')
            *secret = optarg;
        else if (o == 'd')
            R.direct = 1;
        else if (o == 'n')
            R.no_idle_policy = 1;
        else
            return -1;
    }
    return optind == argc && R.port > 0 && R.port < 65536 && *secret && **secret ? 0 : -1;
}

/* One descriptor per connection, and lws sizes its fd table from the soft limit when
   the context is made: raise it to the hard limit first (storm and idle runs of 19,000
   connections need it; the default soft limit is often 1,024). */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl))
            pl_warn("cannot raise the open file limit", "hard=%llu",
                    (unsigned long long)rl.rlim_max);
    }
}

int main(int argc, char **argv)
{
    const char *secret;
    pl_log_init("relay");
    if (parse_args(argc, argv, &secret)) {
        usage();
        return 2;
    }
    R.jwt = pl_jwt_verifier_new("HS256", (const unsigned char *)secret, strlen(secret));
    R.users = pl_map_new();
    R.convs = pl_map_new();
    if (!R.jwt || !R.users || !R.convs || uv_loop_init(&R.loop)) {
        pl_error("relay init failed", "reason=\"out of memory\"");
        return 1;
    }
    raise_nofile();
    uv_signal_init(&R.loop, &R.sigint);
    uv_signal_init(&R.loop, &R.sigterm);
    uv_signal_start(&R.sigint, on_signal, SIGINT);
    uv_signal_start(&R.sigterm, on_signal, SIGTERM);
    void *foreign[1] = {&R.loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = R.port;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = foreign;
    /* By default lws applies its idle policy (a validity timer per connection, 300 s),
       as in any idiomatic lws server. lws 4.1 keeps those timers in one sorted list and
       re-arms them walking it: O(N) per connection. --no-idle-policy (hangup 0: no
       timer) removes that walk, as parley-gateway does (it pings by itself), so
       connection storms compare like with like. lws keeps the pointer: static. */
    static const lws_retry_bo_t no_idle = {.secs_since_valid_ping = 0, .secs_since_valid_hangup = 0};
    if (R.no_idle_policy)
        info.retry_and_idle_policy = &no_idle;
    lws_set_log_level(LLL_ERR, NULL);
    R.ctx = lws_create_context(&info);
    int rc = 0;
    if (!R.ctx || !lws_get_vhost_by_name(R.ctx, "default")) {
        pl_error("cannot listen", "port=%d", R.port);
        rc = 1;
    } else {
        pl_info("relay listening", "port=%d direct=%d no_idle_policy=%d", R.port, R.direct,
                R.no_idle_policy);
        uv_run(&R.loop, UV_RUN_DEFAULT);
    }
    if (R.ctx)
        lws_context_destroy(R.ctx); /* CLOSED runs for every connection */
    uv_close((uv_handle_t *)&R.sigint, NULL);
    uv_close((uv_handle_t *)&R.sigterm, NULL);
    uv_run(&R.loop, UV_RUN_DEFAULT); /* let lws' handles and ours finish closing */
    if (R.ctx)
        lws_context_destroy(R.ctx); /* on a foreign loop the second call frees it */
    uv_loop_close(&R.loop);
    pl_map_each(R.convs, free_conv_each, NULL);
    pl_map_destroy(&R.convs);
    pl_map_destroy(&R.users);
    pl_jwt_verifier_destroy(&R.jwt);
    return rc;
}
