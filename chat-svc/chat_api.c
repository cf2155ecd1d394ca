/*  chat_api: what the server API asks of chat-svc (gateway/gw_api.c), as the system
    (role PROTO_ROLE_SYSTEM; uid is the user it acts for, or "" for none).
    The one thing to know: the answer is the HTTP answer's body plus `http`, its status;
    events go out exactly as for a client's request, so connections cannot tell the
    two apart (except that a system message has sender_id null). */
#include "chat_handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_pack.h"
#include "chat_store.h"
#include "pl_log.h"
#include "pl_mp.h"
#include "pl_text.h"
#include "pl_webhook.h"

static int is_system(pl_service_t *svc, const proto_request_t *req)
{
    if (strcmp(req->role, PROTO_ROLE_SYSTEM) == 0)
        return 1;
    pl_service_error(svc, req, "forbidden", "server API requests only");
    return 0;
}

/* message.created for a message the API posted (as read back). */
static int webhook_posted(PGconn *db, const PGresult *r, const PGresult *rx, const char *sender)
{
    if (!pl_webhook_enabled())
        return 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    chat_pack_message(&pk, r, 0, rx);
    int rc = chat_webhook_message(db, pl_pg_int(r, 0, HC_CONV), sender, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* {type:"message", http, message} to the API and, when new, new_message to every
   subscribed connection of the conversation (the sender's included: the API is not
   one of them). The message is read back as committed by this transaction. */
static int answer_posted(pl_service_t *svc, const proto_request_t *req, const chat_posted_t *p)
{
    PGconn *db = pl_service_db(svc);
    PGresult *r = chat_store_message(db, p->message_id);
    PGresult *rx = NULL;
    if (!r || PQntuples(r) != 1 || chat_load_reactions(db, r, 1, &rx)) {
        PQclear(r);
        return -1;
    }
    int created = p->status == CHAT_OK;
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 3);
    pl_pack_kv_str(pk, "type", "message");
    pl_pack_kv_int(pk, "http", created ? 201 : 200);
    pl_pack_str(pk, "message");
    chat_pack_message(pk, r, 0, rx);
    pl_service_end(svc);
    int rc = 0;
    if (created) {
        pk = pl_service_to_conv(svc, pl_pg_int(r, 0, HC_CONV), NULL);
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", "new_message");
        pl_pack_str(pk, "message");
        chat_pack_message(pk, r, 0, rx);
        pl_service_end(svc);
        rc = webhook_posted(db, r, rx, req->uid);
    }
    PQclear(rx);
    PQclear(r);
    return rc;
}

int chat_on_api_post_message(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    if (!is_system(svc, req))
        return 0;
    size_t ulen = strlen(req->uid);
    if (ulen && pl_text_has_control(req->uid, ulen)) {
        pl_service_error(svc, req, "bad_request", "sender_id: invalid user id");
        return 0;
    }
    chat_message_in_t in;
    msgpack_sbuffer att;
    msgpack_sbuffer_init(&att);
    const char *why = NULL, *code = "bad_request";
    int rc = 0;
    if (chat_read_message(req, &in, &att, &why, &code)) {
        pl_service_error(svc, req, code, why);
        goto done;
    }
    const chat_post_t *m = &in.post;
    chat_posted_t posted;
    PGconn *db = pl_service_db(svc);
    if (ulen ? chat_store_post(db, m->conv, m->sender, m->content, m->reply_to, m->attachments,
                               m->temp_id, &posted)
             : chat_store_post_system(db, m->conv, m->content, m->reply_to, m->attachments,
                                      m->temp_id, &posted)) {
        rc = -1;
        goto done;
    }
    switch (posted.status) {
    case CHAT_OK:
        if (ulen)
            chat_members_remember(app->members, m->conv, req->uid);
        /* fall through */
    case CHAT_DUPLICATE:
        rc = answer_posted(svc, req, &posted);
        pl_info("api message", "conversation=%lld sender=%s duplicate=%d", (long long)m->conv,
                ulen ? req->uid : "(system)", posted.status == CHAT_DUPLICATE);
        break;
    default:
        chat_post_refused(svc, req, posted.status,
                          "sender_id: not a participant of this conversation");
        break;
    }
done:
    msgpack_sbuffer_destroy(&att);
    return rc;
}

/* ---- conversations and participants -------------------------------------------- */

static int user_id_ok(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_STR && pl_user_id_valid(o->via.str.ptr, o->via.str.size);
}

/* Distinct user ids of list `key` (validated by the gateway as 1..256 strings) into
   ids[CHAT_MAX_PARTICIPANTS] (owned by the caller, freed with free_ids). Returns the
   count, or -1 after answering bad_request, -2 when out of memory. */
static int distinct_ids(pl_service_t *svc, const proto_request_t *req, const char *key, char **ids)
{
    const msgpack_object *list = pl_mp_get(req->body, key);
    int n = 0;
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        if (!user_id_ok(o)) {
            char msg[64];
            snprintf(msg, sizeof msg, "%s: invalid user id", key);
            pl_service_error(svc, req, "bad_request", msg);
            return -1;
        }
        int dup = 0;
        for (int k = 0; k < n && !dup; k++)
            dup = strlen(ids[k]) == o->via.str.size &&
                  memcmp(ids[k], o->via.str.ptr, o->via.str.size) == 0;
        if (dup)
            continue;
        if (n == CHAT_MAX_PARTICIPANTS) {
            pl_service_error(svc, req, "bad_request", "at most 256 participants in a conversation");
            return -1;
        }
        if (!(ids[n] = strndup(o->via.str.ptr, o->via.str.size)))
            return -2;
        n++;
    }
    return n;
}

static void free_ids(char **ids)
{
    for (int i = 0; i < CHAT_MAX_PARTICIPANTS; i++)
        free(ids[i]);
}

/* conversation_created {conversation} to `user`'s connections (which are subscribed
   to it), with the conversation as that user sees it. */
static int tell_created(pl_service_t *svc, int64_t conv, const char *user)
{
    PGresult *r = chat_store_conversation(pl_service_db(svc), conv, user);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return -1;
    }
    msgpack_packer *pk = pl_service_to_user(svc, user, NULL, conv);
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "conversation_created");
    pl_pack_str(pk, "conversation");
    chat_pack_conversation(pk, r, 0);
    pl_service_end(svc);
    PQclear(r);
    return 0;
}

/* The answer {type:"conversation", http, conversation} as the system sees it. */
static int answer_conversation(pl_service_t *svc, const proto_request_t *req, int64_t conv,
                               int http)
{
    PGresult *r = chat_store_conversation_system(pl_service_db(svc), conv);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return -1;
    }
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 3);
    pl_pack_kv_str(pk, "type", "conversation");
    pl_pack_kv_int(pk, "http", http);
    pl_pack_str(pk, "conversation");
    chat_pack_conversation(pk, r, 0);
    pl_service_end(svc);
    PQclear(r);
    return 0;
}

/* participants_changed {conversation_id, added, removed} to the conversation's
   subscribed connections, or to one user's (`user`). */
static void publish_changed(pl_service_t *svc, int64_t conv, const char *user, char **added,
                            int nadded, const char *removed)
{
    msgpack_packer *pk =
        user ? pl_service_to_user(svc, user, NULL, 0) : pl_service_to_conv(svc, conv, NULL);
    msgpack_pack_map(pk, 4);
    pl_pack_kv_str(pk, "type", "participants_changed");
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_str(pk, "added");
    msgpack_pack_array(pk, (size_t)nadded);
    for (int i = 0; i < nadded; i++)
        pl_pack_str(pk, added[i]);
    pl_pack_str(pk, "removed");
    msgpack_pack_array(pk, removed ? 1 : 0);
    if (removed)
        pl_pack_str(pk, removed);
    pl_service_end(svc);
}

/* A conversation of the given participants (no creator: the system is none of them).
   A direct one between the same two users is unique: asking again answers 200 with
   it, and tells nobody. */
int chat_on_api_create_conversation(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    (void)app;
    if (!is_system(svc, req))
        return 0;
    char *ids[CHAT_MAX_PARTICIPANTS] = {0};
    int n = distinct_ids(svc, req, "participants", ids), rc = 0;
    if (n < 0) {
        rc = n == -2 ? -1 : 0;
        goto done;
    }
    const char *kind = chat_requested_kind(req, n);
    if (strcmp(kind, "direct") == 0 && n != 2) {
        pl_service_error(svc, req, "bad_request",
                         "participants: a direct conversation has exactly two users");
        goto done;
    }
    chat_str_t title = chat_requested_title(req);
    int64_t conv = 0;
    chat_status_t st;
    /* created_by '' (the system); no per-creator quota: the backend is trusted */
    if (chat_store_create(pl_service_db(svc), kind, title, "", (const char *const *)ids, (size_t)n,
                          0, &conv, &st)) {
        rc = -1;
        goto done;
    }
    if (st == CHAT_OK)
        for (int i = 0; i < n && rc == 0; i++)
            rc = tell_created(svc, conv, ids[i]);
    if (rc == 0)
        rc = answer_conversation(svc, req, conv, st == CHAT_OK ? 201 : 200);
    if (rc == 0)
        pl_info("api conversation", "conversation=%lld participants=%d created=%d", (long long)conv,
                n, st == CHAT_OK);
done:
    free_ids(ids);
    return rc;
}

int chat_on_api_add_participants(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    if (!is_system(svc, req))
        return 0;
    int64_t conv = 0, count;
    pl_mp_int(req->body, "conversation_id", &conv);
    char *ids[CHAT_MAX_PARTICIPANTS] = {0}, *added[CHAT_MAX_PARTICIPANTS];
    int n = distinct_ids(svc, req, "user_ids", ids), rc = 0, nadded = 0, exists, direct;
    PGconn *db = pl_service_db(svc);
    if (n < 0) {
        rc = n == -2 ? -1 : 0;
        goto done;
    }
    if (chat_store_conv_lock(db, conv, &exists, &direct, &count)) {
        rc = -1;
        goto done;
    }
    if (!exists || direct) {
        pl_service_error(svc, req, exists ? "conflict" : "not_found",
                         exists ? "a direct conversation keeps its two participants"
                                : "no such conversation");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int was_added;
        if (chat_store_add_participant(db, conv, ids[i], &was_added)) {
            rc = -1;
            goto done;
        }
        if (was_added)
            added[nadded++] = ids[i];
    }
    if (count + nadded > CHAT_MAX_PARTICIPANTS) {
        /* Refused as a whole. A refusal does not roll the batch back (only a failed
           handler does), so the rows just inserted, counted to know how many were
           new, are taken out again. */
        for (int i = 0; i < nadded; i++) {
            int gone;
            if (chat_store_remove_participant(db, conv, added[i], &gone)) {
                rc = -1;
                goto done;
            }
        }
        pl_service_error(svc, req, "conflict", "at most 256 participants in a conversation");
        goto done;
    }
    /* The others first: the new participants' connections are not subscribed yet, so
       they hear conversation_created and not this. */
    if (nadded)
        publish_changed(svc, conv, NULL, added, nadded, NULL);
    for (int i = 0; i < nadded && rc == 0; i++) {
        chat_members_remember(app->members, conv, added[i]);
        rc = tell_created(svc, conv, added[i]);
    }
    if (rc == 0)
        rc = answer_conversation(svc, req, conv, 200);
    if (rc == 0)
        pl_info("api participants added", "conversation=%lld added=%d", (long long)conv, nadded);
done:
    free_ids(ids);
    return rc;
}

int chat_on_api_remove_participant(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    if (!is_system(svc, req))
        return 0;
    int64_t conv = 0, count;
    pl_mp_int(req->body, "conversation_id", &conv);
    char user[129];
    const msgpack_object *u = pl_mp_get(req->body, "user_id");
    if (!user_id_ok(u)) {
        pl_service_error(svc, req, "bad_request", "user_id: invalid user id");
        return 0;
    }
    snprintf(user, sizeof user, "%.*s", (int)u->via.str.size, u->via.str.ptr);
    int exists, direct, removed;
    PGconn *db = pl_service_db(svc);
    if (chat_store_conv_lock(db, conv, &exists, &direct, &count))
        return -1;
    if (!exists || direct) {
        pl_service_error(svc, req, exists ? "conflict" : "not_found",
                         exists ? "a direct conversation keeps its two participants"
                                : "no such conversation");
        return 0;
    }
    if (chat_store_remove_participant(db, conv, user, &removed))
        return -1;
    if (!removed) {
        pl_service_error(svc, req, "not_found", "user_id: not a participant of this conversation");
        return 0;
    }
    chat_members_forget(app->members, conv, user);
    /* Every instance forgets the cached membership (chat_on_event). */
    msgpack_packer *pk = pl_service_to_internal(svc, &PROTO_TOPIC_CHAT_EVENTS[1]); /* "chat" */
    msgpack_pack_map(pk, 3);
    pl_pack_kv_str(pk, "type", "participant_removed");
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_kv_str(pk, "user_id", user);
    pl_service_end(svc);
    /* The removed user first, on their own topic: their gateways unsubscribe each of
       their connections as they deliver it (gw_deliver.c), before the conversation's
       next event, which the same publisher sends after it. */
    publish_changed(svc, conv, user, NULL, 0, user);
    publish_changed(svc, conv, NULL, NULL, 0, user);
    pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "removed");
    pl_pack_kv_int(pk, "http", 204);
    pl_service_end(svc);
    pl_info("api participant removed", "conversation=%lld user=%s", (long long)conv, user);
    return 0;
}
