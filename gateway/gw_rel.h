/*  gw_rel: a many-to-many relation between connections and groups (a conversation's
    subscribers, the watchers of a user's presence) with O(1) add, remove and lookup.
    The one thing to know: a group keeps its members in an array (fan-out walks it),
    each member knows its place in that array (removal swaps the last one in), and a
    map keyed by (connection, group) answers "is c in g?" without scanning. Before it,
    de-duplication was a linear scan per add: a user in many large conversations made
    every login quadratic on the gateway's one thread. */
#ifndef GW_REL_H
#define GW_REL_H

#include <stdint.h>

#include "pl_map.h"

typedef struct gw_conn gw_conn_t;
typedef struct gw_link gw_link_t;

/* Embedded first in a group (gw_conv_t, gw_watch_t): its members, in no order. */
typedef struct {
    gw_link_t **at;
    uint32_t n, cap;
} gw_group_t;

/* One membership; also on its connection's list of memberships of this relation. */
struct gw_link {
    gw_conn_t *conn;
    gw_group_t *group;
    uint32_t pos; /* index in group->at */
    gw_link_t *prev, *next;
};

typedef struct {
    pl_map_t *links; /* (connection address, group address) → gw_link_t */
} gw_rel_t;

int gw_rel_init(gw_rel_t *self);
/* Every link must have been removed (gw_rel_remove) before. */
void gw_rel_free(gw_rel_t *self);
/* Put c in g, linking it on *conn_list. 1 added, 0 already there, -1 out of memory. */
int gw_rel_add(gw_rel_t *self, gw_link_t **conn_list, gw_conn_t *c, gw_group_t *g);
int gw_rel_has(const gw_rel_t *self, const gw_conn_t *c, const gw_group_t *g);
/* Take c out of g; returns how many members g has left (0: the caller frees g). */
uint32_t gw_rel_remove(gw_rel_t *self, gw_link_t **conn_list, gw_conn_t *c, gw_group_t *g);
/* The connection of g's i-th member (0 <= i < g->n). */
#define GW_GROUP_CONN(g, i) ((g)->at[(i)]->conn)

#endif
