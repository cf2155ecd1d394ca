/*  gw_revoke: the server API's disconnect and token revocation, as every gateway
    applies them. presence-svc owns the state (presence.revocations, presence_api.c);
    a gateway keeps a copy: read once at start (`revocations`, asked until answered)
    and then each new one from the `disconnect` event on the gateways' topic, which
    also closes the user's local connections with 4002 and the reason.
    The one thing to know: a token is refused when its user has a revocation time and
    the token's iat is before it, or it has no iat (it cannot show it is newer);
    checked at the upgrade, at every session start and at refresh. Until the list has
    arrived from presence, a gateway that just started knows only what it heard since. */
#include "gw.h"

#include <stdlib.h>
#include <string.h>

#include "pl_clock.h"
#include "pl_log.h"
#include "pl_map.h"
#include "pl_mp.h"

#define REVOKED_MAX                                                                                \
    200000 /* bound: users with a revocation held (presence sends at                               \
              most 100,000, the newest; events add to them) */
#define ASK_EVERY_MS 1000

typedef struct gw_revoke {
    pl_map_t *before; /* uid → int64_t * (epoch s) */
    int loaded;
    int64_t next_ask_ms;
} gw_revoke_t;

static void free_each(const void *k, size_t kl, void *v, void *arg)
{
    (void)k;
    (void)kl;
    (void)arg;
    free(v);
}

int gw_revoke_init(gw_t *gw)
{
    gw->revoke = calloc(1, sizeof *gw->revoke);
    if (!gw->revoke || !(gw->revoke->before = pl_map_new()))
        return -1;
    gw_bus_topic(gw, PROTO_TOPIC_GATEWAYS, "", 0, 1);
    return 0;
}

void gw_revoke_free(gw_t *gw)
{
    if (!gw->revoke)
        return;
    if (gw->revoke->before)
        pl_map_each(gw->revoke->before, free_each, NULL);
    pl_map_destroy(&gw->revoke->before);
    free(gw->revoke);
    gw->revoke = NULL;
}

static void set_before(gw_t *gw, const char *uid, size_t len, int64_t before_s)
{
    int64_t *v = pl_map_get(gw->revoke->before, uid, len);
    if (v) {
        if (before_s > *v)
            *v = before_s;
        return;
    }
    if (pl_map_size(gw->revoke->before) >= REVOKED_MAX) {
        pl_warn("revocation not kept", "reason=\"more than %d users revoked\"", REVOKED_MAX);
        return;
    }
    if (!(v = malloc(sizeof *v)))
        return;
    *v = before_s;
    if (pl_map_put(gw->revoke->before, uid, len, v) != 0)
        free(v);
}

void gw_revoke_ask(gw_t *gw, int64_t now_ms)
{
    gw_revoke_t *r = gw->revoke;
    if (!r || r->loaded || now_ms < r->next_ask_ms)
        return;
    r->next_ask_ms = now_ms + ASK_EVERY_MS;
    msgpack_sbuffer_clear(&gw->scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &gw->scratch, msgpack_sbuffer_write);
    /* cn 0: the answer is the gateway's own (gw_router_reply), like a health probe */
    proto_pack_request_head(&pk, PROTO_EV_REVOCATIONS, PROTO_EV_REVOCATIONS, gw->gwid, 0,
                            ++gw->next_rq, NULL, NULL, NULL, pl_wall_ms() + ASK_EVERY_MS);
    msgpack_pack_map(&pk, 0);
    if (gw_bus_request(gw, PROTO_SVC_PRESENCE, gw->scratch.data, gw->scratch.size) == 0)
        gw->metrics.requests_forwarded--; /* not a client request */
}

void gw_revoke_load(gw_t *gw, const msgpack_object *body)
{
    const msgpack_object *users = pl_mp_get(body, "users");
    if (!gw->revoke || !users || users->type != MSGPACK_OBJECT_ARRAY)
        return;
    for (uint32_t i = 0; i < users->via.array.size; i++) {
        const msgpack_object *row = &users->via.array.ptr[i];
        int64_t before;
        if (row->type != MSGPACK_OBJECT_ARRAY || row->via.array.size != 2 ||
            row->via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
            pl_mp_as_int(&row->via.array.ptr[1], &before) != 0)
            continue;
        set_before(gw, row->via.array.ptr[0].via.str.ptr, row->via.array.ptr[0].via.str.size,
                   before);
    }
    if (!gw->revoke->loaded)
        pl_info("revocations loaded", "users=%zu", pl_map_size(gw->revoke->before));
    gw->revoke->loaded = 1;
}

void gw_revoke_event(gw_t *gw, const msgpack_object *root)
{
    const msgpack_object *body = pl_mp_get(root, PK_B);
    const char *uid, *reason;
    size_t ulen, rlen;
    int64_t before;
    if (!gw->revoke || !pl_mp_str_eq(pl_mp_get(body, "type"), "disconnect") ||
        pl_mp_str(body, "user_id", &uid, &ulen) != 0 || ulen == 0)
        return;
    if (pl_mp_int(body, "before_s", &before) == 0)
        set_before(gw, uid, ulen, before);
    char why[124] = "disconnected by the server";
    if (pl_mp_str(body, "reason", &reason, &rlen) == 0 && rlen < sizeof why) {
        memcpy(why, reason, rlen);
        why[rlen] = '\0';
    }
    gw_user_t *u = gw_index_user(gw, uid, ulen);
    int n = 0;
    for (gw_conn_t *c = u ? u->head : NULL; c; c = c->user_next, n++)
        gw_conn_close(c, GW_CLOSE_DISCONNECTED, why);
    if (n)
        pl_info("disconnected", "user=%.*s connections=%d", (int)ulen, uid, n);
}

int gw_revoke_refused(gw_t *gw, const char *uid, int64_t iat)
{
    const int64_t *before = gw->revoke ? pl_map_get(gw->revoke->before, uid, strlen(uid)) : NULL;
    return before && iat < *before;
}
