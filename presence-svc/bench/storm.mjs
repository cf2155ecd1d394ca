#!/usr/bin/env node
// storm.mjs: presence under a reconnect storm (issue 4's benchmark).
//
// Starts its own stack with the integration harness (tests/integration/lib/stack.mjs:
// a fresh database, free ports, the binaries of PARLEY_BIN_DIR), gives every user
// `--contacts` contacts (groups of contacts+1 users share one group conversation,
// created beforehand), waits until nobody is online, then connects every user within
// `--window` seconds, evenly spread, and measures:
//   - connect: time from opening the socket to auth_success (p50/p99/max);
//   - presence settled: when presence-svc's tables show every user online (polled);
//   - events settled: the last presence frame (user_online / status_change) received by
//     any client, and how many were delivered per second;
//   - correctness: afterwards every user asks get_presence for its contacts, all must
//     be online;
//   - then every client closes at once and the offline storm is timed the same way;
//   - CPU seconds used by each process of the stack and by PostgreSQL.
// Loopback only; bounded in time (every wait has a deadline).
//
// Usage (from the repository root, after a build and `npm ci` in tests/integration):
//   ulimit -n 20000
//   scripts/pg.sh start /tmp/storm-pg 25999          # any PostgreSQL 15 works
//   PARLEY_BIN_DIR=build/bin PARLEY_TEST_PG="host=127.0.0.1 port=25999 user=postgres" \
//     node presence-svc/bench/storm.mjs --users 10000 --contacts 10 --window 10
// Options: --users N [10000] --contacts N [10] --window S [10] --gateways N [2]
//          --presences N [2] --grace MS [2000] --json
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const lib = path.join(here, '../../tests/integration/lib');
const { startStack } = await import(path.join(lib, 'stack.mjs'));
const { open, token, sleep } = await import(path.join(lib, 'client.mjs'));
const execFileP = promisify(execFile);

// ---- options ------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { users: 10000, contacts: 10, window: 10, gateways: 2, presences: 2, grace: 2000, json: false };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (k === 'json') o.json = true;
    else if (k in o) o[k] = Number(argv[++i]);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  if (o.users % (o.contacts + 1) !== 0) throw new Error('--users must be a multiple of --contacts + 1');
  return o;
}

const opts = parseArgs(process.argv);
const GROUP = opts.contacts + 1;
const RUN = `st${Date.now().toString(36)}`;
const userId = (i) => `${RUN}-${i}`;
const log = (...a) => console.error(`[storm ${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);
const T0 = Date.now();

// ---- measuring ----------------------------------------------------------------------

function cpuTicks(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]); // utime + stime (fields 14, 15)
  } catch {
    return 0;
  }
}

// PostgreSQL: the backends serving this stack's database (the services keep their
// connections for the whole run). Other clusters on the machine are not counted.
async function pgPids(stack) {
  const out = await psql(stack, 'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
  return out.split('\n').filter(Boolean).map(Number);
}

async function cpuSnapshot(stack) {
  const snap = {};
  for (const p of stack.procs.values()) if (p.child?.pid) snap[p.name] = cpuTicks(p.child.pid);
  snap.postgres = (await pgPids(stack)).reduce((s, pid) => s + cpuTicks(pid), 0);
  snap.storm = process.cpuUsage();
  return snap;
}

function cpuDelta(a, b) {
  const hz = 100; // USER_HZ on Linux
  const out = {};
  for (const k of Object.keys(b)) {
    if (k === 'storm') continue;
    out[k] = +(((b[k] - (a[k] || 0)) / hz).toFixed(2));
  }
  const u = process.cpuUsage(a.storm);
  out.storm_tool = +((u.user + u.system) / 1e6).toFixed(2);
  return out;
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function psql(stack, sql) {
  const { stdout } = await execFileP('psql', ['-X', '-q', '-t', '-A', stack.dbConn, '-c', sql], { timeout: 30000 });
  return stdout.trim();
}

async function waitCount(stack, sql, want, deadlineMs, every = 100) {
  for (;;) {
    const n = Number(await psql(stack, sql));
    if (n === want) return Date.now();
    if (Date.now() > deadlineMs) throw new Error(`${sql} = ${n}, wanted ${want}, deadline passed`);
    await sleep(every);
  }
}

// ---- a light client: raw frames, counting only what the bench needs -----------------

const PRESENCE_TYPES = new Set(['user_online', 'user_offline', 'status_change']);
const stats = { frames: 0, presence: 0, online: 0, offline: 0, lastPresence: 0, perSecond: new Map() };

function countFrame(f) {
  stats.frames++;
  if (!PRESENCE_TYPES.has(f.type)) return;
  stats.presence++;
  if (f.type === 'user_online') stats.online++;
  if (f.type === 'user_offline') stats.offline++;
  const now = Date.now();
  stats.lastPresence = now;
  const sec = Math.floor(now / 1000);
  stats.perSecond.set(sec, (stats.perSecond.get(sec) || 0) + 1);
}

async function connectUser(stack, i, role = 'student') {
  const url = stack.url(i % stack.gateways.length);
  const started = Date.now();
  const c = await open(url, { token: token(userId(i), role), label: userId(i) });
  c.auth = await c.next('auth_success', 60000);
  c.connectMs = Date.now() - started;
  c.ws.on('message', () => {
    for (const f of c.inbox.splice(0)) countFrame(f); // the inbox would grow forever
  });
  return c;
}

// ---- phases -------------------------------------------------------------------------

// Group g holds users g, g + G, g + 2G, ... (G groups): a user's contacts connect
// spread over the whole window, as in a real reconnect storm, not all in one burst.
const GROUPS = opts.users / GROUP;
const members = (g) => Array.from({ length: GROUP }, (_, k) => g + k * GROUPS);

async function makeGroups(stack) {
  let next = 0;
  const worker = async () => {
    while (next < GROUPS) {
      const g = next++;
      const [first, ...rest] = members(g);
      const c = await connectUser(stack, first);
      const others = rest.map(userId);
      const f = await c.request({ type: 'create_conversation', kind: 'group', participants: others, title: `g${g}` }, 60000);
      if (f.type !== 'conversation_created') throw new Error(`create_conversation: ${JSON.stringify(f)}`);
      await c.close();
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return GROUPS;
}

async function storm(stack) {
  const clients = new Array(opts.users);
  const spacing = (opts.window * 1000) / opts.users;
  const start = Date.now();
  const pending = [];
  for (let i = 0; i < opts.users; i++) {
    const due = start + i * spacing;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait);
    pending.push(connectUser(stack, i).then((c) => (clients[i] = c)));
  }
  await Promise.all(pending);
  return { clients, start, lastConnect: Date.now() };
}

async function verify(clients) {
  let bad = 0;
  let next = 0;
  const worker = async () => {
    while (next < clients.length) {
      const i = next++;
      const ids = members(i % GROUPS).filter((u) => u !== i).map(userId);
      const f = await clients[i].request({ type: 'get_presence', user_ids: ids }, 60000);
      if (f.type !== 'presence' || f.users.some((u) => u.status !== 'online')) bad++;
    }
  };
  // The answers land in the inbox before the counting handler sees them; request()
  // consumes them by id, so they are not counted as presence frames.
  await Promise.all(Array.from({ length: 64 }, worker));
  return bad;
}

async function main() {
  log(`users ${opts.users}, contacts ${opts.contacts}, window ${opts.window}s, gateways ${opts.gateways}, presence instances ${opts.presences}`);
  const stack = await startStack({
    gateways: opts.gateways,
    presences: opts.presences,
    env: { RATE_LIMIT_PER_S: '0', OFFLINE_GRACE_MS: String(opts.grace), LOG_LEVEL: 'warn' },
  });
  try {
    const groups = await makeGroups(stack);
    log(`${groups} group conversations created; waiting until nobody is online`);
    await waitCount(stack, 'SELECT count(*) FROM presence.users WHERE online', 0, Date.now() + 60000, 250);

    const cpu0 = await cpuSnapshot(stack);
    const base = { ...stats, perSecond: null };
    stats.perSecond = new Map();
    log('storm: connecting');
    const dbWatch = (async () => {
      const t = await waitCount(stack, 'SELECT count(*) FROM presence.users WHERE online', opts.users, Date.now() + 120000);
      return t;
    })();
    const { clients, start, lastConnect } = await storm(stack);
    const dbSettled = await dbWatch;
    // Events: wait until no presence frame has come for 2 s.
    while (Date.now() - Math.max(stats.lastPresence, dbSettled) < 2000) await sleep(100);
    const cpu1 = await cpuSnapshot(stack);
    const delivered = stats.presence - base.presence;
    const onlineEvents = stats.online - base.online;
    const eventsSettled = stats.lastPresence;
    const connectMs = clients.map((c) => c.connectMs).sort((a, b) => a - b);
    const peak = Math.max(...stats.perSecond.values());
    log('storm settled; verifying every user sees its contacts online');
    const bad = await verify(clients);

    // The offline storm: everyone leaves at once (nobody is left to hear it: timed
    // from presence-svc's tables).
    const cpu2 = await cpuSnapshot(stack);
    const leave = Date.now();
    await Promise.all(clients.map((c) => c.close()));
    const closed = Date.now();
    const offSettled = await waitCount(stack, 'SELECT count(*) FROM presence.users WHERE online', 0, Date.now() + 120000);
    const cpu3 = await cpuSnapshot(stack);

    const result = {
      users: opts.users,
      contacts: opts.contacts,
      window_s: opts.window,
      gateways: opts.gateways,
      presence_instances: opts.presences,
      connect_window_actual_s: +((lastConnect - start) / 1000).toFixed(2),
      connect_ms: { p50: pct(connectMs, 50), p99: pct(connectMs, 99), max: connectMs[connectMs.length - 1] },
      presence_settled_s: +((dbSettled - start) / 1000).toFixed(2),
      events_settled_s: +((eventsSettled - start) / 1000).toFixed(2),
      presence_frames_delivered: delivered,
      user_online_delivered: onlineEvents,
      delivered_per_s_avg: Math.round(delivered / ((eventsSettled - start) / 1000)),
      delivered_per_s_peak: peak,
      presence_settled_after_last_connect_s: +((dbSettled - lastConnect) / 1000).toFixed(2),
      contacts_not_online_after: bad,
      cpu_s_storm: cpuDelta(cpu0, cpu1),
      offline: {
        closed_in_s: +((closed - leave) / 1000).toFixed(2),
        grace_ms: opts.grace,
        all_offline_s: +((offSettled - leave) / 1000).toFixed(2),
        cpu_s: cpuDelta(cpu2, cpu3),
      },
    };
    console.log(JSON.stringify(result, null, opts.json ? 0 : 2));
  } finally {
    await stack.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
