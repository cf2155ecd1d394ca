/*  bench_proc: /proc readers for the stack's CPU and memory (see bench_proc.h).
    Why listeners: several Parley stacks may run on one machine (each developer's,
    the benchmark's own); the process that owns the listening socket of the port
    under test is the gateway being measured, whatever else is running. */
#include "bench_proc.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const group_names[BENCH_G_COUNT] = {
    "gateway", "chat", "presence", "call", "broker", "postgres", "other", "kernel",
};

static const char *const comm_names[BENCH_G_COUNT] = {
    "parley-gateway",
    "parley-chat",
    "parley-presence",
    "parley-call",
    "parley-broker",
    "postgres",
    NULL,
    NULL,
};

const char *bench_group_name(int group)
{
    return group >= 0 && group < BENCH_G_COUNT ? group_names[group] : "?";
}

/* Read a small /proc file into buf (NUL-terminated). Returns length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (ssize_t)n;
}

static int read_comm(int pid, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    ssize_t n = read_small(path, out, cap);
    if (n <= 0)
        return -1;
    if (out[n - 1] == '\n')
        out[n - 1] = '\0';
    return 0;
}

/* utime+stime and ppid of a process; -1 if it is gone. */
static int read_stat(int pid, uint64_t *ticks, int *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return -1;
    const char *rp = strrchr(buf, ')'); /* comm may contain spaces and parens */
    if (!rp)
        return -1;
    char state;
    int pp;
    unsigned long long ut, st;
    if (sscanf(rp + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &pp, &ut,
               &st) != 4)
        return -1;
    if (ticks)
        *ticks = ut + st;
    if (ppid)
        *ppid = pp;
    return 0;
}

long bench_rss_kb(int pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return -1;
    const char *p = strstr(buf, "\nVmRSS:");
    if (!p)
        return -1;
    return strtol(p + 7, NULL, 10);
}

void bench_host_cpu(bench_host_cpu_t *out)
{
    char buf[512];
    unsigned long long v[8] = {0};
    out->busy = out->total = 0;
    if (read_small("/proc/stat", buf, sizeof buf) <= 0)
        return;
    if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) < 4)
        return;
    for (int i = 0; i < 8; i++)
        out->total += v[i];
    out->busy = out->total - v[3] - v[4];
}

/* One row of /proc/net/tcp{,6}. */
typedef struct {
    unsigned long inode;
    int lport, rport;
    unsigned state; /* 0x01 established, 0x0A listen */
} tcp_row_t;

typedef struct {
    tcp_row_t *v;
    size_t n, cap;
} tcp_table_t;

static void table_add(tcp_table_t *t, const tcp_row_t *r)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        tcp_row_t *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = *r;
}

/* PostgreSQL's Unix socket is named .s.PGSQL.<port>: record its listening socket as a
   listener on that port, so a private PostgreSQL without TCP is found by --pg-port. */
static void load_unix_listeners(tcp_table_t *t)
{
    FILE *fp = fopen("/proc/net/unix", "re");
    if (!fp)
        return;
    char line[512];
    while (fgets(line, sizeof line, fp)) {
        unsigned long flags, inode;
        char path[400];
        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %399s", &flags, &inode, path) != 3)
            continue;
        const char *s = strstr(path, ".s.PGSQL.");
        if (!s || !(flags & 0x10000)) /* __SO_ACCEPTCON: a listening socket */
            continue;
        tcp_row_t r = {inode, atoi(s + 9), 0, 0x0A};
        table_add(t, &r);
    }
    fclose(fp);
}

static void tcp_table_load(tcp_table_t *t)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    t->v = NULL;
    t->n = t->cap = 0;
    for (size_t f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "re");
        if (!fp)
            continue;
        char line[512];
        while (fgets(line, sizeof line, fp)) {
            char local[64], remote[64];
            tcp_row_t r;
            if (sscanf(line, " %*d: %63s %63s %x %*s %*s %*s %*d %*d %lu", local, remote, &r.state,
                       &r.inode) != 4)
                continue;
            const char *lc = strrchr(local, ':'), *rc = strrchr(remote, ':');
            if (!lc || !rc || !r.inode)
                continue;
            r.lport = (int)strtol(lc + 1, NULL, 16);
            r.rport = (int)strtol(rc + 1, NULL, 16);
            table_add(t, &r);
        }
        fclose(fp);
    }
    load_unix_listeners(t);
}

static const tcp_row_t *tcp_by_inode(const tcp_table_t *t, unsigned long inode)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].inode == inode)
            return &t->v[i];
    return NULL;
}

/* Call `fn` for every TCP socket row owned by `pid`. Stops when fn returns non-zero
   and returns that value. */
static int for_each_socket(const tcp_table_t *t, int pid,
                           int (*fn)(const tcp_row_t *row, void *arg), void *arg)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        char path[320], target[64];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        unsigned long inode;
        if (sscanf(target, "socket:[%lu]", &inode) != 1)
            continue;
        const tcp_row_t *row = tcp_by_inode(t, inode);
        if (row)
            rc = fn(row, arg);
    }
    closedir(d);
    return rc;
}

static int is_listener_on(const tcp_row_t *row, void *arg)
{
    return row->state == 0x0A && row->lport == *(int *)arg;
}

/* Pid of the process named `comm` listening on TCP `port`, -1 if not found. */
static int find_listener(const tcp_table_t *t, int port, const char *comm)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int pid = -1;
    struct dirent *e;
    while (pid < 0 && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int p = atoi(e->d_name);
        char name[64];
        if (read_comm(p, name, sizeof name) || strcmp(name, comm))
            continue;
        if (for_each_socket(t, p, is_listener_on, &port))
            pid = p;
    }
    closedir(d);
    return pid;
}

/* Ports collected from a process's sockets. */
typedef struct {
    int port[64];
    int n;
    int listening; /* collect listening local ports (1) or established remote ports (0) */
} port_set_t;

static int collect_port(const tcp_row_t *row, void *arg)
{
    port_set_t *s = arg;
    int want = s->listening ? row->state == 0x0A : row->state == 0x01;
    int port = s->listening ? row->lport : row->rport;
    if (!want || s->n == (int)(sizeof s->port / sizeof s->port[0]))
        return 0;
    for (int i = 0; i < s->n; i++)
        if (s->port[i] == port)
            return 0;
    s->port[s->n++] = port;
    return 0;
}

static int connects_to(const tcp_row_t *row, void *arg)
{
    const port_set_t *s = arg;
    if (row->state != 0x01)
        return 0;
    for (int i = 0; i < s->n; i++)
        if (row->rport == s->port[i])
            return 1;
    return 0;
}

static int group_of_comm(const char *name)
{
    for (int g = 0; g < BENCH_G_COUNT; g++)
        if (comm_names[g] && strcmp(name, comm_names[g]) == 0)
            return g;
    return -1;
}

static int group_of_label(const char *s, size_t n)
{
    for (int g = 0; g < BENCH_G_COUNT; g++)
        if (strlen(group_names[g]) == n && strncmp(s, group_names[g], n) == 0)
            return g;
    return -1;
}

static bench_proc_t *find_pid(bench_procs_t *self, int pid)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->v[i].pid == pid)
            return &self->v[i];
    return NULL;
}

static bench_proc_t *add_pid(bench_procs_t *self, int pid, int group)
{
    bench_proc_t *p = find_pid(self, pid);
    if (p)
        return p;
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 32;
        bench_proc_t *v = realloc(self->v, cap * sizeof *v);
        if (!v)
            return NULL;
        self->v = v;
        self->cap = cap;
    }
    p = &self->v[self->n++];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    p->group = group;
    return p;
}

/* Does process `pid` (named like `group`) belong to the stack under test? */
static int wanted(const bench_procs_t *self, int pid, int group)
{
    if (group == BENCH_G_POSTGRES) {
        int ppid = 0;
        if (self->postmaster_pid <= 0)
            return 1;
        if (pid == self->postmaster_pid)
            return 1;
        return read_stat(pid, NULL, &ppid) == 0 && ppid == self->postmaster_pid;
    }
    if (self->scoped)
        return 0; /* parley processes were fixed by scope_stack() */
    if (group == BENCH_G_GATEWAY && self->gateway_pid > 0)
        return pid == self->gateway_pid;
    return 1;
}

/* Walk /proc calling fn(self, pid, comm) for every process. */
static void each_process(bench_procs_t *self, void (*fn)(bench_procs_t *, int, const char *))
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int pid = atoi(e->d_name);
        char name[64];
        if (read_comm(pid, name, sizeof name) == 0)
            fn(self, pid, name);
    }
    closedir(d);
}

static void discover_one(bench_procs_t *self, int pid, const char *name)
{
    int g = group_of_comm(name);
    int ppid = 0;
    if (g >= 0 && wanted(self, pid, g))
        add_pid(self, pid, g);
    else if (g < 0 && read_stat(pid, NULL, &ppid) == 0 && (ppid == 2 || pid == 2))
        add_pid(self, pid, BENCH_G_KERNEL); /* children of kthreadd */
}

static void discover(bench_procs_t *self)
{
    each_process(self, discover_one);
}

/* With --pids and --pg-port: the postmaster on that port and its children, which
   come and go during a run and cannot be named in advance. */
static void discover_postgres_one(bench_procs_t *self, int pid, const char *name)
{
    if (group_of_comm(name) == BENCH_G_POSTGRES && wanted(self, pid, BENCH_G_POSTGRES))
        add_pid(self, pid, BENCH_G_POSTGRES);
}

static void discover_postgres(bench_procs_t *self)
{
    if (self->postmaster_pid > 0)
        each_process(self, discover_postgres_one);
}

/* State shared by the scoping walk. */
static const tcp_table_t *scope_table;
static port_set_t scope_broker_ports;

static void scope_one(bench_procs_t *self, int pid, const char *name)
{
    int g = group_of_comm(name);
    if (g != BENCH_G_CHAT && g != BENCH_G_PRESENCE && g != BENCH_G_CALL)
        return;
    if (for_each_socket(scope_table, pid, connects_to, &scope_broker_ports))
        add_pid(self, pid, g);
}

/* The PostgreSQL port named in a service's DB_CONNECTION_STRING / <SVC>_DB_URL
   ("port=N" conninfo or a postgres://host:N/ URL), 0 if none. Needed because the
   services may reach PostgreSQL over a Unix socket, whose peer /proc does not show. */
static int db_port_from_environ(int pid)
{
    char path[64], env[16384];
    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(env, 1, sizeof env - 1, f);
    fclose(f);
    env[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
        const char *v = env + i;
        if (strncmp(v, "DB_CONNECTION_STRING=", 21) && strncmp(v, "CHAT_DB_URL=", 12))
            continue;
        const char *p = strstr(v, "port=");
        if (p)
            return atoi(p + 5);
        const char *scheme = strstr(v, "://");
        const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
        const char *host = at ? at + 1 : scheme ? scheme + 3 : NULL;
        const char *colon = host ? strchr(host, ':') : NULL;
        const char *slash = host ? strchr(host, '/') : NULL;
        if (colon && (!slash || colon < slash))
            return atoi(colon + 1);
    }
    return 0;
}

/* The PostgreSQL the stack's services use: a listener among the TCP ports they are
   connected to, else the port their environment names. -1 if none found. */
static int postmaster_of_services(bench_procs_t *self, const tcp_table_t *t)
{
    for (size_t i = 0; i < self->n; i++) {
        if (self->v[i].group != BENCH_G_CHAT && self->v[i].group != BENCH_G_PRESENCE &&
            self->v[i].group != BENCH_G_CALL)
            continue;
        port_set_t rp = {.listening = 0};
        for_each_socket(t, self->v[i].pid, collect_port, &rp);
        for (int k = 0; k < rp.n; k++) {
            int pm = find_listener(t, rp.port[k], "postgres");
            if (pm > 0)
                return pm;
        }
        int port = db_port_from_environ(self->v[i].pid);
        int pm = port > 0 ? find_listener(t, port, "postgres") : -1;
        if (pm > 0)
            return pm;
    }
    return -1;
}

/* The value of `name` in a process's environment (the first 32 KiB of it), copied to
   out. 0 when present, -1 when absent, unreadable or too long. */
static int environ_value(int pid, const char *name, char *out, size_t cap)
{
    static char env[32768]; /* one thread; too big for the stack of a small helper */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(env, 1, sizeof env - 1, f);
    fclose(f);
    env[n] = '\0';
    size_t nl = strlen(name);
    for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
        if (strncmp(env + i, name, nl) || env[i + nl] != '=')
            continue;
        const char *v = env + i + nl + 1;
        if (strlen(v) >= cap)
            return -1;
        strcpy(out, v);
        return 0;
    }
    return -1;
}

static char scope_ipc_dir[512];

static void scope_ipc_one(bench_procs_t *self, int pid, const char *name)
{
    int g = group_of_comm(name);
    char dir[sizeof scope_ipc_dir];
    if (g != BENCH_G_CHAT && g != BENCH_G_PRESENCE && g != BENCH_G_CALL && g != BENCH_G_BROKER)
        return;
    if (environ_value(pid, "BROKER_IPC_DIR", dir, sizeof dir) == 0 && strcmp(dir, scope_ipc_dir) == 0)
        add_pid(self, pid, g);
}

/* The bus over Unix sockets (BROKER_IPC_DIR, what scripts/run-stack.sh sets up): /proc
   does not show a Unix socket's peer, so the stack is the broker and services whose
   BROKER_IPC_DIR is the gateway's. 0 when a broker was found that way. */
static int scope_by_ipc_dir(bench_procs_t *self)
{
    if (environ_value(self->gateway_pid, "BROKER_IPC_DIR", scope_ipc_dir, sizeof scope_ipc_dir) ||
        !scope_ipc_dir[0])
        return -1;
    add_pid(self, self->gateway_pid, BENCH_G_GATEWAY);
    each_process(self, scope_ipc_one);
    for (size_t i = 0; i < self->n; i++)
        if (self->v[i].group == BENCH_G_BROKER)
            return 0;
    return -1;
}

/* Follow the sockets: gateway (listener of gw_port) -> the broker it connects to ->
   the services connected to that broker (or, bus over Unix sockets, the environment).
   Leaves self->scoped = 0 on any miss. */
static void scope_stack(bench_procs_t *self, const tcp_table_t *t, int gw_port)
{
    self->gateway_pid = find_listener(t, gw_port, "parley-gateway");
    if (self->gateway_pid < 0)
        return;
    port_set_t rp = {.listening = 0};
    for_each_socket(t, self->gateway_pid, collect_port, &rp);
    int broker = -1;
    for (int i = 0; i < rp.n && broker < 0; i++)
        broker = find_listener(t, rp.port[i], "parley-broker");
    if (broker < 0) {
        if (scope_by_ipc_dir(self) == 0)
            self->scoped = 1;
        else
            self->n = 0; /* found by name after all: start from nothing */
        return;
    }
    port_set_t bp = {.listening = 1};
    for_each_socket(t, broker, collect_port, &bp);
    add_pid(self, self->gateway_pid, BENCH_G_GATEWAY);
    add_pid(self, broker, BENCH_G_BROKER);
    scope_table = t;
    scope_broker_ports = bp;
    each_process(self, scope_one);
    scope_table = NULL;
    self->scoped = 1;
}

static int count_postmasters(bench_procs_t *self, int *one)
{
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int pid = atoi(e->d_name), ppid = 0;
        char name[64], pname[64];
        if (read_comm(pid, name, sizeof name) || strcmp(name, "postgres") ||
            read_stat(pid, NULL, &ppid))
            continue;
        if (read_comm(ppid, pname, sizeof pname) == 0 && strcmp(pname, "postgres") == 0)
            continue; /* a backend or auxiliary process */
        n++;
        *one = pid;
    }
    closedir(d);
    return n;
}

/* Append a remark to self->warn (shown in the report). */
static void warnf(bench_procs_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(bench_procs_t *self, const char *fmt, ...)
{
    size_t o = strlen(self->warn);
    if (o >= sizeof self->warn - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->warn + o, sizeof self->warn - o, fmt, ap);
    va_end(ap);
}

static void find_postmaster(bench_procs_t *self, const tcp_table_t *t, int pg_port)
{
    if (pg_port > 0) {
        self->postmaster_pid = find_listener(t, pg_port, "postgres");
        if (self->postmaster_pid < 0)
            warnf(self, "no postgres listens on port %d: all postgres summed; ", pg_port);
        return;
    }
    if (self->scoped)
        self->postmaster_pid = postmaster_of_services(self, t);
    if (self->postmaster_pid > 0)
        return;
    int one = -1, n = count_postmasters(self, &one);
    if (n == 1)
        self->postmaster_pid = one;
    else if (n > 1)
        warnf(self, "%d PostgreSQL servers running: all summed (use --pg-port); ", n);
}

static int parse_spec(bench_procs_t *self, const char *spec)
{
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        int group = -1;
        const char *num = p;
        if (colon) {
            group = group_of_label(p, (size_t)(colon - p));
            if (group < 0)
                return -1;
            num = colon + 1;
        }
        char *stop;
        long pid = strtol(num, &stop, 10);
        if (pid <= 0 || stop != p + len)
            return -1;
        if (group < 0) {
            char name[64];
            group = read_comm((int)pid, name, sizeof name) ? BENCH_G_OTHER : group_of_comm(name);
            if (group < 0)
                group = BENCH_G_OTHER;
        }
        if (!add_pid(self, (int)pid, group))
            return -1;
        if (group == BENCH_G_GATEWAY && self->gateway_pid < 0)
            self->gateway_pid = (int)pid;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

static void note_duplicates(bench_procs_t *self)
{
    int count[BENCH_G_COUNT] = {0};
    for (size_t i = 0; i < self->n; i++)
        count[self->v[i].group]++;
    for (int g = BENCH_G_GATEWAY; g <= BENCH_G_BROKER; g++)
        if (count[g] > 1)
            warnf(self, "%d %s processes summed (use --pids to pick); ", count[g], group_names[g]);
}

int bench_procs_init(bench_procs_t *self, const char *pids_spec, int gw_port, int pg_port)
{
    memset(self, 0, sizeof *self);
    self->clk_tck = sysconf(_SC_CLK_TCK);
    self->gateway_pid = -1;
    self->postmaster_pid = -1;
    tcp_table_t t;
    if (pids_spec && *pids_spec) {
        self->explicit_pids = 1;
        if (parse_spec(self, pids_spec))
            return -1;
        if (pg_port > 0) { /* the named processes, and the PostgreSQL on that port */
            tcp_table_load(&t);
            find_postmaster(self, &t, pg_port);
            free(t.v);
        }
        return 0;
    }
    tcp_table_load(&t);
    scope_stack(self, &t, gw_port);
    if (self->gateway_pid < 0)
        warnf(self, "no parley-gateway listens on port %d; ", gw_port);
    else if (!self->scoped)
        warnf(self, "broker of the gateway not found: processes found by name; ");
    find_postmaster(self, &t, pg_port);
    free(t.v);
    return 0;
}

void bench_procs_start(bench_procs_t *self)
{
    if (!self->explicit_pids) {
        discover(self);
        note_duplicates(self);
    } else {
        discover_postgres(self);
    }
    for (size_t i = 0; i < self->n; i++)
        self->v[i].have0 = read_stat(self->v[i].pid, &self->v[i].t0, NULL) == 0;
}

void bench_procs_stop(bench_procs_t *self)
{
    /* New ones get have0 = 0: all their CPU falls in the window. */
    if (!self->explicit_pids)
        discover(self);
    else
        discover_postgres(self);
    for (size_t i = 0; i < self->n; i++)
        self->v[i].have1 = read_stat(self->v[i].pid, &self->v[i].t1, NULL) == 0;
}

double bench_procs_group_s(const bench_procs_t *self, int group, int *nprocs)
{
    uint64_t ticks = 0;
    int n = 0;
    for (size_t i = 0; i < self->n; i++) {
        const bench_proc_t *p = &self->v[i];
        if (p->group != group || !p->have1)
            continue;
        n++;
        uint64_t base = p->have0 ? p->t0 : 0;
        if (p->t1 >= base)
            ticks += p->t1 - base;
    }
    if (nprocs)
        *nprocs = n;
    return self->clk_tck > 0 ? (double)ticks / (double)self->clk_tck : 0.0;
}

void bench_procs_free(bench_procs_t *self)
{
    free(self->v);
    self->v = NULL;
    self->n = self->cap = 0;
}
