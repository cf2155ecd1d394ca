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
    {"auth", NULL, PROTO_SVC_GATEWAY, f_auth},
    {"ping", NULL, PROTO_SVC_GATEWAY, f_none},
    {"unsubscribe_conversation", NULL, PROTO_SVC_GATEWAY, f_conv},
    /* chat-svc */
    {"create_conversation", NULL, PROTO_SVC_CHAT, f_create_conversation},
    {"subscribe_conversation", NULL, PROTO_SVC_CHAT, f_conv},
    {"message", "send_message", PROTO_SVC_CHAT, f_message},
    {"history", NULL, PROTO_SVC_CHAT, f_history},
    {"typing_start", "user_typing", PROTO_SVC_CHAT, f_conv},
    {"typing_stop", "user_stopped_typing", PROTO_SVC_CHAT, f_conv},
    {"mark_read", NULL, PROTO_SVC_CHAT, f_mark_read},
    {"edit_message", NULL, PROTO_SVC_CHAT, f_edit},
    {"delete_message", NULL, PROTO_SVC_CHAT, f_msg},
    {"react", NULL, PROTO_SVC_CHAT, f_react},
    {"unreact", NULL, PROTO_SVC_CHAT, f_react},
    /* presence-svc */
    {"set_status", NULL, PROTO_SVC_PRESENCE, f_set_status},
    {"mentor_available", NULL, PROTO_SVC_PRESENCE, f_mentor_status},
    {"mentor_busy", NULL, PROTO_SVC_PRESENCE, f_mentor_status},
    {"get_presence", NULL, PROTO_SVC_PRESENCE, f_get_presence},
    {"list_mentors", NULL, PROTO_SVC_PRESENCE, f_list_mentors},
    /* call-svc: calls */
    {"initiate_call", NULL, PROTO_SVC_CALL, f_initiate_call},
    {"accept_call", NULL, PROTO_SVC_CALL, f_call},
    {"reject_call", NULL, PROTO_SVC_CALL, f_call_reason},
    {"end_call", NULL, PROTO_SVC_CALL, f_call_reason},
    {"call_signal", NULL, PROTO_SVC_CALL, f_call_signal},
    {"call_history", NULL, PROTO_SVC_CALL, f_call_history},
    /* call-svc: help requests */
    {"student_request_help", NULL, PROTO_SVC_CALL, f_request_help},
    {"accept_help", NULL, PROTO_SVC_CALL, f_help},
    {"decline_help", NULL, PROTO_SVC_CALL, f_help},
    {"cancel_help", NULL, PROTO_SVC_CALL, f_help},
    {"end_help", NULL, PROTO_SVC_CALL, f_help},
};

#define N_EVENTS (sizeof s_events / sizeof s_events[0])

const proto_event_t *proto_events(size_t *count)
{
    *count = N_EVENTS;
    return s_events;
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

/* A non-empty str (an empty one may have a NULL ptr) holding valid UTF-8 and no NUL:
   what every string a client sends must be, whatever else its field allows. */
static int clean_str(const msgpack_object *v)
{
    return pl_utf8_count(v->via.str.ptr, v->via.str.size) >= 0 &&
           !memchr(v->via.str.ptr, '\0', v->via.str.size);
}

static proto_verdict_t check_str(const proto_field_t *f, const msgpack_object *v, char *why,
                                 size_t whylen)
{
    if (v->type != MSGPACK_OBJECT_STR)
        return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "must be a string");
    long n = pl_utf8_count(v->via.str.ptr, v->via.str.size);
    if (n < 0)
        return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "must be valid UTF-8");
    if (memchr(v->via.str.ptr, '\0', v->via.str.size)) /* text columns and C strings */
        return fail(PROTO_BAD_REQUEST, why, whylen, f->name, "must not contain NUL characters");
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
        if (!clean_str(v)) /* stored in a text column, like any string */
            return fail(PROTO_BAD_REQUEST, why, whylen, f->name,
                        "must be valid UTF-8 without NUL characters");
        return PROTO_OK;
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
            if (!clean_str(it))
                return fail(PROTO_BAD_REQUEST, why, whylen, f->name,
                            "items must be valid UTF-8 without NUL characters");
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
