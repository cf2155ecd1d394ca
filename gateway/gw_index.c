/*  gw_index: which local connections belong to which user and which conversation,
    and the ZeroMQ topic subscriptions that follow from that.
    The one thing to know: the gateway subscribes to a user's or a conversation's
    topic only while it has a connection for it, so the broker (XPUB) sends each
    gateway only what its own users need. Subscriptions are reference-counted by the
    index: the first local member subscribes, the last one leaving unsubscribes. */
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gw_user_t *gw_index_user(gw_t *gw, const char *uid, size_t len)
{
    return pl_map_get(gw->users, uid, len);
}

gw_conv_t *gw_index_conv(gw_t *gw, int64_t conv)
{
    return pl_map_geti(gw->convs, (uint64_t)conv);
}

int gw_index_set_user(gw_t *gw, gw_conn_t *c, const char *uid)
{
    size_t len = strlen(uid);
    gw_user_t *u = gw_index_user(gw, uid, len);
    if (!u) {
        u = calloc(1, sizeof *u + len + 1);
        if (!u)
            return -1;
        memcpy(u->uid, uid, len + 1);
        if (pl_map_put(gw->users, uid, len, u) != 0) {
            free(u);
            return -1;
        }
        gw_bus_topic(gw, PROTO_TOPIC_USER, uid, len, 1);
    }
    c->user = u;
    PL_LIST_APPEND(u->head, u->tail, c, user_prev, user_next);
    u->count++;
    return 0;
}

static void conv_topic(gw_t *gw, int64_t conv, int on)
{
    char id[24];
    int n = snprintf(id, sizeof id, "%lld", (long long)conv);
    gw_bus_topic(gw, PROTO_TOPIC_CONV, id, (size_t)n, on);
}

/* The last local subscriber left: forget the conversation and its topic. */
static void conv_free(gw_t *gw, gw_conv_t *v)
{
    pl_map_removei(gw->convs, (uint64_t)v->id);
    conv_topic(gw, v->id, 0);
    free(v->subscribers.at);
    free(v);
}

int gw_index_subscribe(gw_t *gw, gw_conn_t *c, int64_t conv)
{
    gw_conv_t *v = gw_index_conv(gw, conv);
    if (!v) {
        v = calloc(1, sizeof *v);
        if (!v || pl_map_puti(gw->convs, (uint64_t)conv, v) != 0) {
            free(v);
            return -1;
        }
        v->id = conv;
        conv_topic(gw, conv, 1);
    }
    int rc = gw_rel_add(&gw->subs, &c->conv_links, c, &v->subscribers);
    if (rc < 0 && v->subscribers.n == 0)
        conv_free(gw, v);
    return rc < 0 ? -1 : 0;
}

void gw_index_unsubscribe(gw_t *gw, gw_conn_t *c, int64_t conv)
{
    gw_conv_t *v = gw_index_conv(gw, conv);
    if (v && gw_rel_has(&gw->subs, c, &v->subscribers) &&
        gw_rel_remove(&gw->subs, &c->conv_links, c, &v->subscribers) == 0)
        conv_free(gw, v);
}

void gw_index_drop_conn(gw_t *gw, gw_conn_t *c)
{
    while (c->conv_links) {
        gw_conv_t *v = (gw_conv_t *)c->conv_links->group; /* subscribers is its first member */
        if (gw_rel_remove(&gw->subs, &c->conv_links, c, &v->subscribers) == 0)
            conv_free(gw, v);
    }
    gw_user_t *u = c->user;
    if (!u)
        return;
    PL_LIST_UNLINK(u->head, u->tail, c, user_prev, user_next);
    c->user = NULL;
    if (--u->count == 0) {
        size_t len = strlen(u->uid);
        pl_map_remove(gw->users, u->uid, len);
        gw_bus_topic(gw, PROTO_TOPIC_USER, u->uid, len, 0);
        free(u);
    }
}
