/*  bench_run: phases of a run, the open-loop sender, accounting and teardown (see
    bench_run.h; the lws callback and frame handling are in bench_conn.c).
    The one thing to know: no allocation happens per frame. Messages live in one table
    sized for the whole run and are named by their index g ("temp_id":"<sender>.<g>"),
    a connection's outgoing queue holds indices only, and the frame text is built at
    WRITEABLE time in one shared scratch buffer (lws_write copies what the socket does
    not take at once), one lws_write per callback. */
#include "bench_run.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "bench_int.h"

const char *const bench_error_names[BENCH_E_COUNT] = {
    "bad_request",  "unauthenticated", "forbidden",   "not_found", "conflict",
    "rate_limited", "too_large",       "unavailable", "overloaded", "internal", "other",
};

const lws_retry_bo_t bench_no_idle_policy = {.secs_since_valid_ping = 0,
                                             .secs_since_valid_hangup = 0};

static const char *const phase_names[] = {"connect", "rooms", "warmup", "measure",
                                          "drain",   "hold",  "done"};

/* ---------------------------------------------------------------- phases */

static void finish(bench_t *b);
static void start_sending(bench_t *b);
static void stop_send_timer(bench_t *b);

static void cpu_start(bench_t *b)
{
    bench_procs_start(&b->r->procs);
    getrusage(RUSAGE_SELF, &b->ru0);
    bench_host_cpu(&b->host0);
    b->t_cpu0_ns = now_ns();
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void cpu_stop(bench_t *b)
{
    struct rusage ru;
    bench_host_cpu_t host;
    bench_procs_stop(&b->r->procs);
    getrusage(RUSAGE_SELF, &ru);
    bench_host_cpu(&host);
    b->r->window_s = secs(now_ns() - b->t_cpu0_ns);
    b->r->own_cpu_s =
        tv_s(ru.ru_utime) + tv_s(ru.ru_stime) - tv_s(b->ru0.ru_utime) - tv_s(b->ru0.ru_stime);
    uint64_t dt = host.total - b->host0.total;
    b->r->host_busy_pct = dt ? 100.0 * (double)(host.busy - b->host0.busy) / (double)dt : 0.0;
    b->r->host_busy_s = (double)(host.busy - b->host0.busy) / (double)sysconf(_SC_CLK_TCK);
}

/* Every room either became usable or failed: start the clock, or give up. */
static void rooms_settled(bench_t *b)
{
    b->r->setup_s = secs(now_ns() - b->t_start_ns);
    if (b->r->rooms_ready == 0) {
        b->r->setup_failed = 1;
        finish(b);
        return;
    }
    start_sending(b);
}

void bench_room_failed(bench_t *b, room_t *rm)
{
    if (!rm || rm->usable || rm->failed)
        return;
    rm->failed = 1;
    if (++b->rooms_done == b->nrooms && b->phase <= P_ROOMS)
        rooms_settled(b);
}

/* --storm: one line a coordinator (storm.mjs) waits for before it looks whether the
   stack has settled; "authed" counts the connections that got auth_success, "dead"
   those that failed before it, the time is Unix epoch ms of the last auth_success. */
static void storm_announce(bench_t *b)
{
    printf("storm-authed %d %d %.3f\n", b->r->authed, b->dead_unauthed, unix_ms(b->t_last_auth_ns));
    fflush(stdout);
}

/* Idle mode: every connection authenticated or failed. */
static void idle_settled(bench_t *b)
{
    b->r->setup_s = secs(now_ns() - b->t_start_ns);
    if (b->r->authed == 0) {
        b->r->setup_failed = 1;
        finish(b);
        return;
    }
    b->r->rss_connected_kb = bench_rss_kb(b->r->gateway_pid);
    if (!b->o->storm)
        cpu_start(b); /* --storm: the window opened before the first connect */
    b->phase = P_HOLD;
    b->t_hold_end_ns = now_ns() + (int64_t)b->o->duration_s * 1000000000;
    if (b->o->storm) {
        storm_announce(b);
        if (b->settle_requested)
            finish(b);
    }
}

void bench_setup_progress(bench_t *b)
{
    if (b->phase > P_ROOMS)
        return;
    if (b->o->idle) {
        if (b->r->authed + b->dead_unauthed >= b->o->users)
            idle_settled(b);
        return;
    }
    if (b->rooms_done == b->nrooms)
        rooms_settled(b);
}

static void setup_timed_out(bench_t *b)
{
    if (b->o->idle) {
        idle_settled(b);
        return;
    }
    for (int i = 0; i < b->nrooms && b->phase <= P_ROOMS; i++)
        bench_room_failed(b, &b->rooms[i]);
}

static void begin_measure(bench_t *b)
{
    b->phase = P_MEASURE;
    cpu_start(b);
}

static void send_due(bench_t *b, int64_t t);

static void end_measure(bench_t *b)
{
    int64_t t = now_ns();
    if (t < b->t_meas_end_ns)
        b->t_meas_end_ns = t; /* cut short: later sends are not measured */
    send_due(b, t);           /* a tool that fell behind still sends the whole window */
    b->r->measured_s = secs(b->t_meas_end_ns - b->t_meas_ns);
    cpu_stop(b);
    stop_send_timer(b);
    b->phase = P_DRAIN;
    b->t_drain_end_ns = now_ns() + (int64_t)b->o->drain_s * 1000000000;
}

static int drained(const bench_t *b)
{
    uint64_t per = (uint64_t)b->o->room_size - 1;
    return b->m_acked_or_failed >= b->m_written && b->m_deliv_acked >= b->r->acked * per;
}

/* ---------------------------------------------------------------- sending */

/* Spread consecutive sends over rooms: member j of every room, then member j+1. */
static int build_order(bench_t *b)
{
    int rs = b->o->room_size;
    b->order = malloc((size_t)b->o->users * sizeof *b->order);
    if (!b->order)
        return -1;
    b->norder = 0;
    for (int j = 0; j < rs; j++)
        for (int r = 0; r < b->nrooms; r++)
            if (b->rooms[r].usable)
                b->order[b->norder++] = (uint32_t)(r * rs + j);
    return 0;
}

static void send_poll_cb(uv_poll_t *poll, int status, int events);

/* Arm the timerfd to tick at the send interval, clamped to [50 us, 1 ms]. */
static int arm_send_timer(bench_t *b)
{
    int64_t step = (int64_t)(1e9 / b->o->rate);
    step = step < 50000 ? 50000 : step > 1000000 ? 1000000 : step;
    struct itimerspec its = {{0, step}, {0, 1}};
    if (timerfd_settime(b->send_fd, 0, &its, NULL))
        return -1;
    return uv_poll_start(&b->send_poll, UV_READABLE, send_poll_cb);
}

static void start_sending(bench_t *b)
{
    if (build_order(b)) {
        b->r->setup_failed = 1;
        finish(b);
        return;
    }
    int64_t t = now_ns();
    b->t_send_ns = t;
    b->next_send_ns = t;
    b->t_meas_ns = t + (int64_t)b->o->warmup_s * 1000000000;
    b->t_meas_end_ns = b->t_meas_ns + (int64_t)b->o->duration_s * 1000000000;
    b->phase = P_WARMUP;
    if (b->o->warmup_s == 0)
        begin_measure(b);
    if (arm_send_timer(b)) {
        fprintf(stderr, "parley-bench: timerfd failed\n");
        b->r->setup_failed = 1;
        finish(b);
    }
}

/* Next sender in the rotation that still has an open, non-full connection. */
static conn_t *next_sender(bench_t *b)
{
    for (uint32_t tries = 0; tries < b->norder; tries++) {
        conn_t *c = &b->conns[b->order[b->rr]];
        b->rr = (b->rr + 1) % b->norder;
        if (c->state == C_AUTHED)
            return c;
    }
    return NULL;
}

static void send_one(bench_t *b, int64_t t)
{
    int measured = t >= b->t_meas_ns && t < b->t_meas_end_ns;
    if (measured)
        b->r->sent++;
    else
        b->r->warmup_sent++;
    conn_t *c = next_sender(b);
    if (!c || c->qlen == QCAP || b->nmsgs == b->msg_cap) {
        if (measured)
            b->r->unsent++;
        return;
    }
    uint32_t g = b->nmsgs++;
    msg_t *m = &b->msgs[g];
    m->t_ns = t;
    m->sender = c->idx;
    m->flags = measured ? M_MEASURED : 0;
    bench_enqueue(c, g);
    b->tot_sent++;
}

static void stop_send_timer(bench_t *b)
{
    struct itimerspec off;
    memset(&off, 0, sizeof off);
    timerfd_settime(b->send_fd, 0, &off, NULL);
    uv_poll_stop(&b->send_poll);
}

/* Open loop: send everything whose scheduled time has come by `t`, whatever the
   acks say. */
static void send_due(bench_t *b, int64_t t)
{
    while (b->next_send_ns <= t && b->next_send_ns < b->t_meas_end_ns) {
        send_one(b, b->next_send_ns);
        b->nsched++;
        b->next_send_ns = b->t_send_ns + (int64_t)((double)b->nsched * 1e9 / b->o->rate);
    }
    if (b->next_send_ns >= b->t_meas_end_ns)
        stop_send_timer(b);
}

static void send_poll_cb(uv_poll_t *poll, int status, int events)
{
    bench_t *b = poll->data;
    uint64_t expirations;
    if (read(b->send_fd, &expirations, sizeof expirations) < 0)
        return; /* spurious wakeup: EAGAIN */
    send_due(b, now_ns());
}

/* ---------------------------------------------------------------- tick, signals */

static void progress(bench_t *b, int64_t t)
{
    double dt = secs(t - b->last_progress_ns);
    if (b->o->quiet || dt < 1.0)
        return;
    fprintf(stderr,
            "[%6.1fs] %-7s conns %d/%d authed %d rooms %d/%d | sent %.0f/s acked %.0f/s "
            "deliv %.0f/s | errors %llu closes %llu\n",
            secs(t - b->t_start_ns), phase_names[b->phase], b->r->connected, b->o->users,
            b->r->authed, b->r->rooms_ready, b->nrooms, (double)(b->tot_sent - b->last_sent) / dt,
            (double)(b->tot_acked - b->last_acked) / dt,
            (double)(b->tot_deliv - b->last_deliv) / dt, (unsigned long long)b->tot_err,
            (unsigned long long)(b->r->closes_setup + b->r->closes_run));
    b->last_sent = b->tot_sent;
    b->last_acked = b->tot_acked;
    b->last_deliv = b->tot_deliv;
    b->last_progress_ns = t;
}

static void tick_cb(uv_timer_t *timer)
{
    bench_t *b = timer->data;
    int64_t t = now_ns();
    progress(b, t);
    switch (b->phase) {
    case P_CONNECT:
    case P_ROOMS:
        bench_setup_retry(b);
        if (t >= b->t_setup_deadline_ns)
            setup_timed_out(b);
        break;
    case P_WARMUP:
        if (t >= b->t_meas_ns)
            begin_measure(b);
        break;
    case P_MEASURE:
        if (t >= b->t_meas_end_ns)
            end_measure(b);
        break;
    case P_DRAIN:
        if (t >= b->t_drain_end_ns || drained(b))
            finish(b);
        break;
    case P_HOLD:
        if (t >= b->t_hold_end_ns)
            finish(b);
        break;
    default:
        break;
    }
}

/* First signal: close the window now and drain, so the figures stay consistent;
   a second one (or one outside the window) stops at once. */
static void signal_cb(uv_signal_t *sig, int signum)
{
    bench_t *b = sig->data;
    int first = !b->r->interrupted;
    b->r->interrupted = 1;
    if (first && (b->phase == P_WARMUP || b->phase == P_MEASURE)) {
        fprintf(stderr,
                "parley-bench: signal %d, ending the window and draining "
                "(again to stop now)\n",
                signum);
        if (b->phase == P_WARMUP)
            begin_measure(b); /* an empty window keeps the report well-formed */
        end_measure(b);
        return;
    }
    fprintf(stderr, "parley-bench: signal %d, stopping\n", signum);
    finish(b);
}

/* --storm: SIGUSR1 says "the stack has settled" (storm.mjs sends it when presence-svc
   has every connection): close the window now, or as soon as all are authenticated. */
static void settle_cb(uv_signal_t *sig, int signum)
{
    bench_t *b = sig->data;
    (void)signum;
    b->r->settled_by_signal = 1;
    if (b->phase == P_HOLD)
        finish(b);
    else
        b->settle_requested = 1;
}

/* ---------------------------------------------------------------- finish */

static void account(bench_t *b)
{
    uint64_t per = (uint64_t)b->o->room_size - 1;
    for (uint32_t g = 0; g < b->nmsgs; g++) {
        const msg_t *m = &b->msgs[g];
        if (!(m->flags & M_MEASURED))
            continue;
        if (!(m->flags & M_WRITTEN)) {
            b->r->unsent++; /* its connection closed before the tool could write it */
            continue;
        }
        if (m->flags & M_ACKED) {
            b->r->deliv_expected += per;
            b->r->deliv_received += m->ndeliv;
        } else {
            b->r->deliv_unacked += m->ndeliv;
            if (!(m->flags & M_FAILED))
                b->r->ack_missing++;
        }
    }
}

static void close_handle(uv_timer_t *t)
{
    if (!uv_is_closing((uv_handle_t *)t))
        uv_close((uv_handle_t *)t, NULL);
}

static void finish_now(bench_t *b)
{
    if (b->phase == P_DONE)
        return;
    if (b->phase == P_MEASURE)
        end_measure(b);
    if (b->phase == P_HOLD) {
        b->r->rss_after_kb = bench_rss_kb(b->r->gateway_pid);
        cpu_stop(b);
        b->r->window_start_ms = unix_ms(b->t_cpu0_ns);
        b->r->window_end_ms = unix_ms(now_ns());
    }
    b->r->first_open_ms = unix_ms(b->t_first_open_ns);
    b->r->last_open_ms = unix_ms(b->t_last_open_ns);
    b->r->last_auth_ms = unix_ms(b->t_last_auth_ns);
    b->phase = P_DONE;
    if (!b->o->idle)
        account(b);
    b->r->own_rss_kb = bench_rss_kb(getpid());
    b->shutting_down = 1;
    stop_send_timer(b);
    uv_close((uv_handle_t *)&b->send_poll, NULL);
    close_handle(&b->tick_timer);
    close_handle(&b->connect_timer);
    close_handle(&b->finish_timer);
    uv_signal_stop(&b->sigint);
    uv_signal_stop(&b->sigterm);
    uv_signal_stop(&b->sigusr1);
    uv_close((uv_handle_t *)&b->sigint, NULL);
    uv_close((uv_handle_t *)&b->sigterm, NULL);
    uv_close((uv_handle_t *)&b->sigusr1, NULL);
    /* lws closes every connection and releases its handles on this loop; uv_run in
       bench_run() returns once they are all gone */
    lws_context_destroy(b->ctx);
}

static void finish_timer_cb(uv_timer_t *timer)
{
    finish_now(timer->data);
}

/* End the run from the loop, never from inside an lws callback: tearing the lws
   context down there would free the wsi lws is still using. */
static void finish(bench_t *b)
{
    if (b->phase != P_DONE && !uv_is_active((uv_handle_t *)&b->finish_timer))
        uv_timer_start(&b->finish_timer, finish_timer_cb, 0, 0);
}

/* ---------------------------------------------------------------- setup, teardown */

static int alloc_state(bench_t *b)
{
    const bench_opts_t *o = b->o;
    b->conns = calloc((size_t)o->users, sizeof *b->conns);
    if (!b->conns)
        return -1;
    for (int i = 0; i < o->users; i++) {
        b->conns[i].idx = (uint32_t)i;
        pl_buf_init(&b->conns[i].rx, 0);
    }
    size_t frame = (size_t)o->size + 256;
    if (!o->idle) {
        b->nrooms = o->users / o->room_size;
        b->rooms = calloc((size_t)b->nrooms, sizeof *b->rooms);
        if (!b->rooms)
            return -1;
        for (int i = 0; i < b->nrooms; i++)
            b->rooms[i].conv_id = -1;
        double want = o->rate * (o->warmup_s + o->duration_s) * 1.01 + 1024;
        if (want > MAX_MSGS) {
            fprintf(stderr, "parley-bench: rate x (warmup + duration) is too many messages\n");
            return -1;
        }
        b->msg_cap = (uint32_t)want;
        b->msgs = calloc(b->msg_cap, sizeof *b->msgs);
        if (!b->msgs)
            return -1;
        size_t create = (size_t)o->room_size * 40 + 256;
        frame = create > frame ? create : frame;
    }
    b->scratch_cap = LWS_PRE + frame;
    b->scratch = malloc(b->scratch_cap);
    b->pad = malloc((size_t)o->size);
    if (!b->scratch || !b->pad)
        return -1;
    memset(b->pad, 'x', (size_t)o->size);
    return 0;
}

static void free_state(bench_t *b)
{
    if (b->conns)
        for (int i = 0; i < b->o->users; i++)
            pl_buf_free(&b->conns[i].rx);
    free(b->conns);
    free(b->rooms);
    free(b->msgs);
    free(b->order);
    free(b->scratch);
    free(b->pad);
}

static int create_context(bench_t *b)
{
    struct lws_context_creation_info info;
    void *loops[1] = {&b->loop};
    memset(&info, 0, sizeof info);
    info.retry_and_idle_policy = &bench_no_idle_policy;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = bench_protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = loops;
    info.user = b;
    info.pcontext = &b->ctx;
    info.timeout_secs = 30;
    info.connect_timeout_secs = 20;
    b->ctx = lws_create_context(&info);
    return b->ctx ? 0 : -1;
}

static int start_handles(bench_t *b)
{
    b->send_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (b->send_fd < 0 || uv_poll_init(&b->loop, &b->send_poll, b->send_fd))
        return -1;
    b->send_poll.data = b;
    uv_timer_init(&b->loop, &b->tick_timer);
    uv_timer_init(&b->loop, &b->connect_timer);
    uv_timer_init(&b->loop, &b->finish_timer);
    uv_signal_init(&b->loop, &b->sigint);
    uv_signal_init(&b->loop, &b->sigterm);
    uv_signal_init(&b->loop, &b->sigusr1);
    b->tick_timer.data = b->connect_timer.data = b->finish_timer.data = b;
    b->sigint.data = b->sigterm.data = b->sigusr1.data = b;
    uv_signal_start(&b->sigint, signal_cb, SIGINT);
    uv_signal_start(&b->sigterm, signal_cb, SIGTERM);
    if (b->o->storm)
        uv_signal_start(&b->sigusr1, settle_cb, SIGUSR1);
    uv_timer_start(&b->tick_timer, tick_cb, 100, 100);
    uv_timer_start(&b->connect_timer, bench_connect_timer_cb, 0, 10);
    return 0;
}

int bench_run(const bench_opts_t *opts, bench_result_t *res)
{
    bench_t b;
    memset(&b, 0, sizeof b);
    memset(res, 0, sizeof *res);
    b.o = opts;
    b.r = res;
    b.send_fd = -1;
    res->users = opts->users;
    res->gateway_pid = -1;
    res->last_close_code = -1;
    res->ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    bench_hist_init(&res->ack);
    bench_hist_init(&res->deliv);
    bench_hist_init(&res->lag);
    bench_hist_init(&res->auth);
    if (opts->timeline) {
        res->nslots = opts->duration_s * 10;
        res->slots = calloc((size_t)res->nslots, sizeof *res->slots);
        if (!res->slots) {
            fprintf(stderr, "parley-bench: out of memory\n");
            return -1;
        }
    }
    if (bench_procs_init(&res->procs, opts->pids, opts->port, opts->pg_port)) {
        fprintf(stderr, "parley-bench: bad --pids list\n");
        return -1;
    }
    res->gateway_pid = res->procs.gateway_pid;
    if (opts->idle)
        res->rss_before_kb = bench_rss_kb(res->gateway_pid);
    if (alloc_state(&b) || uv_loop_init(&b.loop)) {
        fprintf(stderr, "parley-bench: out of memory\n");
        free_state(&b);
        return -1;
    }
    res->rooms = b.nrooms;
    lws_set_log_level(opts->verbose ? LLL_ERR | LLL_WARN : LLL_ERR, NULL);
    int rc = -1;
    if (create_context(&b)) {
        fprintf(stderr, "parley-bench: libwebsockets context (libuv) failed\n");
    } else {
        b.t_start_ns = b.t_connect_ns = b.last_progress_ns = now_ns();
        b.t_setup_deadline_ns = b.t_start_ns + (int64_t)opts->setup_timeout_s * 1000000000;
        if (start_handles(&b) == 0) {
            if (opts->storm)
                cpu_start(&b); /* connect + authenticate + settle, all of it */
            uv_run(&b.loop, UV_RUN_DEFAULT);
            rc = res->setup_failed ? -1 : 0;
        } else {
            fprintf(stderr, "parley-bench: timerfd: %s\n", strerror(errno));
        }
    }
    if (b.ctx) /* not fully torn down inside the loop */
        lws_context_destroy(b.ctx);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    if (b.send_fd >= 0)
        close(b.send_fd);
    free_state(&b);
    return rc;
}

void bench_result_free(bench_result_t *res)
{
    bench_procs_free(&res->procs);
    free(res->slots);
    res->slots = NULL;
}
