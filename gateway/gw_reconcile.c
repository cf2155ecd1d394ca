/*  gw_reconcile: tell presence-svc, every few leases, which connections this gateway
    really has, so that a conn_open or conn_close notice lost in flight (presence-svc
    killed with requests on the wire) is corrected within a few leases instead of
    lasting until the gateway itself goes away (docs/design/presence.md, "Healing
    lost notices").
    The one thing to know: each message covers a range of connection ids [lo, hi] and
    lists every live authenticated connection in it; the ranges of one round tile
    [0, hi of the round]. Presence handles each message alone (no state between them,
    any instance may take any part). The round stops below the oldest connection still
    authenticating: its conn_open is not sent yet, and a connection opened after the
    snapshot has a higher id; so a notice that overtakes the round never makes presence
    close a connection that is live. */
#include "gw.h"

#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_mp.h"

typedef struct {
    gw_conn_t **v;
    size_t n, cap;
    int overflow; /* more authenticated connections than counted: skip the round */
    uint64_t hi;  /* ids up to this are settled: authenticated, or closed */
} snapshot_t;

static void collect(const void *key, size_t klen, void *value, void *arg)
{
    (void)key;
    (void)klen;
    snapshot_t *s = arg;
    gw_conn_t *c = value;
    if (c->state != GW_CONN_AUTHED || !c->uid || c->id > s->hi)
        return;
    if (s->n == s->cap)
        s->overflow = 1;
    else
        s->v[s->n++] = c;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = (*(gw_conn_t *const *)a)->id, y = (*(gw_conn_t *const *)b)->id;
    return x < y ? -1 : x > y;
}

static void pack_str_or_nil(msgpack_packer *pk, const char *s)
{
    if (s && s[0])
        pl_pack_str(pk, s);
    else
        msgpack_pack_nil(pk);
}

/* One message: connections v[0..n) with ids in [lo, hi]. */
static void send_part(gw_t *gw, uint64_t lo, uint64_t hi, gw_conn_t *const *v, size_t n)
{
    msgpack_sbuffer_clear(&gw->scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &gw->scratch, msgpack_sbuffer_write);
    proto_pack_request_head(&pk, PROTO_EV_GW_RECONCILE, PROTO_EV_GW_RECONCILE, gw->gwid, 0, 0, NULL,
                            NULL, NULL, 0);
    msgpack_pack_map(&pk, 6);
    pl_pack_str(&pk, "lo");
    msgpack_pack_uint64(&pk, lo);
    pl_pack_str(&pk, "hi");
    msgpack_pack_uint64(&pk, hi);
    pl_pack_str(&pk, "c");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_uint64(&pk, v[i]->id);
    pl_pack_str(&pk, "u");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++)
        pl_pack_str(&pk, v[i]->uid);
    pl_pack_str(&pk, "r");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++)
        pl_pack_str(&pk, pl_role_name(v[i]->role));
    pl_pack_str(&pk, "n");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++)
        pack_str_or_nil(&pk, v[i]->name);
    /* A notification like a lease: lost with a missing broker, sent again next round. */
    if (gw_bus_request(gw, PROTO_SVC_PRESENCE, gw->scratch.data, gw->scratch.size) == 0)
        gw->metrics.requests_forwarded--;
}

void gw_reconcile_send(gw_t *gw)
{
    snapshot_t s = {.hi = gw->next_conn_id};
    if (gw->unauth_head) /* ids from the oldest still authenticating on are not settled */
        s.hi = gw->unauth_head->id - 1;
    s.cap = gw->metrics.connections_authed > 0 ? (size_t)gw->metrics.connections_authed : 0;
    if (s.cap && !(s.v = malloc(s.cap * sizeof *s.v))) {
        pl_warn("presence reconcile skipped", "reason=\"out of memory\"");
        return;
    }
    if (s.cap)
        pl_map_each(gw->conns, collect, &s);
    if (s.overflow) { /* the count is kept with the state: a bug, but not a reason to crash */
        pl_warn("presence reconcile skipped", "reason=\"connection count out of step\"");
        free(s.v);
        return;
    }
    if (s.n)
        qsort(s.v, s.n, sizeof *s.v, by_id);
    uint64_t lo = 0;
    size_t i = 0;
    do {
        size_t n = s.n - i < PROTO_RECONCILE_CHUNK_MAX ? s.n - i : PROTO_RECONCILE_CHUNK_MAX;
        int last = i + n == s.n;
        uint64_t hi = last ? s.hi : s.v[i + n - 1]->id;
        send_part(gw, lo, hi, s.v + i, n);
        lo = hi + 1;
        i += n;
    } while (i < s.n);
    gw->metrics.reconcile_rounds++;
    free(s.v);
}
