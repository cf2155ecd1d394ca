#!/usr/bin/env bash
# pg.sh: a private PostgreSQL 15 cluster in one directory, for the dev stack and tests.
#
#   pg.sh start   DIR PORT [--fresh]
#                            start it (initdb on first use; --fresh: delete DIR first);
#                            prints the conninfo on stdout
#   pg.sh stop    DIR        stop it (fast shutdown); fine when not running
#   pg.sh crash   DIR        stop it with `-m immediate` (no checkpoint: crash recovery
#                            at the next start), as the chaos harness does
#   pg.sh status  DIR        exit 0 when running, 3 when not
#   pg.sh destroy DIR        stop it and delete DIR
#   pg.sh conninfo DIR PORT  print the conninfo without starting anything
#
# Layout: DIR/data (PGDATA), DIR/sock (Unix socket), DIR/postgres.log. It listens on
# 127.0.0.1:PORT only, with trust authentication for local and 127.0.0.1: this cluster
# is for development and tests, never for production. fsync and synchronous_commit
# stay on: Parley acknowledges a message only after a durable commit, and tests must
# exercise exactly that. initdb and postgres refuse to run as root, so as root every
# server command runs as the `postgres` system user (runuser) and DIR belongs to it.
# The database named by PGDATABASE (default `parley`) is created when missing.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DBNAME=${PGDATABASE:-parley}

die() { echo "pg.sh: $*" >&2; exit 1; }
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 2 ]] || usage
cmd=$1
dir=$2
port=${3:-}
fresh=${4:-}
[[ -z $fresh || $fresh == --fresh ]] || { echo "pg.sh: unknown option $fresh" >&2; exit 2; }
dir=$(realpath -m "$dir")
[[ $cmd == start ]] && mkdir -p "$dir"

if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || die "no 'postgres' system user (install postgresql-15: scripts/install-deps.sh)"
  as_pg() { runuser -u postgres -- "$@"; }
  as_pg_cmd=(runuser -u postgres --)
else
  as_pg() { "$@"; }
  as_pg_cmd=()
fi

# The cluster lives in DIR, unless user postgres cannot reach DIR (a parent such as
# /root is not world-searchable): then in /var/tmp, at a place derived from DIR.
home=$dir
hash=$(printf '%s' "$dir" | md5sum | cut -c1-12)
if [[ $(id -u) -eq 0 ]] && ! as_pg test -x "$(dirname "$dir")" 2>/dev/null; then
  home=/var/tmp/parley-pg-$hash
  [[ $cmd == start ]] && echo "pg.sh: user postgres cannot reach $dir; the cluster lives in $home" >&2
fi
data=$home/data
sock=$home/sock
log=$home/postgres.log

# A Unix socket path is limited to 107 bytes; a deep DIR gets its socket under /tmp.
if (( ${#sock} + 20 > 100 )); then
  sock=/tmp/parley-pg-sock-$hash
fi

[[ -x $PGBIN/pg_ctl ]] || die "$PGBIN/pg_ctl not found (install postgresql-15: scripts/install-deps.sh)"

running() { as_pg "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; }

conninfo() { echo "host=$sock port=$1 user=postgres dbname=$DBNAME"; }

prepare_dirs() {
  mkdir -p "$home" "$sock"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$home" "$sock"
    [[ -d $data ]] && chown -R postgres: "$data"
    as_pg test -x "$home" || die "user postgres cannot enter $home"
  fi
  chmod 755 "$home"
}

do_initdb() {
  echo "pg.sh: initdb in $data" >&2
  as_pg "$PGBIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=trust >"$home/initdb.log" 2>&1 ||
    { cat "$home/initdb.log" >&2; die "initdb failed"; }
  # Our settings go last in postgresql.conf, so they win over the defaults above them.
  cat >>"$data/postgresql.conf" <<CONF

# --- parley scripts/pg.sh (dev/test cluster) ---
listen_addresses = '127.0.0.1'
max_connections = 300
shared_buffers = 128MB
fsync = on                  # the ack-after-commit guarantee depends on it
synchronous_commit = on
full_page_writes = on
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
CONF
}

start() {
  [[ -n $port ]] || usage
  [[ $port =~ ^[0-9]+$ ]] || die "bad port '$port'"
  prepare_dirs
  [[ -f $data/PG_VERSION ]] || do_initdb
  if running; then
    echo "pg.sh: already running in $data" >&2
  else
    # Port and socket dir are given on the command line so a kept cluster can move.
    # setsid: the server must not share the terminal's process group, or Ctrl-C on
    # `make run` would shut it down before the services finish their in-flight work.
    setsid -w "${as_pg_cmd[@]}" "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 \
      -o "-p $port -k $sock -c listen_addresses=127.0.0.1" start >"$home/pg_ctl.log" 2>&1 ||
      { cat "$home/pg_ctl.log" >&2; tail -n 20 "$log" >&2 2>/dev/null; die "could not start PostgreSQL on port $port"; }
    echo "pg.sh: started on 127.0.0.1:$port (socket $sock, log $log)" >&2
  fi
  local actual
  actual=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)
  [[ -z $actual || $actual == "$port" ]] || die "running on port $actual, not $port (stop it first)"
  if ! as_pg psql -h "$sock" -p "$port" -U postgres -d postgres -XtAc \
      "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'" | grep -q 1; then
    as_pg psql -h "$sock" -p "$port" -U postgres -d postgres -Xq -v ON_ERROR_STOP=1 \
      -c "CREATE DATABASE \"$DBNAME\"" >&2
    echo "pg.sh: created database $DBNAME" >&2
  fi
  conninfo "$port"
}

stop() {
  if [[ -f $data/PG_VERSION ]] && running; then
    as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >&2
  else
    echo "pg.sh: not running ($data)" >&2
  fi
}

crash() {
  if [[ -f $data/PG_VERSION ]] && running; then
    as_pg "$PGBIN/pg_ctl" -D "$data" -m immediate -w -t 60 stop >&2
  else
    echo "pg.sh: not running ($data)" >&2
  fi
}

case $cmd in
  start)
    if [[ -n $fresh && -d $home ]]; then stop; rm -rf "$home"; mkdir -p "$dir"; fi
    start ;;
  stop) if [[ -d $home ]]; then stop; else echo "pg.sh: no cluster in $home" >&2; fi ;;
  crash) if [[ -d $home ]]; then crash; else echo "pg.sh: no cluster in $home" >&2; fi ;;
  status)
    if [[ -f $data/PG_VERSION ]] && running; then echo "running"; exit 0; else echo "stopped"; exit 3; fi ;;
  destroy)
    [[ -d $home ]] && stop
    rm -rf "$dir" "$home"
    [[ $sock == /tmp/parley-pg-sock-* ]] && rm -rf "$sock"
    true ;;
  conninfo) [[ -n $port ]] || usage; conninfo "$port" ;;
  *) usage ;;
esac
