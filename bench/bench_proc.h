/*  bench_proc: CPU seconds and RSS of the stack's processes, read from /proc.
    The one thing to know: CPU is the difference of utime+stime (all threads of a
    process) between two samples, grouped by role (gateway, chat, ...; every postgres
    process summed), plus the kernel's threads (block I/O and network softirq work done
    on the stack's behalf lands there, not in any process). Processes are found by name, the gateway
   and PostgreSQL more precisely by the TCP port they listen on, or given explicitly with --pids. */
#ifndef BENCH_PROC_H
#define BENCH_PROC_H

#include <stddef.h>
#include <stdint.h>

enum {
    BENCH_G_GATEWAY,
    BENCH_G_CHAT,
    BENCH_G_PRESENCE,
    BENCH_G_CALL,
    BENCH_G_BROKER,
    BENCH_G_POSTGRES,
    BENCH_G_OTHER,  /* --pids entries that are none of the above: counted in the stack */
    BENCH_G_KERNEL, /* kernel threads (I/O, softirq): not the stack, shown for context */
    BENCH_G_COUNT
};

typedef struct {
    int pid;
    int group;
    uint64_t t0, t1; /* utime+stime in clock ticks at start and end */
    int have0, have1;
} bench_proc_t;

typedef struct {
    bench_proc_t *v;
    size_t n, cap;
    int explicit_pids;  /* --pids given: no discovery, except PostgreSQL with --pg-port */
    int gateway_pid;    /* listener of the gateway port, -1 if unknown */
    int postmaster_pid; /* PostgreSQL serving the stack (children summed), -1 if unknown */
    int scoped;         /* gateway, broker and services found by following sockets */
    long clk_tck;
    char warn[256]; /* discovery remarks for the report, "" if none */
} bench_procs_t;

/* Prepare sampling. `pids_spec` is NULL or a comma list of "pid" / "group:pid" items
   (group one of gateway, chat, presence, call, broker, postgres, other); `gw_port` is
   the gateway's port; `pg_port` 0 means "every postgres process". 0 or -1 (bad spec). */
int bench_procs_init(bench_procs_t *self, const char *pids_spec, int gw_port, int pg_port);
/* Discover (unless explicit) and take the start sample. */
void bench_procs_start(bench_procs_t *self);
/* Take the end sample; processes that appeared since the start count in full. */
void bench_procs_stop(bench_procs_t *self);
/* CPU seconds used by a group between start and stop; *nprocs gets its process count. */
double bench_procs_group_s(const bench_procs_t *self, int group, int *nprocs);
const char *bench_group_name(int group);
void bench_procs_free(bench_procs_t *self);

/* VmRSS of a process in KiB, -1 if unreadable. */
long bench_rss_kb(int pid);

/* Host-wide CPU jiffies from /proc/stat (busy excludes idle and iowait). */
typedef struct {
    uint64_t busy, total;
} bench_host_cpu_t;
void bench_host_cpu(bench_host_cpu_t *out);

#endif
