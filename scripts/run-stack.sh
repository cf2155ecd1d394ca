#!/usr/bin/env bash
# run-stack.sh: the whole Parley stack in the foreground (what `make run` starts).
#
# broker, chat, presence, call, one gateway (and parley-hooks when WEBHOOK_URL is set),
# each log line prefixed with its name.
# Configuration comes from the environment (README.md, Configuration) and is passed
# through untouched; only these get defaults here:
#   DB_CONNECTION_STRING  unset: a private PostgreSQL under .run/pg on port PG_PORT
#                         (default 25432, below the ephemeral port range), kept between runs, stopped on exit
#   JWT_SECRET            unset: a fixed, printed development secret, plus sample tokens
#   API_PORT, API_KEYS    the server API (docs/api.md) is on: API_PORT defaults to PORT + 1,
#                         and unset API_KEYS is a development key generated once, kept in
#                         .run/api-key and printed with a sample call
#   BROKER_IPC_DIR        unset: .run/zmq, so the processes of this one machine talk over
#                         Unix sockets instead of loopback TCP (set it empty for TCP only)
#   BUS_CERT_FILE         unset (and BUS_INSECURE not 1): CURVE keys for the bus, one pair
#                         per process, made with parley-keygen under .run/keys on the
#                         first start and kept; the broker admits exactly those
#   TLS_PORT              a second gateway serving wss:// and https:// (default PORT + 2;
#                         empty or 0: none), with a development certificate made on the
#                         first start under .run/tls by scripts/tls-dev-cert.sh and kept
#                         (trust .run/tls/ca.pem). With TLS_CERT_FILE and TLS_KEY_FILE
#                         set, the gateway on PORT serves TLS with them instead.
#   WEBHOOK_URL           set: the webhook worker parley-hooks runs too (docs/api.md);
#                         unset WEBHOOK_SECRET is then a printed development secret
#   PARLEY_BIN_DIR        where the binaries are [build/bin]
#   RUN_BROKERS           how many brokers [1]; with 2, the second binds BROKER_PORT+8
#                         and every process connects to both (BROKER_ENDPOINTS), to try
#                         a broker failing (docs/operations.md, "How many brokers")
# Ctrl-C / SIGTERM stops every process (gateway first, broker last) and the private
# PostgreSQL. If any process dies, everything is stopped and the exit status is 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${PARLEY_BIN_DIR:-$ROOT/build/bin}
RUN_DIR=${PARLEY_RUN_DIR:-$ROOT/.run}
PG_PORT=${PG_PORT:-25432}
STOP_TIMEOUT_S=${STOP_TIMEOUT_S:-20}

say() { printf '[run] %s\n' "$*"; }
die() { printf '[run] error: %s\n' "$*" >&2; exit 1; }

for b in parley-broker parley-chat parley-presence parley-call parley-gateway parley-keygen; do
  [[ -x $BIN/$b ]] || die "$BIN/$b not found: build first (make build)"
done

pg_started=0
names=()
pids=()
stopping=0

stop_all() {
  # Gateway first (no new requests), then the services, the broker last.
  local i pid deadline
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[i]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "${names[i]} did not stop within ${STOP_TIMEOUT_S}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
  if ((pg_started)); then
    say "stopping PostgreSQL"
    "$ROOT/scripts/pg.sh" stop "$RUN_DIR/pg" >/dev/null 2>&1 || true
  fi
}

on_signal() {
  ((stopping)) && return
  stopping=1
  echo
  say "stopping…"
  stop_all
  say "stopped"
  exit 0
}
trap on_signal INT TERM

# --- database ---------------------------------------------------------------
if [[ -z ${DB_CONNECTION_STRING:-} && ! (-n ${CHAT_DB_URL:-} && -n ${PRESENCE_DB_URL:-} && -n ${CALL_DB_URL:-}) ]]; then
  mkdir -p "$RUN_DIR"
  say "starting the private PostgreSQL in $RUN_DIR/pg (port $PG_PORT)"
  DB_CONNECTION_STRING=$("$ROOT/scripts/pg.sh" start "$RUN_DIR/pg" "$PG_PORT")
  pg_started=1
  export DB_CONNECTION_STRING
  say "DB_CONNECTION_STRING=$DB_CONNECTION_STRING"
fi

# --- JWT ---------------------------------------------------------------------
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
mint() { # mint USER ROLE NAME: an HS256 token valid 24 h
  local header payload sig exp
  exp=$(($(date +%s) + 86400))
  header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  payload=$(printf '{"sub":"%s","role":"%s","name":"%s","exp":%d}' "$1" "$2" "$3" "$exp" | b64url)
  sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | b64url)
  printf '%s.%s.%s' "$header" "$payload" "$sig"
}
if [[ -z ${JWT_SECRET:-} ]]; then
  export JWT_SECRET=parley-dev-secret-do-not-use-in-production
  say "JWT_SECRET unset: using the development secret '$JWT_SECRET'"
  say "sample tokens (24 h):"
  say "  student alice: $(mint alice student Alice)"
  say "  mentor  bob:   $(mint bob mentor Bob)"
fi

export DEV_TOKENS=${DEV_TOKENS:-1} # dev stack only: the demo page at / logs in via GET /dev/token

# The server API, for trying the platform-backend side: a key generated once per run
# directory (only its owner can read it), unless API_KEYS names real ones.
export API_PORT=${API_PORT:-$((${PORT:-8080} + 1))}
dev_api_key=
if [[ -z ${API_KEYS:-} ]]; then
  mkdir -p "$RUN_DIR"
  [[ -s $RUN_DIR/api-key ]] || (umask 077 && openssl rand -hex 24 >"$RUN_DIR/api-key")
  dev_api_key=$(<"$RUN_DIR/api-key")
  export API_KEYS="@$RUN_DIR/api-key"
fi

# Every process of this stack runs here: ZeroMQ over Unix sockets skips the loopback
# TCP stack (docs/design/topology.md). The broker still listens on TCP as well.
if [[ -z ${BROKER_IPC_DIR+set} ]]; then
  if (( ${#RUN_DIR} + 4 <= 80 )); then
    export BROKER_IPC_DIR=$RUN_DIR/zmq
  else
    say "$RUN_DIR is too long a path for Unix sockets: ZeroMQ uses TCP only"
  fi
fi

# --- bus keys ----------------------------------------------------------------
# Every ZeroMQ socket is CURVE (docs/design/topology.md): a key pair per process, the
# broker admitting the public keys in keys/clients. Made once, kept between runs.
keys_dir=
if [[ ${BUS_INSECURE:-0} != 1 && -z ${BUS_CERT_FILE:-} ]]; then
  keys_dir=$RUN_DIR/keys
  made=$("$BIN/parley-keygen" --set "$keys_dir" broker gateway chat presence call) ||
    die "parley-keygen could not make the bus keys in $keys_dir"
  [[ -n $made ]] && say "made CURVE keys for the bus in $keys_dir"
  export BUS_SERVER_KEY_FILE=$keys_dir/broker.cert BUS_CLIENT_KEYS_DIR=$keys_dir/clients
fi

# --- TLS ---------------------------------------------------------------------
# wss:// and https:// to try a client against, beside the plain gateway: a second
# gateway (gateways are stateless; any number can serve) with a certificate from a
# development CA made once under .run/tls (docs/operations.md, TLS).
port=${PORT:-8080}
scheme=http
tls_port=
tls_dir=
if [[ -n ${TLS_CERT_FILE:-} || -n ${TLS_KEY_FILE:-} ]]; then
  scheme=https
  say "TLS_CERT_FILE/TLS_KEY_FILE set: the gateway on port $port serves wss:// and https://"
else
  tls_port=${TLS_PORT-$((port + 2))}
  [[ $tls_port == 0 ]] && tls_port=
fi
if [[ -n $tls_port ]]; then
  tls_dir=$RUN_DIR/tls
  made=$("$ROOT/scripts/tls-dev-cert.sh" "$tls_dir") ||
    die "scripts/tls-dev-cert.sh could not make the development certificate in $tls_dir"
  while IFS= read -r line; do [[ -n $line ]] && say "$line"; done <<<"$made"
fi

# --- processes ---------------------------------------------------------------
start() { # start NAME BINARY [VAR=VALUE...]: output prefixed with [NAME]
  local name=$1 bin=$2 cert=${BUS_CERT_FILE:-} key
  shift 2
  # gateway-tls is a gateway: it uses the gateway's key pair, as scaled gateways do;
  # broker2 is a broker, with the brokers' one key pair.
  key=${name%-tls}
  [[ $key == broker2 ]] && key=broker
  [[ -n $keys_dir ]] && cert=$keys_dir/$key.cert
  # Each program runs in its own session (setsid), so Ctrl-C reaches only this script,
  # which stops them in order. The prefixing sed ignores INT/TERM: it must outlive the
  # program it reads, or the program's last log lines would hit a closed pipe.
  BUS_CERT_FILE=$cert setsid env "$@" "$BIN/$bin" > >(trap '' INT TERM; exec sed -u "s/^/[$name] /") 2>&1 &
  names+=("$name")
  pids+=("$!")
  say "started $name (pid $!)"
}

# Brokers: one by default; RUN_BROKERS=2 adds a second (same key pair) 8 ports up.
run_brokers=${RUN_BROKERS:-1}
[[ $run_brokers == 1 || $run_brokers == 2 ]] || die "RUN_BROKERS must be 1 or 2"
start broker parley-broker
if ((run_brokers == 2)); then
  broker_port=${BROKER_PORT:-5550}
  export BROKER_ENDPOINTS="${BROKER_HOST:-127.0.0.1}:$broker_port,${BROKER_HOST:-127.0.0.1}:$((broker_port + 8))"
  start broker2 parley-broker BROKER_PORT=$((broker_port + 8))
  say "two brokers: BROKER_ENDPOINTS=$BROKER_ENDPOINTS"
fi
sleep 0.2
start chat parley-chat
start presence parley-presence
start call parley-call
if [[ -n ${WEBHOOK_URL:-} ]]; then
  [[ -x $BIN/parley-hooks ]] || die "$BIN/parley-hooks not found: build first (make build)"
  if [[ -z ${WEBHOOK_SECRET:-} ]]; then
    export WEBHOOK_SECRET=parley-dev-webhook-secret
    say "WEBHOOK_SECRET is unset: using the development secret '$WEBHOOK_SECRET'"
  fi
  start hooks parley-hooks # not on the bus: reads the outboxes, POSTs to WEBHOOK_URL
fi
start gateway parley-gateway
# The server API stays with the first gateway (API_PORT is one port).
[[ -n $tls_port ]] && start gateway-tls parley-gateway PORT="$tls_port" API_PORT= \
  TLS_CERT_FILE="$tls_dir/cert.pem" TLS_KEY_FILE="$tls_dir/key.pem"

ws=ws
[[ $scheme == https ]] && ws=wss
say "gateway: $ws://127.0.0.1:$port/ (WebSocket; also /ws and /socket.io/), $scheme://127.0.0.1:$port/healthz, /metrics"

check_children() {
  local i
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      local rc=0
      wait "${pids[i]}" 2>/dev/null || rc=$?
      say "${names[i]} exited (status $rc); stopping everything"
      stopping=1
      stop_all
      exit 1
    fi
  done
}

# -k only for a certificate of the caller's own, which need not name 127.0.0.1.
insecure=()
[[ $scheme == https ]] && insecure=(-k)
ready=0
deadline=$((SECONDS + ${READY_TIMEOUT_S:-60}))
while ((!ready)); do
  check_children
  if curl -fsS -o /dev/null --max-time 2 "${insecure[@]}" "$scheme://127.0.0.1:$port/healthz" 2>/dev/null &&
    { [[ -z $tls_port ]] || curl -fsS -o /dev/null --max-time 2 --cacert "$tls_dir/ca.pem" "https://127.0.0.1:$tls_port/healthz" 2>/dev/null; }; then
    ready=1
  elif ((SECONDS > deadline)); then
    say "warning: /healthz is not 200 after ${READY_TIMEOUT_S:-60}s; still waiting"
    deadline=$((SECONDS + 3600))
  else
    sleep 0.25
  fi
done
say "ready: $ws://127.0.0.1:$port/ (Ctrl-C stops everything)"
say "demo page: $scheme://127.0.0.1:$port/ (dev tokens are on in this dev stack)"
if [[ -n $tls_port ]]; then
  say "TLS: wss://localhost:$tls_port/ and https://localhost:$tls_port/ (a development certificate:"
  say "  trust $tls_dir/ca.pem, e.g. curl --cacert, NODE_EXTRA_CA_CERTS, or your browser's authorities)"
fi
key_where="one of API_KEYS"
[[ -n ${dev_api_key:-} ]] && key_where="$RUN_DIR/api-key"
say "server API: http://${API_BIND:-127.0.0.1}:$API_PORT/api/v1/ (docs/api.md, key: $key_where); try:"
say "  curl -s -H 'Authorization: Bearer ${dev_api_key:-<key>}' http://127.0.0.1:$API_PORT/api/v1/mentors"

# Wait for the first child to end (a signal interrupts this wait and runs on_signal).
while :; do
  done_pid=
  rc=0
  wait -n -p done_pid "${pids[@]}" || rc=$?
  [[ -n $done_pid ]] || continue
  sleep 0.2 # a Ctrl-C that raced with this exit gets its trap run first
  for i in "${!pids[@]}"; do
    [[ ${pids[i]} == "$done_pid" ]] && say "${names[i]} exited (status $rc); stopping everything"
  done
  stopping=1
  stop_all
  exit 1
done
