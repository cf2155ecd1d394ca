/*  gw_admission: who may open a connection. Three caps, checked at the upgrade so a
    refused client costs an HTTP answer and nothing more: MAX_CONNECTIONS on this
    gateway (503: try another gateway), MAX_CONNECTIONS_PER_IP and
    MAX_CONNECTIONS_PER_USER (429: this client has enough). A token given in the first
    frame or the Socket.IO CONNECT names its user only then; the per-user cap is
    checked again there (gw_admission_user_full). New connections per address are
    rate-limited too (CONNECT_RATE_PER_IP, CONNECT_BURST_PER_IP; 429): a client that
    reconnects as fast as it is closed (a flood cut off, again and again) would
    otherwise keep the gateway busy with handshakes. An address's entry outlives its
    last connection until its bucket has refilled (swept every second), and the table
    is bounded: past PEERS_MAX addresses a new one is not rate-tracked.
    The client's address is the socket's peer, unless that peer is a proxy listed in
    TRUSTED_PROXIES: then X-Forwarded-For is read from the right, and the first hop that
    is not a trusted proxy is the client (anything left of it could be forged). */
#include "gw.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_clock.h"
#include "pl_log.h"

#define TRUSTED_MAX 64
#define PEERS_MAX 100000 /* addresses tracked at once: ~100 bytes each */

typedef struct {
    int family; /* AF_INET or AF_INET6 */
    int prefix; /* bits */
    unsigned char addr[16];
} cidr_t;

struct gw_peer {
    uint32_t count;      /* open connections */
    gw_bucket_t connects; /* new connections (gw_limit.h) */
    char ip[];           /* NUL-terminated, canonical text form */
};

struct gw_trusted {
    cidr_t nets[TRUSTED_MAX];
    int n;
};

/* ---- addresses ------------------------------------------------------------------- */

/* Parse a textual IPv4/IPv6 address (IPv4-mapped IPv6 becomes IPv4). */
static int parse_addr(const char *s, int *family, unsigned char out[16])
{
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out) != 1)
        return -1;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out, mapped, 12) == 0) {
        memmove(out, out + 12, 4);
        *family = AF_INET;
    } else {
        *family = AF_INET6;
    }
    return 0;
}

static int cidr_parse(const char *s, size_t len, cidr_t *out)
{
    char text[64];
    if (len == 0 || len >= sizeof text)
        return -1;
    memcpy(text, s, len);
    text[len] = '\0';
    char *slash = strchr(text, '/');
    if (slash)
        *slash = '\0';
    if (parse_addr(text, &out->family, out->addr) != 0)
        return -1;
    int max = out->family == AF_INET ? 32 : 128;
    out->prefix = max;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || p < 0 || p > max)
            return -1;
        out->prefix = (int)p;
    }
    return 0;
}

static int cidr_contains(const cidr_t *net, int family, const unsigned char *addr)
{
    if (net->family != family)
        return 0;
    int full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(net->addr, addr, (size_t)full) != 0)
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (net->addr[full] & mask) == (addr[full] & mask);
}

static int is_trusted(const gw_trusted_t *t, const char *ip)
{
    int family;
    unsigned char addr[16];
    if (!t || parse_addr(ip, &family, addr) != 0)
        return 0;
    for (int i = 0; i < t->n; i++)
        if (cidr_contains(&t->nets[i], family, addr))
            return 1;
    return 0;
}

/* Canonical text of a parsable address (so "::ffff:1.2.3.4" and "1.2.3.4" are one
   client); -1 when it is not an address. */
static int canonical(const char *s, char *out, size_t cap)
{
    int family;
    unsigned char addr[16];
    if (parse_addr(s, &family, addr) != 0 || !inet_ntop(family, addr, out, (socklen_t)cap))
        return -1;
    return 0;
}

/* The rightmost hop of X-Forwarded-For that is not a trusted proxy; 0 when found. */
static int forwarded_client(const gw_trusted_t *t, char *xff, char *out, size_t cap)
{
    char *end = xff + strlen(xff);
    while (end > xff) {
        char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        *b = '\0';
        char hop[INET6_ADDRSTRLEN];
        if (canonical(a, hop, sizeof hop) != 0)
            return -1; /* garbage: believe nothing further left */
        snprintf(out, cap, "%s", hop);
        if (!is_trusted(t, hop))
            return 0;
        end = start > xff ? start - 1 : xff;
    }
    return 0; /* every hop is a proxy of ours: the leftmost is as far as we can see */
}

void gw_admission_client_ip(gw_t *gw, struct lws *wsi, char *out, size_t cap)
{
    char peer[INET6_ADDRSTRLEN + 8] = "";
    if (!lws_get_peer_simple(wsi, peer, sizeof peer) || canonical(peer, out, cap) != 0)
        snprintf(out, cap, "%s", peer[0] ? peer : "unknown");
    if (!gw->trusted || !is_trusted(gw->trusted, out))
        return;
    char xff[2048];
    if (lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) <= 0)
        return;
    char client[INET6_ADDRSTRLEN];
    if (forwarded_client(gw->trusted, xff, client, sizeof client) == 0)
        snprintf(out, cap, "%s", client);
}

/* ---- caps ------------------------------------------------------------------------ */

int gw_admission_init(gw_t *gw)
{
    gw->peers = pl_map_new();
    if (!gw->peers)
        return -1;
    const char *list = gw->cfg.trusted_proxies;
    if (!list || !*list)
        return 0;
    gw->trusted = calloc(1, sizeof *gw->trusted);
    if (!gw->trusted)
        return -1;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if (e == p)
            break;
        if (gw->trusted->n == TRUSTED_MAX || cidr_parse(p, (size_t)(e - p), &gw->trusted->nets[gw->trusted->n]) != 0) {
            pl_error("bad configuration", "var=TRUSTED_PROXIES value=\"%.*s\" "
                     "reason=\"addresses or CIDRs (1.2.3.0/24, ::1), comma-separated, at most 64\"",
                     (int)(e - p), p);
            return -1;
        }
        gw->trusted->n++;
        p = e;
    }
    return 0;
}

static void free_peer(const void *key, size_t klen, void *value, void *arg)
{
    (void)key, (void)klen, (void)arg;
    free(value);
}

void gw_admission_free(gw_t *gw)
{
    if (gw->peers)
        pl_map_each(gw->peers, free_peer, NULL);
    pl_map_destroy(&gw->peers);
    free(gw->trusted);
    gw->trusted = NULL;
}

/* The entry of `ip`, made (with a full bucket) when `create` and the table has room. */
static gw_peer_t *peer_of(gw_t *gw, const char *ip, int create)
{
    size_t len = strlen(ip);
    gw_peer_t *peer = pl_map_get(gw->peers, ip, len);
    if (peer || !create || pl_map_size(gw->peers) >= PEERS_MAX)
        return peer;
    peer = calloc(1, sizeof *peer + len + 1);
    if (!peer)
        return NULL;
    memcpy(peer->ip, ip, len + 1);
    gw_bucket_init(&peer->connects, gw->cfg.connect_burst_per_ip, pl_mono_ms());
    if (pl_map_put(gw->peers, ip, len, peer) != 0) {
        free(peer);
        return NULL;
    }
    return peer;
}

unsigned gw_admission_check(gw_t *gw, struct lws *wsi, const char *uid, const char **why)
{
    if (gw->metrics.connections_open >= gw->cfg.max_connections) {
        gw->metrics.connections_refused[GW_REFUSED_FULL]++;
        *why = "gateway full: try again later or another gateway";
        return HTTP_STATUS_SERVICE_UNAVAILABLE;
    }
    char ip[INET6_ADDRSTRLEN + 8];
    gw_admission_client_ip(gw, wsi, ip, sizeof ip);
    gw_peer_t *peer = peer_of(gw, ip, 1);
    if (peer && peer->count >= (uint64_t)gw->cfg.max_connections_per_ip) {
        gw->metrics.connections_refused[GW_REFUSED_ADDRESS]++;
        *why = "too many connections from this address";
        return 429;
    }
    if (peer && gw_bucket_take(&peer->connects, gw->cfg.connect_rate_per_ip,
                               gw->cfg.connect_burst_per_ip, pl_mono_ms()) != GW_LIMIT_PASS) {
        gw->metrics.connections_refused[GW_REFUSED_RATE]++;
        *why = "too many new connections from this address: slow down";
        return 429;
    }
    if (uid && gw_admission_user_full(gw, uid)) {
        *why = "too many connections for this user";
        return 429;
    }
    return 0;
}

int gw_admission_user_full(gw_t *gw, const char *uid)
{
    const gw_user_t *u = gw_index_user(gw, uid, strlen(uid));
    if (!u || u->count < (uint64_t)gw->cfg.max_connections_per_user)
        return 0;
    gw->metrics.connections_refused[GW_REFUSED_USER]++;
    return 1;
}

int gw_admission_opened(gw_t *gw, gw_conn_t *c, struct lws *wsi)
{
    char ip[INET6_ADDRSTRLEN + 8];
    gw_admission_client_ip(gw, wsi, ip, sizeof ip);
    gw_peer_t *peer = peer_of(gw, ip, 1);
    if (!peer)
        return pl_map_size(gw->peers) >= PEERS_MAX ? 0 : -1; /* full: not tracked */
    peer->count++;
    c->peer = peer;
    return 0;
}

void gw_admission_closed(gw_t *gw, gw_conn_t *c)
{
    gw_peer_t *peer = c->peer;
    c->peer = NULL;
    if (peer)
        peer->count--; /* the entry stays for its bucket: gw_admission_sweep frees it */
}

void gw_admission_flooded(gw_t *gw, gw_conn_t *c)
{
    if (c->peer)
        gw_bucket_charge(&c->peer->connects, gw->cfg.connect_rate_per_ip,
                         gw->cfg.connect_burst_per_ip, pl_mono_ms(), GW_FLOOD_CONNECT_PENALTY);
}

typedef struct {
    gw_t *gw;
    int64_t now;
    gw_peer_t *idle[256];
    int n;
} sweep_t;

static void collect_idle(const void *key, size_t klen, void *value, void *arg)
{
    (void)key, (void)klen;
    sweep_t *s = arg;
    gw_peer_t *p = value;
    if (p->count || s->n == (int)(sizeof s->idle / sizeof s->idle[0]))
        return;
    /* refilled by now: forgetting it changes nothing */
    double tokens = p->connects.tokens + (double)(s->now - p->connects.refill_ms) *
                                             (double)s->gw->cfg.connect_rate_per_ip / 1000.0;
    if (s->gw->cfg.connect_rate_per_ip == 0 || tokens >= (double)s->gw->cfg.connect_burst_per_ip)
        s->idle[s->n++] = p;
}

void gw_admission_sweep(gw_t *gw, int64_t now_ms)
{
    if (now_ms < gw->next_peer_sweep_ms)
        return;
    gw->next_peer_sweep_ms = now_ms + 1000;
    sweep_t s = {gw, now_ms, {0}, 0};
    do { /* a map cannot change while it is walked: collect, then free */
        s.n = 0;
        pl_map_each(gw->peers, collect_idle, &s);
        for (int i = 0; i < s.n; i++) {
            pl_map_remove(gw->peers, s.idle[i]->ip, strlen(s.idle[i]->ip));
            free(s.idle[i]);
        }
    } while (s.n == (int)(sizeof s.idle / sizeof s.idle[0]));
}
