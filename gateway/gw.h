/*  gw: the gateway's shared types. One gateway object (gw_t) per process, one gw_conn_t
    per WebSocket connection (libwebsockets' per-session data).
    The one thing to know: everything runs on ONE libuv loop thread: libwebsockets,
    the ZeroMQ subscriber (its edge-triggered fd watched by uv_poll and re-checked by a
    uv_check every loop pass), and the timers. No locks, and no ZeroMQ socket is ever
    touched from another thread. */
#ifndef GW_H
#define GW_H

#include <libwebsockets.h>
#include <msgpack.h>
#include <stdint.h>
#include <uv.h>

#include "gw_config.h"
#include "gw_limit.h"
#include "gw_queue.h"
#include "gw_metrics.h"
#include "gw_rel.h"
#include "pl_buf.h"
#include "pl_dedup.h"
#include "pl_jwt.h"
#include "pl_list.h"
#include "pl_map.h"
#include "proto.h"
#include "proto_envelope.h"

/* An outgoing frame, shared by every connection it goes to (fan-out encodes once).
   The payload starts GW_MSG_HEAD bytes after the struct start, leaving LWS_PRE bytes
   of headroom for the WebSocket header libwebsockets writes in front.
   The payload is a JSON object; Socket.IO connections get `sio`, the same frame as a
   Socket.IO packet, derived once on first need and shared like the frame itself. */
typedef struct gw_msg {
    uint32_t refs;
    uint32_t len;
    struct gw_msg *sio; /* owned: the Socket.IO form, NULL until needed */
    uint8_t wire;       /* the payload is a ready wire packet (Engine.IO control, ...) */
    uint8_t type_idx;   /* server event type, for frames-out metrics (gw_metrics.h) */
} gw_msg_t;
#define GW_MSG_HEAD (sizeof(gw_msg_t) + LWS_PRE)
#define GW_MSG_PAYLOAD(m) ((unsigned char *)(m) + GW_MSG_HEAD)

typedef enum {
    GW_CONN_NEW = 0,      /* upgraded, no identity yet */
    GW_CONN_AUTHING,      /* token accepted, waiting for chat-svc's auth_success */
    GW_CONN_AUTHED,
} gw_conn_state_t;

typedef struct gw_conn gw_conn_t;
typedef struct gw_user gw_user_t;
typedef struct gw_peer gw_peer_t;       /* gw_admission.c: connections of one address */
typedef struct gw_trusted gw_trusted_t; /* gw_admission.c: TRUSTED_PROXIES, parsed */

/* Local watchers of one user's presence (see gw_watch.c). */
typedef struct {
    gw_group_t watchers; /* first: gw_rel's links point here */
    char uid[];          /* NUL-terminated */
} gw_watch_t;

struct gw_conn {
    struct lws *wsi;
    uint64_t id;
    gw_conn_state_t state;
    /* Owned by the connection (freed in gw_conn_closed): uid, name, out and the frames
       it references, rx, sio_token. Borrowed: user, peer, the links (their owners are
       the indexes, which drop them at close). */
    char *uid; /* NULL until a token is accepted */
    char *name;
    pl_role_t role;
    gw_user_t *user;                 /* index entry of uid */
    gw_peer_t *peer;                 /* the client address's entry (connection caps) */
    gw_conn_t *user_prev, *user_next; /* the user's connections on this gateway */
    gw_conn_t *unauth_prev, *unauth_next; /* auth-timeout list, oldest first */
    int64_t opened_ms;
    uint64_t auth_rq;   /* request id of the pending session_open */
    gw_link_t *conv_links;  /* conversations this connection is subscribed to (gw->subs) */
    gw_link_t *watch_links; /* users whose presence it receives (gw->watchers) */
    gw_queue_t out;     /* queued frames (gw_msg_t *, a reference each) */
    pl_buf_t rx;        /* reassembly of a fragmented message */
    gw_bucket_t rate;   /* rate limit (gw_limit.h) */
    uint8_t binary_frames;
    uint16_t close_code; /* when set, close with it at the next writeable */
    uint8_t close_sent;  /* our close frame is out: waiting for the client's */
    char close_reason[124]; /* a close frame's reason: at most 123 bytes */
    uint8_t upgrade_token; /* the token came with the upgrade: send auth_success unasked */
    /* Socket.IO (gw_ws.c): Engine.IO framing, heartbeat and the namespace connect */
    uint8_t sio;            /* this connection speaks Engine.IO v4 / Socket.IO v5 */
    uint8_t sio_connecting; /* a CONNECT waits for its session (auth_success) */
    uint8_t sio_ping_out;   /* a ping is out: sio_due_ms is its pong deadline */
    uint8_t sio_bin_skip;   /* attachments of a refused binary packet still to drop */
    int64_t sio_due_ms;     /* next ping, or the pong deadline */
    gw_conn_t *sio_prev, *sio_next; /* in gw->sio_wait or gw->sio_pong, due order */
    char *sio_token;        /* owned: the upgrade's token, kept for the CONNECT */
    /* token lifetime (gw_expiry.c) */
    int64_t exp_s;       /* the session token's exp, epoch s; 0: it has none */
    int64_t exp_due_ms;  /* wall clock ms of what is due next: the notice, then the close */
    uint32_t exp_slot;   /* 1 + index in gw->exp_heap; 0: not in it */
    uint8_t exp_noticed; /* token_expiring is out (or not wanted) for this exp */
    uint8_t close_drain; /* the close waits until the queued frames are out */
    /* server pings (gw_keepalive.c) */
    uint8_t ka_ping_out;   /* a ping is out: ka_due_ms is its answer's deadline */
    uint8_t ka_ping_write; /* the ping goes out at the next WRITEABLE */
    int64_t ka_due_ms;     /* next ping, or the answer's deadline */
    gw_conn_t *ka_prev, *ka_next; /* in gw->ka_wait or gw->ka_pong, due order */
};

/* Connections in due order (appending keeps the order: one interval for all). */
typedef struct {
    gw_conn_t *head, *tail;
} gw_conn_list_t;

struct gw_user {
    gw_conn_t *head, *tail; /* linked by user_prev/user_next (pl_list.h) */
    uint32_t count;
    char uid[]; /* NUL-terminated */
};

/* The local subscribers of one conversation (see gw_index.c). */
typedef struct {
    gw_group_t subscribers; /* first: gw_rel's links point here */
    int64_t id;
} gw_conv_t;

/* A typing indicator this gateway delivered and will expire unless refreshed. */
typedef struct gw_typing {
    struct gw_typing *prev, *next; /* expiry order: one TTL for all, so a refresh moves
                                      an indicator to the tail and the head expires first */
    int64_t conv;
    int64_t expires_ms;
    char uid[]; /* NUL-terminated */
} gw_typing_t;

/* A request forwarded to a service and not answered yet. */
typedef struct gw_pending {
    struct gw_pending *prev, *next; /* deadline order = send order (one timeout) */
    uint64_t rq;
    uint64_t conn_id;
    int64_t deadline_ms;
    uint8_t has_id;
    uint8_t is_auth;
    uint8_t is_api;    /* a server API request: conn_id is its HTTP session (gw_api.c) */
    uint8_t svc;       /* gw_inflight: the kind it counts for (PROTO_SVC_GATEWAY: API) */
    uint16_t type_idx; /* metrics: the request's type (gw_metrics_type_index) */
    int64_t sent_us;   /* metrics: when it was forwarded */
    char id_json[]; /* the client's id as JSON text ("7" or "\"abc\""), or "" */
} gw_pending_t;

typedef struct gw {
    gw_config_t cfg;
    uv_loop_t loop;
    struct lws_context *ctx;
    void *zctx;
    void *push[PROTO_SVC_COUNT]; /* request queues, by service */
    void *sub;                   /* replies and events, from every broker */
    pl_dedup_t *seen;            /* ids of recent events: the other brokers' copies */
    uv_poll_t sub_poll;
    uv_check_t sub_check;
    uv_idle_t sub_idle;
    uv_timer_t tick;
    uv_timer_t req_flush;    /* gw_bus.c: sends the requests held back */
    pl_buf_t req_held;       /* requests held back: [u8 svc][u32 len][bytes] each */
    int64_t req_sent_ms;     /* when requests last went to the broker */
    uv_signal_t sigint, sigterm, sighup; /* stop; stop; reload the TLS certificate */
    char gwid[PROTO_GWID_LEN + 1];
    uint64_t next_conn_id, next_rq;
    pl_map_t *conns;   /* id → gw_conn_t */
    pl_map_t *users;   /* uid → gw_user_t */
    pl_map_t *convs;   /* conversation id → gw_conv_t */
    pl_map_t *pending; /* rq → gw_pending_t */
    gw_pending_t *pend_head, *pend_tail;
    uint32_t inflight[PROTO_SVC_COUNT]; /* pending entries by kind (gw_inflight.c) */
    double inflight_limit[PROTO_SVC_COUNT];  /* adaptive, ≤ MAX_INFLIGHT_PER_SERVICE */
    int64_t inflight_cut_us[PROTO_SVC_COUNT]; /* when the limit was last cut */
    uint64_t shed_rnd;                  /* jitter of retry_after_ms (pl_shed.h) */
    gw_conn_t *unauth_head, *unauth_tail;
    int64_t health_ok_ms[PROTO_SVC_COUNT];
    int64_t next_probe_ms, next_lease_ms;
    uint64_t leases_sent;
    uint32_t role_conns[4];  /* authenticated connections per pl_role_t (role topics) */
    pl_map_t *typing;        /* "conv\x1fuid" → gw_typing_t, indicators to expire */
    gw_typing_t *typing_head, *typing_tail; /* the same, soonest expiry first */
    pl_map_t *watch;         /* uid → gw_watch_t, presence watchers */
    gw_rel_t subs;           /* connection ⇄ gw_conv_t */
    gw_rel_t watchers;       /* connection ⇄ gw_watch_t */
    pl_jwt_verifier_t *jwt;
    gw_metrics_t metrics;
    gw_conn_list_t sio_wait; /* Socket.IO connections waiting for their next ping */
    gw_conn_list_t sio_pong; /* ... and those whose ping is out */
    gw_conn_list_t ka_wait;  /* WebSocket connections waiting for their next ping */
    gw_conn_list_t ka_pong;  /* ... and those whose ping is out (gw_keepalive.c) */
    gw_conn_t **exp_heap;    /* gw_expiry.c: min-heap on exp_due_ms of authenticated
                                connections whose token has an exp; bound: one entry
                                per open connection */
    uint32_t exp_n, exp_cap;
    msgpack_sbuffer scratch; /* request encoding */
    pl_buf_t json;           /* event encoding */
    pl_map_t *peers;         /* gw_admission.c: client address → gw_peer_t */
    gw_trusted_t *trusted;   /* gw_admission.c: NULL unless TRUSTED_PROXIES is set */
    int64_t next_peer_sweep_ms;
    char *web_root;          /* gw_static.c: WEB_ROOT, the demo page */
    int dev_tokens;          /* DEV_TOKENS=1: GET /dev/token mints tokens (dev only) */
    struct gw_api *api;      /* gw_api.c: the server API listener, NULL when off */
    struct gw_revoke *revoke; /* gw_revoke.c: tokens revoked by the server API */
    struct gw_tls *tls;       /* gw_tls.c: TLS_CERT_FILE/TLS_KEY_FILE, NULL when off */
    int stopping;
    int loop_ready;
} gw_t;

/* ---- gw_server.c: life cycle ---- */
gw_t *gw_new(const gw_config_t *cfg);
int gw_run(gw_t *self);
void gw_destroy(gw_t **self_p);
int gw_healthy(gw_t *self, int64_t now_ms, int *per_service);

/* ---- gw_conn.c: one connection ---- */
void gw_conn_open(gw_t *gw, gw_conn_t *c, struct lws *wsi);
void gw_conn_closed(gw_t *gw, gw_conn_t *c);
/* The connection's session id, "<gateway id>-<connection id in hex>", as auth_success
   and the Engine.IO open report it. */
void gw_conn_session_id(const gw_t *gw, const gw_conn_t *c, char *out, size_t cap);
/* Queue a frame (takes a reference). A connection over its queue cap is closed. */
void gw_conn_send(gw_t *gw, gw_conn_t *c, gw_msg_t *m);
/* Write at most one queued frame; returns -1 when the connection must close. */
int gw_conn_writeable(gw_t *gw, gw_conn_t *c);
/* Ask for a close with `code`: the close frame goes out ahead of anything queued (or
   the connection is dropped if stuck). */
void gw_conn_close(gw_conn_t *c, uint16_t code, const char *reason);
/* The same, but the frames already queued go out first (within the same 2 s). */
void gw_conn_close_drained(gw_conn_t *c, uint16_t code, const char *reason);
/* Application close codes (RFC 6455 §7.4.2: 4000-4999 are private use). */
#define GW_CLOSE_TOKEN_EXPIRED 4001
#define GW_CLOSE_DISCONNECTED 4002 /* the server API disconnected the user (gw_revoke.c) */
/* Token bucket: 1 if the frame may proceed, 0 if rate-limited (and the flood rule
   may have scheduled a close). */
int gw_conn_admit(gw_t *gw, gw_conn_t *c, int64_t now_ms);
void gw_unauth_remove(gw_t *gw, gw_conn_t *c);

/* ---- gw_msg (gw_conn.c) ----
   Frames are reference-counted: gw_msg_new and gw_msg_from_event return a frame with
   one reference, which the caller owns and gives back with gw_msg_unref; each queue
   holding it takes its own (gw_conn_send). NULL means out of memory. */
gw_msg_t *gw_msg_new(const char *payload, size_t len);
void gw_msg_unref(gw_msg_t *m); /* NULL-safe */
/* The frame as a connection sends it: m itself, or for a Socket.IO connection its
   Socket.IO form (built on first need, owned by m). NULL when it cannot be built. */
gw_msg_t *gw_msg_wire(gw_msg_t *m, const gw_conn_t *c);
/* Build a JSON frame from an event map, optionally adding "id" (raw JSON text). */
gw_msg_t *gw_msg_from_event(gw_t *gw, const msgpack_object *event, const char *id_json);
void gw_send_error(gw_t *gw, gw_conn_t *c, const char *id_json, const char *code,
                   const char *message);
/* The same with "retry_after_ms" (a refusal `overloaded`). */
void gw_send_error_retry(gw_t *gw, gw_conn_t *c, const char *id_json, const char *code,
                         const char *message, int64_t retry_after_ms);

/* ---- gw_inflight.c: the bound on requests in flight per service kind ---- */
void gw_inflight_init(gw_t *gw);
/* Is `svc` at its limit of requests in flight from this gateway's clients? */
int gw_inflight_full(const gw_t *gw, proto_svc_t svc);
/* A request to `svc` sent at `sent_us` (monotonic) was answered; `overloaded`: the
   service refused it so. Moves the limit. */
void gw_inflight_answered(gw_t *gw, proto_svc_t svc, int64_t sent_us, int overloaded);
/* Answer a request refused for that: `overloaded` with retry_after_ms. */
void gw_inflight_refuse(gw_t *gw, gw_conn_t *c, const char *id_json);
/* The in-flight gauges, appended to the gateway's /metrics. */
void gw_inflight_render(const gw_t *gw, pl_buf_t *o);

/* ---- gw_index.c: who is where ---- */
int gw_index_set_user(gw_t *gw, gw_conn_t *c, const char *uid);
void gw_index_drop_conn(gw_t *gw, gw_conn_t *c);
int gw_index_subscribe(gw_t *gw, gw_conn_t *c, int64_t conv);
void gw_index_unsubscribe(gw_t *gw, gw_conn_t *c, int64_t conv);
gw_user_t *gw_index_user(gw_t *gw, const char *uid, size_t len);
gw_conv_t *gw_index_conv(gw_t *gw, int64_t conv);

/* ---- gw_bus.c: ZeroMQ ---- */
int gw_bus_open(gw_t *gw);
void gw_bus_close(gw_t *gw);
void gw_bus_drain(gw_t *gw);
void gw_bus_topic(gw_t *gw, char prefix, const char *id, size_t len, int on);
/* Forward a request; returns 0 or -1 (queue full or broker gone). Under load it is
   held back up to REQUEST_FLUSH_MS and sent with the others (gw_bus_flush). */
int gw_bus_request(gw_t *gw, proto_svc_t svc, const char *packed, size_t len);
/* Send every request held back now. */
void gw_bus_flush(gw_t *gw);
/* Tell a service something about a connection (conn_open, conn_close); no reply. */
void gw_bus_notify(gw_t *gw, gw_conn_t *c, proto_svc_t svc, const char *ev);
/* Renew this gateway's lease with presence (GW_LEASE_INTERVAL_MS). */
void gw_bus_lease(gw_t *gw);
/* Every GW_RECONCILE_EVERY_LEASES leases: the live connections, to presence
   (gw_reconcile.c), which corrects what lost notices left wrong. */
#define GW_RECONCILE_EVERY_LEASES 2
void gw_reconcile_send(gw_t *gw);
void gw_bus_probe(gw_t *gw, int64_t now_ms);

/* ---- gw_deliver.c: frames from the services to the connections they are for ---- */
/* An event from the bus on topic `kind` + id (a user, conversation, role or presence
   watchers); root is the envelope, its body the event. */
void gw_deliver_event(gw_t *gw, char kind, const char *id, size_t idlen,
                      const msgpack_object *root);
/* One frame `m` (body encoded; NULL: nothing to send) to one connection, after what it
   implies: the conversations root lists are subscribed, the contacts body names are
   watched. */
void gw_deliver_frame(gw_t *gw, gw_conn_t *c, const msgpack_object *root,
                      const msgpack_object *body, gw_msg_t *m);
/* An event map to the local subscribers of `conv` (skipping `skip_uid`). */
void gw_deliver_conv(gw_t *gw, int64_t conv, const msgpack_object *body, const char *skip_uid);

/* ---- gw_router.c: client frames ---- */
/* A whole text frame. `admitted`: whether the rate limiter let it through; the caller
   counts every frame before it is parsed (gw_conn_admit), and a refused one is parsed
   only for its id, and only until the flood rule closes the connection. */
void gw_router_frame(gw_t *gw, gw_conn_t *c, const char *data, size_t len, int admitted);
/* A client request, however it was framed, converted from JSON once: its members are
   read and validated unpacked (`fields`), and `body` — the same map's bytes as
   converted — is what goes on the bus, copied, not packed again. */
typedef struct {
    const msgpack_object *fields; /* map */
    const msgpack_object *type;   /* the request type; NULL when absent */
    const msgpack_object *id;     /* the client's correlation id; NULL when absent */
    const char *body;             /* MessagePack bytes of exactly the map `fields` */
    size_t body_len;
} gw_request_t;
/* The same as gw_router_frame for a request already converted (Socket.IO events:
   type is the event name, id the ack id). */
void gw_router_request(gw_t *gw, gw_conn_t *c, const gw_request_t *rq, int admitted);
/* A token accepted at upgrade or by `auth`: start the session. */
void gw_router_begin_session(gw_t *gw, gw_conn_t *c, const pl_identity_t *id,
                             const char *id_json, int has_id);
void gw_router_reply(gw_t *gw, const msgpack_object *root);
void gw_router_expire(gw_t *gw, int64_t now_ms);
void gw_router_forget_pending(gw_t *gw);
/* A server API request `rq` for HTTP session `sess` (gw_api.c) is out: its reply or
   its timeout goes to gw_api_reply / gw_api_timeout. */
int gw_router_pending_api(gw_t *gw, uint64_t sess, uint64_t rq);
void gw_router_drop_pending(gw_t *gw, uint64_t rq);

/* ---- gw_watch.c: presence watchers ---- */
void gw_watch_add(gw_t *gw, gw_conn_t *c, const char *uid, size_t len);
void gw_watch_drop_conn(gw_t *gw, gw_conn_t *c);
/* Learn contacts from an event delivered to c (auth_success, conversation_created). */
void gw_watch_observe(gw_t *gw, gw_conn_t *c, const msgpack_object *body);
void gw_watch_free(gw_t *gw);

/* ---- gw_typing.c: receiver-side expiry of typing indicators ---- */
/* Look at an event about to be delivered to conversation `conv`; returns 1 if it is
   a typing or message event that the typing table took note of. */
void gw_typing_observe(gw_t *gw, int64_t conv, const msgpack_object *body);
void gw_typing_expire(gw_t *gw, int64_t now_ms);
void gw_typing_free(gw_t *gw);


/* ---- gw_expiry.c: a session lives no longer than its token ---- */
/* The session's token expires at exp_s (epoch s; 0: never). An authenticated
   connection is (re)scheduled at once: notice TOKEN_EXPIRING_NOTICE_S before, close
   4001 at exp; any other only keeps exp_s until its session opens and this is called
   again. */
void gw_expiry_set(gw_t *gw, gw_conn_t *c, int64_t exp_s);
/* A refresh was accepted: reschedule, count it, answer `refreshed {exp}`. */
void gw_expiry_refreshed(gw_t *gw, gw_conn_t *c, int64_t exp_s, const char *id_json);
void gw_expiry_drop(gw_t *gw, gw_conn_t *c);
/* From the tick, with the wall clock: notices and closes that are due. */
void gw_expiry_sweep(gw_t *gw, int64_t now_wall_ms);
void gw_expiry_free(gw_t *gw);

/* ---- gw_http.c: /healthz, /metrics ---- */
int gw_http_request(gw_t *gw, struct lws *wsi, const char *path);
int gw_http_writeable(gw_t *gw, struct lws *wsi, gw_conn_t *c);
void gw_http_done(gw_conn_t *c);

/* ---- gw_static.c: the demo page (WEB_ROOT) and dev tokens (DEV_TOKENS=1) ---- */
int gw_static_init(gw_t *gw); /* -1 on a bad DEV_TOKENS */
void gw_static_free(gw_t *gw);
/* What `path` is: none of the page's paths; a body (b, type, status filled: /dev/token,
   or a 404 for a missing file); or a file of WEB_ROOT (its path in file, type set) for
   the caller to send with lws_serve_http_file. */
typedef enum { GW_STATIC_NONE = -1, GW_STATIC_BODY = 0, GW_STATIC_FILE = 1 } gw_static_t;
gw_static_t gw_static_request(gw_t *gw, struct lws *wsi, const char *path, pl_buf_t *b,
                              const char **type, int *status, char *file, size_t filecap);

/* ---- gw_admission.c: connection caps and the client's address ---- */
int gw_admission_init(gw_t *gw); /* -1 on a bad TRUSTED_PROXIES (logged) or no memory */
void gw_admission_free(gw_t *gw);
/* At the upgrade: 0 to let it in, else the HTTP status to refuse it with (503 gateway
   full, 429 too many for the address or for `uid`, when the token named one). */
unsigned gw_admission_check(gw_t *gw, struct lws *wsi, const char *uid, const char **why);
/* Would one more session of uid exceed MAX_CONNECTIONS_PER_USER on this gateway? */
int gw_admission_user_full(gw_t *gw, const char *uid);
/* Count an established connection against its address (-1: out of memory), and
   release it when it closes. */
int gw_admission_opened(gw_t *gw, gw_conn_t *c, struct lws *wsi);
void gw_admission_closed(gw_t *gw, gw_conn_t *c);
/* c is being closed for flooding: its address pays GW_FLOOD_CONNECT_PENALTY new
   connections' worth of its connect budget, so an address that floods and reconnects
   in a loop gets a tenth of CONNECT_RATE_PER_IP. */
#define GW_FLOOD_CONNECT_PENALTY 10
void gw_admission_flooded(gw_t *gw, gw_conn_t *c);
/* Once a second: forget addresses with no connection whose connect bucket refilled. */
void gw_admission_sweep(gw_t *gw, int64_t now_ms);
/* The client's address as text: the peer, or X-Forwarded-For behind a trusted proxy. */
void gw_admission_client_ip(gw_t *gw, struct lws *wsi, char *out, size_t cap);

/* ---- gw_revoke.c: the server API's disconnect and token revocation ---- */
int gw_revoke_init(gw_t *gw); /* after the bus: subscribes to the gateways' topic */
void gw_revoke_free(gw_t *gw);
/* From the tick: until presence has sent the revocation list, ask for it. */
void gw_revoke_ask(gw_t *gw, int64_t now_ms);
/* presence's answer to that ask (a reply with cn 0). */
void gw_revoke_load(gw_t *gw, const msgpack_object *body);
/* An event on the gateways' topic: `disconnect {user_id, reason, before_s?}`. */
void gw_revoke_event(gw_t *gw, const msgpack_object *root);
/* Is a token of `uid` issued at `iat` (0: unknown) revoked? */
int gw_revoke_refused(gw_t *gw, const char *uid, int64_t iat);

/* ---- gw_ws.c: the libwebsockets protocol (upgrade checks, receive, write, close) ---- */
extern const struct lws_protocols gw_protocols[];

/* ---- gw_sio_session.c: Socket.IO sessions (Engine.IO v4 over WebSocket at
   /socket.io/, codec in gw_sio.c) ---- */
/* Engine.IO open on an established connection; `token` is the upgrade's (NULL: none),
   kept for the namespace CONNECT. */
void gw_sio_session_open(gw_t *gw, gw_conn_t *c, const char *token);
/* One whole text frame (an Engine.IO packet), counted by the rate limiter already. */
void gw_sio_session_frame(gw_t *gw, gw_conn_t *c, const char *data, size_t len, int admitted);
/* The namespace CONNECT succeeded (auth_success is about to be sent): 40{"sid"}. */
void gw_sio_session_connected(gw_t *gw, gw_conn_t *c);
/* The namespace CONNECT failed: CONNECT_ERROR with this code and message. */
void gw_sio_session_refused(gw_t *gw, gw_conn_t *c, const char *code, const char *message);
/* Heartbeats, from the housekeeping tick: ping who is due, close who missed a pong. */
void gw_sio_session_sweep(gw_t *gw, int64_t now_ms);
void gw_sio_session_closed(gw_t *gw, gw_conn_t *c);
/* The server ends the Socket.IO session: DISCONNECT (41) on "/". */
void gw_sio_session_disconnect(gw_t *gw, gw_conn_t *c);

/* ---- gw_keepalive.c: server WebSocket pings, O(1) per connection (not lws' idle
   policy, whose timer list costs O(N) per connection) ---- */
/* Opened: the first ping is due after WS_PING_INTERVAL_S. */
void gw_keepalive_open(gw_t *gw, gw_conn_t *c);
/* A pong or any frame from the client: answers an outstanding ping. */
void gw_keepalive_alive(gw_t *gw, gw_conn_t *c);
/* The tick: pings the connections due, closes those that did not answer in time. */
void gw_keepalive_sweep(gw_t *gw, int64_t now_ms);
/* WRITEABLE: writes the pending ping, if any. -1 when the socket failed. */
int gw_keepalive_write(gw_conn_t *c);
void gw_keepalive_closed(gw_t *gw, gw_conn_t *c);

#endif
