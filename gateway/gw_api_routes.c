/*  gw_api_routes: the server API's routes, one row each, and what each sends to the
    services. The one thing to know: this table and docs/openapi.json describe the same
    routes; tests/integration/api.test.mjs reads both and fails when they differ.
    Bodies are checked against proto_field_t rows with the client frames' validator
    (proto_validate), so the same limits and the same refusals hold on both doors. */
#include "gw_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "pl_mp.h"

#define REQ PF_REQUIRED
#define BIG PF_TOO_LARGE
#define F_END                                                                                      \
    {                                                                                              \
        NULL, 0, 0, 0, 0, 0, NULL                                                                  \
    }

/* ---- helpers ------------------------------------------------------------------- */

/* Path parameter i as a positive id; answers 404 (no such thing) when it is not one. */
static int param_id(gw_t *gw, gw_api_req_t *r, int i, const char *what, int64_t *out)
{
    char *end = NULL;
    long long v = strtoll(r->params[i], &end, 10);
    if (!r->params[i][0] || *end || v < 1 || r->params[i][0] == '+') {
        char msg[64];
        snprintf(msg, sizeof msg, "no such %s", what);
        gw_api_error(gw, r, HTTP_STATUS_NOT_FOUND, "not_found", msg);
        return -1;
    }
    *out = v;
    return 0;
}

/* Validate `body` (required unless `optional`) against `fields`; answers 400/413. */
static int check_body(gw_t *gw, gw_api_req_t *r, const msgpack_object *body,
                      const proto_field_t *fields, int optional)
{
    if (!body) {
        if (optional)
            return 0;
        gw_api_error(gw, r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                     "a JSON object body is required");
        return -1;
    }
    proto_event_t ev = {"api", NULL, PROTO_SVC_GATEWAY, fields};
    char why[160];
    proto_verdict_t v = proto_validate(&ev, body, why, sizeof why);
    if (v == PROTO_OK)
        return 0;
    if (v == PROTO_TOO_LARGE)
        gw_api_error(gw, r, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "too_large", why);
    else
        gw_api_error(gw, r, HTTP_STATUS_BAD_REQUEST, "bad_request", why);
    return -1;
}

/* The body of a request to a service, packed into its own buffer: body_begin starts
   it (with a map of `pairs` entries, or none for UINT32_MAX: the caller packs the
   whole body), body_send forwards it over the bus (as user `as`, "" for the system)
   and frees it. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} api_body_t;

static msgpack_packer *body_begin(api_body_t *b, uint32_t pairs)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
    if (pairs != UINT32_MAX)
        msgpack_pack_map(&b->pk, pairs);
    return &b->pk;
}

static void body_send(gw_t *gw, gw_api_req_t *r, api_body_t *b, proto_svc_t svc, const char *ev,
                      const char *as)
{
    gw_api_forward(gw, r, svc, ev, as, b->sb.data, b->sb.size);
    msgpack_sbuffer_destroy(&b->sb);
}

/* Pack `body`'s members named in `fields` (others are dropped: nothing unknown goes
   past the edge) plus conversation_id when conv > 0. */
static void pack_fields(msgpack_packer *pk, const msgpack_object *body, const proto_field_t *fields,
                        int64_t conv)
{
    uint32_t n = conv > 0;
    for (const proto_field_t *f = fields; body && f->name; f++) {
        const msgpack_object *v = pl_mp_get(body, f->name);
        n += v && v->type != MSGPACK_OBJECT_NIL;
    }
    msgpack_pack_map(pk, n);
    if (conv > 0)
        pl_pack_kv_int(pk, "conversation_id", conv);
    for (const proto_field_t *f = fields; body && f->name; f++) {
        const msgpack_object *v = pl_mp_get(body, f->name);
        if (v && v->type != MSGPACK_OBJECT_NIL)
            pl_pack_kv_obj(pk, f->name, v);
    }
}

/* ---- GET /api/v1/openapi.json ---------------------------------------------------- */

static void get_openapi(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    (void)body;
    gw_api_raw(gw, r, HTTP_STATUS_OK, "application/json", gw_openapi_json, gw_openapi_json_len);
}

/* ---- messages -------------------------------------------------------------------- */

static const proto_field_t f_post_message[] = {
    {"content", PF_STR, REQ | BIG | PF_LIMIT, 1, PROTO_CONTENT_MAX, 0, NULL},
    {"sender_id", PF_STR, 0, 1, 128, 0, NULL},
    {"temp_id", PF_ID, BIG, 1, 128, 0, NULL},
    {"reply_to_id", PF_INT, 0, 1, INT64_MAX, 0, NULL},
    {"attachments", PF_LIST, 0, 0, 10, 0, NULL},
    F_END};

/* A message as a user (sender_id) or as the system (none): chat-svc's api_post_message,
   the same store and fan-out as a client's `message`. */
static void post_message(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    int64_t conv;
    if (param_id(gw, r, 0, "conversation", &conv) || check_body(gw, r, body, f_post_message, 0))
        return;
    char sender[129] = "";
    (void)pl_mp_strcpy(body, "sender_id", sender, sizeof sender);
    api_body_t b;
    pack_fields(body_begin(&b, UINT32_MAX), body, f_post_message, conv);
    body_send(gw, r, &b, PROTO_SVC_CHAT, PROTO_EV_API_POST_MESSAGE, sender);
}

/* The contract's paging, as the client's `history`, read as the system (no
   participant check). */
static void get_messages(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    (void)body;
    int64_t conv, after = -1, before = -1, limit = -1;
    if (param_id(gw, r, 0, "conversation", &conv) ||
        gw_api_query_int(gw, r, "after_seq", 0, INT64_MAX, &after) < 0 ||
        gw_api_query_int(gw, r, "before_seq", 0, INT64_MAX, &before) < 0 ||
        gw_api_query_int(gw, r, "limit", 1, INT64_MAX, &limit) < 0)
        return;
    api_body_t b;
    msgpack_packer *pk = body_begin(&b, 1 + (after >= 0) + (before >= 0) + (limit > 0));
    pl_pack_kv_int(pk, "conversation_id", conv);
    if (after >= 0)
        pl_pack_kv_int(pk, "after_seq", after);
    if (before >= 0)
        pl_pack_kv_int(pk, "before_seq", before);
    if (limit > 0)
        pl_pack_kv_int(pk, "limit", limit);
    body_send(gw, r, &b, PROTO_SVC_CHAT, PROTO_EV_HISTORY, "");
}

/* ---- conversations and participants ---------------------------------------------- */

static const proto_field_t f_create_conversation[] = {
    {"participants", PF_STR_LIST, REQ | BIG, 1, 256, 128, NULL},
    {"kind", PF_STR, 0, 1, 16, 0, "direct|group"},
    {"title", PF_STR, BIG, 0, 200, 0, NULL},
    F_END};
static const proto_field_t f_user_ids[] = {{"user_ids", PF_STR_LIST, REQ | BIG, 1, 256, 128, NULL},
                                           F_END};

static void forward_body(gw_t *gw, gw_api_req_t *r, proto_svc_t svc, const char *ev,
                         const msgpack_object *body, const proto_field_t *fields, int64_t conv)
{
    api_body_t b;
    pack_fields(body_begin(&b, UINT32_MAX), body, fields, conv);
    body_send(gw, r, &b, svc, ev, "");
}

/* Participants' live connections get conversation_created, as for a client's create. */
static void post_conversation(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    if (check_body(gw, r, body, f_create_conversation, 0) == 0)
        forward_body(gw, r, PROTO_SVC_CHAT, PROTO_EV_API_CREATE_CONV, body, f_create_conversation,
                     0);
}

static void post_participants(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    int64_t conv;
    if (param_id(gw, r, 0, "conversation", &conv) == 0 &&
        check_body(gw, r, body, f_user_ids, 0) == 0)
        forward_body(gw, r, PROTO_SVC_CHAT, PROTO_EV_API_ADD_PARTICIPANTS, body, f_user_ids, conv);
}

static void delete_participant(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    (void)body;
    int64_t conv;
    if (param_id(gw, r, 0, "conversation", &conv))
        return;
    api_body_t b;
    msgpack_packer *pk = body_begin(&b, 2);
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_kv_str(pk, "user_id", r->params[1]);
    body_send(gw, r, &b, PROTO_SVC_CHAT, PROTO_EV_API_REMOVE_PARTICIPANT, "");
}

/* ---- presence -------------------------------------------------------------------- */

static const proto_field_t f_presence_query[] = {
    {"user_ids", PF_STR_LIST, REQ | BIG, 0, 1000, 128, NULL}, F_END};

/* get_presence as the system: no privacy filter, up to 1,000 ids (presence-svc). */
static void post_presence_query(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    if (check_body(gw, r, body, f_presence_query, 0) == 0)
        forward_body(gw, r, PROTO_SVC_PRESENCE, PROTO_EV_GET_PRESENCE, body, f_presence_query, 0);
}

static void get_mentors(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    (void)body;
    char v[8];
    int available_only = 0;
    if (gw_api_query_str(r, "available_only", v, sizeof v)) {
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
            available_only = 1;
        } else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0) {
            gw_api_error(gw, r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                         "available_only: must be true or false");
            return;
        }
    }
    api_body_t b;
    msgpack_packer *pk = body_begin(&b, 1);
    pl_pack_kv_bool(pk, "available_only", available_only);
    body_send(gw, r, &b, PROTO_SVC_PRESENCE, PROTO_EV_LIST_MENTORS, "");
}

/* ---- users ----------------------------------------------------------------------- */

static const proto_field_t f_disconnect[] = {
    {"reason", PF_STR, BIG, 1, 123, 0, NULL}, {"revoke", PF_BOOL, 0, 0, 0, 0, NULL}, F_END};

/* Every connection of the user, on every gateway, closes with 4002 and the reason
   (presence-svc counts them and tells the gateways); `revoke` also refuses the user's
   tokens issued before now (gw_revoke.c). */
static void post_disconnect(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    if (check_body(gw, r, body, f_disconnect, 1))
        return;
    const msgpack_object *reason = body ? pl_mp_get(body, "reason") : NULL;
    if (reason && reason->type == MSGPACK_OBJECT_STR && reason->via.str.size > 123) {
        /* a close frame's reason is at most 123 bytes */
        gw_api_error(gw, r, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "too_large",
                     "reason: must be at most 123 bytes of UTF-8");
        return;
    }
    uint32_t n = 1;
    for (const proto_field_t *f = f_disconnect; body && f->name; f++) {
        const msgpack_object *v = pl_mp_get(body, f->name);
        n += v && v->type != MSGPACK_OBJECT_NIL;
    }
    api_body_t b;
    msgpack_packer *pk = body_begin(&b, n);
    pl_pack_kv_str(pk, "user_id", r->params[0]);
    for (const proto_field_t *f = f_disconnect; body && f->name; f++) {
        const msgpack_object *v = pl_mp_get(body, f->name);
        if (v && v->type != MSGPACK_OBJECT_NIL)
            pl_pack_kv_obj(pk, f->name, v);
    }
    body_send(gw, r, &b, PROTO_SVC_PRESENCE, PROTO_EV_API_DISCONNECT, "");
}

/* ---- calls and help requests -------------------------------------------------------- */

static void get_call(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    (void)body;
    int64_t id;
    if (param_id(gw, r, 0, "call", &id))
        return;
    api_body_t b;
    msgpack_packer *pk = body_begin(&b, 1);
    pl_pack_kv_int(pk, "call_id", id);
    body_send(gw, r, &b, PROTO_SVC_CALL, PROTO_EV_API_GET_CALL, "");
}

/* Newest first; limit as call_history's (default 50, clamped to 200). */
static void get_user_calls(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    (void)body;
    int64_t limit = -1;
    if (gw_api_query_int(gw, r, "limit", 1, INT64_MAX, &limit) < 0)
        return;
    api_body_t b;
    msgpack_packer *pk = body_begin(&b, 1 + (limit > 0));
    pl_pack_kv_str(pk, "user_id", r->params[0]);
    if (limit > 0)
        pl_pack_kv_int(pk, "limit", limit);
    body_send(gw, r, &b, PROTO_SVC_CALL, PROTO_EV_API_USER_CALLS, "");
}

/* Open requests (waiting and accepted, or the one state asked for), oldest first. */
static void get_help_requests(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    (void)body;
    char state[16] = "";
    int64_t limit = -1;
    if (gw_api_query_str(r, "state", state, sizeof state) && strcmp(state, "waiting") != 0 &&
        strcmp(state, "accepted") != 0) {
        gw_api_error(gw, r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                     "state: must be waiting or accepted");
        return;
    }
    if (gw_api_query_int(gw, r, "limit", 1, INT64_MAX, &limit) < 0)
        return;
    api_body_t b;
    msgpack_packer *pk = body_begin(&b, (state[0] != 0) + (limit > 0));
    if (state[0])
        pl_pack_kv_str(pk, "state", state);
    if (limit > 0)
        pl_pack_kv_int(pk, "limit", limit);
    body_send(gw, r, &b, PROTO_SVC_CALL, PROTO_EV_API_HELP_REQUESTS, "");
}

/* ---- webhooks' dead letters ------------------------------------------------------ */

/* Each service keeps the dead letters of its own outbox (service/pl_webhook.h): the
   list asks all three and merges, newest first. */
static void get_dead_letters(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    (void)body;
    int64_t limit = 50;
    if (gw_api_query_int(gw, r, "limit", 1, 500, &limit) < 0)
        return;
    api_body_t b;
    pl_pack_kv_int(body_begin(&b, 1), "limit", limit);
    static const proto_svc_t all[] = {PROTO_SVC_CHAT, PROTO_SVC_PRESENCE, PROTO_SVC_CALL};
    gw_api_gather(gw, r, all, 3, PROTO_EV_API_WEBHOOK_DEAD, b.sb.data, b.sb.size, limit);
    msgpack_sbuffer_destroy(&b.sb);
}

/* An event id starts with the schema of the service that wrote it ("chat_…"). */
static void post_replay(gw_t *gw, gw_api_req_t *r, const msgpack_object *body)
{
    (void)body;
    static const struct {
        const char *prefix;
        proto_svc_t svc;
    } owners[] = {{"chat_", PROTO_SVC_CHAT}, {"presence_", PROTO_SVC_PRESENCE}, {"call_", PROTO_SVC_CALL}};
    const char *id = r->params[0];
    for (size_t i = 0; i < sizeof owners / sizeof owners[0]; i++) {
        if (strncmp(id, owners[i].prefix, strlen(owners[i].prefix)) != 0)
            continue;
        api_body_t b;
        pl_pack_kv_str(body_begin(&b, 1), "event_id", id);
        body_send(gw, r, &b, owners[i].svc, PROTO_EV_API_WEBHOOK_REPLAY, "");
        return;
    }
    gw_api_error(gw, r, HTTP_STATUS_NOT_FOUND, "not_found", "no such dead letter");
}

/* ---- the table ------------------------------------------------------------------- */

static const gw_api_route_t s_routes[] = {
    {"GET", "/api/v1/openapi.json", 200, 1, get_openapi},
    {"POST", "/api/v1/conversations/{id}/messages", 201, 0, post_message},
    {"GET", "/api/v1/conversations/{id}/messages", 200, 0, get_messages},
    {"POST", "/api/v1/conversations", 201, 0, post_conversation},
    {"POST", "/api/v1/conversations/{id}/participants", 200, 0, post_participants},
    {"DELETE", "/api/v1/conversations/{id}/participants/{user_id}", 204, 0, delete_participant},
    {"POST", "/api/v1/presence/query", 200, 0, post_presence_query},
    {"GET", "/api/v1/mentors", 200, 0, get_mentors},
    {"POST", "/api/v1/users/{id}/disconnect", 202, 0, post_disconnect},
    {"GET", "/api/v1/calls/{id}", 200, 0, get_call},
    {"GET", "/api/v1/users/{id}/calls", 200, 0, get_user_calls},
    {"GET", "/api/v1/help-requests", 200, 0, get_help_requests},
    {"GET", "/api/v1/webhooks/dead-letters", 200, 0, get_dead_letters},
    {"POST", "/api/v1/webhooks/dead-letters/{event_id}/replay", 202, 0, post_replay},
};

const gw_api_route_t *gw_api_routes(size_t *count)
{
    *count = sizeof s_routes / sizeof s_routes[0];
    return s_routes;
}
