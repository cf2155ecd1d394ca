/*  parley-bench: load generator for a Parley gateway on this machine.
    The one thing to know: the run is bounded — a hard deadline (setup timeout +
    warmup + duration + drain + 30 s) ends the process even if the loop wedges — and
    only loopback targets are accepted. See bench/README.md for usage. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_opts.h"
#include "bench_report.h"
#include "bench_run.h"

static void hard_deadline(int sig)
{
    static const char msg[] = "parley-bench: hard deadline reached, exiting\n";
    (void)sig;
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    _exit(3);
}

/* One descriptor per connection: raise the soft limit as far as the hard one allows. */
static void raise_nofile(int users)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return;
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)users + 64 > rl.rlim_cur)
        fprintf(stderr,
                "parley-bench: warning: open file limit %llu < %d users + 64; "
                "raise it with ulimit -n\n",
                (unsigned long long)rl.rlim_cur, users);
}

static void arm_deadline(const bench_opts_t *o)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hard_deadline;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)(o->setup_timeout_s + o->warmup_s + o->duration_s + o->drain_s + 30));
}

int main(int argc, char **argv)
{
    bench_opts_t opts;
    int rc = bench_opts_parse(&opts, argc, argv);
    if (rc)
        return rc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(opts.users);
    arm_deadline(&opts);

    bench_result_t res;
    rc = bench_run(&opts, &res);
    bench_report_text(stdout, &opts, &res);
    if (opts.json)
        bench_report_json(stdout, &opts, &res);
    if (opts.timeline && bench_report_timeline(opts.timeline, &res))
        rc = -1;
    fflush(stdout);
    bench_result_free(&res);
    alarm(0);
    return rc == 0 ? 0 : 1;
}
