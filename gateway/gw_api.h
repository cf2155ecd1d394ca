/*  gw_api: the server API (HTTP + JSON under /api/v1) on its own listener, API_PORT
    bound to API_BIND, a second lws vhost on the gateway's loop. For the platform's
    backend, never for end users: every route but /api/v1/openapi.json needs a key of
    API_KEYS. A request becomes a bus request with the system identity (role
    `system`) to the service that owns it, like a client frame; the reply comes back
    through the router's pending requests and is written as the HTTP answer.
    The one thing to know: the HTTP session may be gone when the reply arrives, so a
    pending request names its session by id (gw->api's map), never by pointer. */
#ifndef GW_API_H
#define GW_API_H

#include <msgpack.h>
#include <stdint.h>

#include "pl_buf.h"
#include "proto.h"

typedef struct gw gw_t;
typedef struct gw_api gw_api_t;

#define GW_API_BODY_MAX (1024 * 1024) /* larger request bodies get 413 */
/* A refused request's body up to this size is read (and dropped) before the answer is
   sent, so the client, still sending, does not meet a reset instead of the answer; a
   larger one is answered at once and the connection closed. */
#define GW_API_DRAIN_MAX (8 * 1024 * 1024)
#define GW_API_PARAMS 2               /* {…} segments in a route's path */
#define GW_API_PARAM_MAX 128          /* bytes of one path parameter */
#define GW_API_GATHER_MAX 3           /* services one gathered request asks */

/* One request being served (the lws per-session data of the API vhost). */
typedef struct gw_api_req {
    struct lws *wsi;
    uint64_t id; /* key in the API's session map while a reply is awaited */
    char method[8];
    char params[GW_API_PARAMS][GW_API_PARAM_MAX + 1];
    const struct gw_api_route *route;
    pl_buf_t body;     /* the request body as received */
    uint8_t body_over; /* the body passed GW_API_BODY_MAX */
    uint8_t waiting;   /* a bus request is out */
    uint8_t hdr_sent;
    uint8_t answered;    /* status/out hold the answer */
    uint8_t close_after; /* close the connection once answered (413) */
    uint8_t draining;    /* refused: the answer waits until the body has been read */
    int status;
    const char *type; /* the answer's content type (a static string) */
    pl_buf_t out;     /* the answer's body */
    /* A gathered request (gw_api_gather): one bus request per service, one answer. */
    uint8_t gather_n, gather_left;
    uint64_t gather_ids[GW_API_GATHER_MAX]; /* their session ids, in the waiting map */
    int64_t gather_limit;
    void *gathered; /* jansson array of the items so far */
} gw_api_req_t;

/* A route: the handler validates what it was given and either answers at once
   (gw_api_error / gw_api_json) or sends a bus request (gw_api_forward). */
typedef void(gw_api_handler_fn)(gw_t *gw, gw_api_req_t *r, const msgpack_object *body);

typedef struct gw_api_route {
    const char *method;
    const char *path; /* "/api/v1/conversations/{id}/messages" */
    int status;       /* of a success, unless the reply says otherwise */
    int public_route; /* readable without a key */
    gw_api_handler_fn *handle;
} gw_api_route_t;

/* ---- gw_api.c ---- */
int gw_api_init(gw_t *gw); /* after the lws context: the vhost (nothing if API_PORT unset) */
void gw_api_free(gw_t *gw);
/* A reply from a service for session `sess` (root: the envelope, body: the event). */
void gw_api_reply(gw_t *gw, uint64_t sess, const msgpack_object *body);
/* The service did not answer in time: 503 unavailable. */
void gw_api_timeout(gw_t *gw, uint64_t sess);
/* Answers, for handlers. */
void gw_api_error(gw_t *gw, gw_api_req_t *r, int status, const char *code, const char *msg);
void gw_api_raw(gw_t *gw, gw_api_req_t *r, int status, const char *type, const char *body,
                size_t len);
/* Send `ev` (body: one packed map in `packed`) to `svc` as the system acting for
   `uid` ("" for none); the reply answers r. */
void gw_api_forward(gw_t *gw, gw_api_req_t *r, proto_svc_t svc, const char *ev, const char *uid,
                    const char *packed, size_t len);
/* Send `ev` to every service of `svcs` (at most GW_API_GATHER_MAX) and answer with
   one JSON object {events: [...]}: the replies' `events` items merged, newest
   `dead_at` first, at most `limit`. Any error reply or timeout answers for all. */
void gw_api_gather(gw_t *gw, gw_api_req_t *r, const proto_svc_t *svcs, int n, const char *ev,
                   const char *packed, size_t len, int64_t limit);
/* Query argument `name` ("limit") as an integer in [min, max]: 1 with *out set, 0 when
   absent, -1 (after answering 400) when it is not one. */
int gw_api_query_int(gw_t *gw, gw_api_req_t *r, const char *name, int64_t min, int64_t max,
                     int64_t *out);
/* Query argument as text into out: 1 present, 0 absent. */
int gw_api_query_str(gw_api_req_t *r, const char *name, char *out, size_t cap);

/* ---- gw_api_keys.c: API_KEYS ---- */
typedef struct gw_api_keys gw_api_keys_t;
/* From API_KEYS' value: "k1,k2" or "@/path" (one key or "sha256:<hex>" per line).
   NULL after logging why. */
gw_api_keys_t *gw_api_keys_new(const char *spec);
void gw_api_keys_destroy(gw_api_keys_t **self_p);
size_t gw_api_keys_count(const gw_api_keys_t *self);
/* 1 when `key` (len bytes) is one of them; the time taken does not depend on which
   key matched or how much of one did. */
int gw_api_keys_check(const gw_api_keys_t *self, const char *key, size_t len);

/* ---- gw_api_routes.c: the route table ---- */
const gw_api_route_t *gw_api_routes(size_t *count);
/* The OpenAPI document (generated from docs/openapi.json at build time). */
extern const char gw_openapi_json[];
extern const size_t gw_openapi_json_len;

#endif
