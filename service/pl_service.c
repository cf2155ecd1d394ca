/*  pl_service: batch → one transaction → outbox → publish (see pl_service.h).
    Why batches: PostgreSQL spends ~150 µs of CPU per commit of one row but ~10 µs per
    row when a hundred share a commit. A batch is "whatever is queued"
    (at most BATCH_MAX). One knob trades a little latency for a lot of CPU under load:
    BATCH_INTERVAL_MS, the least time between the starts of two batches. A request
    that finds the service idle for longer is handled at once; under load, requests
    wait for the interval to end and share one commit (docs/design/group-commit.md). */
#include "pl_service.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "pl_buf.h"
#include "pl_clock.h"
#include "pl_config.h"
#include "pl_log.h"
#include "pl_map.h"
#include "pl_mp.h"
#include "pl_metrics_http.h"
#include "pl_shed.h"
#include "pl_zmq.h"

#define BATCH_MAX 128
/* See the top of the file; measured in docs/performance.md. */
#define BATCH_INTERVAL_DEFAULT_MS 3
/* Adaptive pacing waits only after a batch of at least this many requests (see pace). */
#define PACE_AFTER_BATCH 4
/* Outbox records whose topic starts with this byte go to another service's queue
   (pl_service_notify) instead of the bus; the next byte is the target kind. Bus
   topics always start with a letter, so the two never mix. */
#define OUTBOX_QUEUE '\x01'
/* How long a notification may wait for a connection to the broker. */
#define NOTIFY_WAIT_MS 200
/* Ids of recent bus events this service subscribes to, to drop the copies other
   brokers deliver (pl_dedup.h). Services hear few events; a copy trails by ms. */
#define SEEN_WINDOW 8192
/* SHED_AFTER_MS: a client request that waited longer than this since the gateway
   sent it is refused `overloaded` (docs/design/overload.md); 0 turns shedding off. */
#define SHED_AFTER_DEFAULT_MS 50
/* At start, how long to wait for the PUB's first broker connection (see below). */
#define PUB_READY_WAIT_MS 2000

typedef struct {
    zmq_msg_t topic, body;
    msgpack_unpacked up;
    proto_request_t req;
    size_t idx;
    int64_t key;
} slot_t;

struct pl_service_t {
    pl_service_def_t def;
    pl_map_t *handlers; /* event name → its pl_handler_t row in def.handlers */
    void *app;
    PGconn *db;
    void *zctx;
    void *pull; /* requests from the broker's queue for this kind */
    void *pub;  /* replies and events to every broker's event bus */
    pl_evid_t next_id; /* id of the next event published: our random pub, a counter */
    pl_dedup_t *seen;  /* ids of events received on `events` (copies dropped) */
    void *events;  /* SUB: def->subscribe topics */
    void *answers; /* SUB: g<instance>, answers to pl_service_ask */
    void *ask[PROTO_SVC_COUNT]; /* PUSH to other services' queues, opened on demand */
    pl_broker_addr_t addr;
    uint64_t ask_rq;
    int discard;   /* the message being built answers a notification: drop it */
    char instance[17];
    /* outbox: records [u32 topic len][topic][u32 body len][body] */
    pl_buf_t outbox;
    msgpack_sbuffer cur;
    msgpack_packer pk;
    char cur_topic[PROTO_TOPIC_MAX];
    int cur_topic_len;
    int building;
    slot_t slots[BATCH_MAX];
    slot_t *order[BATCH_MAX];
    uint64_t handled, dropped_late, failed_batches;
    pl_metrics_http_t *metrics; /* counters, and /metrics when METRICS_PORT is set */
    int64_t batch_t0_us, txn_t0_us; /* when the batch was taken; when BEGIN ran */
    int64_t interval_us;            /* BATCH_INTERVAL_MS */
    int64_t last_batch_us;          /* monotonic start of the previous batch */
    size_t last_batch_n;            /* requests the previous batch took */
    int lazy_txn;                   /* BEGIN at the first pl_service_db() (events, ticks) */
    int lazy_begun;                 /* ... and it has been sent */
    int adaptive;                   /* BATCH_PACING=adaptive (see pace) */
    int64_t shed_after_ms;          /* SHED_AFTER_MS (0 = never shed) */
    uint64_t shed_rnd;              /* jitter of retry_after_ms */
    pl_shed_log_t shed_log;         /* one log line a second at most */
    pl_txn_kind_t txn_kind;
};

static volatile sig_atomic_t s_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void random_hex(char *out, size_t nbytes)
{
    FILE *f = fopen("/dev/urandom", "rb");
    unsigned char b[16] = {0};
    if (!f || fread(b, 1, nbytes, f) != nbytes) {
        int64_t t = pl_wall_ms() ^ (int64_t)getpid();
        memcpy(b, &t, sizeof t < nbytes ? sizeof t : nbytes);
    }
    if (f)
        fclose(f);
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The handler table by name. A name served twice, or not an event of this service's
   kind in proto/ (nor an internal one), is a programming error caught at start. */
static int index_handlers(pl_service_t *self)
{
    self->handlers = pl_map_new();
    if (!self->handlers)
        return -1;
    for (const pl_handler_t *h = self->def.handlers; h && h->ev; h++) {
        size_t n = strlen(h->ev);
        const proto_event_t *ev = proto_event_find(h->ev, n);
        if ((ev && ev->svc != self->def.kind) || pl_map_get(self->handlers, h->ev, n) ||
            pl_map_put(self->handlers, h->ev, n, (void *)h) != 0) {
            pl_error("bad handler table", "service=%s ev=%s", proto_svc_name(self->def.kind), h->ev);
            return -1;
        }
    }
    return 0;
}

/* One request to its handler; an event this service does not serve is refused. */
static int dispatch(pl_service_t *self, const proto_request_t *req)
{
    const pl_handler_t *h = pl_map_get(self->handlers, req->ev, strlen(req->ev));
    if (h)
        return h->fn(self->app, self, req);
    pl_warn("unhandled event", "service=%s ev=%s", proto_svc_name(self->def.kind), req->ev);
    pl_service_error(self, req, "bad_request", "this event is not served by this service version");
    return 0;
}

/* BATCH_INTERVAL_MS, BATCH_PACING (see pace) and SHED_AFTER_MS (see shed). 0, or -1
   after logging which is bad. */
static int runtime_config(int64_t *interval_us, int *adaptive, int64_t *shed_after_ms)
{
    int64_t interval_ms;
    if (pl_env_int("BATCH_INTERVAL_MS", BATCH_INTERVAL_DEFAULT_MS, 0, 1000, &interval_ms) ||
        pl_env_int("SHED_AFTER_MS", SHED_AFTER_DEFAULT_MS, 0, 600000, shed_after_ms))
        return -1;
    const char *pacing = pl_env_str("BATCH_PACING", "adaptive");
    if (strcmp(pacing, "adaptive") != 0 && strcmp(pacing, "fixed") != 0) {
        pl_error("bad configuration", "var=BATCH_PACING value=\"%.64s\" want=\"adaptive or fixed\"",
                 pacing);
        return -1;
    }
    *interval_us = interval_ms * 1000;
    *adaptive = strcmp(pacing, "adaptive") == 0;
    return 0;
}

int pl_service_check_config(void)
{
    int64_t interval_us, shed_after_ms;
    int adaptive;
    return runtime_config(&interval_us, &adaptive, &shed_after_ms);
}

pl_service_t *pl_service_new(const pl_service_def_t *def, void *app, PGconn **db_p)
{
    pl_service_t *self = calloc(1, sizeof *self);
    if (!self) {
        PQfinish(*db_p);
        *db_p = NULL;
        return NULL;
    }
    self->def = *def;
    self->app = app;
    self->db = *db_p;
    *db_p = NULL;
    random_hex(self->instance, 8);
    /* The event ids' publisher half: the instance id's bits (random per start, so a
       restarted service's counter starting over is not taken for copies). */
    self->next_id.pub = strtoull(self->instance, NULL, 16);
    self->metrics = pl_metrics_http_new(proto_svc_name(def->kind), self->instance);
    if (!self->metrics) {
        PQfinish(self->db);
        self->db = NULL;
        free(self);
        return NULL;
    }
    pl_buf_init(&self->outbox, 0);
    msgpack_sbuffer_init(&self->cur);
    msgpack_packer_init(&self->pk, &self->cur, msgpack_sbuffer_write);
    if (index_handlers(self) != 0)
        goto fail;

    if (pl_broker_client_from_env(&self->addr))
        goto fail;
    if (runtime_config(&self->interval_us, &self->adaptive, &self->shed_after_ms))
        goto fail;
    self->shed_rnd = self->next_id.pub;
    pl_broker_addr_t addr = self->addr;
    self->zctx = zmq_ctx_new();
    if (!self->zctx)
        goto fail;
    /* The PUB first, and requests (the PULL) only once it is connected to a broker: a
       PUB drops what it publishes before the broker's subscriptions reach it, so the
       replies to requests taken at once (those that waited at the broker for an
       instance) would be lost. Bounded: with no broker up, go on; it connects later. */
    int pub_ready = 0;
    self->pub = pl_zmq_connect_ready(self->zctx, ZMQ_PUB, &addr, PROTO_PORT_EVENTS_IN,
                                     PUB_READY_WAIT_MS, &pub_ready);
    if (!self->pub)
        goto fail;
    if (!pub_ready)
        pl_warn("no broker connection yet", "waited_ms=%d", PUB_READY_WAIT_MS);
    self->answers = pl_zmq_connect(self->zctx, ZMQ_SUB, &addr, PROTO_PORT_EVENTS_OUT);
    if (!self->answers)
        goto fail;
    char topic[PROTO_TOPIC_MAX];
    int tl = proto_topic(topic, sizeof topic, PROTO_TOPIC_GATEWAY, self->instance, 16);
    zmq_setsockopt(self->answers, ZMQ_SUBSCRIBE, topic, (size_t)tl);
    if (def->subscribe) {
        self->seen = pl_dedup_new(SEEN_WINDOW);
        if (!self->seen)
            goto fail;
        self->events = pl_zmq_connect(self->zctx, ZMQ_SUB, &addr, PROTO_PORT_EVENTS_OUT);
        if (!self->events)
            goto fail;
        for (const char *const *t = def->subscribe; *t; t++)
            zmq_setsockopt(self->events, ZMQ_SUBSCRIBE, *t, strlen(*t) + 1);
    }
    self->pull = pl_zmq_connect(self->zctx, ZMQ_PULL, &addr, proto_svc_queue_offset(def->kind) + 1);
    if (!self->pull)
        goto fail;
    if (def->stmts && pl_pg_prepare_all(self->db, def->stmts))
        goto fail;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char brokers[PL_BROKERS_MAX * (PL_BROKER_HOST_MAX + 8)];
    pl_broker_describe(&addr, brokers, sizeof brokers);
    pl_info("service started", "kind=%s instance=%s brokers=%s bus=%s", proto_svc_name(def->kind),
            self->instance, brokers, addr.keys.insecure ? "plain" : "curve");
    return self;
fail:
    pl_service_destroy(&self);
    return NULL;
}

void pl_service_destroy(pl_service_t **self_p)
{
    pl_service_t *self = *self_p;
    if (!self)
        return;
    if (self->pull)
        zmq_close(self->pull);
    if (self->pub)
        zmq_close(self->pub);
    if (self->events)
        zmq_close(self->events);
    if (self->answers)
        zmq_close(self->answers);
    for (int i = 0; i < PROTO_SVC_COUNT; i++)
        if (self->ask[i])
            zmq_close(self->ask[i]);
    if (self->zctx)
        zmq_ctx_term(self->zctx);
    PQfinish(self->db);
    pl_map_destroy(&self->handlers);
    pl_dedup_destroy(&self->seen);
    pl_metrics_http_destroy(&self->metrics);
    pl_buf_free(&self->outbox);
    msgpack_sbuffer_destroy(&self->cur);
    free(self);
    *self_p = NULL;
}

static int txn(pl_service_t *self, const char *sql);
static void outbox_flush(pl_service_t *self);
static void outbox_discard(pl_service_t *self);

/* Bus events and ticks begin their transaction here, at the handler's first use of
   the database: most presence events and most ticks need none (chat-svc keeps its
   marks in memory, call-svc ignores students), and an empty BEGIN/COMMIT costs two
   round trips and two wake-ups of a PostgreSQL backend, per event: in a reconnect
   storm, per connection. NULL if BEGIN failed (every libpq call then fails, and the
   handler's -1 rolls back). */
PGconn *pl_service_db(pl_service_t *self)
{
    if (self->lazy_txn && !self->lazy_begun) {
        self->lazy_begun = 1;
        if (txn(self, "BEGIN") != 0)
            return NULL;
    }
    return self->db;
}

/* Run fn(self, arg) as a transaction begun lazily (above); commit what it did and flush
   its outbox, or roll back and discard. */
static void run_lazily(pl_service_t *self, int (*fn)(pl_service_t *, void *), void *arg)
{
    self->lazy_txn = 1;
    self->lazy_begun = 0;
    int rc = fn(self, arg);
    self->lazy_txn = 0;
    if (rc == 0 && (!self->lazy_begun || txn(self, "COMMIT") == 0)) {
        outbox_flush(self);
        return;
    }
    if (self->lazy_begun)
        txn(self, "ROLLBACK");
    outbox_discard(self);
}

const char *pl_service_instance(pl_service_t *self)
{
    return self->instance;
}

/* ---- outbox -------------------------------------------------------------------- */

static msgpack_packer *begin(pl_service_t *self, char prefix, const char *id, size_t idlen)
{
    if (self->building) { /* a handler forgot pl_service_end: keep what it built */
        pl_error("outbox misuse", "reason=\"begin without end\"");
        pl_service_end(self);
    }
    self->cur_topic_len = proto_topic(self->cur_topic, sizeof self->cur_topic, prefix, id, idlen);
    if (self->cur_topic_len < 0)
        return NULL;
    msgpack_sbuffer_clear(&self->cur);
    self->building = 1;
    self->discard = 0;
    return &self->pk;
}

msgpack_packer *pl_service_reply(pl_service_t *self, const proto_request_t *req,
                                 const int64_t *sub, size_t nsub)
{
    msgpack_packer *pk = begin(self, PROTO_TOPIC_GATEWAY, req->gw, strlen(req->gw));
    if (pk)
        proto_pack_reply_head(pk, req->cn, req->rq, sub, nsub);
    self->discard = req->rq == 0;
    return pk;
}

msgpack_packer *pl_service_to_conn(pl_service_t *self, const char *gw, uint64_t cn)
{
    msgpack_packer *pk = begin(self, PROTO_TOPIC_GATEWAY, gw, strlen(gw));
    if (pk)
        proto_pack_reply_head(pk, cn, 0, NULL, 0);
    return pk;
}

msgpack_packer *pl_service_to_presence(pl_service_t *self, const char *uid,
                                       const proto_exclude_t *x)
{
    msgpack_packer *pk = begin(self, PROTO_TOPIC_PRESENCE, uid, strlen(uid));
    if (pk)
        proto_pack_event_head(pk, x, 0);
    return pk;
}

msgpack_packer *pl_service_to_role(pl_service_t *self, const char *role, const proto_exclude_t *x)
{
    msgpack_packer *pk = begin(self, PROTO_TOPIC_ROLE, role, strlen(role));
    if (pk)
        proto_pack_event_head(pk, x, 0);
    return pk;
}

msgpack_packer *pl_service_to_gateways(pl_service_t *self)
{
    msgpack_packer *pk = begin(self, PROTO_TOPIC_GATEWAYS, "", 0);
    if (pk)
        proto_pack_event_head(pk, NULL, 0);
    return pk;
}

msgpack_packer *pl_service_to_internal(pl_service_t *self, const char *name)
{
    msgpack_packer *pk = begin(self, PROTO_TOPIC_INTERNAL, name, strlen(name));
    if (pk)
        proto_pack_event_head(pk, NULL, 0);
    return pk;
}

msgpack_packer *pl_service_notify(pl_service_t *self, proto_svc_t target, const char *ev,
                                  const char *uid)
{
    if (target <= PROTO_SVC_GATEWAY || target >= PROTO_SVC_COUNT)
        return NULL;
    char kind = (char)('0' + target);
    msgpack_packer *pk = begin(self, OUTBOX_QUEUE, &kind, 1);
    if (pk) /* our instance id as gw, like an ask, but rq 0: nobody answers */
        proto_pack_request_head(pk, ev, ev, self->instance, 0, 0, uid, NULL, NULL, 0);
    return pk;
}

msgpack_packer *pl_service_to_user(pl_service_t *self, const char *uid, const proto_exclude_t *x,
                                   int64_t sub)
{
    msgpack_packer *pk = begin(self, PROTO_TOPIC_USER, uid, strlen(uid));
    if (pk)
        proto_pack_event_head(pk, x, sub);
    return pk;
}

msgpack_packer *pl_service_to_conv(pl_service_t *self, int64_t conversation_id,
                                   const proto_exclude_t *x)
{
    char id[24];
    int n = snprintf(id, sizeof id, "%lld", (long long)conversation_id);
    msgpack_packer *pk = begin(self, PROTO_TOPIC_CONV, id, (size_t)n);
    if (pk)
        proto_pack_event_head(pk, x, 0);
    return pk;
}

void pl_service_end(pl_service_t *self)
{
    if (!self->building)
        return;
    self->building = 0;
    if (self->discard) {
        self->discard = 0;
        return;
    }
    uint32_t tl = (uint32_t)self->cur_topic_len, bl = (uint32_t)self->cur.size;
    if (pl_buf_append(&self->outbox, &tl, sizeof tl) ||
        pl_buf_append(&self->outbox, self->cur_topic, tl) ||
        pl_buf_append(&self->outbox, &bl, sizeof bl) ||
        pl_buf_append(&self->outbox, self->cur.data, bl))
        pl_error("outbox append failed", "reason=\"out of memory\"");
}

void pl_service_error(pl_service_t *self, const proto_request_t *req, const char *code,
                      const char *message)
{
    if (req->rq)
        pl_metrics_error(self->metrics, code);
    msgpack_packer *pk = pl_service_reply(self, req, NULL, 0);
    if (!pk)
        return;
    msgpack_pack_map(pk, 3);
    pl_pack_kv_str(pk, "type", "error");
    pl_pack_kv_str(pk, "code", code);
    pl_pack_kv_str(pk, "message", message);
    pl_service_end(self);
}

void pl_service_ack(pl_service_t *self, const proto_request_t *req)
{
    msgpack_packer *pk = pl_service_reply(self, req, NULL, 0);
    if (!pk)
        return;
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "ack");
    pl_pack_kv_str(pk, "of", req->as);
    pl_service_end(self);
}

proto_exclude_t pl_service_actor(const proto_request_t *req)
{
    proto_exclude_t x = {req->gw, req->cn, NULL};
    return x;
}

static int send_to_queue(pl_service_t *self, proto_svc_t target, const char *body, size_t len,
                         int wait_ms);

static void outbox_flush(pl_service_t *self)
{
    /* A PUB applies the subscriptions that reached it only when it processes its
       commands, which a send does at most about once a millisecond. Asked for its
       events first, it takes them now: a gateway that subscribed to a conversation
       just before its client's request reached us hears what that request publishes
       (the first typing in a new conversation was dropped here, once batches stopped
       waiting out BATCH_INTERVAL_MS). */
    if (self->outbox.len > 0) {
        int ev = 0;
        size_t sz = sizeof ev;
        (void)zmq_getsockopt(self->pub, ZMQ_EVENTS, &ev, &sz); /* only its side effect */
    }
    size_t off = 0;
    while (off + 8 <= self->outbox.len) {
        uint32_t tl, bl;
        memcpy(&tl, self->outbox.data + off, 4);
        const char *topic = self->outbox.data + off + 4;
        memcpy(&bl, topic + tl, 4);
        const char *body = topic + tl + 4;
        if (tl >= 2 && topic[0] == OUTBOX_QUEUE) {
            proto_svc_t target = (proto_svc_t)(topic[1] - '0');
            if (send_to_queue(self, target, body, bl, NOTIFY_WAIT_MS) != 0)
                pl_warn("notification not sent", "to=%s err=\"%s\"", proto_svc_name(target),
                        zmq_strerror(errno));
            off += 8 + tl + bl;
            continue;
        }
        /* PUB never blocks: past its high-water mark it drops, which clients recover
           from by seq (history); the database already has everything. It goes to
           every broker connected now, with one id: subscribers keep the first copy. */
        self->next_id.seq++;
        if (pl_zmq_publish(self->pub, topic, tl, body, bl, &self->next_id) != 0)
            pl_warn("publish failed", "err=\"%s\"", zmq_strerror(errno));
        off += 8 + tl + bl;
    }
    pl_buf_reset(&self->outbox);
    pl_metrics_outbox(self->metrics, 1);
}

static void outbox_discard(pl_service_t *self)
{
    self->building = 0;
    pl_buf_reset(&self->outbox);
    pl_metrics_outbox(self->metrics, 0);
}

/* ---- database health --------------------------------------------------------- */

/* After a failure: if the connection itself is gone, reconnect and prepare again.
   Returns 0 when the connection is usable. */
static int db_ensure(pl_service_t *self)
{
    if (PQstatus(self->db) == CONNECTION_OK)
        return 0;
    pl_warn("database connection lost", "action=reset");
    PQreset(self->db);
    if (PQstatus(self->db) != CONNECTION_OK)
        return -1;
    if (self->def.stmts && pl_pg_prepare_all(self->db, self->def.stmts))
        return -1;
    pl_info("database reconnected", "%s", "");
    return 0;
}

static int txn(pl_service_t *self, const char *sql)
{
    PGresult *r = PQexec(self->db, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        pl_warn("transaction control failed", "sql=%s err=\"%.120s\"", sql,
                PQerrorMessage(self->db));
    PQclear(r);
    if (sql[0] == 'B')
        self->txn_t0_us = pl_metrics_now_us();
    else /* COMMIT (counts only if it succeeded) or ROLLBACK */
        pl_metrics_txn(self->metrics, self->txn_kind, pl_metrics_now_us() - self->txn_t0_us,
                       ok && sql[0] == 'C');
    return ok ? 0 : -1;
}

/* ---- batches ------------------------------------------------------------------- */

static void answer_health(pl_service_t *self, const proto_request_t *req)
{
    if (db_ensure(self) != 0)
        return; /* no answer: the gateway will report this kind unhealthy */
    msgpack_packer *pk = pl_service_reply(self, req, NULL, 0);
    if (!pk)
        return;
    msgpack_pack_map(pk, 3);
    pl_pack_kv_str(pk, "type", "health_ok");
    pl_pack_kv_str(pk, "svc", proto_svc_name(self->def.kind));
    pl_pack_kv_str(pk, "instance", self->instance);
    pl_service_end(self);
}

static int cmp_slots(const void *a, const void *b)
{
    const slot_t *x = *(slot_t *const *)a, *y = *(slot_t *const *)b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Run requests order[0..n) in one transaction. 0 if committed (outbox flushed). */
static int run_together(pl_service_t *self, size_t n)
{
    self->txn_kind = PL_TXN_BATCH;
    if (txn(self, "BEGIN"))
        return -1;
    if (self->def.prepare) {
        const proto_request_t *reqs[BATCH_MAX];
        for (size_t i = 0; i < n; i++)
            reqs[i] = &self->order[i]->req;
        if (self->def.prepare(self->app, self, reqs, n) != 0) {
            txn(self, "ROLLBACK");
            outbox_discard(self);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (dispatch(self, &self->order[i]->req) != 0) {
            txn(self, "ROLLBACK");
            outbox_discard(self);
            return -1;
        }
    }
    if (txn(self, "COMMIT")) {
        outbox_discard(self);
        return -1;
    }
    outbox_flush(self);
    int64_t now = pl_metrics_now_us();
    for (size_t i = 0; i < n; i++)
        pl_metrics_request(self->metrics, self->order[i]->req.ev, now - self->batch_t0_us);
    return 0;
}

static void run_alone(pl_service_t *self, const proto_request_t *req)
{
    self->txn_kind = PL_TXN_RETRY;
    if (db_ensure(self) == 0 && txn(self, "BEGIN") == 0) {
        const proto_request_t *one[1] = {req};
        if ((!self->def.prepare || self->def.prepare(self->app, self, one, 1) == 0) &&
            dispatch(self, req) == 0 && txn(self, "COMMIT") == 0) {
            outbox_flush(self);
            pl_metrics_request(self->metrics, req->ev, pl_metrics_now_us() - self->batch_t0_us);
            return;
        }
        txn(self, "ROLLBACK");
    }
    outbox_discard(self);
    int db_down = PQstatus(self->db) != CONNECTION_OK;
    pl_service_error(self, req, db_down ? "unavailable" : "internal",
                     db_down ? "the database is unavailable, try again" : "internal error");
    outbox_flush(self);
    pl_metrics_request(self->metrics, req->ev, pl_metrics_now_us() - self->batch_t0_us);
}

/* Refuse a request that queued too long, at once and without the database: it was
   not acted on, so the client may retry it (same temp_id) after retry_after_ms. The
   answer joins the health answers that prepare_batch flushes before the batch runs. */
static void shed(pl_service_t *self, const proto_request_t *req, int64_t waited_ms,
                 int64_t budget_ms)
{
    int64_t retry = pl_shed_retry_after_ms(waited_ms, pl_shed_rand(&self->shed_rnd));
    pl_metrics_shed(self->metrics);
    pl_metrics_error(self->metrics, "overloaded");
    msgpack_packer *pk = pl_service_reply(self, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 4);
        pl_pack_kv_str(pk, "type", "error");
        pl_pack_kv_str(pk, "code", "overloaded");
        pl_pack_kv_str(pk, "message", "the service is at capacity, retry later");
        pl_pack_kv_int(pk, "retry_after_ms", retry);
        pl_service_end(self);
    }
    uint64_t n = pl_shed_log_note(&self->shed_log, pl_mono_ms());
    if (n)
        pl_warn("shedding load", "service=%s shed=%llu waited_ms=%lld budget_ms=%lld",
                proto_svc_name(self->def.kind), (unsigned long long)n, (long long)waited_ms,
                (long long)budget_ms);
}

/* Decode what was received into slots; returns how many requests to run. */
static size_t prepare_batch(pl_service_t *self, size_t received)
{
    int64_t now = pl_wall_ms();
    int64_t budget = pl_shed_budget(self->shed_after_ms, received == BATCH_MAX);
    size_t n = 0;
    for (size_t i = 0; i < received; i++) {
        slot_t *s = &self->slots[i];
        size_t off = 0;
        if (msgpack_unpack_next(&s->up, zmq_msg_data(&s->body), zmq_msg_size(&s->body), &off) !=
                MSGPACK_UNPACK_SUCCESS ||
            proto_request_decode(&s->up.data, &s->req) != 0) {
            pl_warn("dropped malformed request", "bytes=%zu", zmq_msg_size(&s->body));
            continue;
        }
        if (strcmp(s->req.ev, PROTO_EV_HEALTH) == 0) {
            answer_health(self, &s->req);
            continue;
        }
        if (s->req.dl && s->req.dl < now) {
            /* The gateway has already answered `unavailable`; doing it now would
               surprise the client. */
            self->dropped_late++;
            pl_metrics_dropped_late(self->metrics);
            pl_debug("dropped late request", "ev=%s late_ms=%lld", s->req.ev,
                     (long long)(now - s->req.dl));
            continue;
        }
        /* Only what the gateway stamped (client and server-API requests) is shed;
           notifications (rq 0), asks and internal requests are always served. The
           budget is SHED_AFTER_MS when the queue is longer than this batch, longer
           when one batch empties it (pl_shed.h): a stall is not saturation. */
        if (s->req.rq && pl_shed_due(now, s->req.ts, budget)) {
            shed(self, &s->req, now - s->req.ts, budget);
            continue;
        }
        s->idx = i;
        s->key = self->def.order_key ? self->def.order_key(&s->req) : 0;
        self->order[n++] = s;
    }
    outbox_flush(self); /* health answers and refusals */
    qsort(self->order, n, sizeof self->order[0], cmp_slots);
    return n;
}

static void process_batch(pl_service_t *self, size_t received)
{
    size_t n = prepare_batch(self, received);
    pl_metrics_batch(self->metrics, received, n, received == BATCH_MAX);
    if (n == 0) {
        self->last_batch_us = 0; /* nothing ran: the next batch need not wait (pace) */
        return;
    }
    if (db_ensure(self) == 0 && run_together(self, n) == 0) {
        self->handled += n;
        return;
    }
    self->failed_batches++;
    pl_metrics_failed_batch(self->metrics);
    for (size_t i = 0; i < n; i++)
        run_alone(self, &self->order[i]->req);
    self->handled += n;
}

/* Wait out what is left of BATCH_INTERVAL_MS since the previous batch began, so
   the requests arriving meanwhile join this one. Only a busy service waits: after an
   idle spell longer than the interval there is nothing left to wait.
   Adaptive (BATCH_PACING=adaptive, the default): a request is also taken at once when
   the previous batch held fewer than PACE_AFTER_BATCH requests. Then each transaction
   finds the queue nearly empty and the one in flight is batching window enough:
   waiting would only add latency (at 1,000 msgs/s a fixed wait cost 3-4 ms of p99 and
   saved no CPU). Once requests arrive much faster than one transaction commits them,
   batches grow, and the wait makes them share commits (at 3,000 msgs/s no wait cost
   40 % more CPU per message; docs/design/group-commit.md). */
static void pace(pl_service_t *self)
{
    int64_t now = pl_metrics_now_us();
    int64_t left = self->last_batch_us + self->interval_us - now;
    if (self->adaptive && self->last_batch_n < PACE_AFTER_BATCH)
        left = 0;
    if (left > 0 && !s_stop) {
        struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
        nanosleep(&ts, NULL); /* a signal cuts it short: fine */
        now = pl_metrics_now_us();
    }
    self->last_batch_us = now;
}

/* Take whatever is queued, up to BATCH_MAX, without waiting. */
static size_t receive_batch(pl_service_t *self)
{
    size_t n = 0;
    self->batch_t0_us = pl_metrics_now_us();
    while (n < BATCH_MAX) {
        slot_t *s = &self->slots[n];
        zmq_msg_init(&s->topic);
        zmq_msg_init(&s->body);
        if (pl_zmq_recv2(self->pull, &s->topic, &s->body, ZMQ_DONTWAIT) != 0) {
            zmq_msg_close(&s->topic);
            zmq_msg_close(&s->body);
            break;
        }
        msgpack_unpacked_init(&s->up);
        n++;
    }
    return n;
}

static void release_batch(pl_service_t *self, size_t n)
{
    self->last_batch_n = n;
    for (size_t i = 0; i < n; i++) {
        msgpack_unpacked_destroy(&self->slots[i].up);
        zmq_msg_close(&self->slots[i].topic);
        zmq_msg_close(&self->slots[i].body);
    }
}

/* ---- asking and notifying another service ------------------------------------ */

/* PUSH to another service's queue at the broker, opened on first use. */
static void *queue_socket(pl_service_t *self, proto_svc_t target)
{
    if (!self->ask[target]) {
        self->ask[target] = pl_zmq_connect(self->zctx, ZMQ_PUSH, &self->addr,
                                           proto_svc_queue_offset(target));
        if (!self->ask[target]) /* ZMQ_IMMEDIATE: see send_to_queue */
            return NULL;
    }
    return self->ask[target];
}

/* Send one request [kind][body] to target's queue. With ZMQ_IMMEDIATE a send while no
   connection to the broker is complete (it is restarting) fails at once with EAGAIN:
   wait at most wait_ms for the socket to become writable. 0, or -1 with errno. */
static int send_to_queue(pl_service_t *self, proto_svc_t target, const char *body, size_t len,
                         int wait_ms)
{
    void *sock = queue_socket(self, target);
    if (!sock)
        return -1;
    const char *name = proto_svc_name(target);
    int64_t deadline = pl_mono_ms() + wait_ms;
    for (;;) {
        if (pl_zmq_send2(sock, name, strlen(name), body, len, ZMQ_DONTWAIT) == 0)
            return 0;
        int64_t left = deadline - pl_mono_ms();
        if (errno != EAGAIN || left <= 0)
            return -1;
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLOUT, 0};
        if (zmq_poll(&it, 1, (long)left) < 0 && errno != EINTR)
            return -1;
        errno = EAGAIN;
    }
}

int pl_service_ask(pl_service_t *self, proto_svc_t target, const char *ev, const char *uid,
                   const char *body, size_t body_len, int timeout_ms, msgpack_sbuffer *out)
{
    if (target <= PROTO_SVC_GATEWAY || target >= PROTO_SVC_COUNT)
        return -1;
    uint64_t rq = ++self->ask_rq;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* We pose as a gateway whose id is our instance id: the answer comes back on
       g<instance>, which only this process subscribes to. */
    proto_pack_request_head(&pk, ev, ev, self->instance, 1, rq, uid, NULL, NULL,
                            pl_wall_ms() + timeout_ms);
    msgpack_sbuffer_write(&sb, body, body_len);
    int64_t deadline = pl_mono_ms() + timeout_ms;
    int sent = send_to_queue(self, target, sb.data, sb.size, timeout_ms);
    msgpack_sbuffer_destroy(&sb);
    if (sent != 0)
        return -1;
    for (;;) {
        int64_t left = deadline - pl_mono_ms();
        if (left <= 0)
            return -1;
        zmq_pollitem_t it = {self->answers, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, (long)left) <= 0)
            continue;
        zmq_msg_t t, b;
        zmq_msg_init(&t);
        zmq_msg_init(&b);
        int got = 0;
        if (pl_zmq_recv2(self->answers, &t, &b, ZMQ_DONTWAIT) == 0) {
            msgpack_unpacked up;
            msgpack_unpacked_init(&up);
            size_t off = 0;
            uint64_t arq = 0;
            if (msgpack_unpack_next(&up, zmq_msg_data(&b), zmq_msg_size(&b), &off) ==
                    MSGPACK_UNPACK_SUCCESS &&
                pl_mp_uint(&up.data, PK_RQ, &arq) == 0 && arq == rq) {
                const msgpack_object *answer = pl_mp_get(&up.data, PK_B);
                if (answer) { /* re-pack: `b`, which it points into, is released below */
                    msgpack_packer cp;
                    msgpack_packer_init(&cp, out, msgpack_sbuffer_write);
                    got = msgpack_pack_object(&cp, *answer) == 0;
                }
            }
            msgpack_unpacked_destroy(&up);
        }
        zmq_msg_close(&t);
        zmq_msg_close(&b);
        if (got)
            return 0;
    }
}

/* ---- bus events ----------------------------------------------------------------- */

typedef struct {
    const zmq_msg_t *topic;
    const msgpack_unpacked *up;
} event_call_t;

static int call_on_event(pl_service_t *self, void *arg)
{
    const event_call_t *e = arg;
    return self->def.on_event(self->app, self, zmq_msg_data((zmq_msg_t *)e->topic),
                              zmq_msg_size((zmq_msg_t *)e->topic), &e->up->data);
}

static void run_event(pl_service_t *self, const zmq_msg_t *topic, const zmq_msg_t *body)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (msgpack_unpack_next(&up, zmq_msg_data((zmq_msg_t *)body), zmq_msg_size((zmq_msg_t *)body),
                            &off) != MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(&up);
        return;
    }
    self->txn_kind = PL_TXN_EVENT;
    if (db_ensure(self) == 0) {
        event_call_t e = {topic, &up};
        run_lazily(self, call_on_event, &e);
    }
    msgpack_unpacked_destroy(&up);
}

static void drain_events(pl_service_t *self)
{
    for (int i = 0; i < BATCH_MAX; i++) {
        zmq_msg_t t, b;
        zmq_msg_init(&t);
        zmq_msg_init(&b);
        pl_evid_t id;
        int has_id = 0;
        int rc = pl_zmq_recv_event(self->events, &t, &b, &id, &has_id, ZMQ_DONTWAIT);
        if (rc == 0 && !(has_id && pl_dedup_seen(self->seen, &id)))
            run_event(self, &t, &b);
        zmq_msg_close(&t);
        zmq_msg_close(&b);
        if (rc != 0)
            return;
    }
}

static int call_tick(pl_service_t *self, void *arg)
{
    (void)arg;
    return self->def.tick(self->app, self, pl_wall_ms());
}

static void run_tick(pl_service_t *self)
{
    self->txn_kind = PL_TXN_TICK;
    if (db_ensure(self) == 0)
        run_lazily(self, call_tick, NULL);
}

/* On a stop, leave the queue first (the broker then routes new requests to the
   other instances), then handle what already reached us: notifications such as
   conn_close exist only in this queue, and dropping them would leave stale state. */
static void drain_before_exit(pl_service_t *self)
{
    pl_zmq_disconnect(self->pull, &self->addr, proto_svc_queue_offset(self->def.kind) + 1);
    int64_t deadline = pl_mono_ms() + 1000;
    int quiet = 0;
    while (quiet < 2 && pl_mono_ms() < deadline) {
        zmq_pollitem_t item = {self->pull, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) <= 0) {
            quiet++;
            continue;
        }
        quiet = 0;
        size_t n = receive_batch(self);
        process_batch(self, n);
        release_batch(self, n);
    }
}

int pl_service_run(pl_service_t *self)
{
    int64_t next_tick = pl_mono_ms() + self->def.tick_ms;
    while (!s_stop) {
        long timeout = 1000;
        if (self->def.tick) {
            int64_t left = next_tick - pl_mono_ms();
            timeout = left < 0 ? 0 : left;
        }
        zmq_pollitem_t items[2 + PL_METRICS_HTTP_POLL_MAX] = {{self->pull, 0, ZMQ_POLLIN, 0},
                                                              {self->events, 0, ZMQ_POLLIN, 0}};
        int nz = self->events ? 2 : 1; /* the metrics listener's fds follow */
        int nm = pl_metrics_http_poll_items(self->metrics, items + nz, PL_METRICS_HTTP_POLL_MAX);
        int rc = zmq_poll(items, nz + nm, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            pl_error("poll failed", "err=\"%s\"", zmq_strerror(errno));
            return -1;
        }
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN)) {
            pace(self);
            size_t n = receive_batch(self);
            process_batch(self, n);
            release_batch(self, n);
        }
        if (self->events && self->def.on_event && (items[1].revents & ZMQ_POLLIN))
            drain_events(self);
        if (nm > 0)
            pl_metrics_http_serve(self->metrics, items + nz, nm,
                                  PQstatus(self->db) == CONNECTION_OK);
        if (self->def.tick && pl_mono_ms() >= next_tick) {
            run_tick(self);
            next_tick = pl_mono_ms() + self->def.tick_ms;
        }
    }
    drain_before_exit(self);
    pl_info("service stopping", "kind=%s handled=%llu dropped_late=%llu failed_batches=%llu",
            proto_svc_name(self->def.kind), (unsigned long long)self->handled,
            (unsigned long long)self->dropped_late, (unsigned long long)self->failed_batches);
    return 0;
}
