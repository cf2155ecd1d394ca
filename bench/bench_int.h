/*  bench_int: the state shared by bench_run.c (phases, the sender, teardown) and
    bench_conn.c (libwebsockets callbacks, frames in and out). Private to bench/.
    The one thing to know: one bench_t per run, owned by bench_run(); lws reaches it
    through lws_context_user(), a connection's conn_t through the wsi's opaque user
    data. Everything runs on one thread, so nothing here is locked. */
#ifndef BENCH_INT_H
#define BENCH_INT_H

#include <libwebsockets.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "bench_run.h"
#include "pl_buf.h"

#define QCAP 16              /* per-connection outgoing queue (frames) */
#define Q_CREATE 0xFFFFFFFFu /* queue entry: create_conversation, not a message */
#define Q_AUTH 0xFFFFFFFEu   /* queue entry: auth again (the first was refused overloaded) */
#define RX_MAX (1u << 20)    /* reassembled frame cap */
#define MAX_MSGS (1u << 24)  /* message table cap (16 M entries, 512 MiB) */

enum { C_NEW, C_CONNECTING, C_OPEN, C_AUTHED, C_CLOSED };
enum { P_CONNECT, P_ROOMS, P_WARMUP, P_MEASURE, P_DRAIN, P_HOLD, P_DONE };

enum { M_MEASURED = 1, M_ACKED = 2, M_FAILED = 4, M_WRITTEN = 8 };

typedef struct {
    struct lws *wsi;
    uint32_t idx;
    uint8_t state;
    uint8_t in_conv; /* got conversation_created */
    uint8_t qhead, qlen;
    uint8_t retry; /* setup refused `overloaded`: Q_AUTH or Q_CREATE again at the next tick */
    uint32_t q[QCAP];
    int64_t t_open_ns; /* when it was opened: --storm times open -> auth_success */
    pl_buf_t rx; /* only used when a frame arrives in pieces */
} conn_t;

typedef struct {
    int64_t conv_id;
    uint32_t authed, ready;
    uint8_t create_queued, usable, failed;
} room_t;

typedef struct {
    int64_t t_ns;  /* scheduled send time (monotonic) */
    uint64_t mask; /* receivers seen, by position in the room (rooms <= 64) */
    uint32_t sender;
    uint16_t ndeliv;
    uint8_t flags;
} msg_t;

typedef struct {
    const bench_opts_t *o;
    bench_result_t *r;
    uv_loop_t loop;
    uv_timer_t tick_timer, connect_timer, finish_timer;
    uv_poll_t send_poll; /* on send_fd, a timerfd: libuv timers only have 1 ms steps */
    int send_fd;
    uv_signal_t sigint, sigterm, sigusr1;
    int settle_requested; /* --storm: SIGUSR1 came before everyone was authenticated */
    struct lws_context *ctx;

    conn_t *conns;
    room_t *rooms;
    int nrooms, rooms_done;
    msg_t *msgs;
    uint32_t nmsgs, msg_cap;
    uint32_t *order; /* sender rotation, spread over rooms */
    uint32_t norder, rr;

    int phase;
    int shutting_down;
    int dead_unauthed; /* connections that failed or closed before auth_success */
    int64_t t_start_ns, t_connect_ns, t_send_ns, t_meas_ns, t_meas_end_ns, t_drain_end_ns;
    int64_t t_hold_end_ns, t_setup_deadline_ns, t_cpu0_ns;
    int64_t t_first_open_ns, t_last_open_ns, t_last_auth_ns; /* 0 until it happens */
    uint64_t nsched; /* sends scheduled since t_send_ns */
    int64_t next_send_ns;

    /* measured-window progress, for ending the drain early */
    uint64_t m_acked_or_failed, m_written, m_deliv_acked;

    /* progress line */
    uint64_t tot_sent, tot_acked, tot_deliv, tot_err;
    uint64_t last_sent, last_acked, last_deliv;
    int64_t last_progress_ns;

    struct rusage ru0;
    bench_host_cpu_t host0;

    char *scratch; /* LWS_PRE + frame */
    size_t scratch_cap;
    char *pad; /* content filler */
    char path[4096];
} bench_t;

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A monotonic time as Unix epoch milliseconds (0 stays 0: "did not happen"). */
static inline double unix_ms(int64_t mono_ns)
{
    struct timespec rt;
    if (mono_ns == 0)
        return 0.0;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t rt_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
    return (double)(rt_ns - now_ns() + mono_ns) / 1e6;
}

static inline double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

static inline void user_id(const bench_t *b, uint32_t idx, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%u", b->o->run_id, idx);
}

static inline room_t *room_of(bench_t *b, const conn_t *c)
{
    return b->o->idle ? NULL : &b->rooms[c->idx / (uint32_t)b->o->room_size];
}

/* lws' idle policy off (hangup 0: lws arms no validity timer). lws 4.1 keeps those
   timers in one sorted list per thread and re-arms them walking it, O(N) per
   connection, which made the tool itself quadratic. Set on the context and on every
   client connection (a client wsi does not take the context's). lws answers the
   gateway's pings whatever the policy. */
extern const lws_retry_bo_t bench_no_idle_policy;

/* bench_conn.c */
extern const struct lws_protocols bench_protocols[];
/* Queue message g (or Q_CREATE) on a connection and ask for a WRITEABLE callback. */
void bench_enqueue(conn_t *c, uint32_t e);
/* Timer callback: open connections at --connect-rate. */
void bench_connect_timer_cb(uv_timer_t *timer);
/* Setup requests refused `overloaded` are sent again, as a good client does after
   retry_after_ms (≥ 100 ms): here at the next 100 ms tick. */
void bench_setup_retry(bench_t *b);

/* bench_run.c */
/* A member of `rm` failed before the room was ready (rm may be NULL in idle mode). */
void bench_room_failed(bench_t *b, room_t *rm);
/* Re-check whether setup is complete after a connection or room changed state. */
void bench_setup_progress(bench_t *b);

#endif
