/*  gw_rel: see gw_rel.h. */
#include "gw_rel.h"

#include <stdlib.h>
#include <string.h>

/* A connection's address is stable while it is open, and its links are all removed
   when it closes, so (connection, group) addresses name a link uniquely. */
typedef struct {
    uintptr_t conn;
    uintptr_t group;
} link_key_t;

static link_key_t key_of(const gw_conn_t *c, const gw_group_t *g)
{
    link_key_t k;
    k.conn = (uintptr_t)c;
    k.group = (uintptr_t)g;
    return k;
}

int gw_rel_init(gw_rel_t *self)
{
    self->links = pl_map_new();
    return self->links ? 0 : -1;
}

void gw_rel_free(gw_rel_t *self)
{
    pl_map_destroy(&self->links);
}

int gw_rel_has(const gw_rel_t *self, const gw_conn_t *c, const gw_group_t *g)
{
    link_key_t k = key_of(c, g);
    return pl_map_get(self->links, &k, sizeof k) != NULL;
}

int gw_rel_add(gw_rel_t *self, gw_link_t **conn_list, gw_conn_t *c, gw_group_t *g)
{
    link_key_t k = key_of(c, g);
    if (pl_map_get(self->links, &k, sizeof k))
        return 0;
    if (g->n == g->cap) {
        uint32_t cap = g->cap ? g->cap * 2 : 4;
        gw_link_t **at = realloc(g->at, cap * sizeof *at);
        if (!at)
            return -1;
        g->at = at;
        g->cap = cap;
    }
    gw_link_t *l = malloc(sizeof *l);
    if (!l || pl_map_put(self->links, &k, sizeof k, l) != 0) {
        free(l);
        return -1;
    }
    l->conn = c;
    l->group = g;
    l->pos = g->n;
    g->at[g->n++] = l;
    l->prev = NULL;
    l->next = *conn_list;
    if (*conn_list)
        (*conn_list)->prev = l;
    *conn_list = l;
    return 1;
}

uint32_t gw_rel_remove(gw_rel_t *self, gw_link_t **conn_list, gw_conn_t *c, gw_group_t *g)
{
    link_key_t k = key_of(c, g);
    gw_link_t *l = pl_map_remove(self->links, &k, sizeof k);
    if (!l)
        return g->n;
    gw_link_t *last = g->at[--g->n];
    g->at[l->pos] = last;
    last->pos = l->pos;
    if (l->prev)
        l->prev->next = l->next;
    else
        *conn_list = l->next;
    if (l->next)
        l->next->prev = l->prev;
    free(l);
    if (g->n == 0) {
        free(g->at);
        g->at = NULL;
        g->cap = 0;
    }
    return g->n;
}
