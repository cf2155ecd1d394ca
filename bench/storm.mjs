#!/usr/bin/env node
// storm.mjs: N connections from K parley-bench processes on K source addresses, as one
// run: a reconnect storm (N arriving within --window seconds) or, with a longer
// window, the connect cost of many idle connections. One bench process holds one fd
// per connection and one source address has one port range, so 19,000 or 20,000
// connections need several of each; this script starts them, says when the stack has
// settled, and combines their reports (bench/README.md, "storm.mjs").
//
//   node bench/storm.mjs --url ws://127.0.0.1:18080/ws --secret s3cret --users 20000 \
//        --procs 4 --window 2 --pg "host=127.0.0.1 port=5432 dbname=parley user=parley"
//
// Settled: with --pg, when presence-svc has a row in presence.connections for every
// authenticated connection of the run (it has processed and committed every conn_open),
// polled every --poll-ms over one psql session opened before the storm; without --pg
// (the relay), when every connection is authenticated. Then every bench gets SIGUSR1
// and closes its CPU window. Stack CPU is combined per process from the benches' raw
// samples (earliest start, latest end), so each process counts once.
// No dependencies beyond node and psql (with --pg). Loopback only (parley-bench
// refuses anything else). Exit 0 when every connection authenticated and the stack
// settled, 1 otherwise, 2 usage.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const GROUPS = ['gateway', 'chat', 'presence', 'call', 'broker', 'postgres', 'other'];

function usage(msg) {
  if (msg) console.error(`storm.mjs: ${msg}`);
  console.error(`usage: node bench/storm.mjs --url URL --secret S --users N [--procs K]
  [--sources A,B,..] [--window S] [--settle S] [--pg CONNINFO] [--poll-ms MS]
  [--pids LIST] [--pg-port P] [--bench PATH] [--run-id ID] [--json] [--verbose]
  --procs K      bench processes [ceil(N / 9500)]
  --sources      source addresses, one per process, reused round robin
                 [127.R.R.2, 127.R.R.3, ...; R random per run]
  --window S     all N connections are opened within S seconds [2]
  --settle S     longest wait for settled after the last auth_success [30]
  --pg CONNINFO  the stack's database: settled = presence-svc has every connection
                 (without it: settled = all authenticated, e.g. for parley-relay)
  --pids, --pg-port   passed to every parley-bench (e.g. --pids gateway:<relay pid>)
  --bench PATH   parley-bench binary [$PARLEY_BIN_DIR/parley-bench or build/bin]`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    url: '', secret: process.env.JWT_SECRET || '', users: 0, procs: 0, sources: '', window: 2,
    settle: 30, pg: '', pollMs: 50, pids: '', pgPort: '', bench: '', runId: '', json: false,
    verbose: false,
  };
  const names = { 'poll-ms': 'pollMs', 'pg-port': 'pgPort', 'run-id': 'runId' };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    const key = names[k] || k;
    if (k === 'json' || k === 'verbose') o[key] = true;
    else if (argv[i].startsWith('--') && key in o && i + 1 < argv.length) o[key] = argv[++i];
    else usage(`unknown option ${argv[i]}`);
  }
  for (const k of ['users', 'procs', 'window', 'settle', 'pollMs']) o[k] = Number(o[k]);
  if (!o.url || !o.secret) usage('--url and --secret are required');
  if (!Number.isInteger(o.users) || o.users < 1) usage('--users must be a positive integer');
  if (!o.procs) o.procs = Math.ceil(o.users / 9500);
  if (!Number.isInteger(o.procs) || o.procs < 1 || o.procs > o.users) usage('--procs must be 1..users');
  if (!(o.window > 0) || !(o.settle >= 1) || !(o.pollMs >= 10)) usage('--window > 0, --settle >= 1, --poll-ms >= 10');
  // Default: fresh addresses every run (127.<random>.<random>.<2+i>). A source address
  // that earlier runs used still has their TIME_WAIT sockets, and the kernel's
  // bind(address, port 0) then searches longer and longer for a free port: measured,
  // a second run of 9,000 from one address cost the bench 10x the CPU of the first.
  const net = `127.${1 + Math.floor(Math.random() * 254)}.${Math.floor(Math.random() * 256)}`;
  o.sources = o.sources
    ? o.sources.split(',').map((s) => s.trim()).filter(Boolean)
    : Array.from({ length: o.procs }, (_, i) => `${net}.${2 + (i % 250)}`);
  if (!o.runId) o.runId = `s${Date.now().toString(36)}${process.pid.toString(36)}`;
  if (!/^[A-Za-z0-9.~-]+$/.test(o.runId)) usage('--run-id: letters, digits and -.~ only');
  o.bench ||= path.join(process.env.PARLEY_BIN_DIR || path.join(here, '../build/bin'), 'parley-bench');
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- presence settled: one psql session, one count per poll ---------------------------

// A psql process reading queries from stdin: one backend for the whole run, opened
// before the storm, so polling does not fork PostgreSQL backends inside the window.
function openPsql(conninfo) {
  const child = spawn('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=0', conninfo], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let buf = '';
  let err = '';
  const waiting = [];
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      waiting.shift()?.resolve(line.trim());
    }
  });
  child.stderr.on('data', (d) => {
    err += d;
    while (waiting.length) waiting.shift().reject(new Error(`psql: ${err.trim()}`));
  });
  child.on('exit', () => {
    while (waiting.length) waiting.shift().reject(new Error(`psql exited: ${err.trim()}`));
  });
  return {
    query(sql) {
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(`${sql};\n`);
      });
    },
    close() {
      child.stdin.end();
    },
  };
}

// LIKE pattern for the run's user ids (`<run-id>-<p>-<i>`): the run id has no % or _.
const settledSql = (runId) => `SELECT count(*) FROM presence.connections WHERE user_id LIKE '${runId}-%'`;

// ---- the bench processes ----------------------------------------------------------------

function startBench(o, p, users, rate) {
  const args = [
    '--url', o.url, '--secret', o.secret, '--storm', '--users', String(users),
    '--connect-rate', String(rate), '--duration', String(o.settle), '--source', o.sources[p % o.sources.length],
    '--run-id', `${o.runId}-${p}`, '--json', '--quiet',
  ];
  if (o.pids) args.push('--pids', o.pids);
  if (o.pgPort) args.push('--pg-port', String(o.pgPort));
  const child = spawn(o.bench, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const b = { p, users, child, out: '', err: '', announced: null, report: null, code: null };
  b.authedP = new Promise((resolve) => {
    b.onAuthed = resolve;
  });
  child.stdout.on('data', (d) => {
    b.out += d;
    const m = /^storm-authed (\d+) (\d+) ([\d.]+)$/m.exec(b.out);
    if (m && !b.announced) {
      b.announced = { authed: Number(m[1]), dead: Number(m[2]), lastAuthMs: Number(m[3]) };
      b.onAuthed();
    }
  });
  child.stderr.on('data', (d) => {
    b.err += d;
    if (o.verbose) process.stderr.write(`[bench ${p}] ${d}`);
  });
  b.exited = new Promise((resolve) => {
    // 'close', not 'exit': 'exit' can come before the last of stdout (the JSON) is read
    child.on('close', (code, signal) => {
      b.code = code ?? signal;
      const last = b.out.trim().split('\n').pop() || '';
      try {
        b.report = last.startsWith('{') ? JSON.parse(last) : null;
      } catch {
        b.report = null;
      }
      b.onAuthed(); // a bench that failed its setup never announces
      resolve();
    });
  });
  return b;
}

// ---- combining --------------------------------------------------------------------------

function combine(o, benches, settledMs) {
  const reps = benches.map((b) => b.report).filter(Boolean);
  const sum = (k) => reps.reduce((s, r) => s + (r[k] || 0), 0);
  // over the times that happened (0 = did not), 0 when none did
  const min = (xs) => (xs.some((x) => x > 0) ? Math.min(...xs.filter((x) => x > 0)) : 0);
  const max = (xs) => Math.max(...xs.filter((x) => x > 0), 0);
  const firstOpen = min(reps.map((r) => r.first_open_ms));
  const lastAuth = max(reps.map((r) => r.last_auth_ms));
  // per pid: earliest start sample, latest end sample, so each process counts once
  const procs = new Map();
  for (const r of reps) {
    for (const p of r.procs || []) {
      const q = procs.get(p.pid);
      if (!q) procs.set(p.pid, { ...p });
      else {
        q.t0 = Math.min(q.t0, p.t0);
        q.t1 = Math.max(q.t1, p.t1);
      }
    }
  }
  const tck = reps[0]?.clk_tck || 100;
  const cpu = Object.fromEntries(GROUPS.map((g) => [g, 0]));
  const nproc = Object.fromEntries(GROUPS.map((g) => [g, 0]));
  for (const p of procs.values()) {
    if (!(p.group in cpu)) continue; // kernel threads: not the stack
    cpu[p.group] += (p.t1 - p.t0) / tck;
    nproc[p.group] += 1;
  }
  const stack = GROUPS.reduce((s, g) => s + cpu[g], 0);
  const authed = sum('authed');
  const gwBefore = reps.map((r) => r.rss_before_kb).filter((x) => x > 0);
  const gwAfter = reps.map((r) => r.rss_after_kb).filter((x) => x > 0);
  const rssBefore = gwBefore.length ? Math.min(...gwBefore) : null;
  const rssAfter = gwAfter.length ? Math.max(...gwAfter) : null;
  const s = (a, b) => (a > 0 && b > 0 ? (b - a) / 1000 : null);
  return {
    mode: 'storm',
    url: o.url,
    users: o.users,
    procs: o.procs,
    sources: [...new Set(benches.map((b) => o.sources[b.p % o.sources.length]))],
    window_s: o.window,
    reports: reps.length,
    connected: sum('connected'),
    authed,
    connect_errors: sum('connect_errors'),
    closes: sum('closes_setup') + sum('closes_run'),
    open_s: s(firstOpen, max(reps.map((r) => r.last_open_ms))),
    auth_s: s(firstOpen, lastAuth),
    // without --pg settled means every connection authenticated, at the last auth_success
    settled: o.pg ? settledMs !== null : authed === o.users,
    settled_by: o.pg ? 'presence.connections' : 'authenticated',
    settled_s: o.pg ? (settledMs !== null ? s(firstOpen, settledMs) : null) : authed === o.users ? s(firstOpen, lastAuth) : null,
    auth_ms_p50_max: Math.max(...reps.map((r) => r.auth_ms?.p50 || 0)),
    auth_ms_p99_max: Math.max(...reps.map((r) => r.auth_ms?.p99 || 0)),
    auth_ms_max: Math.max(...reps.map((r) => r.auth_ms?.max || 0)),
    cpu_window_s: s(min(reps.map((r) => r.window_start_ms)), max(reps.map((r) => r.window_end_ms))),
    cpu_s: { ...cpu, stack, bench: reps.reduce((t, r) => t + (r.cpu_s?.bench || 0), 0) },
    nprocs: nproc,
    stack_cpu_us_per_conn: authed ? (1e6 * stack) / authed : null,
    gateway_cpu_us_per_conn: authed ? (1e6 * cpu.gateway) / authed : null,
    gateway_pids: [...new Set(reps.map((r) => r.gateway_pid))],
    gateway_rss_before_kb: rssBefore,
    gateway_rss_after_kb: rssAfter,
    rss_per_conn_kb: authed && rssBefore && rssAfter ? (rssAfter - rssBefore) / authed : null,
    host_busy_pct_max: Math.max(...reps.map((r) => r.cpu_s?.host_busy_pct || 0)),
    notes: [...new Set(reps.map((r) => r.procs_note).filter(Boolean))],
  };
}

function printText(r) {
  const f = (x, d = 2) => (x === null || x === undefined ? '-' : Number(x).toFixed(d));
  console.log(`storm  ${r.url}  ${r.users} connections from ${r.procs} processes on ${r.sources.join(',')}, window ${r.window_s} s`);
  console.log(`  authenticated ${r.authed}/${r.users}  connect errors ${r.connect_errors}  closes ${r.closes}`);
  console.log(`  opened over ${f(r.open_s)} s; first open -> last auth_success ${f(r.auth_s)} s; -> settled (${r.settled_by}) ${r.settled ? `${f(r.settled_s)} s` : 'NOT SETTLED'}`);
  console.log(`  open->auth_success ms: worst process p50 ${f(r.auth_ms_p50_max)} p99 ${f(r.auth_ms_p99_max)}, max ${f(r.auth_ms_max)}`);
  console.log(`  cpu over ${f(r.cpu_window_s)} s (connect + settle), seconds of one core:`);
  for (const g of GROUPS) if (r.nprocs[g]) console.log(`    ${g.padEnd(9)} ${String(r.nprocs[g]).padStart(3)} proc ${f(r.cpu_s[g], 3).padStart(9)} s`);
  console.log(`    stack             ${f(r.cpu_s.stack, 3).padStart(9)} s  = ${f(r.stack_cpu_us_per_conn, 1)} us per connection (gateway ${f(r.gateway_cpu_us_per_conn, 1)} us)`);
  console.log(`    bench             ${f(r.cpu_s.bench, 3).padStart(9)} s   (host busy up to ${f(r.host_busy_pct_max, 1)} % of all cpus)`);
  for (const n of r.notes) console.log(`  note: ${n}`);
  console.log(`  gateway RSS ${r.gateway_rss_before_kb} -> ${r.gateway_rss_after_kb} KiB = ${f(r.rss_per_conn_kb)} KiB per connection`);
}

// ---- the run ----------------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv);
  const db = o.pg ? openPsql(o.pg) : null;
  try {
    if (db) {
      const n = Number(await db.query(settledSql(o.runId)));
      if (!Number.isInteger(n)) throw new Error(`presence.connections not readable: ${n}`);
    }
    const per = Math.floor(o.users / o.procs);
    const benches = [];
    for (let p = 0; p < o.procs; p++) {
      const users = per + (p < o.users % o.procs ? 1 : 0);
      benches.push(startBench(o, p, users, Math.max(1, Math.ceil(users / o.window))));
    }
    await Promise.all(benches.map((b) => b.authedP));
    const authed = benches.reduce((s, b) => s + (b.announced?.authed || 0), 0);
    let settledMs = null;
    if (authed > 0) {
      if (!db) {
        settledMs = Math.max(...benches.map((b) => b.announced?.lastAuthMs || 0));
      } else {
        const deadline = Date.now() + o.settle * 1000 - 500;
        for (;;) {
          const n = Number(await db.query(settledSql(o.runId)));
          if (n >= authed) {
            settledMs = Date.now();
            break;
          }
          if (Date.now() > deadline) break;
          await sleep(o.pollMs);
        }
      }
    }
    for (const b of benches) if (b.code === null) b.child.kill('SIGUSR1');
    await Promise.all(benches.map((b) => b.exited));
    for (const b of benches) {
      if (b.code !== 0 || !b.report) {
        const tail = b.out.trim().split('\n').slice(-3).join('\n');
        console.error(`storm.mjs: bench ${b.p} exited ${b.code}${b.report ? '' : ', no JSON report'}\n${b.err.trim()}\n${tail}`);
      }
    }
    const r = combine(o, benches, settledMs);
    printText(r);
    if (o.json) console.log(JSON.stringify(r));
    return r.authed === o.users && r.settled && r.reports === o.procs ? 0 : 1;
  } finally {
    db?.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`storm.mjs: ${e.message}`);
    process.exit(1);
  },
);
