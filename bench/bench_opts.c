/*  bench_opts: getopt_long parsing and target validation (see bench_opts.h). */
#include "bench_opts.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SAFE "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"

static void usage(FILE *out)
{
    fprintf(out, "usage: parley-bench [options]\n"
                 "Drives a Parley gateway on this machine with authenticated WebSocket users.\n"
                 "\n"
                 "  --url URL            gateway endpoint, loopback only [ws://127.0.0.1:8080/ws]\n"
                 "  --secret S           HS256 secret for the users' tokens [$JWT_SECRET]\n"
                 "  --users N            connections, one user each [1000]\n"
                 "  --room-size N        participants per group conversation [10]\n"
                 "  --rate R             messages/s over all senders, open loop [1000]\n"
                 "  --duration S         measured window in seconds [30]\n"
                 "  --warmup S           sending before the window, not measured [5]\n"
                 "  --drain S            max wait for late acks/deliveries after it [5]\n"
                 "  --connect-rate N     connections opened per second [500]\n"
                 "  --setup-timeout S    connect+auth+rooms deadline [30 + 2*users/connect-rate]\n"
                 "  --size N             message content length in characters [64]\n"
                 "  --idle               hold N authenticated idle connections for --duration\n"
                 "                       and report gateway RSS per connection\n"
                 "  --storm              idle connections, CPU and RSS counted from before the\n"
                 "                       first connect until --duration s after the last\n"
                 "                       auth_success (or SIGUSR1: settled); per connection\n"
                 "  --source ADDR        bind the connections to this loopback address\n"
                 "                       (several processes: several addresses) [any]\n"
                 "  --json               also print one JSON summary line\n"
                 "  --pids LIST          processes to account CPU to: pid or group:pid, comma\n"
                 "                       separated (gateway,chat,presence,call,broker,postgres,\n"
                 "                       other); default: found from the gateway's port\n"
                 "  --pg-port P          PostgreSQL port of the stack (TCP or Unix socket)\n"
                 "  --run-id ID          prefix of the user ids [random]\n"
                 "  --quiet              no per-second progress on stderr\n"
                 "  --timeline FILE      write the window's acks per 100 ms as CSV: when sent,\n"
                 "                       how many, the slowest, and how many over 10 ms\n"
                 "  --verbose            libwebsockets warnings on stderr\n"
                 "  --help\n");
}

/* Accept 127.0.0.0/8, ::1 and "localhost"; write the numeric form to host. */
static int loopback_host(const char *name, char *host, size_t cap)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(name, "localhost") == 0)
        name = "127.0.0.1";
    if (inet_pton(AF_INET, name, &a4) == 1) {
        if ((ntohl(a4.s_addr) >> 24) != 127)
            return -1;
    } else if (inet_pton(AF_INET6, name, &a6) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&a6))
            return -1;
    } else {
        return -1;
    }
    if (strlen(name) >= cap)
        return -1;
    strcpy(host, name);
    return 0;
}

/* Split ws://host[:port][/path] and check the host. */
static int parse_url(bench_opts_t *o, const char *url)
{
    if (strncmp(url, "ws://", 5) != 0) {
        fprintf(stderr, "parley-bench: --url must be ws://<loopback>[:port]/path\n");
        return -1;
    }
    const char *h = url + 5;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    char hostport[128], name[128];
    if (hl == 0 || hl >= sizeof hostport)
        return -1;
    memcpy(hostport, h, hl);
    hostport[hl] = '\0';
    const char *portp = NULL;
    if (hostport[0] == '[') { /* [v6]:port */
        char *rb = strchr(hostport, ']');
        if (!rb)
            return -1;
        *rb = '\0';
        snprintf(name, sizeof name, "%s", hostport + 1);
        portp = rb[1] == ':' ? rb + 2 : NULL;
    } else {
        char *colon = strrchr(hostport, ':');
        if (colon) {
            *colon = '\0';
            portp = colon + 1;
        }
        snprintf(name, sizeof name, "%s", hostport);
    }
    o->port = portp ? atoi(portp) : 80;
    if (o->port <= 0 || o->port > 65535)
        return -1;
    if (loopback_host(name, o->host, sizeof o->host)) {
        fprintf(stderr, "parley-bench: refusing %s: only loopback targets are allowed\n", name);
        return -1;
    }
    snprintf(o->path, sizeof o->path, "%s", slash ? slash : "/");
    if (strspn(o->path, SAFE "/%") != strlen(o->path)) {
        fprintf(stderr, "parley-bench: --url path: letters, digits and /-_.~%% only "
                        "(no query: the tool adds ?token=)\n");
        return -1;
    }
    snprintf(o->url, sizeof o->url, "%s", url);
    return 0;
}

static void defaults(bench_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->secret = getenv("JWT_SECRET");
    o->users = 1000;
    o->room_size = 10;
    o->rate = 1000;
    o->duration_s = 30;
    o->warmup_s = 5;
    o->drain_s = 5;
    o->connect_rate = 500;
    o->setup_timeout_s = -1;
    o->size = 64;
    snprintf(o->run_id, sizeof o->run_id, "b%08lx",
             ((unsigned long)time(NULL) * 2654435761u ^ (unsigned long)getpid()) & 0xffffffffu);
}

static int check(bench_opts_t *o)
{
    const char *why = NULL;
    if (!o->secret || !*o->secret)
        why = "--secret (or JWT_SECRET) is required";
    else if (o->users < 1 || o->users > 1000000)
        why = "--users must be 1..1000000";
    else if (!o->idle && (o->room_size < 2 || o->room_size > 65535))
        why = "--room-size must be 2..65535";
    else if (!o->idle && o->users % o->room_size)
        why = "--users must be a multiple of --room-size";
    else if (!o->idle && !(o->rate > 0 && o->rate <= 1e6))
        why = "--rate must be in (0, 1000000]";
    else if (o->duration_s < 1 || o->duration_s > 86400 || o->warmup_s < 0 || o->warmup_s > 3600 ||
             o->drain_s < 0 || o->drain_s > 600)
        why = "--duration 1..86400, --warmup 0..3600, --drain 0..600";
    else if (!o->run_id[0] || strspn(o->run_id, SAFE) != strlen(o->run_id))
        why = "--run-id: letters, digits and -_.~ only";
    else if (o->connect_rate < 1)
        why = "--connect-rate must be positive";
    else if (o->size < 1 || o->size > 16384)
        why = "--size must be 1..16384";
    if (why) {
        fprintf(stderr, "parley-bench: %s\n", why);
        return -1;
    }
    if (o->setup_timeout_s < 0)
        o->setup_timeout_s = 30 + 2 * o->users / o->connect_rate;
    return 0;
}

int bench_opts_parse(bench_opts_t *o, int argc, char **argv)
{
    enum {
        O_URL = 256,
        O_SECRET,
        O_USERS,
        O_ROOM,
        O_RATE,
        O_DUR,
        O_WARM,
        O_DRAIN,
        O_CRATE,
        O_SETUP,
        O_SIZE,
        O_IDLE,
        O_JSON,
        O_PIDS,
        O_PGPORT,
        O_RUNID,
        O_QUIET,
        O_TIMELINE,
        O_VERBOSE,
        O_STORM,
        O_SOURCE,
        O_HELP
    };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, O_URL},
        {"secret", required_argument, NULL, O_SECRET},
        {"users", required_argument, NULL, O_USERS},
        {"room-size", required_argument, NULL, O_ROOM},
        {"rate", required_argument, NULL, O_RATE},
        {"duration", required_argument, NULL, O_DUR},
        {"warmup", required_argument, NULL, O_WARM},
        {"drain", required_argument, NULL, O_DRAIN},
        {"connect-rate", required_argument, NULL, O_CRATE},
        {"setup-timeout", required_argument, NULL, O_SETUP},
        {"size", required_argument, NULL, O_SIZE},
        {"idle", no_argument, NULL, O_IDLE},
        {"json", no_argument, NULL, O_JSON},
        {"pids", required_argument, NULL, O_PIDS},
        {"pg-port", required_argument, NULL, O_PGPORT},
        {"run-id", required_argument, NULL, O_RUNID},
        {"quiet", no_argument, NULL, O_QUIET},
        {"timeline", required_argument, NULL, O_TIMELINE},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"storm", no_argument, NULL, O_STORM},
        {"source", required_argument, NULL, O_SOURCE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    defaults(o);
    const char *url = "ws://127.0.0.1:8080/ws";
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_URL:
            url = optarg;
            break;
        case O_SECRET:
            o->secret = optarg;
            break;
        case O_USERS:
            o->users = atoi(optarg);
            break;
        case O_ROOM:
            o->room_size = atoi(optarg);
            break;
        case O_RATE:
            o->rate = atof(optarg);
            break;
        case O_DUR:
            o->duration_s = atoi(optarg);
            break;
        case O_WARM:
            o->warmup_s = atoi(optarg);
            break;
        case O_DRAIN:
            o->drain_s = atoi(optarg);
            break;
        case O_CRATE:
            o->connect_rate = atoi(optarg);
            break;
        case O_SETUP:
            o->setup_timeout_s = atoi(optarg);
            break;
        case O_SIZE:
            o->size = atoi(optarg);
            break;
        case O_IDLE:
            o->idle = 1;
            break;
        case O_JSON:
            o->json = 1;
            break;
        case O_PIDS:
            o->pids = optarg;
            break;
        case O_PGPORT:
            o->pg_port = atoi(optarg);
            break;
        case O_RUNID:
            snprintf(o->run_id, sizeof o->run_id, "%s", optarg);
            break;
        case O_TIMELINE:
            o->timeline = optarg;
            break;
        case O_QUIET:
            o->quiet = 1;
            break;
        case O_VERBOSE:
            o->verbose = 1;
            break;
        case O_STORM:
            o->storm = o->idle = 1;
            break;
        case O_SOURCE:
            if (loopback_host(optarg, o->source, sizeof o->source)) {
                fprintf(stderr, "parley-bench: --source must be a numeric loopback address\n");
                return -1;
            }
            break;
        case O_HELP:
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "parley-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (parse_url(o, url)) {
        fprintf(stderr, "parley-bench: bad --url '%s'\n", url);
        return -1;
    }
    if (o->source[0] && !strchr(o->source, ':') != !strchr(o->host, ':')) {
        fprintf(stderr, "parley-bench: --source and --url must be the same address family\n");
        return -1;
    }
    return check(o);
}
