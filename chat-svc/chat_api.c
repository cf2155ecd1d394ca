/*  chat_api: what the server API asks of chat-svc (gateway/gw_api.c), as the system
    (role PROTO_ROLE_SYSTEM; uid is the user it acts for, or "" for none).
    The one thing to know: the answer is the HTTP answer's body plus `http`, its status;
    events go out exactly as for a client's request, so connections cannot tell the
    two apart (except that a system message has sender_id null). */
#include "chat_handlers.h"

#include <string.h>

#include "chat_pack.h"
#include "chat_store.h"
#include "pl_log.h"
#include "pl_mp.h"
#include "pl_text.h"

static int is_system(pl_service_t *svc, const proto_request_t *req)
{
    if (strcmp(req->role, PROTO_ROLE_SYSTEM) == 0)
        return 1;
    pl_service_error(svc, req, "forbidden", "server API requests only");
    return 0;
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
    if (created) {
        pk = pl_service_to_conv(svc, pl_pg_int(r, 0, HC_CONV), NULL);
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", "new_message");
        pl_pack_str(pk, "message");
        chat_pack_message(pk, r, 0, rx);
        pl_service_end(svc);
    }
    PQclear(rx);
    PQclear(r);
    return 0;
}

int chat_on_api_post_message(chat_app_t *app, pl_service_t *svc, const proto_request_t *req)
{
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
    case CHAT_FORBIDDEN:
        pl_service_error(svc, req, "forbidden",
                         "sender_id: not a participant of this conversation");
        break;
    case CHAT_BAD_REPLY:
        pl_service_error(svc, req, "bad_request",
                         "reply_to_id: not a message of this conversation");
        break;
    default:
        pl_service_error(svc, req, "not_found", "no such conversation");
        break;
    }
done:
    msgpack_sbuffer_destroy(&att);
    return rc;
}
