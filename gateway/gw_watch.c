/*  gw_watch: which local connections want a user's presence.
    The one thing to know: a connection watches its own user and every participant of
    its conversations, learned from auth_success and conversation_created as they pass
    through this gateway. The gateway subscribes to p<uid> while anyone here watches
    uid, so presence-svc publishes each change once and never needs chat's data. */
#include "gw.h"

#include <stdlib.h>
#include <string.h>

#include "pl_mp.h"

static gw_watch_t *watch_get(gw_t *gw, const char *uid, size_t len, int create)
{
    gw_watch_t *w = pl_map_get(gw->watch, uid, len);
    if (w || !create)
        return w;
    w = calloc(1, sizeof *w + len + 1);
    if (!w)
        return NULL;
    memcpy(w->uid, uid, len);
    if (pl_map_put(gw->watch, uid, len, w) != 0) {
        free(w);
        return NULL;
    }
    gw_bus_topic(gw, PROTO_TOPIC_PRESENCE, uid, len, 1);
    return w;
}

/* Nobody here watches the user any more: forget it and its topic. */
static void watch_free(gw_t *gw, gw_watch_t *w)
{
    size_t len = strlen(w->uid);
    pl_map_remove(gw->watch, w->uid, len);
    gw_bus_topic(gw, PROTO_TOPIC_PRESENCE, w->uid, len, 0);
    free(w->watchers.at);
    free(w);
}

void gw_watch_add(gw_t *gw, gw_conn_t *c, const char *uid, size_t len)
{
    gw_watch_t *w = watch_get(gw, uid, len, 1);
    if (w && gw_rel_add(&gw->watchers, &c->watch_links, c, &w->watchers) < 0 &&
        w->watchers.n == 0)
        watch_free(gw, w); /* out of memory: drop an entry nobody uses */
}

void gw_watch_drop_conn(gw_t *gw, gw_conn_t *c)
{
    while (c->watch_links) {
        gw_watch_t *w = (gw_watch_t *)c->watch_links->group; /* watchers is its first member */
        if (gw_rel_remove(&gw->watchers, &c->watch_links, c, &w->watchers) == 0)
            watch_free(gw, w);
    }
}

static void watch_participants(gw_t *gw, gw_conn_t *c, const msgpack_object *conv)
{
    const msgpack_object *list = pl_mp_get(conv, "participants");
    if (!list || list->type != MSGPACK_OBJECT_ARRAY)
        return;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *u = &list->via.array.ptr[i];
        if (u->type == MSGPACK_OBJECT_STR && u->via.str.size > 0 &&
            u->via.str.size <= PL_USER_ID_MAX)
            gw_watch_add(gw, c, u->via.str.ptr, u->via.str.size);
    }
}

void gw_watch_observe(gw_t *gw, gw_conn_t *c, const msgpack_object *body)
{
    const msgpack_object *type = pl_mp_get(body, "type");
    if (pl_mp_str_eq(type, "conversation_created")) {
        watch_participants(gw, c, pl_mp_get(body, "conversation"));
    } else if (pl_mp_str_eq(type, "auth_success")) {
        if (c->uid)
            gw_watch_add(gw, c, c->uid, strlen(c->uid));
        const msgpack_object *convs = pl_mp_get(body, "conversations");
        if (convs && convs->type == MSGPACK_OBJECT_ARRAY)
            for (uint32_t i = 0; i < convs->via.array.size; i++)
                watch_participants(gw, c, &convs->via.array.ptr[i]);
    }
}

static void free_each(const void *k, size_t kl, void *v, void *arg)
{
    (void)k;
    (void)kl;
    (void)arg;
    gw_watch_t *w = v;
    free(w->watchers.at);
    free(w);
}

void gw_watch_free(gw_t *gw)
{
    if (gw->watch)
        pl_map_each(gw->watch, free_each, NULL);
    pl_map_destroy(&gw->watch);
}
