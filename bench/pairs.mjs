#!/usr/bin/env node
// pairs.mjs: Parley against parley-relay, side by side, as interleaved pairs.
//
// This host changes speed from hour to hour, so no absolute figure means much; a ratio
// against the bare relay (bench/relay/relay.c) measured minutes apart does. For each
// scenario and each pair this script starts a fresh relay, runs parley-bench against
// it, stops it; then starts a fresh Parley stack (scripts/run-stack.sh on a freshly
// initialised PostgreSQL), runs the same bench, stops it — relay, Parley, relay,
// Parley, … — and prints each pair's figures and their ratios. With --doc it rewrites
// the table between `<!-- pairs:SCENARIO:begin -->` and `<!-- pairs:SCENARIO:end -->`
// in that file (docs/performance.md), so the table there is always this script's output.
//
//   node bench/pairs.mjs --scenario light,heavy [--pairs 3] [--doc docs/performance.md]
//        [--out runs.jsonl] [--bin build/bin] [--base-port 27700]
//
// Scenarios (rooms of ROOM users, 1,000 users, 100-character messages):
//   light      1,000 msgs/s, rooms of 10, 15 s after 5 s warmup
//   heavy      3,000 msgs/s, rooms of 10, 15 s after 5 s warmup
//   sustain10  highest sustainable rate in rooms of 10 (0 loss, no error, ack p99 < 100 ms):
//              rates doubled until one fails, then bisected; 8 s after 2 s warmup each
//   sustain2   the same in rooms of 2
//   storm      19,000 connections opened within 2 s (bench/storm.mjs, 2 processes on 2 source
//              addresses): connect + authenticate + settled (presence-svc has every
//              connection; the relay: all authenticated), CPU per connection, gateway RSS
//   many       the same at 2,000 and at 19,000 connections opened at 1,000/s
//   overload   rooms of 2 at --overload-rate (twice the sustainable rate) for 30 s, between a
//              light run before (a quarter of that rate, 8 s) and one right after (5 s, no
//              warmup): errors by code, how fast refusals come, the processes' peak RSS,
//              that every acknowledged message was delivered, and whether p99 is back
//
// CPU, counted once per process (utime+stime of the whole process, all its threads):
//   window     parley-bench's own figure: every stack process, PostgreSQL's postmaster
//              and all its children, between the start and the end of the measured window
//   whole run  this script's figure: every process of the stack (run-stack.sh's
//              descendants, and PostgreSQL's postmaster with its children, reaped ones
//              included through cutime/cstime), from just before parley-bench starts
//              until it has exited, so connecting, authenticating, creating the rooms,
//              warmup and drain are all in it; divided by the messages sent in the run
//
// Loopback only; needs nothing but Node and the built binaries. The host should be
// quiet (this VM's /proc/stat under-reports the busy time, so the script cannot tell).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const { values: o } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'light,heavy' },
    pairs: { type: 'string', default: '3' },
    bin: { type: 'string', default: path.join(root, 'build', 'bin') },
    'base-port': { type: 'string', default: '27700' },
    doc: { type: 'string' },
    out: { type: 'string' },
    'run-dir': { type: 'string', default: path.join(os.tmpdir(), 'parley-pairs') },
    env: { type: 'string', multiple: true, default: [] },
    // The gateway keeps its own ping timers (gateway/gw_keepalive.c); the relay's lws
    // idle policy walks a sorted list per connection and per message: off, like for like.
    'relay-args': { type: 'string', default: '--no-idle-policy' },
    quiet: { type: 'boolean', default: false },
    duration: { type: 'string' }, // these three override the scenario's, for a quick try
    warmup: { type: 'string' },
    'storm-users': { type: 'string' }, // storm/many: connections instead of 19,000 (2,000 for many's first)
    users: { type: 'string', default: '1000' },
    'overload-rate': { type: 'string' },
    summarize: { type: 'string' }, // a --out file: rewrite the summary table from it // overload: the offered rate (2× the sustainable one)
  },
});

const SECRET = 'pairs-secret';
const PAIRS = Number(o.pairs);
const BASE = Number(o['base-port']);
const PORTS = { relay: BASE, gw: BASE + 10, broker: BASE + 20, pg: BASE + 40 };
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;
const extraEnv = Object.fromEntries(o.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

const SCENARIOS = {
  light: { kind: 'fixed', title: '1,000 msgs/s, rooms of 10', room: 10, rate: 1000, duration: 15, warmup: 5 },
  heavy: { kind: 'fixed', title: '3,000 msgs/s, rooms of 10', room: 10, rate: 3000, duration: 15, warmup: 5 },
  sustain10: { kind: 'sustain', title: 'highest sustainable rate, rooms of 10', room: 10, start: 1000, duration: 8, warmup: 2 },
  sustain2: { kind: 'sustain', title: 'highest sustainable rate, rooms of 2', room: 2, start: 2000, duration: 8, warmup: 2 },
  overload: { kind: 'overload', title: 'past saturation, rooms of 2', room: 2, duration: 30, warmup: 2 },
  storm: { kind: 'storm', title: 'a reconnect storm: 19,000 connections opened within 2 s', sizes: [[19000, 2]] },
  many: { kind: 'storm', title: 'many connections: 2,000 and 19,000, opened at 1,000/s and held', sizes: [[2000, 2], [19000, 19]] },
};

const log = (...a) => { if (!o.quiet) console.error('[pairs]', ...a); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- processes and their CPU --------------------------------------------------------

function readStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch {
    return null; // gone
  }
}

// Every live process descending from one of roots (roots included), each once.
function tree(roots) {
  const children = new Map();
  const stats = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStat(d);
    if (!st) continue;
    stats.set(Number(d), st);
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(Number(d));
  }
  const seen = new Map();
  const pending = roots.filter((p) => stats.has(p));
  while (pending.length) {
    const p = pending.pop();
    if (seen.has(p)) continue;
    seen.set(p, stats.get(p).ticks);
    for (const c of children.get(p) || []) pending.push(c);
  }
  return seen; // pid → utime+stime+cutime+cstime (ticks)
}

// CPU seconds of the processes in `after` since `before`; a process new since then counts
// from zero. A process gone by `after` was reaped by its parent in the tree (cutime).
function cpuBetween(before, after) {
  let t = 0;
  for (const [pid, ticks] of after) t += ticks - (before.get(pid) ?? 0);
  return t / CLK_TCK;
}

function hostBusy() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  return { busy: f.reduce((a, b) => a + b, 0) - idle, all: f.reduce((a, b) => a + b, 0) };
}

async function waitHttp(url, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return true;
    } catch { /* not yet */ }
    await sleep(200);
  }
  return false;
}

function waitExit(child, timeoutMs) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true);
    const t = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

async function portFree(port) {
  for (let i = 0; i < 100; i++) {
    const r = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stdio: 'ignore' });
    if (r.status !== 0) return;
    await sleep(100);
  }
  throw new Error(`port ${port} still in use`);
}

// ---- the two servers ------------------------------------------------------------------

async function startRelay() {
  await portFree(PORTS.relay);
  const extra = o['relay-args'].split(/\s+/).filter(Boolean);
  const child = spawn(path.join(o.bin, 'parley-relay'), ['--port', String(PORTS.relay), '--secret', SECRET, ...extra],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  const ok = await waitTcp(PORTS.relay, 10000);
  if (!ok) throw new Error('parley-relay did not start');
  return {
    name: 'relay', url: `ws://127.0.0.1:${PORTS.relay}/ws`, roots: () => [child.pid], pid: child.pid,
    benchArgs: ['--pids', `gateway:${child.pid}`],
    stop: async () => { child.kill('SIGTERM'); if (!(await waitExit(child, 5000))) child.kill('SIGKILL'); },
  };
}

async function waitTcp(port, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const r = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stdio: 'ignore' });
    if (r.status === 0) return true;
    await sleep(100);
  }
  return false;
}

// "gateway:P,broker:P,chat:P,…" for the parley-* processes under the run-stack.sh at root.
function stackPids(rootPid) {
  const groups = { 'parley-gateway': 'gateway', 'parley-broker': 'broker', 'parley-chat': 'chat',
    'parley-presence': 'presence', 'parley-call': 'call' };
  const out = [];
  for (const pid of tree([rootPid]).keys()) {
    let comm = '';
    try { comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { continue; }
    if (groups[comm]) out.push(`${groups[comm]}:${pid}`);
  }
  if (!out.some((x) => x.startsWith('gateway:'))) throw new Error('no parley-gateway under the stack');
  return out.join(',');
}

async function startParley() {
  const runDir = o['run-dir'];
  fs.rmSync(runDir, { recursive: true, force: true }); // a fresh PostgreSQL each time
  fs.mkdirSync(runDir, { recursive: true });
  for (const p of [PORTS.gw, PORTS.gw + 1, PORTS.broker, PORTS.pg]) await portFree(p);
  const env = {
    ...process.env, JWT_SECRET: SECRET, PORT: String(PORTS.gw), BROKER_PORT: String(PORTS.broker),
    PG_PORT: String(PORTS.pg), PARLEY_RUN_DIR: runDir, PARLEY_BIN_DIR: o.bin, LOG_LEVEL: 'warn', TLS_PORT: '0',
    RATE_LIMIT_PER_S: '0', MAX_CONNECTIONS_PER_IP: '100000', CONNECT_RATE_PER_IP: '0', MAX_CONNECTIONS: '19500',
    ...extraEnv,
  };
  // One descriptor per connection: 19,000 idle ones need the hard limit (20,000 here).
  const child = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0"', path.join(root, 'scripts', 'run-stack.sh')],
    { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  const ok = await waitHttp(`http://127.0.0.1:${PORTS.gw}/healthz`, 60000);
  if (!ok) { child.kill('SIGTERM'); throw new Error(`the stack did not become healthy:\n${err}`); }
  const pgPid = () => {
    try { return [Number(fs.readFileSync(path.join(runDir, 'pg', 'data', 'postmaster.pid'), 'utf8').split('\n')[0])]; } catch { /* elsewhere */ }
    try { return [Number(fs.readFileSync(path.join(runDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0])]; } catch { return []; }
  };
  const conninfo = spawnSync(path.join(root, 'scripts', 'pg.sh'), ['conninfo', path.join(runDir, 'pg'), String(PORTS.pg)])
    .stdout.toString().trim();
  return {
    name: 'parley', url: `ws://127.0.0.1:${PORTS.gw}/ws`, roots: () => [child.pid, ...pgPid()], conninfo,
    // The stack's own processes by name: found by the gateway's TCP peers, parley-bench
    // would miss a broker reached over a Unix socket and sum other stacks' services.
    benchArgs: ['--pids', stackPids(child.pid), '--pg-port', String(PORTS.pg)],
    stop: async () => {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 40000))) child.kill('SIGKILL');
      await portFree(PORTS.pg);
    },
  };
}

// ---- one bench run --------------------------------------------------------------------

function bench(server, sc, rate, duration, warmup) {
  const args = ['--url', server.url, '--secret', SECRET, '--users', o.users, '--room-size', String(sc.room),
    '--rate', String(rate), '--duration', String(duration), '--warmup', String(warmup), '--size', '100',
    '--connect-rate', '2000', '--drain', '5', '--json', '--quiet', ...server.benchArgs];
  return new Promise((resolve) => {
    const before = tree(server.roots());
    const h0 = hostBusy();
    const t0 = Date.now();
    const child = spawn(path.join(o.bin, 'parley-bench'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const rss = {};
    const sampler = setInterval(() => sampleRss(server.roots(), rss), 500);
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err = (err + d).slice(-2000); });
    child.on('exit', (code) => {
      clearInterval(sampler);
      const after = tree(server.roots());
      const h1 = hostBusy();
      const line = out.trim().split('\n').pop();
      let r = null;
      try { r = JSON.parse(line); } catch { /* below */ }
      if (!r) { resolve({ ok: false, error: `parley-bench exit ${code}: ${err}` }); return; }
      const wholeCpu = cpuBetween(before, after);
      const sentAll = Math.round(rate * (duration + warmup));
      const wall = (Date.now() - t0) / 1000;
      resolve({
        ok: true, server: server.name, rate, room: sc.room, r,
        window_us: r.stack_cpu_us_per_msg,
        whole_us: (1e6 * wholeCpu) / sentAll,
        whole_cpu_s: wholeCpu, wall_s: wall,
        p99: r.delivery_ms.p99, ack_p99: r.ack_ms.p99,
        host_busy_pct: (100 * (h1.busy - h0.busy)) / (h1.all - h0.all),
        sustainable: sustainable(r), rss_peak_kb: rss,
      });
    });
  });
}

// Peak VmRSS by program over the run: parley-gateway, parley-chat, …, postgres (summed).
function sampleRss(roots, peak) {
  const now = {};
  for (const pid of tree(roots).keys()) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const name = /^Name:\s*(\S+)/m.exec(st)?.[1];
      const kb = Number(/^VmRSS:\s*(\d+)/m.exec(st)?.[1] ?? 0);
      if (name && /^(parley|postgres|parley-relay)/.test(name)) now[name] = (now[name] ?? 0) + kb;
    } catch { /* gone */ }
  }
  for (const [k, v] of Object.entries(now)) peak[k] = Math.max(peak[k] ?? 0, v);
}

// bench/storm.mjs: `users` connections opened within `window` s; its JSON report.
function storm(server, users, window) {
  const procs = Math.ceil(users / 9500);
  const args = [path.join(here, 'storm.mjs'), '--url', server.url, '--secret', SECRET, '--users', String(users),
    '--procs', String(procs), '--window', String(window), '--bench', path.join(o.bin, 'parley-bench'), '--json'];
  if (server.name === 'relay') args.push('--pids', `gateway:${server.pid}`);
  else args.push('--pg', server.conninfo, ...server.benchArgs);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err = (err + d).slice(-2000); });
    child.on('close', (code) => {
      let r = null;
      try { r = JSON.parse(out.trim().split('\n').pop()); } catch { /* below */ }
      if (!r) { resolve({ ok: false, server: server.name, users, error: `storm.mjs exit ${code}: ${err}` }); return; }
      resolve({ ok: code === 0, server: server.name, users, window, r });
    });
  });
}

// What kept a run from counting as sustainable ('' when it did).
function whyNot(r) {
  const errs = Object.entries(r.errors || {}).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  const w = [];
  if (r.rooms_ready !== r.rooms) w.push(`rooms ${r.rooms_ready}/${r.rooms}`);
  if (r.sent !== r.scheduled) w.push(`unsent ${r.scheduled - r.sent}`);
  if (r.acked !== r.scheduled) w.push(`unacked ${r.scheduled - r.acked}`);
  if (r.deliveries_missing) w.push(`missing ${r.deliveries_missing}`);
  if (r.duplicates) w.push(`duplicates ${r.duplicates}`);
  if (r.closes_run) w.push(`closes ${r.closes_run}`);
  if (r.ack_ms.p99 >= 100) w.push(`ack p99 ${r.ack_ms.p99.toFixed(0)} ms`);
  return [...w, ...errs].join(', ');
}

function sustainable(r) {
  const errs = Object.values(r.errors || {}).reduce((a, b) => a + b, 0);
  return r.rooms_ready === r.rooms && r.sent === r.scheduled && r.acked === r.scheduled && r.failed === 0 &&
    r.no_answer === 0 && r.deliveries_missing === 0 && r.duplicates === 0 && r.misrouted === 0 &&
    errs === 0 && r.closes_run === 0 && r.ack_ms.p99 < 100;
}

// Highest sustainable rate on one running server: double from sc.start until a rate
// fails, then bisect the last gap three times (to 1/8 of it).
async function findSustainable(server, sc) {
  const tried = [];
  let lo = 0, hi = 0, rate = sc.start;
  while (!hi) {
    const x = await bench(server, sc, rate, sc.duration, sc.warmup);
    tried.push({ rate, ok: x.ok && x.sustainable, p99: x.ok ? x.ack_p99 : null, why: x.ok ? whyNot(x.r) : x.error });
    log(`  ${server.name} ${rate}/s: ${x.ok && x.sustainable ? 'sustained' : `failed: ${x.ok ? whyNot(x.r) : x.error}`} (ack p99 ${x.ok ? x.ack_p99 : '-'} ms)`);
    if (x.ok && x.sustainable) { lo = rate; rate *= 2; if (rate > 64000) break; } else hi = rate;
  }
  for (let i = 0; i < 3 && hi; i++) {
    const mid = Math.round((lo + hi) / 2 / 50) * 50;
    if (mid <= lo || mid >= hi) break;
    const x = await bench(server, sc, mid, sc.duration, sc.warmup);
    const ok = x.ok && x.sustainable;
    tried.push({ rate: mid, ok, p99: x.ok ? x.ack_p99 : null, why: x.ok ? whyNot(x.r) : x.error });
    log(`  ${server.name} ${mid}/s: ${ok ? 'sustained' : 'failed'} (ack p99 ${x.ok ? x.ack_p99 : '-'} ms)`);
    if (ok) lo = mid; else hi = mid;
  }
  return { ok: true, server: server.name, room: sc.room, rate: lo, tried };
}

async function runOne(which, sc) {
  if (sc.kind === 'storm') { // each size on a fresh server: RSS per connection needs one
    const runs = [];
    for (const [users, window] of sc.sizes) {
      const server = which === 'relay' ? await startRelay() : await startParley();
      try { runs.push(await storm(server, users, window)); } finally { await server.stop(); }
    }
    return { ok: runs.every((x) => x.ok), server: which, runs };
  }
  const server = which === 'relay' ? await startRelay() : await startParley();
  try {
    if (sc.kind === 'sustain') return await findSustainable(server, sc);
    if (sc.kind === 'overload') {
      const rate = Number(o['overload-rate']);
      const before = await bench(server, sc, Math.round(rate / 4), 8, 2);
      const over = await bench(server, sc, rate, sc.duration, sc.warmup);
      const after = await bench(server, sc, Math.round(rate / 4), 5, 0);
      return { ok: before.ok && over.ok && after.ok, server: server.name, before, over, after };
    }
    return await bench(server, sc, sc.rate, sc.duration, sc.warmup);
  } finally {
    await server.stop();
  }
}

// ---- tables ---------------------------------------------------------------------------

const f0 = (x) => (x == null || Number.isNaN(x) ? '–' : x.toFixed(0));
const f1 = (x) => (x == null || Number.isNaN(x) ? '–' : x.toFixed(1));
const f2 = (x) => (x == null || Number.isNaN(x) ? '–' : x.toFixed(2));
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN; };

function lost(x) {
  const r = x.r;
  return r.scheduled - r.acked + r.deliveries_missing + r.duplicates;
}

// Parley's window CPU per message by process group, e.g. "gateway 150, postgres 120, …".
function breakdown(x) {
  const c = x.r.cpu_s, n = x.r.acked || 1;
  return ['gateway', 'broker', 'chat', 'presence', 'call', 'postgres']
    .filter((g) => c[g] > 0).map((g) => `${g} ${f0((1e6 * c[g]) / n)}`).join(', ');
}

function fixedTable(sc, pairs) {
  const rows = ['| pair | relay µs/msg (window / whole run) | Parley µs/msg (window / whole run) | CPU ratio (window / whole run) | relay delivery p99 (ms) | Parley delivery p99 (ms) | p99 ratio, difference | lost (relay / Parley) |',
    '|---|---|---|---|---|---|---|---|'];
  const ratios = { w: [], a: [], p: [], d: [] };
  pairs.forEach(([rl, pl], i) => {
    if (!rl.ok || !pl.ok) { rows.push(`| ${i + 1} | ${rl.ok ? '' : rl.error} | ${pl.ok ? '' : pl.error} | | | | | |`); return; }
    const w = pl.window_us / rl.window_us, a = pl.whole_us / rl.whole_us, p = pl.p99 / rl.p99, d = pl.p99 - rl.p99;
    ratios.w.push(w); ratios.a.push(a); ratios.p.push(p); ratios.d.push(d);
    rows.push(`| ${i + 1} | ${f0(rl.window_us)} / ${f0(rl.whole_us)} | ${f0(pl.window_us)} / ${f0(pl.whole_us)} | **${f2(w)}×** / ${f2(a)}× | ${f2(rl.p99)} | ${f2(pl.p99)} | ${f1(p)}×, ${d >= 0 ? '+' : ''}${f1(d)} ms | ${lost(rl)} / ${lost(pl)} |`);
  });
  const md = median(ratios.d);
  rows.push(`| median | | | **${f2(median(ratios.w))}×** / ${f2(median(ratios.a))}× | | | ${f1(median(ratios.p))}×, ${md >= 0 ? '+' : ''}${f1(md)} ms | |`);
  const split = pairs.filter(([, pl]) => pl.ok).map(([, pl], i) => `pair ${i + 1}: ${breakdown(pl)}`);
  return rows.join('\n') + `\n\nParley's window µs per message by process: ${split.join('; ')}.`;
}

function sustainTable(sc, pairs) {
  const rows = ['| pair | relay msgs/s | Parley msgs/s | ratio | rates tried (relay; Parley) |', '|---|---|---|---|---|'];
  const ratios = [];
  pairs.forEach(([rl, pl], i) => {
    const q = pl.rate / rl.rate;
    ratios.push(q);
    const t = (x) => x.tried.map((y) => `${y.rate}${y.ok ? '✓' : '✗'}`).join(' ');
    rows.push(`| ${i + 1} | ${rl.rate} | ${pl.rate} | **${f2(q)}×** | ${t(rl)}; ${t(pl)} |`);
  });
  rows.push(`| median | | | **${f2(median(ratios))}×** | |`);
  return rows.join('\n');
}

function overloadTable(sc, pairs) {
  const rows = ['| pair | server | offered msgs/s | acked msgs/s | refused `overloaded` (p99 ms to the refusal) | `unavailable` / no answer | acked but not delivered | ack p99 of accepted (ms) | peak RSS MiB (gateway / chat / broker / PostgreSQL) | p99 before → right after (ms) |',
    '|---|---|---|---|---|---|---|---|---|---|'];
  const mib = (kb) => (kb ? (kb / 1024).toFixed(0) : '–');
  pairs.forEach((pair, i) => {
    for (const x of pair) {
      if (!x.ok) { rows.push(`| ${i + 1} | ${x.server} | failed: ${x.error ?? x.over?.error ?? ''} | | | | | | | |`); continue; }
      const r = x.over.r, e = r.errors || {}, p = x.over.rss_peak_kb;
      const refusal = r.error_ms ? ` (${f1(r.error_ms.p99)})` : '';
      const gw = x.server === 'relay' ? p['parley-relay'] : p['parley-gateway'];
      rows.push(`| ${i + 1} | ${x.server} | ${x.over.rate} | ${f0(r.acked_per_s)} | ${e.overloaded ?? 0}${refusal} | ${e.unavailable ?? 0} / ${r.no_answer} | ${r.deliveries_missing} | ${f1(r.ack_ms.p99)} | ${mib(gw)} / ${mib(p['parley-chat'])} / ${mib(p['parley-broker'])} / ${mib(p.postgres)} | ${f1(x.before.ack_p99)} → ${f1(x.after.ack_p99)} |`);
    }
  });
  return rows.join('\n');
}

function stormTable(sc, pairs) {
  const rows = ['| pair | connections | server | authenticated | opened over (s) | last auth_success (s) | settled (s) | µs CPU per connection: stack (gateway) | ratio to the relay | gateway RSS KiB per connection |',
    '|---|---|---|---|---|---|---|---|---|---|'];
  pairs.forEach(([rl, pl], i) => {
    const sizes = Math.max(rl.runs?.length ?? 0, pl.runs?.length ?? 0);
    for (let k = 0; k < sizes; k++) {
      const a = rl.runs?.[k], b = pl.runs?.[k];
      for (const x of [a, b]) {
        if (!x) continue;
        if (!x.r) { rows.push(`| ${i + 1} | ${x.users} | ${x.server} | failed: ${(x.error || '').slice(0, 80)} | | | | | | |`); continue; }
        const r = x.r;
        const ratio = x === b && a?.r ? `**${f2(r.stack_cpu_us_per_conn / a.r.stack_cpu_us_per_conn)}×**` : '';
        rows.push(`| ${i + 1} | ${x.users} | ${x.server} | ${r.authed} | ${f1(r.open_s)} | ${f1(r.auth_s)} | ${r.settled ? f1(r.settled_s) : 'no'} | ${f0(r.stack_cpu_us_per_conn)} (${f0(r.gateway_cpu_us_per_conn)}) | ${ratio} | ${f2(r.rss_per_conn_kb)} |`);
      }
    }
  });
  if (sc.sizes.length === 2) { // the many-connections aim: the big run against the small one, Parley's own
    const q = pairs.map(([, pl]) => pl.runs?.[1]?.r && pl.runs?.[0]?.r
      ? [pl.runs[1].r.stack_cpu_us_per_conn / pl.runs[0].r.stack_cpu_us_per_conn, pl.runs[1].r.gateway_cpu_us_per_conn / pl.runs[0].r.gateway_cpu_us_per_conn, pl.runs[1].r.rss_per_conn_kb / pl.runs[0].r.rss_per_conn_kb] : null).filter(Boolean);
    rows.push('');
    rows.push(`Parley at ${sc.sizes[1][0]} against ${sc.sizes[0][0]}, per connection (median of the pairs): stack CPU ${f2(median(q.map((x) => x[0])))}×, gateway CPU ${f2(median(q.map((x) => x[1])))}×, gateway RSS ${f2(median(q.map((x) => x[2])))}×.`);
  }
  return rows.join('\n');
}

function gitHead() {
  const r = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  return r.status === 0 ? r.stdout.toString().trim() : 'unknown';
}

function section(name, sc, pairs, startedAt, env = o.env, rate = o['overload-rate'], head = gitHead()) {
  const cmd = `node bench/pairs.mjs --scenario ${name} --pairs ${pairs.length}${name === 'overload' ? ` --overload-rate ${rate}` : ''}${env.length ? ' ' + env.map((e) => `--env ${e}`).join(' ') : ''} --doc docs/performance.md`;
  const table = sc.kind === 'sustain' ? sustainTable(sc, pairs)
    : sc.kind === 'overload' ? overloadTable(sc, pairs)
      : sc.kind === 'storm' ? stormTable(sc, pairs) : fixedTable(sc, pairs);
  return `**${sc.title}** — ${pairs.length} interleaved pairs, ${startedAt} UTC, tree ${head}, \`${cmd}\`\n\n${table}\n`;
}

function writeDoc(file, name, text) {
  const begin = `<!-- pairs:${name}:begin -->`, end = `<!-- pairs:${name}:end -->`;
  const doc = fs.readFileSync(file, 'utf8');
  const i = doc.indexOf(begin), j = doc.indexOf(end);
  if (i < 0 || j < i) { console.error(`pairs.mjs: ${file} has no ${begin} … ${end}; table not written`); return; }
  fs.writeFileSync(file, doc.slice(0, i + begin.length) + '\n' + text + doc.slice(j));
}

// ---- the summary: one row per aim, from the newest session of each scenario ------------

function summaryTable(records) {
  const newest = new Map();
  for (const x of records) {
    const cur = newest.get(x.scenario);
    if (!cur || x.session > cur) newest.set(x.scenario, x.session);
  }
  const pairsOf = (sc) => {
    const m = new Map();
    for (const x of records.filter((y) => y.scenario === sc && y.session === newest.get(sc))) {
      if (!m.has(x.pair)) m.set(x.pair, {});
      m.get(x.pair)[x.server] = x;
    }
    return [...m.values()].filter((p) => p.relay?.ok && p.parley?.ok);
  };
  const range = (a, f = f2) => (a.length ? `${f(median(a))} (${f(Math.min(...a))}–${f(Math.max(...a))})` : '–');
  const rows = ['| aim | target | measured: median (range) over the pairs | met | when, tree |', '|---|---|---|---|---|'];
  const when = (sc) => (newest.get(sc) || '').split(' ').slice(0, 3).join(' ');
  for (const [sc, label, target, get, ok] of [
    ['light', '1,000 msgs/s, rooms of 10: CPU per message (window)', '≤ 1.5× relay', (p) => p.parley.window_us / p.relay.window_us, (m) => m <= 1.5],
    ['light', '1,000 msgs/s, rooms of 10: CPU per message (whole run)', '≤ 1.5× relay', (p) => p.parley.whole_us / p.relay.whole_us, (m) => m <= 1.5],
    ['light', '1,000 msgs/s, rooms of 10: delivery p99 − relay p99 (ms)', '≤ +4 ms', (p) => p.parley.p99 - p.relay.p99, (m) => m <= 4],
    ['heavy', '3,000 msgs/s, rooms of 10: CPU per message (window)', '≤ 1.25× relay', (p) => p.parley.window_us / p.relay.window_us, (m) => m <= 1.25],
    ['heavy', '3,000 msgs/s, rooms of 10: CPU per message (whole run)', '≤ 1.25× relay', (p) => p.parley.whole_us / p.relay.whole_us, (m) => m <= 1.25],
    ['heavy', '3,000 msgs/s, rooms of 10: delivery p99', '≤ 2× relay', (p) => p.parley.p99 / p.relay.p99, (m) => m <= 2],
    ['sustain10', 'sustainable rate, rooms of 10', '≥ 0.9× relay', (p) => p.parley.rate / p.relay.rate, (m) => m >= 0.9],
    ['sustain2', 'sustainable rate, rooms of 2', '≥ 0.9× relay', (p) => p.parley.rate / p.relay.rate, (m) => m >= 0.9],
  ]) {
    const v = pairsOf(sc).map(get);
    if (!v.length) { rows.push(`| ${label} | ${target} | not measured | | |`); continue; }
    rows.push(`| ${label} | ${target} | ${range(v)}${label.includes('(ms)') ? '' : '×'} | ${ok(median(v)) ? 'yes' : '**no**'} | ${when(sc)} |`);
  }
  const stormRuns = (sc, k) => pairsOf(sc).map((p) => [p.relay.runs?.[k]?.r, p.parley.runs?.[k]?.r]).filter(([a, b]) => a && b);
  const storms = stormRuns('storm', 0);
  if (storms.length) {
    const v = storms.map(([a, b]) => b.stack_cpu_us_per_conn / a.stack_cpu_us_per_conn);
    rows.push(`| reconnect storm, 19,000 within 2 s: CPU per connection | ≤ 2× relay | ${range(v)}× | ${median(v) <= 2 ? 'yes' : '**no**'} | ${when('storm')} |`);
    const t = storms.map(([, b]) => b.settled_s);
    rows.push(`| reconnect storm: first connection → settled (s) | seconds | ${range(t, f1)} | | ${when('storm')} |`);
  } else rows.push('| reconnect storm, 19,000 within 2 s: CPU per connection | ≤ 2× relay | not measured | | |');
  const small = stormRuns('many', 0), big = stormRuns('many', 1);
  if (small.length && big.length && small.length === big.length) {
    const cpu = big.map(([, b], i) => b.stack_cpu_us_per_conn / small[i][1].stack_cpu_us_per_conn);
    const gw = big.map(([, b], i) => b.gateway_cpu_us_per_conn / small[i][1].gateway_cpu_us_per_conn);
    const rss = big.map(([, b], i) => b.rss_per_conn_kb / small[i][1].rss_per_conn_kb);
    const kib = big.map(([, b]) => b.rss_per_conn_kb);
    rows.push(`| 19,000 against 2,000 connections: stack CPU per connection | ≤ 1.2× | ${range(cpu)}× | ${median(cpu) <= 1.2 ? 'yes' : '**no**'} | ${when('many')} |`);
    rows.push(`| 19,000 against 2,000 connections: gateway CPU per connection | ≤ 1.2× | ${range(gw)}× | ${median(gw) <= 1.2 ? 'yes' : '**no**'} | ${when('many')} |`);
    rows.push(`| 19,000 against 2,000 connections: gateway RSS per connection | ≤ 1.2× | ${range(rss)}× | ${median(rss) <= 1.2 ? 'yes' : '**no**'} | ${when('many')} |`);
    rows.push(`| gateway RSS per idle connection at 19,000 (KiB) | ≤ 3 KiB | ${range(kib)} | ${median(kib) <= 3 ? 'yes' : '**no**'} | ${when('many')} |`);
  } else rows.push('| 19,000 against 2,000 connections | ≤ 1.2× | not measured | | |');
  const over = pairsOf('overload').map((p) => p.parley.over?.r).filter(Boolean);
  if (over.length) {
    const ref = over.map((r) => r.error_ms?.p99 ?? NaN);
    const bad = over.map((r) => (r.errors?.unavailable ?? 0) + r.no_answer + r.deliveries_missing + r.deliveries_of_unacked);
    rows.push(`| twice the sustainable rate, 30 s: refusals answered within (p99, ms) | ≤ 100 ms | ${range(ref, f1)} | ${median(ref) <= 100 ? 'yes' : '**no**'} | ${when('overload')} |`);
    rows.push(`| … \`unavailable\`, unanswered, acked-not-delivered, delivered-not-acked | 0 | ${bad.join(', ')} | ${bad.every((x) => x === 0) ? 'yes' : '**no**'} | ${when('overload')} |`);
  } else rows.push('| twice the sustainable rate: refusals within 100 ms | ≤ 100 ms | not measured | | |');
  return rows.join('\n') + '\n';
}

// ---- main -----------------------------------------------------------------------------

if (o.summarize) {
  const records = fs.readFileSync(o.summarize, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const text = summaryTable(records);
  console.log(text);
  if (o.doc) writeDoc(o.doc, 'summary', text);
  // Every scenario's table again from its newest session (the tables' format may have
  // changed since they were measured; the figures have not).
  for (const [name, sc] of Object.entries(SCENARIOS)) {
    const mine = records.filter((x) => x.scenario === name);
    if (!mine.length || !o.doc) continue;
    const session = mine.map((x) => x.session).sort().pop();
    const runs = mine.filter((x) => x.session === session);
    const pairs = [...new Set(runs.map((x) => x.pair))].sort((a, b) => a - b)
      .map((k) => [runs.find((x) => x.pair === k && x.server === 'relay'), runs.find((x) => x.pair === k && x.server === 'parley')])
      .filter(([a, b]) => a && b);
    const [date, time, head] = session.split(' ');
    writeDoc(o.doc, name, section(name, sc, pairs, `${date} ${time}`, runs[0].env || [], runs[0].rate_arg, head));
  }
  process.exit(0);
}

for (const sc of Object.values(SCENARIOS)) {
  if (o['storm-users'] && sc.sizes) sc.sizes = sc.sizes.map(([n, w]) => [Math.max(2, Math.round((n * Number(o['storm-users'])) / 19000)), w]);
  if (o.duration) sc.duration = Number(o.duration);
  if (o.warmup) sc.warmup = Number(o.warmup);
}
if (o.scenario.includes('overload') && !(Number(o['overload-rate']) > 0)) {
  console.error('pairs.mjs: the overload scenario needs --overload-rate (twice the sustainable rate)');
  process.exit(2);
}
const names = o.scenario.split(',').map((s) => s.trim()).filter(Boolean);
for (const n of names) if (!SCENARIOS[n]) { console.error(`pairs.mjs: unknown scenario ${n} (${Object.keys(SCENARIOS).join(', ')})`); process.exit(2); }
for (const b of ['parley-relay', 'parley-bench', 'parley-gateway']) {
  if (!fs.existsSync(path.join(o.bin, b))) { console.error(`pairs.mjs: ${o.bin}/${b} not found: build first`); process.exit(2); }
}
let stopping = false;
process.on('SIGINT', () => { if (stopping) process.exit(130); stopping = true; log('stopping after this run'); });

for (const name of names) {
  const sc = SCENARIOS[name];
  const startedAt = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const session = `${startedAt} ${gitHead()} ${process.pid}`;
  const pairs = [];
  for (let i = 0; i < PAIRS && !stopping; i++) {
    log(`${name}: pair ${i + 1}/${PAIRS}, relay`);
    const rl = await runOne('relay', sc);
    log(`${name}: pair ${i + 1}/${PAIRS}, Parley`);
    const pl = await runOne('parley', sc);
    for (const x of [rl, pl]) if (o.out) fs.appendFileSync(o.out, JSON.stringify({ scenario: name, session, pair: i + 1, env: o.env, rate_arg: o['overload-rate'], ...x }) + '\n');
    pairs.push([rl, pl]);
    if (sc.kind === 'fixed' && rl.ok && pl.ok) {
      log(`  relay ${f0(rl.window_us)} µs/msg p99 ${f2(rl.p99)} ms; Parley ${f0(pl.window_us)} µs/msg p99 ${f2(pl.p99)} ms; ratio ${f2(pl.window_us / rl.window_us)}× (${breakdown(pl)})`);
    }
  }
  const text = section(name, sc, pairs, startedAt);
  console.log(text);
  if (o.doc) writeDoc(o.doc, name, text);
}
