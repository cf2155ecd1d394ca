/*  call_help: help requests, a student asking for a mentor.

        waiting ──accept_help (first wins)──▶ accepted ──end_help──▶ ended
           └──cancel_help / named mentor declines / HELP_TIMEOUT_MS──▶
              cancelled | declined | expired

    The one thing to know: call.help_offers records who was offered what. Only those
    mentors may accept or decline, and they are the ones told when the request closes.
    An offer is recorded with ON CONFLICT DO NOTHING and call_help_request is sent only by
    whoever inserted it, so a mentor is offered a request once however many instances
    react to the same presence event.
    Offers are paged: a mentor holds at most HELP_OFFERS_PER_MENTOR live offers
    (waiting, not declined). Every offer goes through refill(), which tops a mentor's
    page up with the oldest waiting requests they may take (those naming them first);
    it runs when a request is made, when presence says a mentor changed, and for the
    mentors who held a request when it closes, so the rest come as earlier ones go. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_handlers.h"
#include "call_presence.h"
#include "call_store.h"
#include "pl_log.h"
#include "pl_mp.h"

#define TIMER_BATCH 64

static int64_t request_id(const proto_request_t *req)
{
    int64_t id = 0;
    pl_mp_int(req->body, "request_id", &id);
    return id;
}

/* help_request {request_id, student_id, student_name, topic, message} to every
   connection of the mentor (student_name NULL: the student's token had no name). */
static void send_offer(pl_service_t *svc, const char *mentor, int64_t id, const char *student,
                       const char *student_name, call_text_t topic, call_text_t message)
{
    msgpack_packer *pk = pl_service_to_user(svc, mentor, NULL, 0);
    if (!pk)
        return;
    msgpack_pack_map(pk, 6);
    pl_pack_kv_str(pk, "type", "help_request");
    pl_pack_kv_int(pk, "request_id", id);
    pl_pack_kv_str(pk, "student_id", student);
    pl_pack_kv_str_or_nil(pk, "student_name", student_name);
    pl_pack_kv_strn(pk, "topic", topic.ptr, topic.len);
    if (message.ptr)
        pl_pack_kv_strn(pk, "message", message.ptr, message.len);
    else
        pl_pack_kv_nil(pk, "message");
    pl_service_end(svc);
}

/* Top up the pages of `mentors` (see call_help_store_refill; `available` -1: as
   help_mentors says) and send the offers made. Returns how many were made for
   request `id` (0 when none or id is 0), or -1 on database failure. */
static int refill(const call_cfg_t *cfg, pl_service_t *svc, const call_text_t *mentors, size_t n,
                  int available, int64_t id)
{
    PGresult *r = call_help_store_refill(pl_service_db(svc), mentors, n, cfg->offer_page, available);
    if (!r)
        return -1;
    int for_id = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t rid = pl_pg_int(r, i, 0);
        call_text_t topic = {PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2)};
        call_text_t message = {NULL, 0};
        if (!PQgetisnull(r, i, 3)) {
            message.ptr = PQgetvalue(r, i, 3);
            message.len = (size_t)PQgetlength(r, i, 3);
        }
        const char *name = PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5);
        send_offer(svc, PQgetvalue(r, i, 4), rid, PQgetvalue(r, i, 1), name, topic, message);
        for_id += rid == id;
    }
    if (PQntuples(r) > for_id) /* older requests, to mentors whose page had room */
        pl_debug("help offers made", "offers=%d mentors=%zu", PQntuples(r), n);
    PQclear(r);
    return for_id;
}

static int refill_one(const call_cfg_t *cfg, pl_service_t *svc, const char *mentor, int available)
{
    call_text_t m = {mentor, strlen(mentor)};
    return refill(cfg, svc, &m, 1, available, 0) < 0 ? -1 : 0;
}

/* {type, request_id, <key>: <value>}: the student's and parties' events. */
static void send_pair(pl_service_t *svc, const char *to, const proto_exclude_t *x, const char *type,
                      int64_t id, const char *key, const char *value)
{
    msgpack_packer *pk = pl_service_to_user(svc, to, x, 0);
    if (!pk)
        return;
    msgpack_pack_map(pk, key ? 3 : 2);
    pl_pack_kv_str(pk, "type", type);
    pl_pack_kv_int(pk, "request_id", id);
    if (key)
        pl_pack_kv_str(pk, key, value);
    pl_service_end(svc);
}

/* help_accepted {request_id, mentor_id, mentor_name} to the student of h, req being
   the mentor's accept (mentor_name: their token's name, NULL if none). */
static void send_accepted(pl_service_t *svc, const help_row_t *h, const proto_request_t *req)
{
    msgpack_packer *pk = pl_service_to_user(svc, h->student_id, NULL, 0);
    if (!pk)
        return;
    msgpack_pack_map(pk, 4);
    pl_pack_kv_str(pk, "type", "help_accepted");
    pl_pack_kv_int(pk, "request_id", h->id);
    pl_pack_kv_str(pk, "mentor_id", req->uid);
    pl_pack_kv_str_or_nil(pk, "mentor_name", req->nm[0] ? req->nm : NULL);
    pl_service_end(svc);
}

/* Request `id` left `waiting`: its offers close. Every mentor still holding one
   (those who declined have dismissed it), except `except`, gets help_request_closed
   {request_id, reason} (none when reason is NULL) and the room it leaves on their
   page is filled. */
static int close_offers(const call_cfg_t *cfg, pl_service_t *svc, int64_t id, const char *except,
                        const char *reason)
{
    PGresult *r = call_help_store_close_offers(pl_service_db(svc), id);
    if (!r)
        return -1;
    int n = PQntuples(r), k = 0, rc = 0;
    call_text_t *held = calloc((size_t)(n ? n : 1), sizeof *held);
    if (!held) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *m = PQgetvalue(r, i, 0);
        if (PQgetvalue(r, i, 1)[0] != 't' || (except && strcmp(m, except) == 0))
            continue;
        if (reason)
            send_pair(svc, m, NULL, "help_request_closed", id, "reason", reason);
        held[k].ptr = m;
        held[k++].len = (size_t)PQgetlength(r, i, 0);
    }
    if (k && refill(cfg, svc, held, (size_t)k, -1, 0) < 0)
        rc = -1;
    free(held);
    PQclear(r);
    return rc;
}

/* Replies not_found itself. 1 = go on, 0 = refused, -1 = database. */
static int load(pl_service_t *svc, const proto_request_t *req, help_row_t *h)
{
    int found;
    if (call_help_store_get(pl_service_db(svc), request_id(req), req->uid, h, &found))
        return -1;
    if (!found) {
        pl_service_error(svc, req, "not_found", "no such help request");
        return 0;
    }
    return 1;
}

/* ---- student_request_help ------------------------------------------------------- */

static call_text_t body_text(const proto_request_t *req, const char *key)
{
    call_text_t t = {NULL, 0};
    if (pl_mp_str(req->body, key, &t.ptr, &t.len))
        t.ptr = NULL;
    return t;
}

static void send_requested(pl_service_t *svc, const proto_request_t *req, int64_t id)
{
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (!pk)
        return;
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "help_requested");
    pl_pack_kv_int(pk, "request_id", id);
    pl_service_end(svc);
}

/* The student already has an open request (waiting or accepted). */
static int refuse_second(pl_service_t *svc, const proto_request_t *req)
{
    pl_service_error(svc, req, "conflict",
                     "you already have an open help request: cancel or end it first");
    return 0;
}

/* A request naming a mentor: offered to them alone, whatever their status, as soon as
   they are connected (now, or when presence says they came online) and their page
   has room (requests naming them come before those naming nobody). */
static int request_named(const call_cfg_t *cfg, pl_service_t *svc, const proto_request_t *req,
                         const char *mentor, call_text_t topic, call_text_t message)
{
    call_presence_t p;
    if (call_presence_query(svc, call_ask_budget(cfg, req), mentor, &p)) {
        pl_service_error(svc, req, "unavailable", "presence did not answer in time, try again");
        return 0;
    }
    if (p.role[0] && !call_is_mentor(p.role)) {
        pl_service_error(svc, req, "bad_request", "mentor_id: not a mentor");
        return 0;
    }
    call_text_t named = {mentor, strlen(mentor)};
    int64_t id;
    if (call_help_store_insert(pl_service_db(svc), req->uid, req->nm, topic, message, named,
                               cfg->help_ms, &id))
        return -1;
    if (!id)
        return refuse_second(svc, req);
    if (call_webhook_help(svc, "help_request.created", id))
        return -1;
    send_requested(svc, req, id);
    int offered = 0;
    if (p.connections > 0) {
        call_text_t m = {mentor, strlen(mentor)};
        if ((offered = refill(cfg, svc, &m, 1, -1, id)) < 0)
            return -1;
    }
    pl_info("help requested", "request=%lld student=%s mentor=%s offered=%d", (long long)id,
            req->uid, mentor, offered);
    return 0;
}

/* A request for anyone: offered to every mentor available now whose page has room;
   the others get it when they become available or their page makes room. */
static int request_any(const call_cfg_t *cfg, pl_service_t *svc, const proto_request_t *req,
                       call_text_t topic, call_text_t message)
{
    call_answer_t answer;
    call_answer_init(&answer);
    const msgpack_object *mentors;
    int rc = 0;
    if (call_presence_mentors(svc, call_ask_budget(cfg, req), &answer, &mentors)) {
        pl_service_error(svc, req, "unavailable", "presence did not answer in time, try again");
        goto done;
    }
    call_text_t nobody = {NULL, 0};
    int64_t id;
    if (call_help_store_insert(pl_service_db(svc), req->uid, req->nm, topic, message, nobody,
                               cfg->help_ms, &id)) {
        rc = -1;
        goto done;
    }
    if (!id) {
        rc = refuse_second(svc, req);
        goto done;
    }
    if (call_webhook_help(svc, "help_request.created", id)) {
        rc = -1;
        goto done;
    }
    send_requested(svc, req, id);
    uint32_t size = mentors->via.array.size;
    call_text_t *list = calloc(size ? size : 1, sizeof *list);
    if (!list) {
        rc = -1;
        goto done;
    }
    size_t n = 0;
    for (uint32_t i = 0; i < size; i++) {
        const msgpack_object *m = &mentors->via.array.ptr[i];
        if (m->type != MSGPACK_OBJECT_STR || m->via.str.size == 0 ||
            m->via.str.size >= CALL_UID_MAX || memchr(m->via.str.ptr, '\0', m->via.str.size))
            continue;
        list[n].ptr = m->via.str.ptr;
        list[n++].len = m->via.str.size;
    }
    /* The student is no mentor, and refill never offers them their own request. */
    int offered = refill(cfg, svc, list, n, 1, id);
    free(list);
    if (offered < 0) {
        rc = -1;
        goto done;
    }
    pl_info("help requested", "request=%lld student=%s available=%zu offered=%d", (long long)id,
            req->uid, n, offered);
done:
    call_answer_destroy(&answer);
    return rc;
}

int call_help_request(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    if (strcmp(req->role, "student") != 0) {
        pl_service_error(svc, req, "forbidden", "only students can request help");
        return 0;
    }
    call_text_t topic = body_text(req, "topic"), message = body_text(req, "message");
    if (!topic.ptr) {
        pl_service_error(svc, req, "bad_request", "topic: is required");
        return 0;
    }
    const msgpack_object *named = pl_mp_get(req->body, "mentor_id");
    if (!named || named->type == MSGPACK_OBJECT_NIL)
        return request_any(cfg, svc, req, topic, message);
    char mentor[CALL_UID_MAX];
    if (pl_mp_strcpy(req->body, "mentor_id", mentor, sizeof mentor)) {
        pl_service_error(svc, req, "bad_request", "mentor_id: not a user id");
        return 0;
    }
    if (strcmp(mentor, req->uid) == 0) {
        pl_service_error(svc, req, "bad_request", "mentor_id: not a mentor");
        return 0;
    }
    return request_named(cfg, svc, req, mentor, topic, message);
}

/* ---- accept_help / decline_help -------------------------------------------------- */

/* Role, existence and offer checks shared by accept and decline. Replies itself.
   1 = go on, 0 = refused, -1 = database. */
static int load_offered(pl_service_t *svc, const proto_request_t *req, help_row_t *h,
                        const char *verb)
{
    if (!call_is_mentor(req->role)) {
        char why[64];
        snprintf(why, sizeof why, "only mentors can %s help requests", verb);
        pl_service_error(svc, req, "forbidden", why);
        return 0;
    }
    int ok = load(svc, req, h);
    if (ok <= 0)
        return ok;
    if (!h->offered) {
        pl_service_error(svc, req, "forbidden", "this help request was not offered to you");
        return 0;
    }
    if (h->declined) {
        pl_service_error(svc, req, "conflict", "you declined this help request");
        return 0;
    }
    return 1;
}

int call_help_accept(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    help_row_t h;
    int ok = load_offered(svc, req, &h, "accept");
    if (ok <= 0)
        return ok;
    int won;
    if (call_help_store_accept(pl_service_db(svc), h.id, req->uid, &won))
        return -1;
    if (!won) {
        pl_service_error(svc, req, "conflict", "the help request is no longer waiting");
        return 0;
    }
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 4);
        pl_pack_kv_str(pk, "type", "help_assigned");
        pl_pack_kv_int(pk, "request_id", h.id);
        pl_pack_kv_str(pk, "student_id", h.student_id);
        pl_pack_kv_str_or_nil(pk, "student_name", h.student_name[0] ? h.student_name : NULL);
        pl_service_end(svc);
    }
    send_accepted(svc, &h, req);
    /* Busy from now on: nothing new for them before presence says they are back. */
    if (call_help_store_mentor_available(pl_service_db(svc), req->uid, 0) ||
        close_offers(cfg, svc, h.id, req->uid, "taken"))
        return -1;
    /* The accepting mentor's other devices drop the offer too. */
    proto_exclude_t actor = pl_service_actor(req);
    send_pair(svc, req->uid, &actor, "help_request_closed", h.id, "reason", "taken");
    call_presence_activity(svc, req->uid, req->role, 1, "help", h.id);
    pl_info("help accepted", "request=%lld mentor=%s", (long long)h.id, req->uid);
    return call_webhook_help(svc, "help_request.accepted", h.id);
}

int call_help_decline(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    help_row_t h;
    int ok = load_offered(svc, req, &h, "decline");
    if (ok <= 0)
        return ok;
    if (strcmp(h.state, "waiting") != 0) {
        pl_service_error(svc, req, "conflict", "the help request is no longer waiting");
        return 0;
    }
    PGconn *db = pl_service_db(svc);
    if (strcmp(h.mentor_id, req->uid) == 0) {
        /* The one mentor it was meant for said no: nobody else will take it. */
        int won;
        if (call_help_store_close(db, h.id, "declined", req->uid, &won))
            return -1;
        if (!won) {
            pl_service_error(svc, req, "conflict", "the help request is no longer waiting");
            return 0;
        }
        send_pair(svc, h.student_id, NULL, "help_declined", h.id, "mentor_id", req->uid);
        if (close_offers(cfg, svc, h.id, req->uid, NULL))
            return -1;
    }
    /* The declined offer leaves room on the mentor's page. */
    if (call_help_store_decline(db, h.id, req->uid) || refill_one(cfg, svc, req->uid, -1))
        return -1;
    pl_service_ack(svc, req);
    pl_info("help declined", "request=%lld mentor=%s", (long long)h.id, req->uid);
    return 0;
}

/* ---- cancel_help / end_help ------------------------------------------------------ */

int call_help_cancel(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    help_row_t h;
    int ok = load(svc, req, &h);
    if (ok <= 0)
        return ok;
    if (strcmp(h.student_id, req->uid) != 0) {
        pl_service_error(svc, req, "forbidden", "only the student who asked can cancel it");
        return 0;
    }
    int won;
    if (call_help_store_close(pl_service_db(svc), h.id, "cancelled", req->uid, &won))
        return -1;
    if (!won) {
        pl_service_error(svc, req, "conflict", "the help request is no longer waiting");
        return 0;
    }
    if (close_offers(cfg, svc, h.id, NULL, "cancelled"))
        return -1;
    pl_service_ack(svc, req);
    pl_info("help cancelled", "request=%lld student=%s", (long long)h.id, req->uid);
    return 0;
}

int call_help_end(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    (void)cfg;
    help_row_t h;
    int ok = load(svc, req, &h);
    if (ok <= 0)
        return ok;
    int is_student = strcmp(h.student_id, req->uid) == 0;
    if (!is_student && strcmp(h.accepted_by, req->uid) != 0) {
        pl_service_error(svc, req, "forbidden", "not a party of this help session");
        return 0;
    }
    int won;
    if (call_help_store_end(pl_service_db(svc), h.id, req->uid, &won))
        return -1;
    if (!won) {
        pl_service_error(svc, req, "conflict", "the help session is not in progress");
        return 0;
    }
    const char *peer = is_student ? h.accepted_by : h.student_id;
    send_pair(svc, peer, NULL, "help_ended", h.id, "ended_by", req->uid);
    /* Only mentors and admins accept, so whoever accepted has a status to restore. */
    call_presence_activity(svc, h.accepted_by, "mentor", 0, "help", h.id);
    pl_service_ack(svc, req);
    pl_info("help ended", "request=%lld by=%s", (long long)h.id, req->uid);
    return 0;
}

/* ---- presence changes and expiry ---------------------------------------------------- */

int call_help_presence_changed(const call_cfg_t *cfg, pl_service_t *svc, const char *uid,
                          const char *role, const char *status, int online)
{
    if (!call_is_mentor(role))
        return 0;
    int available = online && strcmp(status, "available") == 0;
    if (call_help_store_mentor_available(pl_service_db(svc), uid, available))
        return -1;
    if (!online)
        return 0;
    /* -1: as help_mentors now says, which a stale `available` cannot override */
    return refill_one(cfg, svc, uid, available ? -1 : 0);
}

int call_help_timers(const call_cfg_t *cfg, pl_service_t *svc)
{
    PGresult *r = call_help_store_due(pl_service_db(svc), TIMER_BATCH);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        int64_t id = pl_pg_int(r, i, 0);
        send_pair(svc, PQgetvalue(r, i, 1), NULL, "help_expired", id, NULL, NULL);
        rc = close_offers(cfg, svc, id, NULL, "expired");
        if (rc == 0)
            rc = call_webhook_help(svc, "help_request.expired", id);
        pl_info("help expired", "request=%lld", (long long)id);
    }
    PQclear(r);
    return rc;
}
