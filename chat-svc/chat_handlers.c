/*  chat_handlers: the dispatcher, sessions and conversations (see chat_handlers.h).
    Fan-out rule of the contract: the acting connection gets its answer, every other
    subscribed connection of every participant (the actor's other devices included)
    gets the event. So events exclude exactly the acting connection, except typing,
    which excludes the acting user (chat_receipts.c). */
#include "chat_handlers.h"

#include <stdlib.h>
#include <string.h>

#include "chat_pack.h"
#include "chat_store.h"
#include "pl_log.h"
#include "pl_mp.h"
#include "pl_text.h"
#include "pl_webhook.h"

/* ---- session_open: the conversations listed in auth_success ------------------ */

/* auth_success {user_id, role, session_id, conversations, notification_count}, from
   conversation rows [first, first + rows) of r. The connection is subscribed to
   every conversation listed. 0, or -1 when out of memory (the batch is retried). */
static int answer_session(pl_service_t *svc, const proto_request_t *req, const PGresult *r,
                          int first, int rows, int64_t notifications)
{
    int64_t *ids = calloc((size_t)(rows ? rows : 1), sizeof *ids);
    if (!ids)
        return -1;
    for (int i = 0; i < rows; i++)
        ids[i] = pl_pg_int(r, first + i, CV_ID);
    msgpack_packer *pk = pl_service_reply(svc, req, ids, (size_t)rows);
    free(ids);
    const char *sid;
    size_t sidlen;
    if (pl_mp_str(req->body, "session_id", &sid, &sidlen)) {
        sid = "";
        sidlen = 0;
    }
    msgpack_pack_map(pk, 6);
    pl_pack_kv_str(pk, "type", "auth_success");
    pl_pack_kv_str(pk, "user_id", req->uid);
    pl_pack_kv_str(pk, "role", req->role);
    pl_pack_kv_strn(pk, "session_id", sid, sidlen);
    pl_pack_str(pk, "conversations");
    msgpack_pack_array(pk, (size_t)rows);
    for (int i = 0; i < rows; i++)
        chat_pack_conversation(pk, r, first + i);
    pl_pack_kv_int(pk, "notification_count", notifications);
    pl_service_end(svc);
    return 0;
}

/* A session opening is also the surest sign that the user is connected, so it marks
   them so (notifications are for users who are not). In a batch of several, that and
   the reads were done by chat_prepare (chat_sessions.c). */
static int on_session_open(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    chat_session_rows_t ahead;
    if (chat_sessions_find(app->sessions, req->uid, &ahead))
        return answer_session(svc, req, ahead.convs, ahead.first, ahead.rows, ahead.notifications);
    PGconn *db = pl_service_db(svc);
    int64_t notifications;
    if (chat_store_set_online(db, req->uid, 1) ||
        chat_store_notification_count(db, req->uid, &notifications))
        return -1;
    PGresult *r = chat_store_user_conversations(db, req->uid);
    if (!r)
        return -1;
    int rc = answer_session(svc, req, r, 0, PQntuples(r), notifications);
    PQclear(r);
    return rc;
}

/* ---- create_conversation ------------------------------------------------------ */

#define BAD_ID (-1)
#define TOO_MANY (-2)

/* Distinct participants, the creator first, into ids[CHAT_MAX_PARTICIPANTS]. Returns
   the count, BAD_ID, or TOO_MANY when they are more than CHAT_MAX_PARTICIPANTS with
   the creator (the gateway lets 256 ids through, which the creator may make 257). */
static int collect_participants(const proto_request_t *req, char **ids)
{
    const msgpack_object *list = pl_mp_get(req->body, "participants");
    int n = 0;
    ids[n++] = strdup(req->uid);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        if (!pl_user_id_valid(o->via.str.ptr, o->via.str.size))
            return BAD_ID;
        int dup = 0;
        for (int k = 0; k < n && !dup; k++)
            dup = ids[k] && strlen(ids[k]) == o->via.str.size &&
                  memcmp(ids[k], o->via.str.ptr, o->via.str.size) == 0;
        if (dup)
            continue;
        if (n == CHAT_MAX_PARTICIPANTS)
            return TOO_MANY;
        ids[n++] = strndup(o->via.str.ptr, o->via.str.size);
    }
    return n;
}

const char *chat_requested_kind(const proto_request_t *req, int n)
{
    const char *kind;
    size_t len;
    if (pl_mp_str(req->body, "kind", &kind, &len) == 0)
        return len == 6 && memcmp(kind, "direct", 6) == 0 ? "direct" : "group";
    return n == 2 ? "direct" : "group";
}

chat_str_t chat_requested_title(const proto_request_t *req)
{
    chat_str_t title = {NULL, 0};
    pl_mp_str(req->body, "title", &title.ptr, &title.len);
    return title;
}

/* conversation_created {conversation} as the answer, and, when it is new, to every
   participant's connections (the creator's other devices included), which are
   subscribed to it. */
static int announce_created(pl_service_t *svc, const proto_request_t *req, char **ids, int n,
                            int64_t conv, int created)
{
    PGresult *r = chat_store_conversation(pl_service_db(svc), conv, req->uid);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return -1;
    }
    msgpack_packer *pk = pl_service_reply(svc, req, &conv, 1);
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "conversation_created");
    pl_pack_str(pk, "conversation");
    chat_pack_conversation(pk, r, 0);
    pl_service_end(svc);
    if (created) {
        proto_exclude_t actor = pl_service_actor(req);
        for (int i = 0; i < n; i++) {
            pk = pl_service_to_user(svc, ids[i], i == 0 ? &actor : NULL, conv);
            msgpack_pack_map(pk, 2);
            pl_pack_kv_str(pk, "type", "conversation_created");
            pl_pack_str(pk, "conversation");
            chat_pack_conversation(pk, r, 0);
            pl_service_end(svc);
        }
    }
    PQclear(r);
    return 0;
}

static int on_create_conversation(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    char *ids[CHAT_MAX_PARTICIPANTS] = {0};
    int n = collect_participants(req, ids);
    int rc = 0;
    for (int i = 0; i < n; i++)
        if (!ids[i])
            rc = -1; /* out of memory */
    if (rc)
        goto done;
    if (n == BAD_ID) {
        pl_service_error(svc, req, "bad_request", "participants: invalid user id");
        goto done;
    }
    if (n == TOO_MANY) {
        pl_service_error(svc, req, "bad_request",
                         "participants: at most 256 in a conversation, yourself included");
        goto done;
    }
    const char *kind = chat_requested_kind(req, n);
    if (strcmp(kind, "direct") == 0 && n != 2) {
        pl_service_error(svc, req, "bad_request",
                         "participants: a direct conversation has exactly one other user");
        goto done;
    }
    chat_str_t title = chat_requested_title(req);
    int64_t conv;
    chat_status_t st;
    if (chat_store_create(pl_service_db(svc), kind, title, req->uid, (const char *const *)ids,
                          (size_t)n, app->creates_per_min, &conv, &st)) {
        rc = -1;
        goto done;
    }
    if (st == CHAT_LIMITED) {
        pl_service_error(svc, req, "rate_limited",
                         "too many conversations created in the last minute, try again later");
        pl_info("conversation refused", "user=%s reason=rate_limited", req->uid);
        goto done;
    }
    rc = announce_created(svc, req, ids, n, conv, st == CHAT_OK);
done:
    for (int i = 0; i < CHAT_MAX_PARTICIPANTS; i++)
        free(ids[i]);
    return rc;
}

/* ---- access checks -------------------------------------------------------------- */

int chat_check_member(chat_app_t *app, pl_service_t *svc, const proto_request_t *req,
                      int64_t conv)
{
    int exists, member;
    if (chat_members_check(app->members, pl_service_db(svc), conv, req->uid, &exists, &member))
        return -1;
    if (!exists) {
        pl_service_error(svc, req, "not_found", "no such conversation");
        return 0;
    }
    /* The server API reads as the system, which is no participant (gw_api.c). */
    if (!member && strcmp(req->role, PROTO_ROLE_SYSTEM) != 0) {
        pl_service_error(svc, req, "forbidden", "not a participant of this conversation");
        return 0;
    }
    return 1;
}

static int on_subscribe(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    int64_t conv;
    pl_mp_int(req->body, "conversation_id", &conv);
    int ok = chat_check_member(app, svc, req, conv);
    if (ok <= 0)
        return ok;
    msgpack_packer *pk = pl_service_reply(svc, req, &conv, 1);
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "subscribed");
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_service_end(svc);
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------- */

/* What chat-svc serves (the runtime looks requests up here). */
const pl_handler_t chat_handlers[] = {
    {PROTO_EV_SESSION_OPEN, on_session_open},
    {PROTO_EV_CREATE_CONVERSATION, on_create_conversation},
    {PROTO_EV_SUBSCRIBE_CONVERSATION, on_subscribe},
    {PROTO_EV_MESSAGE, chat_on_message},
    {PROTO_EV_HISTORY, chat_on_history},
    {PROTO_EV_TYPING_START, chat_on_typing_start},
    {PROTO_EV_TYPING_STOP, chat_on_typing_stop},
    {PROTO_EV_MARK_READ, chat_on_mark_read},
    {PROTO_EV_EDIT_MESSAGE, chat_on_edit},
    {PROTO_EV_DELETE_MESSAGE, chat_on_delete},
    {PROTO_EV_REACT, chat_on_react},
    {PROTO_EV_UNREACT, chat_on_unreact},
    /* other services' asks (chat_asks.c) */
    {PROTO_EV_SHARED_CONTACTS, chat_on_shared_contacts},
    {PROTO_EV_CONV_MEMBERS, chat_on_conversation_members},
    /* the server API (chat_api.c) */
    {PROTO_EV_API_POST_MESSAGE, chat_on_api_post_message},
    {PROTO_EV_API_CREATE_CONV, chat_on_api_create_conversation},
    {PROTO_EV_API_ADD_PARTICIPANTS, chat_on_api_add_participants},
    {PROTO_EV_API_REMOVE_PARTICIPANT, chat_on_api_remove_participant},
    /* the server API's webhook dead letters (service/pl_webhook.c) */
    {PROTO_EV_API_WEBHOOK_DEAD, pl_webhook_on_dead_letters},
    {PROTO_EV_API_WEBHOOK_REPLAY, pl_webhook_on_replay},
    {NULL, NULL},
};

/* Requests that name a conversation lock its row (and then participant rows), in
   conversation order; requests that name a message lock that message's row, after
   every conversation, in message order. Two instances therefore always take the
   same rows in the same order, and cannot deadlock each other. */
#define MESSAGE_KEYS (INT64_C(1) << 62)

int64_t chat_order_key(const proto_request_t *req)
{
    int64_t id = 0;
    if (pl_mp_int(req->body, "conversation_id", &id) == 0)
        return id;
    if (pl_mp_int(req->body, "message_id", &id) == 0)
        return id < INT64_MAX - MESSAGE_KEYS ? MESSAGE_KEYS + id : INT64_MAX;
    return 0;
}
