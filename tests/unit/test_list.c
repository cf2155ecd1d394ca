/*  Unit tests of pl_list.h: intrusive doubly linked lists, one node in two lists. */
#include "pl_list.h"
#include "pl_test.h"

typedef struct node {
    struct node *a_prev, *a_next; /* list A */
    struct node *b_prev, *b_next; /* list B */
    int v;
} node_t;

typedef struct {
    node_t *head, *tail;
} list_t;

/* The values of list A from head to tail, checked against the backward walk. */
static int a_matches(const list_t *l, const int *want, int n)
{
    int i = 0;
    for (node_t *x = l->head; x; x = x->a_next, i++)
        if (i >= n || x->v != want[i])
            return 0;
    if (i != n)
        return 0;
    for (node_t *x = l->tail; x; x = x->a_prev)
        if (--i < 0 || x->v != want[i])
            return 0;
    return i == 0;
}

static void test_append_keeps_order(void)
{
    node_t n[3] = {{.v = 1}, {.v = 2}, {.v = 3}};
    list_t l = {0};
    for (int i = 0; i < 3; i++)
        PL_LIST_APPEND(l.head, l.tail, &n[i], a_prev, a_next);
    PL_CHECK(a_matches(&l, (int[]){1, 2, 3}, 3));
}

static void test_unlink_head_middle_tail(void)
{
    node_t n[4] = {{.v = 1}, {.v = 2}, {.v = 3}, {.v = 4}};
    list_t l = {0};
    for (int i = 0; i < 4; i++)
        PL_LIST_APPEND(l.head, l.tail, &n[i], a_prev, a_next);
    PL_LIST_UNLINK(l.head, l.tail, &n[1], a_prev, a_next);
    PL_CHECK(a_matches(&l, (int[]){1, 3, 4}, 3));
    PL_CHECK(!PL_LIST_LINKED(l.head, &n[1], a_prev) && !n[1].a_next);
    PL_LIST_UNLINK(l.head, l.tail, &n[0], a_prev, a_next);
    PL_CHECK(a_matches(&l, (int[]){3, 4}, 2));
    PL_LIST_UNLINK(l.head, l.tail, &n[3], a_prev, a_next);
    PL_CHECK(a_matches(&l, (int[]){3}, 1));
    PL_CHECK(PL_LIST_LINKED(l.head, &n[2], a_prev)); /* a lone head is linked */
    PL_LIST_UNLINK(l.head, l.tail, &n[2], a_prev, a_next);
    PL_CHECK(l.head == NULL && l.tail == NULL);
    PL_CHECK(!PL_LIST_LINKED(l.head, &n[2], a_prev));
}

static void test_one_node_in_two_lists(void)
{
    node_t n[2] = {{.v = 1}, {.v = 2}};
    list_t a = {0}, b = {0};
    PL_LIST_APPEND(a.head, a.tail, &n[0], a_prev, a_next);
    PL_LIST_APPEND(a.head, a.tail, &n[1], a_prev, a_next);
    PL_LIST_APPEND(b.head, b.tail, &n[1], b_prev, b_next);
    PL_LIST_UNLINK(a.head, a.tail, &n[1], a_prev, a_next);
    PL_CHECK(a_matches(&a, (int[]){1}, 1));
    PL_CHECK(b.head == &n[1] && b.tail == &n[1] && PL_LIST_LINKED(b.head, &n[1], b_prev));
    PL_LIST_APPEND(a.head, a.tail, &n[1], a_prev, a_next); /* re-append after unlink */
    PL_CHECK(a_matches(&a, (int[]){1, 2}, 2));
}

PL_TEST_MAIN(PL_CASE(append_keeps_order),
             PL_CASE(unlink_head_middle_tail),
             PL_CASE(one_node_in_two_lists))
