/*  chat_messages: message, history, edit_message, delete_message, react, unreact.
    The one thing to know: a message's seq is taken inside the store's post function
    under the conversation's row lock, in the batch's transaction; message_sent and
    new_message leave only after that transaction committed (the runtime's outbox).
    Edits, deletions and reactions answer the actor with the very event the others
    get, built from the row as committed, so every device ends in the same state. */
#include "chat_handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_pack.h"
#include "chat_store.h"
#include "chat_temp_id.h"
#include "pl_clock.h"
#include "pl_mp.h"
#include "pl_webhook.h"
#include "pl_text.h"

#define URL_MAX 2048
#define ATTACHMENT_TEXT_MAX 255

/* ---- message -------------------------------------------------------------------- */

static int is_http_url(const msgpack_object *o)
{
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size > URL_MAX)
        return 0;
    const char *s = o->via.str.ptr;
    size_t n = o->via.str.size;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) /* no spaces in a URL either */
            return 0;
    return (n > 7 && strncmp(s, "http://", 7) == 0) || (n > 8 && strncmp(s, "https://", 8) == 0);
}

/* Non-empty, at most `max` bytes, no control characters. */
static int short_text(const msgpack_object *o, size_t max)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size >= 1 &&
           o->via.str.size <= max && !pl_text_has_control(o->via.str.ptr, o->via.str.size);
}

static int longer_than(const msgpack_object *o, size_t max)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size > max;
}

/* Validate attachments and keep only the four contract fields, as MessagePack (the
   gateway already checked it is a list of at most 10). Returns 0 (out stays empty
   when there are none) or -1 with why and code filled: a string over its size limit
   is `too_large`, anything else wrong `bad_request`. */
static int normalise_attachments(const msgpack_object *list, msgpack_sbuffer *out,
                                 const char **why, const char **code)
{
    if (!list || list->type != MSGPACK_OBJECT_ARRAY || list->via.array.size == 0)
        return 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, list->via.array.size);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *a = &list->via.array.ptr[i];
        const msgpack_object *url = pl_mp_get(a, "url"), *name = pl_mp_get(a, "name"),
                             *mime = pl_mp_get(a, "mime");
        int64_t size;
        *code = "too_large";
        if (longer_than(url, URL_MAX)) {
            *why = "attachments: url over 2048 bytes";
            return -1;
        }
        if (longer_than(name, ATTACHMENT_TEXT_MAX) || longer_than(mime, ATTACHMENT_TEXT_MAX)) {
            *why = "attachments: name and mime are at most 255 bytes";
            return -1;
        }
        *code = "bad_request";
        if (a->type != MSGPACK_OBJECT_MAP || !is_http_url(url)) {
            *why = "attachments: each needs an http(s) url of at most 2048 bytes";
            return -1;
        }
        if (!short_text(name, ATTACHMENT_TEXT_MAX) || !short_text(mime, ATTACHMENT_TEXT_MAX)) {
            *why = "attachments: each needs a name and a mime type (1 to 255 bytes)";
            return -1;
        }
        if (pl_mp_int(a, "size", &size) || size < 0) {
            *why = "attachments: size must be an integer >= 0";
            return -1;
        }
        msgpack_pack_map(&pk, 4);
        pl_pack_kv_obj(&pk, "url", url);
        pl_pack_kv_obj(&pk, "name", name);
        pl_pack_kv_obj(&pk, "mime", mime);
        pl_pack_kv_int(&pk, "size", size);
    }
    return 0;
}

/* temp_id as the client sent it (string or integer), or nil. */
static void pack_temp_id(msgpack_packer *pk, const proto_request_t *req)
{
    const msgpack_object *temp = pl_mp_get(req->body, "temp_id");
    if (temp && temp->type != MSGPACK_OBJECT_NIL)
        pl_pack_kv_obj(pk, "temp_id", temp);
    else
        pl_pack_kv_nil(pk, "temp_id");
}

static void pack_sent(pl_service_t *svc, const proto_request_t *req, int64_t conv,
                      const chat_posted_t *posted)
{
    char iso[32];
    pl_iso8601_ms(posted->created_us, iso, sizeof iso);
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 6);
    pl_pack_kv_str(pk, "type", "message_sent");
    pl_pack_kv_int(pk, "message_id", posted->message_id);
    pack_temp_id(pk, req);
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_kv_int(pk, "seq", posted->seq);
    pl_pack_kv_str(pk, "created_at", iso);
    pl_service_end(svc);
}

/* new_message is packed from the request, not read back: the row holds exactly what
   the request said, and a read per message would cost the database a statement. */
static void pack_new_message(msgpack_packer *pk, const proto_request_t *req, int64_t conv,
                             const chat_posted_t *posted, chat_str_t content,
                             const int64_t *reply_to, const msgpack_sbuffer *att)
{
    char iso[32];
    pl_iso8601_ms(posted->created_us, iso, sizeof iso);
    msgpack_pack_map(pk, 12);
    pl_pack_kv_int(pk, "message_id", posted->message_id);
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_kv_int(pk, "seq", posted->seq);
    pl_pack_kv_str(pk, "sender_id", req->uid);
    pl_pack_kv_strn(pk, "content", content.ptr, content.len);
    if (reply_to)
        pl_pack_kv_int(pk, "reply_to_id", *reply_to);
    else
        pl_pack_kv_nil(pk, "reply_to_id");
    pl_pack_str(pk, "attachments");
    if (att->size) /* already MessagePack: append its bytes as the value */
        msgpack_sbuffer_write(pk->data, att->data, att->size);
    else
        msgpack_pack_array(pk, 0);
    pl_pack_kv_str(pk, "created_at", iso);
    pl_pack_kv_nil(pk, "edited_at");
    pl_pack_kv_bool(pk, "deleted", 0);
    pack_temp_id(pk, req);
    pl_pack_str(pk, "reactions");
    msgpack_pack_array(pk, 0);
}

static void publish_new_message(pl_service_t *svc, const proto_request_t *req, int64_t conv,
                                const chat_posted_t *posted, chat_str_t content,
                                const int64_t *reply_to, const msgpack_sbuffer *att)
{
    proto_exclude_t actor = pl_service_actor(req);
    msgpack_packer *pk = pl_service_to_conv(svc, conv, &actor);
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "new_message");
    pl_pack_str(pk, "message");
    pack_new_message(pk, req, conv, posted, content, reply_to, att);
    pl_service_end(svc);
}

/* message.created, with the same message object (chat_webhooks.c). */
static int webhook_new_message(pl_service_t *svc, const proto_request_t *req, int64_t conv,
                               const chat_posted_t *posted, chat_str_t content,
                               const int64_t *reply_to, const msgpack_sbuffer *att)
{
    if (!pl_webhook_enabled())
        return 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_new_message(&pk, req, conv, posted, content, reply_to, att);
    int rc = chat_webhook_message(pl_service_db(svc), conv, req->uid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* temp_id in its stored form (chat_temp_id.h), or {NULL, 0} when there is none. */
static chat_str_t temp_id_text(const proto_request_t *req, char *buf, size_t cap)
{
    chat_str_t t = {NULL, 0};
    t.len = chat_temp_id_store(pl_mp_get(req->body, "temp_id"), buf, cap);
    if (t.len)
        t.ptr = buf;
    return t;
}

/* A message request read into what the store needs. The strings point into the
   request, `temp` (the stored form of temp_id) and `att` (the caller's buffer, which
   receives the normalised attachments). */
typedef chat_message_in_t message_in_t;

/* Read and check a message request the gateway already validated against proto/.
   0, or -1 with `why` and the error `code`. */
static int read_message(const proto_request_t *req, message_in_t *in, msgpack_sbuffer *att,
                        const char **why, const char **code)
{
    chat_post_t *m = &in->post;
    memset(in, 0, sizeof *in);
    m->sender = req->uid;
    pl_mp_int(req->body, "conversation_id", &m->conv);
    if (pl_mp_int(req->body, "reply_to_id", &in->reply) == 0)
        m->reply_to = &in->reply;
    pl_mp_str(req->body, "content", &m->content.ptr, &m->content.len);
    *code = "bad_request";
    if (memchr(m->content.ptr, '\0', m->content.len)) {
        *why = "content: must not contain NUL characters";
        return -1;
    }
    m->temp_id = temp_id_text(req, in->temp, sizeof in->temp);
    if (normalise_attachments(pl_mp_get(req->body, "attachments"), att, why, code))
        return -1;
    m->attachments.ptr = att->size ? att->data : NULL;
    m->attachments.len = att->size;
    return 0;
}

/* What chat_prepare staged for this request, if anything (a batch holds at most 128
   requests: a linear search is enough). */
static const chat_staged_t *staged_for(const chat_app_t *app, const proto_request_t *req)
{
    for (size_t i = 0; i < app->nstaged; i++)
        if (app->staged[i].req == req)
            return &app->staged[i];
    return NULL;
}

void chat_staged_clear(chat_app_t *app)
{
    for (size_t i = 0; i < app->nstaged; i++)
        msgpack_sbuffer_destroy(&app->staged[i].att);
    app->nstaged = 0;
}

/* Room for `count` staged messages; 0, or -1 when out of memory. */
static int staged_reserve(chat_app_t *app, size_t count)
{
    if (count <= app->staged_cap)
        return 0;
    chat_staged_t *grown = realloc(app->staged, count * sizeof *grown);
    if (!grown)
        return -1;
    app->staged = grown;
    app->staged_cap = count;
    return 0;
}

/* Stores the staged messages in one pipeline; each keeps its outcome. 0, or -1 when
   the database failed. */
static int store_staged(chat_app_t *app, pl_service_t *svc)
{
    size_t k = app->nstaged;
    chat_post_t *posts = calloc(k, sizeof *posts);
    chat_posted_t *out = calloc(k, sizeof *out);
    int rc = 0;
    if (posts && out) {
        for (size_t i = 0; i < k; i++)
            posts[i] = app->staged[i].in.post;
        rc = chat_store_post_many(pl_service_db(svc), posts, k, out) == 0 ? 0 : -1;
        for (size_t i = 0; i < k && rc == 0; i++)
            app->staged[i].posted = out[i], app->staged[i].stored = 1;
    } /* else out of memory: the handlers store them one by one */
    free(posts);
    free(out);
    return rc;
}

/* Several messages in a batch are read here, once, and stored in one pipeline (one
   round trip to PostgreSQL instead of one per message); their handlers then only
   answer. One message gains nothing and is left to its handler. */
int chat_prepare(void *app_v, pl_service_t *svc, const proto_request_t *const *reqs, size_t n)
{
    chat_app_t *app = app_v;
    chat_staged_clear(app);
    if (chat_sessions_prepare(&app->sessions, pl_service_db(svc), reqs, n) != 0)
        return -1;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += strcmp(reqs[i]->ev, PROTO_EV_MESSAGE) == 0;
    if (count < 2 || staged_reserve(app, count) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *why, *code;
        if (strcmp(reqs[i]->ev, PROTO_EV_MESSAGE) != 0)
            continue;
        chat_staged_t *st = &app->staged[app->nstaged];
        st->req = reqs[i];
        st->stored = 0;
        msgpack_sbuffer_init(&st->att);
        if (read_message(reqs[i], &st->in, &st->att, &why, &code) == 0)
            app->nstaged++;
        else /* its handler reads it again and refuses it */
            msgpack_sbuffer_destroy(&st->att);
    }
    if (app->nstaged < 2)
        return 0;
    return store_staged(app, svc);
}

/* Answers a stored message by its outcome: message_sent, the fan-out and the webhook
   event, or the error. 0, or -1 when the database failed (the webhook's outbox row). */
static int answer_posted(chat_app_t *app, pl_service_t *svc, const proto_request_t *req,
                         const message_in_t *in, const msgpack_sbuffer *att,
                         const chat_posted_t *posted)
{
    const chat_post_t *m = &in->post;
    switch (posted->status) {
    case CHAT_OK:
        chat_members_remember(app->members, m->conv, req->uid);
        pack_sent(svc, req, m->conv, posted);
        publish_new_message(svc, req, m->conv, posted, m->content, m->reply_to, att);
        return webhook_new_message(svc, req, m->conv, posted, m->content, m->reply_to, att);
    case CHAT_DUPLICATE: /* a retry: the original id and seq, no second delivery */
        pack_sent(svc, req, m->conv, posted);
        break;
    default:
        chat_post_refused(svc, req, posted->status, "not a participant of this conversation");
        break;
    }
    return 0;
}

void chat_post_refused(pl_service_t *svc, const proto_request_t *req, chat_status_t status,
                       const char *forbidden_why)
{
    if (status == CHAT_FORBIDDEN)
        pl_service_error(svc, req, "forbidden", forbidden_why);
    else if (status == CHAT_BAD_REPLY)
        pl_service_error(svc, req, "bad_request", "reply_to_id: not a message of this conversation");
    else
        pl_service_error(svc, req, "not_found", "no such conversation");
}

/* Answers a message, with the pipeline's outcome when it decided one (ahead), else
   storing it here. 0, or -1 when the database failed. */
static int post_and_answer(chat_app_t *app, pl_service_t *svc, const proto_request_t *req,
                           const message_in_t *in, const msgpack_sbuffer *att,
                           const chat_posted_t *ahead)
{
    const chat_post_t *m = &in->post;
    chat_posted_t posted;
    if (ahead && ahead->status != CHAT_UNDECIDED)
        posted = *ahead;
    else if (chat_store_post(pl_service_db(svc), m->conv, m->sender, m->content, m->reply_to,
                             m->attachments, m->temp_id, &posted))
        return -1;
    return answer_posted(app, svc, req, in, att, &posted);
}

int chat_on_message(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    const chat_staged_t *st = staged_for(app, req);
    if (st) /* read (and most likely stored) by chat_prepare */
        return post_and_answer(app, svc, req, &st->in, &st->att, st->stored ? &st->posted : NULL);
    message_in_t in;
    msgpack_sbuffer att;
    msgpack_sbuffer_init(&att);
    const char *why = NULL, *code = "bad_request";
    int rc = 0;
    if (read_message(req, &in, &att, &why, &code))
        pl_service_error(svc, req, code, why);
    else
        rc = post_and_answer(app, svc, req, &in, &att, NULL);
    msgpack_sbuffer_destroy(&att);
    return rc;
}

/* ---- reading messages back ---------------------------------------------------- */

/* Reactions of the first `rows` rows of `r` that have any (HC_HAS_REACTIONS), in one
   query. *out is NULL when none has. -1 on database failure. */
static int load_reactions(PGconn *db, const PGresult *r, int rows, PGresult **out)
{
    *out = NULL;
    int n = 0;
    int64_t *ids = malloc(sizeof *ids * (size_t)(rows ? rows : 1));
    if (!ids)
        return -1;
    for (int i = 0; i < rows; i++)
        if (PQgetvalue(r, i, HC_HAS_REACTIONS)[0] == 't')
            ids[n++] = pl_pg_int(r, i, HC_ID);
    int rc = 0;
    if (n > 0 && !(*out = chat_store_reactions(db, ids, (size_t)n)))
        rc = -1;
    free(ids);
    return rc;
}

int chat_on_history(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    int64_t conv, after = -1, before = -1, limit = PROTO_HISTORY_DEFAULT;
    pl_mp_int(req->body, "conversation_id", &conv);
    pl_mp_int(req->body, "after_seq", &after);
    pl_mp_int(req->body, "before_seq", &before);
    pl_mp_int(req->body, "limit", &limit);
    if (limit > PROTO_HISTORY_MAX)
        limit = PROTO_HISTORY_MAX;
    int ok = chat_check_member(app, svc, req, conv);
    if (ok <= 0)
        return ok;
    /* Reading away from `after` (oldest first) whenever after_seq is given; otherwise
       the newest page, read backwards and reversed. */
    int descending = after < 0;
    PGconn *db = pl_service_db(svc);
    PGresult *r = chat_store_history(db, conv, after, before, limit + 1, descending);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    int has_more = rows > limit;
    int n = has_more ? (int)limit : rows;
    /* The page's rows: a descending read put the extra row last, an ascending one too. */
    PGresult *rx;
    if (load_reactions(db, r, n, &rx)) {
        PQclear(r);
        return -1;
    }
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 4);
    pl_pack_kv_str(pk, "type", "history");
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_str(pk, "messages");
    msgpack_pack_array(pk, (size_t)n);
    for (int i = 0; i < n; i++)
        chat_pack_message(pk, r, descending ? n - 1 - i : i, rx);
    pl_pack_kv_bool(pk, "has_more", has_more);
    pl_service_end(svc);
    PQclear(rx);
    PQclear(r);
    return 0;
}

/* Answer the actor with {type, message} and, when `fan_out`, send the same event to
   the conversation's other connections. The message is read back as committed by
   this transaction. 0, or -1 on database failure. */
static int answer_with_message(pl_service_t *svc, const proto_request_t *req, int64_t id,
                               const char *type, int fan_out)
{
    PGconn *db = pl_service_db(svc);
    PGresult *r = chat_store_message(db, id);
    PGresult *rx = NULL;
    if (!r || PQntuples(r) != 1 || load_reactions(db, r, 1, &rx)) {
        PQclear(r);
        return -1;
    }
    int64_t conv = pl_pg_int(r, 0, HC_CONV);
    proto_exclude_t actor = pl_service_actor(req);
    for (int pass = 0; pass < (fan_out ? 2 : 1); pass++) {
        msgpack_packer *pk =
            pass == 0 ? pl_service_reply(svc, req, NULL, 0) : pl_service_to_conv(svc, conv, &actor);
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", type);
        pl_pack_str(pk, "message");
        chat_pack_message(pk, r, 0, rx);
        pl_service_end(svc);
    }
    PQclear(rx);
    PQclear(r);
    return 0;
}

/* ---- edit_message, delete_message ------------------------------------------------ */

static int change(pl_service_t *svc, const proto_request_t *req, int del)
{
    int64_t id;
    pl_mp_int(req->body, "message_id", &id);
    chat_str_t content = {NULL, 0};
    if (!del) {
        pl_mp_str(req->body, "content", &content.ptr, &content.len);
        if (memchr(content.ptr, '\0', content.len)) {
            pl_service_error(svc, req, "bad_request", "content: must not contain NUL characters");
            return 0;
        }
    }
    chat_status_t st;
    if (chat_store_change(pl_service_db(svc), id, req->uid, content, del, &st))
        return -1;
    const char *type = del ? "message_deleted" : "message_updated";
    switch (st) {
    case CHAT_OK:
        return answer_with_message(svc, req, id, type, 1);
    case CHAT_GONE:
        if (del) /* deleting twice is a retry: the same answer, nothing new to tell */
            return answer_with_message(svc, req, id, type, 0);
        pl_service_error(svc, req, "conflict", "the message is deleted");
        return 0;
    case CHAT_FORBIDDEN:
        pl_service_error(svc, req, "forbidden",
                         del ? "only the sender may delete a message"
                             : "only the sender may edit a message");
        return 0;
    default:
        pl_service_error(svc, req, "not_found", "no such message");
        return 0;
    }
}

int chat_on_edit(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    (void)app;
    return change(svc, req, 0);
}

int chat_on_delete(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    (void)app;
    return change(svc, req, 1);
}

/* ---- react, unreact ------------------------------------------------------------- */

static void pack_reaction(msgpack_packer *pk, const proto_request_t *req, int64_t conv,
                          int64_t id, chat_str_t emoji, int added)
{
    msgpack_pack_map(pk, 6);
    pl_pack_kv_str(pk, "type", "reaction");
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_kv_int(pk, "message_id", id);
    pl_pack_kv_str(pk, "user_id", req->uid);
    pl_pack_kv_strn(pk, "emoji", emoji.ptr, emoji.len);
    pl_pack_kv_bool(pk, "added", added);
}

static int reaction(chat_app_t *app, pl_service_t *svc, const proto_request_t *req, int add)
{
    int64_t id;
    pl_mp_int(req->body, "message_id", &id);
    chat_str_t emoji;
    pl_mp_str(req->body, "emoji", &emoji.ptr, &emoji.len);
    if (pl_text_has_control(emoji.ptr, emoji.len)) {
        pl_service_error(svc, req, "bad_request", "emoji: must not contain control characters");
        return 0;
    }
    chat_reacted_t out;
    if (chat_store_react(pl_service_db(svc), id, req->uid, emoji, add,
                         CHAT_MAX_REACTIONS_PER_USER, &out))
        return -1;
    if (out.status == CHAT_GONE && !add) {
        /* Deleting a message removed its reactions: there is nothing to take back. */
        out.status = CHAT_OK;
        out.changed = 0;
    }
    switch (out.status) {
    case CHAT_OK:
        break;
    case CHAT_FORBIDDEN:
        pl_service_error(svc, req, "forbidden", "not a participant of this conversation");
        return 0;
    case CHAT_GONE:
        pl_service_error(svc, req, "conflict", "the message is deleted");
        return 0;
    case CHAT_TOO_MANY: {
        char why[96];
        snprintf(why, sizeof why, "at most %d different reactions per user on one message",
                 CHAT_MAX_REACTIONS_PER_USER);
        pl_service_error(svc, req, "conflict", why);
        return 0;
    }
    default:
        pl_service_error(svc, req, "not_found", "no such message");
        return 0;
    }
    chat_members_remember(app->members, out.conv, req->uid);
    pack_reaction(pl_service_reply(svc, req, NULL, 0), req, out.conv, id, emoji, add);
    pl_service_end(svc);
    if (out.changed) { /* a repeated react or unreact changes nothing: nobody to tell */
        proto_exclude_t actor = pl_service_actor(req);
        pack_reaction(pl_service_to_conv(svc, out.conv, &actor), req, out.conv, id, emoji, add);
        pl_service_end(svc);
    }
    return 0;
}

int chat_on_react(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    return reaction(app, svc, req, 1);
}

int chat_on_unreact(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    return reaction(app, svc, req, 0);
}

int chat_read_message(const proto_request_t *req, chat_message_in_t *in, msgpack_sbuffer *att,
                      const char **why, const char **code)
{
    return read_message(req, in, att, why, code);
}

int chat_load_reactions(PGconn *db, const PGresult *r, int rows, PGresult **out)
{
    return load_reactions(db, r, rows, out);
}
