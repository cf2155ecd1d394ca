/*  proto_events: the client event table and its validator.
    The one thing to know: adding an event is adding a row here (and its handler in the
    service named by the row); the gateway needs no other change to route it. */
#include "proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pl_buf.h"
#include "pl_json.h"
#include "pl_mp.h"

#define ID_MAX INT64_MAX
#define REQ PF_REQUIRED
#define BIG PF_TOO_LARGE

/* Field rows: {name, type, flags, min, max, item_max, one_of} */
#define F_CONV {"conversation_id", PF_INT, REQ, 1, ID_MAX, 0, NULL}
#define F_MSG {"message_id", PF_INT, REQ, 1, ID_MAX, 0, NULL}
#define F_CALL {"call_id", PF_INT, REQ, 1, ID_MAX, 0, NULL}
#define F_HELP {"request_id", PF_INT, REQ, 1, ID_MAX, 0, NULL}
static proto_limits_t s_limits = {PROTO_CONTENT_MAX, PROTO_STATUS_MESSAGE_MAX, PROTO_SIGNAL_MAX};

void proto_set_limits(const proto_limits_t *limits)
{
    s_limits = *limits;
}

const proto_limits_t *proto_limits(void)
{
    return &s_limits;
}

#define F_CONTENT {"content", PF_STR, REQ | BIG | PF_LIMIT, 1, PROTO_CONTENT_MAX, 0, NULL}
#define F_STATUS_MSG                                                                     \
    {"status_message", PF_STR, BIG | PF_LIMIT, 0, PROTO_STATUS_MESSAGE_MAX, 0, NULL}
#define F_REASON {"reason", PF_STR, BIG, 1, 200, 0, NULL}
#define F_END {NULL, 0, 0, 0, 0, 0, NULL}

static const proto_field_t f_none[] = {F_END};
/* An empty token is a bad token (unauthenticated), not a malformed frame. */
static const proto_field_t f_auth[] = {{"token", PF_STR, REQ, 0, 8192, 0, NULL}, F_END};
static const proto_field_t f_conv[] = {F_CONV, F_END};
static const proto_field_t f_msg[] = {F_MSG, F_END};
static const proto_field_t f_call[] = {F_CALL, F_END};
static const proto_field_t f_help[] = {F_HELP, F_END};

static const proto_field_t f_create_conversation[] = {
    {"participants", PF_STR_LIST, REQ | BIG, 1, 256, 128, NULL}, /* BIG: an item's length */
    {"kind", PF_STR, 0, 1, 16, 0, "direct|group"},
    {"title", PF_STR, BIG, 0, 200, 0, NULL},
    F_END};
static const proto_field_t f_message[] = {
    F_CONV,
    F_CONTENT,
    {"reply_to_id", PF_INT, 0, 1, ID_MAX, 0, NULL},
    {"temp_id", PF_ID, BIG, 1, 128, 0, NULL},
    {"attachments", PF_LIST, 0, 0, 10, 0, NULL},
    F_END};
static const proto_field_t f_history[] = {
    F_CONV,
    {"before_seq", PF_INT, 0, 0, ID_MAX, 0, NULL},
    {"after_seq", PF_INT, 0, 0, ID_MAX, 0, NULL},
    {"limit", PF_INT, 0, 1, ID_MAX, 0, NULL}, /* > PROTO_HISTORY_MAX is clamped */
    F_END};
static const proto_field_t f_mark_read[] = {F_CONV, {"seq", PF_INT, REQ, 0, ID_MAX, 0, NULL},
                                            F_END};
static const proto_field_t f_edit[] = {F_MSG, F_CONTENT, F_END};
static const proto_field_t f_react[] = {F_MSG, {"emoji", PF_STR, REQ | BIG, 1, 32, 0, NULL},
                                        F_END};
static const proto_field_t f_set_status[] = {
    {"status", PF_STR, REQ, 1, 16, 0, "online|away|busy|available|offline"}, F_STATUS_MSG, F_END};
static const proto_field_t f_mentor_status[] = {F_STATUS_MSG, F_END};
static const proto_field_t f_get_presence[] = {
    {"user_ids", PF_STR_LIST, REQ | BIG, 0, 500, 128, NULL}, F_END};
static const proto_field_t f_list_mentors[] = {{"available_only", PF_BOOL, 0, 0, 0, 0, NULL},
                                               F_END};
static const proto_field_t f_initiate_call[] = {
    {"callee_id", PF_STR, REQ, 1, 128, 0, NULL},
    {"media", PF_STR, REQ, 1, 8, 0, "audio|video"},
    {"conversation_id", PF_INT, 0, 1, ID_MAX, 0, NULL},
    F_END};
static const proto_field_t f_call_reason[] = {F_CALL, F_REASON, F_END};
static const proto_field_t f_call_signal[] = {
    F_CALL, {"signal", PF_OBJECT, REQ | BIG | PF_LIMIT, 0, PROTO_SIGNAL_MAX, 0, NULL}, F_END};
static const proto_field_t f_call_history[] = {{"limit", PF_INT, 0, 1, ID_MAX, 0, NULL},
                                               F_END};
static const proto_field_t f_request_help[] = {
    {"topic", PF_STR, REQ | BIG, 1, 200, 0, NULL},
    {"message", PF_STR, BIG, 0, 2000, 0, NULL},
    {"mentor_id", PF_STR, 0, 1, 128, 0, NULL},
    F_END};

static const proto_event_t s_events[] = {
    /* handled by the gateway itself */
    {PROTO_EV_AUTH, NULL, PROTO_SVC_GATEWAY, f_auth},
    {PROTO_EV_PING, NULL, PROTO_SVC_GATEWAY, f_none},
    {PROTO_EV_REFRESH, NULL, PROTO_SVC_GATEWAY, f_auth}, /* a new token for the session */
    {PROTO_EV_UNSUBSCRIBE_CONVERSATION, NULL, PROTO_SVC_GATEWAY, f_conv},
    /* chat-svc */
    {PROTO_EV_CREATE_CONVERSATION, NULL, PROTO_SVC_CHAT, f_create_conversation},
    {PROTO_EV_SUBSCRIBE_CONVERSATION, NULL, PROTO_SVC_CHAT, f_conv},
    {PROTO_EV_MESSAGE, "send_message", PROTO_SVC_CHAT, f_message},
    {PROTO_EV_HISTORY, NULL, PROTO_SVC_CHAT, f_history},
    {PROTO_EV_TYPING_START, "user_typing", PROTO_SVC_CHAT, f_conv},
    {PROTO_EV_TYPING_STOP, "user_stopped_typing", PROTO_SVC_CHAT, f_conv},
    {PROTO_EV_MARK_READ, NULL, PROTO_SVC_CHAT, f_mark_read},
    {PROTO_EV_EDIT_MESSAGE, NULL, PROTO_SVC_CHAT, f_edit},
    {PROTO_EV_DELETE_MESSAGE, NULL, PROTO_SVC_CHAT, f_msg},
    {PROTO_EV_REACT, NULL, PROTO_SVC_CHAT, f_react},
    {PROTO_EV_UNREACT, NULL, PROTO_SVC_CHAT, f_react},
    /* presence-svc */
    {PROTO_EV_SET_STATUS, NULL, PROTO_SVC_PRESENCE, f_set_status},
    {PROTO_EV_MENTOR_AVAILABLE, NULL, PROTO_SVC_PRESENCE, f_mentor_status},
    {PROTO_EV_MENTOR_BUSY, NULL, PROTO_SVC_PRESENCE, f_mentor_status},
    {PROTO_EV_GET_PRESENCE, NULL, PROTO_SVC_PRESENCE, f_get_presence},
    {PROTO_EV_LIST_MENTORS, NULL, PROTO_SVC_PRESENCE, f_list_mentors},
    /* call-svc: calls */
    {PROTO_EV_INITIATE_CALL, NULL, PROTO_SVC_CALL, f_initiate_call},
    {PROTO_EV_ACCEPT_CALL, NULL, PROTO_SVC_CALL, f_call},
    {PROTO_EV_REJECT_CALL, NULL, PROTO_SVC_CALL, f_call_reason},
    {PROTO_EV_END_CALL, NULL, PROTO_SVC_CALL, f_call_reason},
    {PROTO_EV_CALL_SIGNAL, NULL, PROTO_SVC_CALL, f_call_signal},
    {PROTO_EV_CALL_HISTORY, NULL, PROTO_SVC_CALL, f_call_history},
    /* call-svc: help requests */
    {PROTO_EV_STUDENT_REQUEST_HELP, NULL, PROTO_SVC_CALL, f_request_help},
    {PROTO_EV_ACCEPT_HELP, NULL, PROTO_SVC_CALL, f_help},
    {PROTO_EV_DECLINE_HELP, NULL, PROTO_SVC_CALL, f_help},
    {PROTO_EV_CANCEL_HELP, NULL, PROTO_SVC_CALL, f_help},
    {PROTO_EV_END_HELP, NULL, PROTO_SVC_CALL, f_help},
};

#define N_EVENTS (sizeof s_events / sizeof s_events[0])

const proto_event_t *proto_events(size_t *count)
{
    *count = N_EVENTS;
    return s_events;
}

/* clang-format off */
static const char *const s_server_events[] = {
    "auth_success", "pong", "error", "ack", "unsubscribed", "subscribed",
    "conversation_created", "participants_changed", "message_sent", "new_message", "history",
    "user_typing", "read_receipt", "message_updated", "message_deleted", "reaction",
    "status_change", "user_online", "user_offline", "presence", "mentors", "call_initiated",
    "incoming_call", "call_accepted", "call_rejected", "call_ended", "call_signal",
    "call_history", "help_requested", "help_request", "help_accepted", "help_assigned",
    "help_request_closed", "help_declined", "help_ended", "help_expired", "token_expiring",
    "refreshed"};
/* clang-format on */

const char *const *proto_server_events(size_t *count)
{
    *count = sizeof s_server_events / sizeof s_server_events[0];
    return s_server_events;
}

static int name_is(const char *name, const char *s, size_t len)
{
    return name && strlen(name) == len && memcmp(name, s, len) == 0;
}

const proto_event_t *proto_event_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_EVENTS; i++)
        if (name_is(s_events[i].name, name, len) || name_is(s_events[i].alias, name, len))
            return &s_events[i];
    return NULL;
}

static const char *s_svc_names[PROTO_SVC_COUNT] = {"gateway", "chat", "presence", "call"};

const char *proto_svc_name(proto_svc_t svc)
{
    return svc < PROTO_SVC_COUNT ? s_svc_names[svc] : "?";
}

int proto_svc_queue_offset(proto_svc_t svc)
{
    return svc == PROTO_SVC_CHAT ? 2 : svc == PROTO_SVC_PRESENCE ? 4 : svc == PROTO_SVC_CALL ? 6 : -1;
}

/* ---- validation ------------------------------------------------------------------ */

static int one_of(const char *list, const char *s, size_t len)
{
    while (list && *list) {
        const char *bar = strchr(list, '|');
        size_t n = bar ? (size_t)(bar - list) : strlen(list);
        if (n == len && memcmp(list, s, len) == 0)
            return 1;
        list = bar ? bar + 1 : NULL;
    }
    return 0;
}

static int is_int(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return 0;
        *out = (int64_t)o->via.u64;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 1;
    }
    return 0;
}

static proto_verdict_t fail(proto_verdict_t v, char *why, size_t whylen, const char *field,
                            const char *what)
{
    snprintf(why, whylen, "%s: %s", field, what);
    return v;
}

static int64_t field_max(const proto_field_t *f)
{
    if (!(f->flags & PF_LIMIT))
        return f->max;
    if (strcmp(f->name, "content") == 0)
        return s_limits.content_max;
    if (strcmp(f->name, "status_message") == 0)
        return s_limits.status_message_max;
    if (strcmp(f->name, "signal") == 0)
        return s_limits.signal_max;
    return f->max;
}

/* ---- text: every string of a request, nested ones included ---------------------
   Why here, once, and not in the parser or per field: the gateway parses with
   PL_JSON_RAW_TEXT, so a frame whose strings hold invalid UTF-8 (raw bytes, or a lone
   surrogate escape) or NUL (\u0000, legal JSON) still parses, and its refusal can carry
   the request's id and name the field. One walk over the whole body then covers every
   field of every event (known or not: unknown fields are forwarded too), lists and
   objects at any depth (participants, attachments' url/name/mime, the call signal),
   for raw WebSocket and Socket.IO clients alike, since both reach proto_validate.
   Nothing past the edge meets a NUL (it cuts C strings; PostgreSQL refuses it in text
   and aborts the batch's transaction) or invalid UTF-8 (refused by a UTF8 database). */

#define PATH_MAX_BYTES 96

/* A client key is shown in a path only when it is short plain ASCII: messages are
   ours, and must stay valid and safe to print. */
static int plain_key(const msgpack_object *k)
{
    if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0 || k->via.str.size > 32)
        return 0;
    for (uint32_t i = 0; i < k->via.str.size; i++) {
        char c = k->via.str.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* NULL if the bytes are valid UTF-8 without NUL, else why not. */
static const char *text_fault(const char *s, uint32_t n)
{
    if (n == 0) /* msgpack-c gives an empty str a NULL ptr */
        return NULL;
    if (pl_utf8_count(s, n) < 0)
        return "must be valid UTF-8";
    if (memchr(s, '\0', n))
        return "must not contain NUL characters";
    return NULL;
}

static proto_verdict_t walk_text(const msgpack_object *v, char *path, size_t at, char *why,
                                 size_t whylen);

/* Path steps ".key" (or "key" at the top) and "[i]", appended at `at`; a step that
   does not fit is cut short (the prefix is what matters). Returns the new end. */
static size_t path_end(size_t at, int n)
{
    size_t end = n < 0 ? at : at + (size_t)n;
    return end < PATH_MAX_BYTES ? end : PATH_MAX_BYTES - 1;
}

static size_t path_key(char *path, size_t at, const char *key)
{
    return path_end(at, snprintf(path + at, PATH_MAX_BYTES - at, "%s%s", at ? "." : "", key));
}

static size_t path_index(char *path, size_t at, uint32_t i)
{
    return path_end(at, snprintf(path + at, PATH_MAX_BYTES - at, "[%u]", (unsigned)i));
}

static proto_verdict_t walk_member(const msgpack_object_kv *kv, char *path, size_t at,
                                   char *why, size_t whylen)
{
    if (kv->key.type != MSGPACK_OBJECT_STR || text_fault(kv->key.via.str.ptr, kv->key.via.str.size))
        return fail(PROTO_BAD_REQUEST, why, whylen, at ? path : "frame",
                    "keys must be valid UTF-8 without NUL characters");
    char key[40];
    if (plain_key(&kv->key))
        snprintf(key, sizeof key, "%.*s", (int)kv->key.via.str.size, kv->key.via.str.ptr);
    else
        snprintf(key, sizeof key, "?");
    size_t end = path_key(path, at, key);
    proto_verdict_t v = walk_text(&kv->val, path, end, why, whylen);
    path[at] = '\0';
    return v;
}

/* Depth is bounded by the parser (PL_JSON_MAX_DEPTH), so recursion is too. */
static proto_verdict_t walk_text(const msgpack_object *v, char *path, size_t at, char *why,
                                 size_t whylen)
{
    const char *bad;
    switch (v->type) {
    case MSGPACK_OBJECT_STR:
        bad = text_fault(v->via.str.ptr, v->via.str.size);
        return bad ? fail(PROTO_BAD_REQUEST, why, whylen, path, bad) : PROTO_OK;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            size_t end = path_index(path, at, i);
            proto_verdict_t r = walk_text(&v->via.array.ptr[i], path, end, why, whylen);
            path[at] = '\0';
            if (r != PROTO_OK)
                return r;
        }
        return PROTO_OK;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            proto_verdict_t r = walk_member(&v->via.map.ptr[i], path, at, why, whylen);
            if (r != PROTO_OK)
                return r;
        }
        return PROTO_OK;
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT:
        return fail(PROTO_BAD_REQUEST, why, whylen, path, "must be plain JSON");
    default:
        return PROTO_OK;
    }
}

/* Every member of the body but the envelope's `type` (matched against the event
   table already) and `id` (the gateway's own rules; it never leaves the gateway). */
static proto_verdict_t check_text(const msgpack_object *body, char *why, size_t whylen)
{
    char path[PATH_MAX_BYTES] = "";
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object_kv *kv = &body->via.map.ptr[i];
        if (pl_mp_str_eq(&kv->key, "type") || pl_mp_str_eq(&kv->key, "id"))
            continue;
        proto_verdict_t v = walk_member(kv, path, 0, why, whylen);
        if (v != PROTO_OK)
            return v;
    }
    return PROTO_OK;
}

static proto_verdict_t check_str(const proto_field_t *f, const msgpack_object *v, char *why,
                                 size_t whylen)
{
    if (v->type != MSGPACK_OBJECT_STR)
        return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "must be a string");
    long n = pl_utf8_count(v->via.str.ptr, v->via.str.size); /* valid: check_text ran */
    int64_t max = field_max(f);
    if (n < f->min || n > max) {
        char what[96];
        snprintf(what, sizeof what, "must be %" PRId64 " to %" PRId64 " characters", f->min, max);
        return fail(n > max && (f->flags & PF_TOO_LARGE) ? PROTO_TOO_LARGE : PROTO_BAD_REQUEST,
                    why, whylen, f->name, what);
    }
    if (f->one_of && !one_of(f->one_of, v->via.str.ptr, v->via.str.size)) {
        char what[128];
        snprintf(what, sizeof what, "must be one of %s", f->one_of);
        return fail(PROTO_BAD_REQUEST, why, whylen, f->name, what);
    }
    return PROTO_OK;
}

static proto_verdict_t check_field(const proto_field_t *f, const msgpack_object *v, char *why,
                                   size_t whylen)
{
    char what[96];
    int64_t n;
    switch (f->type) {
    case PF_STR:
        return check_str(f, v, why, whylen);
    case PF_INT:
        if (!is_int(v, &n))
            return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "must be an integer");
        if (n < f->min || n > f->max) {
            snprintf(what, sizeof what, "must be at least %" PRId64, f->min);
            return fail(PROTO_BAD_REQUEST, why, whylen, f->name, what);
        }
        return PROTO_OK;
    case PF_BOOL:
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "must be true or false");
        return PROTO_OK;
    case PF_ID:
        if (is_int(v, &n))
            return PROTO_OK;
        if (v->type == MSGPACK_OBJECT_STR && v->via.str.size > (uint32_t)f->max) {
            snprintf(what, sizeof what, "strings are at most %" PRId64 " bytes", f->max);
            return fail(f->flags & PF_TOO_LARGE ? PROTO_TOO_LARGE : PROTO_BAD_REQUEST, why, whylen,
                        f->name, what);
        }
        if (v->type != MSGPACK_OBJECT_STR || v->via.str.size < 1)
            return fail(PROTO_BAD_REQUEST, why, whylen, f->name,
                        "must be an integer or a short non-empty string");
        return PROTO_OK; /* valid UTF-8 without NUL: check_text saw every string */
    case PF_STR_LIST:
        if (v->type != MSGPACK_OBJECT_ARRAY)
            return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "must be a list of strings");
        if (v->via.array.size < f->min || v->via.array.size > f->max) {
            snprintf(what, sizeof what, "must hold %" PRId64 " to %" PRId64 " items", f->min,
                     f->max);
            return fail(PROTO_BAD_REQUEST, why, whylen, f->name, what);
        }
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            const msgpack_object *it = &v->via.array.ptr[i];
            if (it->type == MSGPACK_OBJECT_STR && it->via.str.size > (uint32_t)f->item_max &&
                (f->flags & PF_TOO_LARGE))
                return fail(PROTO_TOO_LARGE, why, whylen, f->name, "items are at most 128 bytes");
            if (it->type != MSGPACK_OBJECT_STR || it->via.str.size < 1 ||
                it->via.str.size > (uint32_t)f->item_max)
                return fail(PROTO_BAD_REQUEST, why, whylen, f->name,
                            "items must be non-empty strings of at most 128 bytes");
        }
        return PROTO_OK;
    case PF_LIST:
        if (v->type != MSGPACK_OBJECT_ARRAY)
            return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "must be a list");
        if (v->via.array.size < f->min || v->via.array.size > f->max) {
            snprintf(what, sizeof what, "must hold at most %" PRId64 " items", f->max);
            return fail(PROTO_BAD_REQUEST, why, whylen, f->name, what);
        }
        return PROTO_OK;
    case PF_OBJECT:
        if (v->type != MSGPACK_OBJECT_MAP)
            return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "must be an object");
        if (field_max(f) > 0) {
            /* The limit is on the JSON text the client sent; re-serialising gives the
               compact size, which is what a relay would forward. */
            pl_buf_t b;
            pl_buf_init(&b, 0);
            int rc = pl_msgpack_to_json(v, &b);
            size_t len = b.len;
            pl_buf_free(&b);
            if (rc != 0)
                return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "must be plain JSON");
            if ((int64_t)len > field_max(f)) {
                snprintf(what, sizeof what, "must be at most %" PRId64 " bytes of JSON",
                         field_max(f));
                return fail(PROTO_TOO_LARGE, why, whylen, f->name, what);
            }
        }
        return PROTO_OK;
    }
    return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "unsupported");
}

proto_verdict_t proto_validate(const proto_event_t *ev, const msgpack_object *body, char *why,
                               size_t whylen)
{
    if (body->type != MSGPACK_OBJECT_MAP)
        return fail(PROTO_BAD_REQUEST, why, whylen, "frame", "must be a JSON object");
    proto_verdict_t text = check_text(body, why, whylen);
    if (text != PROTO_OK)
        return text;
    for (const proto_field_t *f = ev->fields; f->name; f++) {
        const msgpack_object *v = pl_mp_get(body, f->name);
        if (!v || v->type == MSGPACK_OBJECT_NIL) {
            if (f->flags & PF_REQUIRED)
                return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "is required");
            continue;
        }
        proto_verdict_t verdict = check_field(f, v, why, whylen);
        if (verdict != PROTO_OK)
            return verdict;
    }
    return PROTO_OK;
}

/* ---- topics ---------------------------------------------------------------------- */

int proto_topic(char *out, size_t cap, char prefix, const char *id, size_t idlen)
{
    if (cap < PROTO_TOPIC_MAX || idlen + 2 > cap || memchr(id, '\0', idlen))
        return -1;
    out[0] = prefix;
    memcpy(out + 1, id, idlen);
    out[idlen + 1] = '\0';
    return (int)idlen + 2;
}

int proto_topic_int(char *out, size_t cap, char prefix, int64_t id)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, id);
    return proto_topic(out, cap, prefix, num, (size_t)n);
}
