/*  Unit tests of gw_rel: the connection ⇄ group relation behind conversation
    subscriptions and presence watchers. */
#include <stdlib.h>

#include "gw_rel.h"
#include "pl_test.h"

struct gw_conn { /* gw_rel only uses connections' addresses */
    int unused;
};

typedef struct {
    gw_group_t g; /* first, as in gw_conv_t and gw_watch_t */
    int id;
} group_t;

static int group_has_conn(const gw_group_t *g, const gw_conn_t *c)
{
    for (uint32_t i = 0; i < g->n; i++)
        if (GW_GROUP_CONN(g, i) == c)
            return 1;
    return 0;
}

static void test_add_is_idempotent(void)
{
    gw_rel_t r;
    PL_CHECK(gw_rel_init(&r) == 0);
    gw_conn_t c = {0};
    gw_link_t *links = NULL;
    group_t g = {{0}, 1};
    PL_CHECK(gw_rel_add(&r, &links, &c, &g.g) == 1);
    PL_CHECK(gw_rel_add(&r, &links, &c, &g.g) == 0);
    PL_CHECK(g.g.n == 1);
    PL_CHECK(gw_rel_has(&r, &c, &g.g));
    PL_CHECK(gw_rel_remove(&r, &links, &c, &g.g) == 0);
    PL_CHECK(!gw_rel_has(&r, &c, &g.g));
    PL_CHECK(links == NULL && g.g.at == NULL);
    /* removing what is not there changes nothing */
    PL_CHECK(gw_rel_remove(&r, &links, &c, &g.g) == 0);
    gw_rel_free(&r);
}

/* Many connections in many groups, removed in an order that exercises the swap of the
   last member into a removed one's place: every group stays exactly its members. */
static void test_many_to_many(void)
{
    enum { NC = 60, NG = 40 };
    gw_rel_t r;
    PL_CHECK(gw_rel_init(&r) == 0);
    gw_conn_t conns[NC];
    gw_link_t *links[NC] = {0};
    group_t groups[NG];
    for (int g = 0; g < NG; g++)
        groups[g] = (group_t){{0}, g};
    for (int c = 0; c < NC; c++)
        for (int g = 0; g < NG; g++)
            if ((c + g) % 3 != 0)
                PL_CHECK(gw_rel_add(&r, &links[c], &conns[c], &groups[g].g) == 1);
    /* drop every even connection from its groups, the way a close does */
    for (int c = 0; c < NC; c += 2)
        while (links[c])
            gw_rel_remove(&r, &links[c], &conns[c], links[c]->group);
    for (int g = 0; g < NG; g++) {
        uint32_t want = 0;
        for (int c = 0; c < NC; c++) {
            int in = c % 2 == 1 && (c + g) % 3 != 0;
            want += (uint32_t)in;
            PL_CHECK(gw_rel_has(&r, &conns[c], &groups[g].g) == in);
            PL_CHECK(group_has_conn(&groups[g].g, &conns[c]) == in);
        }
        PL_CHECK(groups[g].g.n == want);
        for (uint32_t i = 0; i < groups[g].g.n; i++)
            PL_CHECK(groups[g].g.at[i]->pos == i);
    }
    for (int c = 1; c < NC; c += 2)
        while (links[c])
            gw_rel_remove(&r, &links[c], &conns[c], links[c]->group);
    for (int g = 0; g < NG; g++)
        PL_CHECK(groups[g].g.n == 0 && groups[g].g.at == NULL);
    PL_CHECK(pl_map_size(r.links) == 0);
    gw_rel_free(&r);
}

/* The case the linear scan made quadratic: one connection in 20,000 groups. */
static void test_one_connection_many_groups(void)
{
    enum { NG = 20000 };
    gw_rel_t r;
    PL_CHECK(gw_rel_init(&r) == 0);
    gw_conn_t c = {0};
    gw_link_t *links = NULL;
    group_t *groups = calloc(NG, sizeof *groups);
    PL_CHECK(groups != NULL);
    if (!groups)
        return;
    for (int round = 0; round < 2; round++) /* the second round finds every link */
        for (int g = 0; g < NG; g++)
            PL_CHECK(gw_rel_add(&r, &links, &c, &groups[g].g) == (round == 0));
    PL_CHECK(pl_map_size(r.links) == NG);
    while (links)
        gw_rel_remove(&r, &links, &c, links->group);
    PL_CHECK(pl_map_size(r.links) == 0);
    free(groups);
    gw_rel_free(&r);
}

PL_TEST_MAIN(PL_CASE(add_is_idempotent),
             PL_CASE(many_to_many),
             PL_CASE(one_connection_many_groups))
