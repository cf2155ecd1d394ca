/*  chat_handlers: conversations and messages (see chat_handlers.h).
    Fan-out rule of the contract: the acting connection gets its answer, every other
    subscribed connection of every participant (the actor's other devices included)
    gets the event. So events exclude exactly the acting connection. */
#include "chat_handlers.h"

#include <stdlib.h>
#include <string.h>

#include "chat_store.h"
#include "pl_clock.h"
#include "pl_json.h"
#include "pl_log.h"
#include "pl_mp.h"

#define MAX_PARTICIPANTS 256

static void pack_time(msgpack_packer *pk, const char *key, const PGresult *r, int row, int col)
{
    if (pl_pg_null(r, row, col)) {
        pl_pack_kv_nil(pk, key);
        return;
    }
    char iso[32];
    pl_iso8601_ms(pl_pg_int(r, row, col), iso, sizeof iso);
    pl_pack_kv_str(pk, key, iso);
}

static void pack_text(msgpack_packer *pk, const char *key, const PGresult *r, int row, int col)
{
    if (pl_pg_null(r, row, col))
        pl_pack_kv_nil(pk, key);
    else
        pl_pack_kv_strn(pk, key, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

static void pack_int_or_nil(msgpack_packer *pk, const char *key, const PGresult *r, int row,
                            int col)
{
    if (pl_pg_null(r, row, col))
        pl_pack_kv_nil(pk, key);
    else
        pl_pack_kv_int(pk, key, pl_pg_int(r, row, col));
}

/* The conversation object: {conversation_id, kind, title, participants, last_seq,
   unread_count} from a chat_store conversation row. */
static void pack_conversation(msgpack_packer *pk, const PGresult *r, int row)
{
    msgpack_pack_map(pk, 6);
    pl_pack_kv_int(pk, "conversation_id", pl_pg_int(r, row, 0));
    pack_text(pk, "kind", r, row, 1);
    pack_text(pk, "title", r, row, 2);
    pl_pack_str(pk, "participants");
    const char *list = PQgetvalue(r, row, 4);
    size_t count = 0;
    for (const char *s = list; *s; s++)
        count += *s == '\x1f';
    msgpack_pack_array(pk, *list ? count + 1 : 0);
    while (*list) {
        const char *sep = strchr(list, '\x1f');
        size_t n = sep ? (size_t)(sep - list) : strlen(list);
        pl_pack_strn(pk, list, n);
        list += n + (sep ? 1 : 0);
    }
    pl_pack_kv_int(pk, "last_seq", pl_pg_int(r, row, 3));
    pl_pack_kv_int(pk, "unread_count", pl_pg_int(r, row, 5));
}

/* Attachments are stored as the MessagePack they were validated into; unpack them to
   embed. A deleted message carries none. */
static void pack_attachments(msgpack_packer *pk, const PGresult *r, int row, int col)
{
    pl_pack_str(pk, "attachments");
    if (pl_pg_null(r, row, col)) {
        msgpack_pack_array(pk, 0);
        return;
    }
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (raw && msgpack_unpack_next(&up, (const char *)raw, n, &off) == MSGPACK_UNPACK_SUCCESS)
        msgpack_pack_object(pk, up.data);
    else
        msgpack_pack_array(pk, 0);
    msgpack_unpacked_destroy(&up);
    PQfreemem(raw);
}

static void pack_message_row(msgpack_packer *pk, const PGresult *r, int row)
{
    int deleted = PQgetvalue(r, row, HC_DELETED)[0] == 't';
    msgpack_pack_map(pk, 11);
    pl_pack_kv_int(pk, "message_id", pl_pg_int(r, row, HC_ID));
    pl_pack_kv_int(pk, "conversation_id", pl_pg_int(r, row, HC_CONV));
    pl_pack_kv_int(pk, "seq", pl_pg_int(r, row, HC_SEQ));
    pack_text(pk, "sender_id", r, row, HC_SENDER);
    if (deleted)
        pl_pack_kv_str(pk, "content", "");
    else
        pack_text(pk, "content", r, row, HC_CONTENT);
    pack_int_or_nil(pk, "reply_to_id", r, row, HC_REPLY);
    if (deleted) {
        pl_pack_str(pk, "attachments");
        msgpack_pack_array(pk, 0);
    } else {
        pack_attachments(pk, r, row, HC_ATT);
    }
    pack_time(pk, "created_at", r, row, HC_CREATED);
    pack_time(pk, "edited_at", r, row, HC_EDITED);
    pl_pack_kv_bool(pk, "deleted", deleted);
    pack_text(pk, "temp_id", r, row, HC_TEMP);
}

/* ---- session_open: the conversations listed in auth_success ------------------ */

static int on_session_open(pl_service_t *svc, const proto_request_t *req)
{
    PGresult *r = chat_store_user_conversations(pl_service_db(svc), req->uid);
    if (!r)
        return -1;
    int n = PQntuples(r);
    int64_t *ids = calloc((size_t)(n ? n : 1), sizeof *ids);
    if (!ids) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < n; i++)
        ids[i] = pl_pg_int(r, i, 0);
    msgpack_packer *pk = pl_service_reply(svc, req, ids, (size_t)n);
    free(ids);
    const char *sid;
    size_t sidlen;
    if (pl_mp_str(req->body, "session_id", &sid, &sidlen)) {
        sid = "";
        sidlen = 0;
    }
    msgpack_pack_map(pk, 5);
    pl_pack_kv_str(pk, "type", "auth_success");
    pl_pack_kv_str(pk, "user_id", req->uid);
    pl_pack_kv_str(pk, "role", req->role);
    pl_pack_kv_strn(pk, "session_id", sid, sidlen);
    pl_pack_str(pk, "conversations");
    msgpack_pack_array(pk, (size_t)n);
    for (int i = 0; i < n; i++)
        pack_conversation(pk, r, i);
    pl_service_end(svc);
    PQclear(r);
    return 0;
}

/* ---- create_conversation ------------------------------------------------------ */

static int valid_user_id(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* Distinct participants, the creator first. Returns count, or -1 on a bad id. */
static int collect_participants(const proto_request_t *req, char **ids)
{
    const msgpack_object *list = pl_mp_get(req->body, "participants");
    int n = 0;
    ids[n++] = strdup(req->uid);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        if (!valid_user_id(o->via.str.ptr, o->via.str.size))
            return -1;
        int dup = 0;
        for (int k = 0; k < n && !dup; k++)
            dup = ids[k] && strlen(ids[k]) == o->via.str.size &&
                  memcmp(ids[k], o->via.str.ptr, o->via.str.size) == 0;
        if (!dup && n < MAX_PARTICIPANTS + 1)
            ids[n++] = strndup(o->via.str.ptr, o->via.str.size);
    }
    return n;
}

static int on_create_conversation(pl_service_t *svc, const proto_request_t *req)
{
    char *ids[MAX_PARTICIPANTS + 1] = {0};
    int n = collect_participants(req, ids);
    int rc = 0;
    for (int i = 0; i < n; i++)
        if (!ids[i])
            rc = -1; /* out of memory */
    if (rc)
        goto done;
    if (n < 0) {
        pl_service_error(svc, req, "bad_request", "participants: invalid user id");
        goto done;
    }
    const char *kind_s;
    size_t kind_n;
    const char *kind = n == 2 ? "direct" : "group";
    if (pl_mp_str(req->body, "kind", &kind_s, &kind_n) == 0)
        kind = (kind_n == 6 && memcmp(kind_s, "direct", 6) == 0) ? "direct" : "group";
    if (strcmp(kind, "direct") == 0 && n != 2) {
        pl_service_error(svc, req, "bad_request",
                         "participants: a direct conversation has exactly one other user");
        goto done;
    }
    chat_str_t title = {NULL, 0};
    pl_mp_str(req->body, "title", &title.ptr, &title.len);
    int64_t conv;
    int created;
    if (chat_store_create(pl_service_db(svc), kind, title, req->uid, (const char *const *)ids,
                          (size_t)n, &conv, &created)) {
        rc = -1;
        goto done;
    }
    PGresult *r = chat_store_conversation(pl_service_db(svc), conv, req->uid);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        rc = -1;
        goto done;
    }
    msgpack_packer *pk = pl_service_reply(svc, req, &conv, 1);
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "conversation_created");
    pl_pack_str(pk, "conversation");
    pack_conversation(pk, r, 0);
    pl_service_end(svc);
    if (created) {
        /* Every participant's connections, the creator's other devices included,
           learn of it and are subscribed to it. */
        proto_exclude_t actor = pl_service_actor(req);
        for (int i = 0; i < n; i++) {
            pk = pl_service_to_user(svc, ids[i], i == 0 ? &actor : NULL, conv);
            msgpack_pack_map(pk, 2);
            pl_pack_kv_str(pk, "type", "conversation_created");
            pl_pack_str(pk, "conversation");
            pack_conversation(pk, r, 0);
            pl_service_end(svc);
        }
    }
    PQclear(r);
done:
    for (int i = 0; i < MAX_PARTICIPANTS + 1; i++)
        free(ids[i]);
    return rc;
}

/* ---- access checks -------------------------------------------------------------- */

/* Replies not_found / forbidden itself. Returns 1 if allowed, 0 if refused, -1 on
   database failure. */
static int check_member(pl_service_t *svc, const proto_request_t *req, int64_t conv)
{
    int exists, member;
    if (chat_store_access(pl_service_db(svc), conv, req->uid, &exists, &member))
        return -1;
    if (!exists) {
        pl_service_error(svc, req, "not_found", "no such conversation");
        return 0;
    }
    if (!member) {
        pl_service_error(svc, req, "forbidden", "not a participant of this conversation");
        return 0;
    }
    return 1;
}

static int on_subscribe(pl_service_t *svc, const proto_request_t *req)
{
    int64_t conv;
    pl_mp_int(req->body, "conversation_id", &conv);
    int ok = check_member(svc, req, conv);
    if (ok <= 0)
        return ok;
    msgpack_packer *pk = pl_service_reply(svc, req, &conv, 1);
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "subscribed");
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_service_end(svc);
    return 0;
}

/* ---- message -------------------------------------------------------------------- */

static int is_http_url(const msgpack_object *o)
{
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size > 2048)
        return 0;
    const char *s = o->via.str.ptr;
    size_t n = o->via.str.size;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return 0;
    return (n > 7 && strncmp(s, "http://", 7) == 0) || (n > 8 && strncmp(s, "https://", 8) == 0);
}

static int short_text(const msgpack_object *o, size_t max)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size >= 1 && o->via.str.size <= max;
}

/* Validate attachments and keep only the four contract fields, as MessagePack.
   Returns 0 (out may be empty when there are none) or -1 with why filled. */
static int normalise_attachments(const msgpack_object *list, msgpack_sbuffer *out,
                                 const char **why)
{
    if (!list || list->type == MSGPACK_OBJECT_NIL || list->via.array.size == 0)
        return 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, list->via.array.size);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *a = &list->via.array.ptr[i];
        const msgpack_object *url = pl_mp_get(a, "url"), *name = pl_mp_get(a, "name"),
                             *mime = pl_mp_get(a, "mime");
        int64_t size;
        if (a->type != MSGPACK_OBJECT_MAP || !is_http_url(url)) {
            *why = "attachments: each needs an http(s) url";
            return -1;
        }
        if (!short_text(name, 255) || !short_text(mime, 255)) {
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

static void pack_sent(pl_service_t *svc, const proto_request_t *req, int64_t conv,
                      const chat_posted_t *posted)
{
    char iso[32];
    pl_iso8601_ms(posted->created_us, iso, sizeof iso);
    const msgpack_object *temp = pl_mp_get(req->body, "temp_id");
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 6);
    pl_pack_kv_str(pk, "type", "message_sent");
    pl_pack_kv_int(pk, "message_id", posted->message_id);
    if (temp)
        pl_pack_kv_obj(pk, "temp_id", temp);
    else
        pl_pack_kv_nil(pk, "temp_id");
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_kv_int(pk, "seq", posted->seq);
    pl_pack_kv_str(pk, "created_at", iso);
    pl_service_end(svc);
}

static void publish_new_message(pl_service_t *svc, const proto_request_t *req, int64_t conv,
                                const chat_posted_t *posted, chat_str_t content,
                                const int64_t *reply_to, const msgpack_sbuffer *att,
                                chat_str_t temp)
{
    char iso[32];
    pl_iso8601_ms(posted->created_us, iso, sizeof iso);
    proto_exclude_t actor = pl_service_actor(req);
    msgpack_packer *pk = pl_service_to_conv(svc, conv, &actor);
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "new_message");
    pl_pack_str(pk, "message");
    msgpack_pack_map(pk, 11);
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
    if (temp.ptr)
        pl_pack_kv_strn(pk, "temp_id", temp.ptr, temp.len);
    else
        pl_pack_kv_nil(pk, "temp_id");
    pl_service_end(svc);
}

/* temp_id may be a string or an integer; both are stored as text. */
static chat_str_t temp_id_text(const proto_request_t *req, char *num, size_t cap)
{
    chat_str_t t = {NULL, 0};
    const msgpack_object *o = pl_mp_get(req->body, "temp_id");
    int64_t v;
    if (o && o->type == MSGPACK_OBJECT_STR) {
        t.ptr = o->via.str.ptr;
        t.len = o->via.str.size;
    } else if (pl_mp_as_int(o, &v) == 0) {
        t.len = (size_t)snprintf(num, cap, "%lld", (long long)v);
        t.ptr = num;
    }
    return t;
}

static int on_message(pl_service_t *svc, const proto_request_t *req)
{
    int64_t conv, reply;
    pl_mp_int(req->body, "conversation_id", &conv);
    int has_reply = pl_mp_int(req->body, "reply_to_id", &reply) == 0;
    chat_str_t content;
    pl_mp_str(req->body, "content", &content.ptr, &content.len);
    if (memchr(content.ptr, '\0', content.len)) {
        pl_service_error(svc, req, "bad_request", "content: must not contain NUL characters");
        return 0;
    }
    char num[24];
    chat_str_t temp = temp_id_text(req, num, sizeof num);
    msgpack_sbuffer att;
    msgpack_sbuffer_init(&att);
    const char *why = NULL;
    int rc = 0;
    if (normalise_attachments(pl_mp_get(req->body, "attachments"), &att, &why)) {
        pl_service_error(svc, req, "bad_request", why);
        goto done;
    }
    chat_posted_t posted;
    chat_str_t att_bytes = {att.size ? att.data : NULL, att.size};
    if (chat_store_post(pl_service_db(svc), conv, req->uid, content,
                        has_reply ? &reply : NULL, att_bytes, temp, &posted)) {
        rc = -1;
        goto done;
    }
    switch (posted.status) {
    case CHAT_OK:
        pack_sent(svc, req, conv, &posted);
        publish_new_message(svc, req, conv, &posted, content, has_reply ? &reply : NULL, &att,
                            temp);
        break;
    case CHAT_DUPLICATE: /* a retry: the original id and seq, no second delivery */
        pack_sent(svc, req, conv, &posted);
        break;
    case CHAT_NOT_FOUND:
        pl_service_error(svc, req, "not_found", "no such conversation");
        break;
    case CHAT_FORBIDDEN:
        pl_service_error(svc, req, "forbidden", "not a participant of this conversation");
        break;
    case CHAT_BAD_REPLY:
        pl_service_error(svc, req, "bad_request",
                         "reply_to_id: not a message of this conversation");
        break;
    }
done:
    msgpack_sbuffer_destroy(&att);
    return rc;
}

/* ---- history -------------------------------------------------------------------- */

static int on_history(pl_service_t *svc, const proto_request_t *req)
{
    int64_t conv, after = -1, before = -1, limit = PROTO_HISTORY_DEFAULT;
    pl_mp_int(req->body, "conversation_id", &conv);
    pl_mp_int(req->body, "after_seq", &after);
    pl_mp_int(req->body, "before_seq", &before);
    pl_mp_int(req->body, "limit", &limit);
    if (limit > PROTO_HISTORY_MAX)
        limit = PROTO_HISTORY_MAX;
    int ok = check_member(svc, req, conv);
    if (ok <= 0)
        return ok;
    /* Reading away from `after` (oldest first) whenever after_seq is given; otherwise
       the newest page, read backwards and reversed. */
    int descending = after < 0;
    PGresult *r = chat_store_history(pl_service_db(svc), conv, after, before, limit + 1, descending);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    int has_more = rows > limit;
    int n = has_more ? (int)limit : rows;
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 4);
    pl_pack_kv_str(pk, "type", "history");
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_str(pk, "messages");
    msgpack_pack_array(pk, (size_t)n);
    for (int i = 0; i < n; i++)
        pack_message_row(pk, r, descending ? n - 1 - i : i);
    pl_pack_kv_bool(pk, "has_more", has_more);
    pl_service_end(svc);
    PQclear(r);
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------- */

typedef int (*handler_t)(pl_service_t *, const proto_request_t *);

static const struct {
    const char *ev;
    handler_t fn;
} s_handlers[] = {
    {PROTO_EV_SESSION_OPEN, on_session_open},
    {"create_conversation", on_create_conversation},
    {"subscribe_conversation", on_subscribe},
    {"message", on_message},
    {"history", on_history},
};

int chat_handle(void *app, pl_service_t *svc, const proto_request_t *req)
{
    (void)app;
    for (size_t i = 0; i < sizeof s_handlers / sizeof s_handlers[0]; i++)
        if (strcmp(req->ev, s_handlers[i].ev) == 0)
            return s_handlers[i].fn(svc, req);
    pl_warn("unhandled event", "ev=%s", req->ev);
    pl_service_error(svc, req, "bad_request", "this event is not served by this chat-svc version");
    return 0;
}

int64_t chat_order_key(const proto_request_t *req)
{
    int64_t conv = 0;
    pl_mp_int(req->body, "conversation_id", &conv);
    return conv;
}
