/*  presence_visible: who may see whose presence (get_presence). The contract: the
    asker themselves, users who share a conversation with them, and mentors; the others
    are left out. Roles are presence's own data; conversations are chat's.
    The one thing to know: presence asks chat-svc (shared_contacts) at the moment of the
    request rather than trusting a copy. The gateways' watch lists (gw_watch.c) would
    be a copy: filled from events that may be lost (PUB/SUB), per connection, and
    blind to conversations whose conversation_created has not reached that gateway
    yet. One ask per transaction covers all of its get_presence requests, and it is
    made in the prepare step, before any row is locked, so the wait (bounded by
    PRESENCE_ASK_TIMEOUT_MS and the requests' deadlines) holds nobody else up. */
#include "presence_handlers.h"

#include <string.h>

#include "pl_clock.h"
#include "pl_log.h"
#include "pl_mp.h"

/* Room left for our answer to travel back before the gateway gives up. */
#define DEADLINE_MARGIN_MS 250

void presence_app_init(presence_app_t *app)
{
    msgpack_sbuffer_init(&app->contacts.raw);
    msgpack_unpacked_init(&app->contacts.up);
    app->contacts.results = NULL;
    app->contacts.n = 0;
}

void presence_app_free(presence_app_t *app)
{
    msgpack_unpacked_destroy(&app->contacts.up);
    msgpack_sbuffer_destroy(&app->contacts.raw);
    presence_conns_clear(&app->conns);
}

static void contacts_reset(presence_contacts_t *c)
{
    msgpack_unpacked_destroy(&c->up);
    msgpack_unpacked_init(&c->up);
    msgpack_sbuffer_clear(&c->raw);
    c->results = NULL;
    c->n = 0;
}

/* Does req ask about anyone but its own user? Only those need chat's answer. */
static int asks_about_others(const proto_request_t *req)
{
    if (strcmp(req->role, PROTO_ROLE_SYSTEM) == 0)
        return 0; /* the server API sees everyone: chat is not asked */
    const msgpack_object *ids = pl_mp_get(req->body, "user_ids");
    for (uint32_t i = 0; ids && ids->type == MSGPACK_OBJECT_ARRAY && i < ids->via.array.size; i++)
        if (!pl_mp_str_eq(&ids->via.array.ptr[i], req->uid))
            return 1;
    return 0;
}

/* How long the ask may wait: PRESENCE_ASK_TIMEOUT_MS, cut to the earliest deadline. */
static int64_t budget(const presence_app_t *app)
{
    int64_t b = app->ask_ms, now = pl_wall_ms();
    for (size_t i = 0; i < app->contacts.n; i++) {
        int64_t dl = app->contacts.reqs[i]->dl;
        if (dl && dl - now - DEADLINE_MARGIN_MS < b)
            b = dl - now - DEADLINE_MARGIN_MS;
    }
    return b;
}

/* {queries:[{user_id, user_ids}]} for the requests in app->contacts.reqs. */
static void pack_queries(const presence_contacts_t *c, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    pl_pack_str(&pk, "queries");
    msgpack_pack_array(&pk, c->n);
    for (size_t i = 0; i < c->n; i++) {
        msgpack_pack_map(&pk, 2);
        pl_pack_kv_str(&pk, "user_id", c->reqs[i]->uid);
        pl_pack_kv_obj(&pk, "user_ids", pl_mp_get(c->reqs[i]->body, "user_ids"));
    }
}

static void ask_chat(presence_app_t *app, pl_service_t *svc)
{
    presence_contacts_t *c = &app->contacts;
    int64_t wait_ms = budget(app);
    if (wait_ms <= 0)
        return;
    msgpack_sbuffer q;
    msgpack_sbuffer_init(&q);
    pack_queries(c, &q);
    int rc = pl_service_ask(svc, PROTO_SVC_CHAT, PROTO_EV_SHARED_CONTACTS, NULL, q.data, q.size,
                            (int)wait_ms, &c->raw);
    msgpack_sbuffer_destroy(&q);
    size_t off = 0;
    if (rc != 0 ||
        msgpack_unpack_next(&c->up, c->raw.data, c->raw.size, &off) != MSGPACK_UNPACK_SUCCESS) {
        pl_warn("chat did not answer", "ask=%s timeout_ms=%lld", PROTO_EV_SHARED_CONTACTS,
                (long long)wait_ms);
        return;
    }
    const msgpack_object *res = pl_mp_get(&c->up.data, "results");
    if (!pl_mp_str_eq(pl_mp_get(&c->up.data, "type"), PROTO_EV_SHARED_CONTACTS) || !res ||
        res->type != MSGPACK_OBJECT_ARRAY || res->via.array.size != c->n) {
        pl_warn("chat refused an ask", "ask=%s", PROTO_EV_SHARED_CONTACTS);
        return;
    }
    c->results = res;
}

int presence_prepare(void *app_, pl_service_t *svc, const proto_request_t *const *reqs, size_t n)
{
    presence_app_t *app = app_;
    if (presence_conns_prepare(app, pl_service_db(svc), reqs, n) != 0)
        return -1;
    contacts_reset(&app->contacts);
    for (size_t i = 0; i < n && app->contacts.n < PRES_ASKED_MAX; i++)
        if (strcmp(reqs[i]->ev, PROTO_EV_GET_PRESENCE) == 0 && asks_about_others(reqs[i]))
            app->contacts.reqs[app->contacts.n++] = reqs[i];
    if (app->contacts.n > 0)
        ask_chat(app, svc);
    return 0;
}

int presence_contacts_of(const presence_app_t *app, const proto_request_t *req,
                         const msgpack_object **out)
{
    static const msgpack_object none = {.type = MSGPACK_OBJECT_ARRAY};
    *out = &none;
    if (!asks_about_others(req))
        return 0; /* only about themselves: nothing to ask */
    const presence_contacts_t *c = &app->contacts;
    for (size_t i = 0; i < c->n; i++) {
        if (c->reqs[i] != req)
            continue;
        if (!c->results)
            return -1;
        const msgpack_object *r = &c->results->via.array.ptr[i];
        if (r->type == MSGPACK_OBJECT_ARRAY)
            *out = r;
        return 0;
    }
    return -1; /* not prepared for (cannot happen: every transaction is prepared) */
}
