/*  bench_run: the load engine of parley-bench — connections, rooms, the open-loop
    sender and the accounting of acks and deliveries.
    The one thing to know: everything runs on one libuv loop shared with
    libwebsockets (a "foreign loop"), so the tool is single-threaded and epoll-based;
    send times are the *scheduled* times, so a stalled server (or tool) shows up as
    latency instead of silently lowering the offered rate (no coordinated omission). */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include <stdint.h>

#include "bench_hist.h"
#include "bench_opts.h"
#include "bench_proc.h"

/* Error codes of the protocol, in the order the report prints them. */
enum {
    BENCH_E_BAD_REQUEST,
    BENCH_E_UNAUTHENTICATED,
    BENCH_E_FORBIDDEN,
    BENCH_E_NOT_FOUND,
    BENCH_E_CONFLICT,
    BENCH_E_RATE_LIMITED,
    BENCH_E_TOO_LARGE,
    BENCH_E_UNAVAILABLE,
    BENCH_E_OVERLOADED,
    BENCH_E_INTERNAL,
    BENCH_E_OTHER,
    BENCH_E_COUNT
};
extern const char *const bench_error_names[BENCH_E_COUNT];

typedef struct {
    /* setup */
    int users, opened, connected, authed, connect_errors, auth_mismatch;
    int rooms, rooms_ready;
    double setup_s;
    char first_connect_error[128];

    /* measured window: messages whose scheduled send time lies inside it */
    double window_s;        /* wall time between the CPU samples */
    double measured_s;      /* span of scheduled send times measured (= duration) */
    uint64_t sent;          /* scheduled in the window */
    uint64_t unsent;        /* dropped by the tool: connection queue full or closed */
    uint64_t acked, failed; /* message_sent / error replies */
    uint64_t ack_missing;   /* neither acked nor failed after the drain */
    uint64_t dup_acks;
    uint64_t deliv_expected; /* acked x (room_size - 1) */
    uint64_t deliv_received; /* distinct deliveries of acked messages */
    uint64_t deliv_unacked;  /* distinct deliveries of messages never acked */
    uint64_t duplicates;     /* the same message twice at one receiver */
    uint64_t misrouted;      /* delivered to a connection outside its room */
    uint64_t warmup_sent;
    bench_hist_t ack;   /* send -> message_sent, us */
    bench_hist_t deliv; /* send -> new_message at each other participant, us */
    bench_hist_t lag;   /* scheduled -> written by the tool, us */
    bench_hist_t fail;  /* send -> error (refusals: `overloaded` should come at once), us */
    /* --timeline: acks by the 100 ms slot of their scheduled send time */
    struct bench_slot {
        uint32_t acks, over_10ms;
        uint64_t max_us;
    } *slots;
    int nslots;

    /* whole run */
    uint64_t errors[BENCH_E_COUNT];
    uint64_t closes_setup, closes_run; /* by the server or the network, before the end */
    int last_close_code;
    uint64_t unparsed; /* frames the scanner could not read, or without a temp_id */

    /* CPU over the measured window (idle mode: over the hold) */
    bench_procs_t procs;
    double own_cpu_s;
    double host_busy_pct; /* all CPUs of the machine, 100 = every core busy */
    double host_busy_s;   /* the same in CPU seconds */
    int ncpu;

    /* --storm: times as Unix epoch milliseconds (so that several processes' reports
       can be put on one time line), 0 when it did not happen */
    double first_open_ms, last_open_ms, last_auth_ms, window_start_ms, window_end_ms;
    bench_hist_t auth; /* open -> auth_success of each connection, us */
    int settled_by_signal; /* the window was ended by SIGUSR1, not by --duration */

    /* --idle */
    int gateway_pid;
    long rss_before_kb, rss_connected_kb, rss_after_kb, own_rss_kb;

    int interrupted;  /* SIGINT/SIGTERM ended the run early */
    int setup_failed; /* no room (or, idle, no connection) got ready */
} bench_result_t;

/* Run one benchmark as described by `opts`; fills `res` (which the caller releases
   with bench_result_free). Returns 0 when the run completed, -1 when it could not
   start or the setup failed (res says why as far as it got). */
int bench_run(const bench_opts_t *opts, bench_result_t *res);
void bench_result_free(bench_result_t *res);

#endif
