/*  gw_deliver: events and replies to the connections they are for. The one way frames
    from the services reach clients: the bus hands events here (by topic: a user, a
    conversation, a role, the watchers of a user's presence), the router hands replies
    and pushes to one connection (gw_deliver_frame). Each frame is encoded once and
    shared by every recipient's queue.
    The one thing to know: delivering can change what a connection hears next — a
    listed conversation is subscribed and new contacts are watched (gw_deliver_frame) —
    but never the membership being walked: sending only queues. */
#include "gw.h"

#include <stdlib.h>
#include <string.h>

#include "pl_mp.h"
#include "proto_envelope.h"

/* The conversations a frame subscribes its recipient to: PK_SUB, one id or a list. */
static void subscribe_listed(gw_t *gw, gw_conn_t *c, const msgpack_object *root)
{
    const msgpack_object *sub = pl_mp_get(root, PK_SUB);
    int64_t conv;
    if (!sub)
        return;
    if (sub->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < sub->via.array.size; i++)
            if (pl_mp_as_int(&sub->via.array.ptr[i], &conv) == 0 && conv > 0)
                gw_index_subscribe(gw, c, conv);
    } else if (pl_mp_as_int(sub, &conv) == 0 && conv > 0) {
        gw_index_subscribe(gw, c, conv);
    }
}

/* participants_changed naming the recipient's user in `removed` (the server API took
   them out, chat_api.c): the connection stops hearing the conversation now, before
   its next event, which the same publisher sends after this one. */
static void unsubscribe_removed(gw_t *gw, gw_conn_t *c, const msgpack_object *body)
{
    const msgpack_object *removed = pl_mp_get(body, "removed");
    int64_t conv;
    if (!c->uid || !removed || removed->type != MSGPACK_OBJECT_ARRAY ||
        !pl_mp_str_eq(pl_mp_get(body, "type"), "participants_changed") ||
        pl_mp_int(body, "conversation_id", &conv) != 0)
        return;
    for (uint32_t i = 0; i < removed->via.array.size; i++)
        if (pl_mp_str_eq(&removed->via.array.ptr[i], c->uid))
            gw_index_unsubscribe(gw, c, conv);
}

void gw_deliver_frame(gw_t *gw, gw_conn_t *c, const msgpack_object *root,
                      const msgpack_object *body, gw_msg_t *m)
{
    subscribe_listed(gw, c, root);
    unsubscribe_removed(gw, c, body);
    gw_watch_observe(gw, c, body);
    if (m)
        gw_conn_send(gw, c, m);
}

/* Who an event skips: the acting connection (xg/xc) and/or a whole user (xu). */
typedef struct {
    int skip_conn;
    uint64_t xc;
    const char *xu;
    size_t xulen;
} targeting_t;

static targeting_t read_targeting(gw_t *gw, const msgpack_object *root)
{
    targeting_t t = {0};
    const char *xg = NULL;
    size_t xglen = 0;
    pl_mp_str(root, PK_XG, &xg, &xglen);
    pl_mp_uint(root, PK_XC, &t.xc);
    pl_mp_str(root, PK_XU, &t.xu, &t.xulen);
    t.skip_conn = xg && xglen == PROTO_GWID_LEN && memcmp(xg, gw->gwid, xglen) == 0;
    return t;
}

static int skipped(const targeting_t *t, const gw_conn_t *c)
{
    if (t->skip_conn && c->id == t->xc)
        return 1;
    return t->xu && c->uid && strlen(c->uid) == t->xulen && memcmp(c->uid, t->xu, t->xulen) == 0;
}

static void to_user(gw_t *gw, const char *uid, size_t len, const msgpack_object *root,
                    const msgpack_object *body, const targeting_t *t)
{
    gw_user_t *u = gw_index_user(gw, uid, len);
    if (!u)
        return;
    gw_msg_t *m = gw_msg_from_event(gw, body, NULL);
    if (!m)
        return;
    for (gw_conn_t *c = u->head; c; c = c->user_next)
        if (!skipped(t, c))
            gw_deliver_frame(gw, c, root, body, m);
    gw_msg_unref(m);
}

static void to_conv(gw_t *gw, int64_t conv, const msgpack_object *body, const targeting_t *t)
{
    gw_conv_t *v = gw_index_conv(gw, conv);
    if (!v)
        return;
    gw_msg_t *m = gw_msg_from_event(gw, body, NULL);
    if (m) {
        const gw_group_t *g = &v->subscribers; /* sending never changes membership inline */
        for (uint32_t i = 0; i < g->n; i++)
            if (!skipped(t, GW_GROUP_CONN(g, i)))
                gw_conn_send(gw, GW_GROUP_CONN(g, i), m);
        gw_msg_unref(m);
    }
    /* After the event itself: a typer's message reaches the others before the
       is_typing:false it causes (docs/protocol/chat.md). */
    gw_typing_observe(gw, conv, body);
}

void gw_deliver_conv(gw_t *gw, int64_t conv, const msgpack_object *body, const char *skip_uid)
{
    targeting_t t = {0};
    t.xu = skip_uid;
    t.xulen = skip_uid ? strlen(skip_uid) : 0;
    gw_conv_t *v = gw_index_conv(gw, conv);
    if (!v)
        return;
    gw_msg_t *m = gw_msg_from_event(gw, body, NULL);
    if (!m)
        return;
    const gw_group_t *g = &v->subscribers;
    for (uint32_t i = 0; i < g->n; i++)
        if (!skipped(&t, GW_GROUP_CONN(g, i)))
            gw_conn_send(gw, GW_GROUP_CONN(g, i), m);
    gw_msg_unref(m);
}

typedef struct {
    gw_t *gw;
    pl_role_t role;
    gw_msg_t *m;
    const targeting_t *t;
    const gw_watch_t *about; /* watchers of the user the event is about, if any here */
} role_walk_t;


static void role_each(const void *k, size_t kl, void *value, void *arg)
{
    (void)k;
    (void)kl;
    role_walk_t *w = arg;
    gw_conn_t *c = value;
    /* a connection that watches the user hears the event on p<uid> already */
    if (c->state == GW_CONN_AUTHED && c->role == w->role && !skipped(w->t, c) &&
        !(w->about && gw_rel_has(&w->gw->watchers, c, &w->about->watchers)))
        gw_conn_send(w->gw, c, w->m);
}

/* Role events are rare (a mentor's status change): a walk over the connections is
   simpler than one more index, and costs nothing while nobody changes status. */
static void to_role(gw_t *gw, const char *role, size_t len, const msgpack_object *body,
                    const targeting_t *t)
{
    role_walk_t w = {gw, pl_role_parse(role, len), NULL, t, NULL};
    if (w.role == PL_ROLE_NONE || !gw->role_conns[w.role])
        return;
    /* Presence events go to p<uid> and to the role: a student who also watches the
       mentor (they share a conversation) must hear the change once. */
    const char *uid;
    size_t ulen;
    if (pl_mp_str(body, "user_id", &uid, &ulen) == 0)
        w.about = pl_map_get(gw->watch, uid, ulen);
    w.m = gw_msg_from_event(gw, body, NULL);
    if (!w.m)
        return;
    pl_map_each(gw->conns, role_each, &w);
    gw_msg_unref(w.m);
}

static void to_watchers(gw_t *gw, const char *uid, size_t len, const msgpack_object *body,
                        const targeting_t *t)
{
    gw_watch_t *w = pl_map_get(gw->watch, uid, len);
    if (!w)
        return;
    gw_msg_t *m = gw_msg_from_event(gw, body, NULL);
    if (!m)
        return;
    const gw_group_t *g = &w->watchers;
    for (uint32_t i = 0; i < g->n; i++)
        if (GW_GROUP_CONN(g, i)->state == GW_CONN_AUTHED && !skipped(t, GW_GROUP_CONN(g, i)))
            gw_conn_send(gw, GW_GROUP_CONN(g, i), m);
    gw_msg_unref(m);
}

void gw_deliver_event(gw_t *gw, char kind, const char *id, size_t idlen,
                      const msgpack_object *root)
{
    const msgpack_object *body = pl_mp_get(root, PK_B);
    if (!body || body->type != MSGPACK_OBJECT_MAP)
        return;
    targeting_t t = read_targeting(gw, root);
    if (kind == PROTO_TOPIC_USER) {
        to_user(gw, id, idlen, root, body, &t);
    } else if (kind == PROTO_TOPIC_ROLE) {
        to_role(gw, id, idlen, body, &t);
    } else if (kind == PROTO_TOPIC_PRESENCE) {
        to_watchers(gw, id, idlen, body, &t);
    } else {
        char num[24];
        size_t k = idlen < sizeof num - 1 ? idlen : sizeof num - 1;
        memcpy(num, id, k);
        num[k] = '\0';
        to_conv(gw, strtoll(num, NULL, 10), body, &t);
    }
}

