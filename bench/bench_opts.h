/*  bench_opts: parley-bench's command line.
    The one thing to know: the tool refuses any target that is not a loopback address
    (127.0.0.0/8, ::1, localhost); it is a load generator, and pointing it at someone
    else's server by mistake must be impossible. */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

typedef struct {
    char url[512];
    char host[64]; /* numeric loopback address to connect to */
    int port;
    char path[256];     /* path without the query */
    const char *secret; /* JWT_SECRET */
    int users;          /* connections, one user each */
    int room_size;      /* participants per conversation */
    double rate;        /* messages/s, all senders together */
    int duration_s;     /* measured window */
    int warmup_s;
    int drain_s;         /* max wait for stragglers after the window */
    int connect_rate;    /* connections opened per second */
    int setup_timeout_s; /* connect + auth + rooms must be done by then */
    int size;            /* content length of each message */
    int idle;            /* --idle mode (also set by --storm) */
    int storm;           /* --storm: idle, CPU over connect + settle, not over a hold */
    char source[64];     /* --source: numeric loopback address to bind to, "" = any */
    int json;            /* also print a JSON summary line */
    int quiet;           /* no progress lines on stderr */
    int verbose;         /* libwebsockets warnings */
    const char *pids;    /* --pids spec or NULL */
    const char *timeline; /* --timeline FILE or NULL */
    int pg_port;         /* 0 = auto */
    char run_id[24];     /* prefix of user ids, unique per run */
} bench_opts_t;

/* Parse argv into opts. Returns 0 to run, 1 when --help was printed, -1 on a usage
   error (message already printed on stderr). */
int bench_opts_parse(bench_opts_t *opts, int argc, char **argv);

#endif
