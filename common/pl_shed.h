/*  pl_shed: the small rules of refusing work at capacity (`overloaded`), shared by the
    gateway (its in-flight bound) and the service runtime (its queue-age budget).
    The one thing to know: a request is shed only by age measured from the gateway's
    wall-clock send time, so the gateway and service hosts' clocks must agree to well
    under the budget (docs/design/overload.md); a send time in the future counts as
    no wait at all, never as a reason to refuse. */
#ifndef PL_SHED_H
#define PL_SHED_H

#include <stdint.h>

/* Shortest and longest retry_after_ms advice given with `overloaded`. */
#define PL_SHED_RETRY_MIN_MS 100
#define PL_SHED_RETRY_MAX_MS 2000
/* Least time between two log lines about shedding (one process). */
#define PL_SHED_LOG_EVERY_MS 1000

/* The budget is SHED_AFTER_MS while more requests wait behind the batch being taken
   (the queue outgrows what one transaction absorbs: saturation), and this many times
   it otherwise (a queue that one batch empties, aged by a stall of the host or the
   database: no reason to refuse, unless the stall is long). */
#define PL_SHED_STALL_FACTOR 4

/* The queue-age budget of a request taken in a batch that was full (`backlog`: more
   waited behind it) or not, for SHED_AFTER_MS `shed_after_ms` (0: off). */
int64_t pl_shed_budget(int64_t shed_after_ms, int backlog);

/* Has a request sent at `sent_ms` (wall clock, epoch ms; 0 = not stamped) waited
   longer than `budget_ms` at `now_ms`? Never true when budget_ms is 0 (shedding off)
   or the request is not stamped. */
int pl_shed_due(int64_t now_ms, int64_t sent_ms, int64_t budget_ms);

/* The retry_after_ms to advise after a request waited `waited_ms` (0 if unknown):
   about as long as the queue it met, within [PL_SHED_RETRY_MIN_MS,
   PL_SHED_RETRY_MAX_MS], plus up to half again of it from `rnd`, so that clients
   refused together do not all come back together. */
int64_t pl_shed_retry_after_ms(int64_t waited_ms, uint32_t rnd);

/* The gateway's adaptive in-flight limit (AIMD, as TCP's congestion window).
   After an `overloaded` answer: the new limit, a fraction (PL_SHED_CUT_KEEP) of what
   is in flight now, never above `limit`, never below min(PL_SHED_LIMIT_MIN, max). */
#define PL_SHED_CUT_KEEP 0.75
#define PL_SHED_LIMIT_MIN 64.0
double pl_shed_limit_cut(double limit, uint32_t inflight, double max);
/* After any other answer: a little higher (about PL_SHED_RAISE_PER_ROUND more once
   `limit` answers came back, i.e. per round trip), never above `max`. `recovering`
   (no cut for PL_SHED_RECOVER_MS): one more per answer, so that the limit doubles
   every round trip and is back at `max` within seconds once the load has dropped. */
#define PL_SHED_RAISE_PER_ROUND 4.0
#define PL_SHED_RECOVER_MS 1000
double pl_shed_limit_raise(double limit, double max, int recovering);

/* A log line per PL_SHED_LOG_EVERY_MS at most, saying how many were shed since. */
typedef struct {
    int64_t last_ms;  /* when the last line was written (monotonic ms), 0 = never */
    uint64_t pending; /* shed since that line */
} pl_shed_log_t;

/* Count one shed request at `now_ms` (monotonic). Returns the number to report (this
   one included) when a line is due now, else 0 (the count is kept for the next). */
uint64_t pl_shed_log_note(pl_shed_log_t *log, int64_t now_ms);

/* A cheap pseudo-random number for the jitter (xorshift; not for secrets). */
uint32_t pl_shed_rand(uint64_t *state);

#endif
