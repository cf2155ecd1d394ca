/*  chat_receipts: typing indicators and read positions.
    The one thing to know: typing is relayed, never stored. chat-svc checks membership
    (from its cache, so a keystroke costs no database work) and publishes user_typing
    to the conversation, excluding every connection of the typing user. Expiry and
    "a new message clears it" happen at each receiving gateway (gw_typing.c), which
    is why they fire once per recipient however many chat-svc instances run. */
#include "chat_handlers.h"

#include "chat_store.h"
#include "pl_clock.h"
#include "pl_mp.h"

/* ---- typing_start / user_typing, typing_stop / user_stopped_typing --------------- */

static int typing(chat_app_t *app, pl_service_t *svc, const proto_request_t *req, int on)
{
    int64_t conv;
    pl_mp_int(req->body, "conversation_id", &conv);
    int ok = chat_check_member(app, svc, req, conv);
    if (ok <= 0)
        return ok;
    proto_exclude_t self = {NULL, 0, req->uid}; /* never back to the typer's devices */
    msgpack_packer *pk = pl_service_to_conv(svc, conv, &self);
    msgpack_pack_map(pk, 4);
    pl_pack_kv_str(pk, "type", "user_typing");
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_kv_str(pk, "user_id", req->uid);
    pl_pack_kv_bool(pk, "is_typing", on);
    pl_service_end(svc);
    pl_service_ack(svc, req);
    return 0;
}

int chat_on_typing_start(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    return typing(app, svc, req, 1);
}

int chat_on_typing_stop(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    return typing(app, svc, req, 0);
}

/* ---- mark_read ------------------------------------------------------------------ */

/* The position moves forward only. Every mark is acknowledged and announced with the
   position as it now is (a stale mark announces the current one), so a client can
   take any read_receipt as the truth without comparing. */
int chat_on_mark_read(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    int64_t conv, seq;
    pl_mp_int(req->body, "conversation_id", &conv);
    pl_mp_int(req->body, "seq", &seq);
    chat_read_t rd;
    if (chat_store_mark_read(pl_service_db(svc), conv, req->uid, seq, &rd))
        return -1;
    if (rd.status == CHAT_NOT_FOUND) {
        pl_service_error(svc, req, "not_found", "no such conversation");
        return 0;
    }
    if (rd.status == CHAT_FORBIDDEN) {
        pl_service_error(svc, req, "forbidden", "not a participant of this conversation");
        return 0;
    }
    chat_members_remember(app->members, conv, req->uid);
    char iso[32];
    pl_iso8601_ms(rd.read_us, iso, sizeof iso);
    proto_exclude_t actor = pl_service_actor(req);
    msgpack_packer *pk = pl_service_to_conv(svc, conv, &actor);
    msgpack_pack_map(pk, 5);
    pl_pack_kv_str(pk, "type", "read_receipt");
    pl_pack_kv_int(pk, "conversation_id", conv);
    pl_pack_kv_str(pk, "user_id", req->uid);
    pl_pack_kv_int(pk, "seq", rd.read_seq);
    pl_pack_kv_str(pk, "read_at", iso);
    pl_service_end(svc);
    pl_service_ack(svc, req);
    return 0;
}
