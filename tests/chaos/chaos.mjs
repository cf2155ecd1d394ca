#!/usr/bin/env node
// chaos.mjs: kill things at random while good clients work, then check every promise.
//
//   node tests/chaos/chaos.mjs [--rounds N] [--seed S] [--faults k1,k2,...]
//                              [--brokers N (2)] [--users N] [--quiet]
//
// Fault kinds: gateway broker chat presence call (kill -9 one instance, restarted after
// a random delay), stop (SIGSTOP of any process for a few seconds, then SIGCONT), pg
// (PostgreSQL stopped -m immediate, started again), net (the TCP path to PostgreSQL
// cut, then mended: lib/proxy.mjs). One fault per round, at a random moment; rounds
// cycle through the chosen kinds in a shuffled order. The seed fixes the schedule
// (kinds, targets, moments, durations); the workload's timing is not replayable.
// Prints one line per round, the seed, and `N passed, M failed`; exit 1 on failure.
//
// Environment: PARLEY_BIN_DIR (required: the build's bin/), PARLEY_SANITIZE (ON for
// ASan builds: memory growth is reported, not checked), PARLEY_CHAOS_DIR (where the
// private PostgreSQL cluster and the logs go; default <bin>/../chaos).
// docs/reliability.md describes every check.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePorts, psql, startStack, SANITIZE } from '../integration/lib/stack.mjs';
import { sleep, uid } from '../integration/lib/client.mjs';
import { makeRng } from './lib/rng.mjs';
import { PgProxy } from './lib/proxy.mjs';
import { Agent } from './lib/agent.mjs';
import { FAULT_KINDS, DURATION_MS, inject, targetsOf } from './lib/faults.mjs';
import { checkCallsAndHelp, checkClients, checkStored, presenceConverges } from './lib/checks.mjs';
import { RssTracker } from './lib/rss.mjs';

const execFileP = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const PG_SH = path.resolve(HERE, '../../scripts/pg.sh');

// Timers short enough to fire inside a round.
const ENV = {
  REQUEST_TIMEOUT_MS: '2000',
  RATE_LIMIT_PER_S: '0',
  OFFLINE_GRACE_MS: '1000',
  GW_LEASE_INTERVAL_MS: '300',
  RING_TIMEOUT_MS: '3000',
  CALL_GRACE_MS: '2000',
  HELP_TIMEOUT_MS: '4000',
  DB_CONNECT_TIMEOUT_MS: '30000',
};
const SLOW = SANITIZE ? 2 : 1;
// Presence must match the truth within this long after the fault is healed: the
// restarted process' start-up, three lease intervals, the offline grace, a few ticks.
const PRESENCE_BOUND_MS = 15000 * SLOW;
const DOWN_ANSWER_MS = 1000; // services answer within this while PostgreSQL is down
const RECONNECT_BOUND_MS = 15000 * SLOW; // and work again within this after it is back
// A round that takes longer than this is stuck (every wait in it is bounded far below):
// the run stops with a failure instead of hanging; the stack's processes are killed.
const ROUND_LIMIT_MS = 300000 * SLOW;

function parseArgs(argv) {
  const a = { rounds: 10, seed: null, faults: FAULT_KINDS, brokers: 2, users: 6, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--rounds') a.rounds = Number(v());
    else if (k === '--seed') a.seed = Number(v());
    else if (k === '--faults') a.faults = v().split(',').filter(Boolean);
    else if (k === '--brokers') a.brokers = Number(v());
    else if (k === '--users') a.users = Number(v());
    else if (k === '--quiet') a.quiet = true;
    else throw new Error(`unknown option ${k} (see the top of ${path.basename(process.argv[1])})`);
  }
  for (const f of a.faults) if (!FAULT_KINDS.includes(f)) throw new Error(`unknown fault kind ${f} (${FAULT_KINDS.join(' ')})`);
  if (!(a.rounds >= 1) || !Number.isInteger(a.rounds)) throw new Error('--rounds must be a positive integer');
  if (a.seed === null) a.seed = Math.floor(Math.random() * 2 ** 31);
  if (!Number.isInteger(a.seed)) throw new Error('--seed must be an integer');
  if (!(a.users >= 3)) throw new Error('--users must be at least 3');
  return a;
}

// The round schedule from the seed alone: kinds cycle in shuffled order.
function schedule(rng, args, stack) {
  const out = [];
  let cycle = [];
  for (let r = 1; r <= args.rounds; r++) {
    if (!cycle.length) cycle = rng.shuffle(args.faults);
    const kind = cycle.shift();
    const [lo, hi] = DURATION_MS[kind];
    out.push({ kind, target: rng.pick(targetsOf(stack, kind)), atMs: rng.int(200, 2000), forMs: rng.int(lo, hi), offline: rng.next() });
  }
  return out;
}

// While PostgreSQL is down: one request to each service every 250 ms; records the
// slowest answer. After it is back: how long until each answers with success again.
class DbProbe {
  constructor(agent) {
    this.agent = agent;
    this.reqs = [
      { svc: 'chat', frame: () => ({ type: 'history', conversation_id: agent.convs[0], limit: 1 }), ok: 'history' },
      { svc: 'call', frame: () => ({ type: 'call_history', limit: 1 }), ok: 'call_history' },
      { svc: 'presence', frame: () => ({ type: 'set_status', status: 'online' }), ok: 'status_change' },
    ];
  }

  async during(untilP) {
    let done = false;
    untilP.then(() => (done = true));
    const worst = {};
    const answers = {};
    while (!done) {
      const c = this.agent.conn;
      if (c && c.isOpen) {
        await Promise.all(
          this.reqs.map(async (r) => {
            const t0 = Date.now();
            let f;
            try {
              f = await c.request(r.frame(), 10000);
            } catch {
              f = { type: 'no answer' };
            }
            if (done) return; // answered after PostgreSQL came back: not an outage answer
            const ms = Date.now() - t0;
            worst[r.svc] = Math.max(worst[r.svc] || 0, ms);
            const what = f.type === 'error' ? f.code : f.type;
            answers[r.svc] = answers[r.svc] || {};
            answers[r.svc][what] = (answers[r.svc][what] || 0) + 1;
          }),
        );
      }
      await sleep(250);
    }
    return { worst, answers };
  }

  async back(boundMs) {
    const t0 = Date.now();
    const out = [];
    const ms = {};
    await Promise.all(
      this.reqs.map(async (r) => {
        for (;;) {
          const c = this.agent.conn;
          let f = null;
          if (c && c.isOpen) {
            try {
              f = await c.request(r.frame(), 5000);
            } catch {
              f = null;
            }
          }
          if (f && f.type === r.ok) {
            ms[r.svc] = Date.now() - t0;
            return;
          }
          if (Date.now() - t0 > boundMs) {
            out.push(`${r.svc} still fails ${boundMs} ms after PostgreSQL is back: ${JSON.stringify(f).slice(0, 160)}`);
            return;
          }
          await sleep(200);
        }
      }),
    );
    return { ms, out };
  }
}

// SIGINT/SIGTERM: finish the round in hand, check it, stop the stack and print the
// totals; a second signal exits at once (the stack harness kills its processes).
let interrupted = false;
function onSignal(sig) {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.log(`chaos: ${sig}: stopping after this round (again to stop now)`);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const binDir = process.env.PARLEY_BIN_DIR;
  if (!binDir) throw new Error('PARLEY_BIN_DIR is not set (e.g. build/bin)');
  const chaosDir = process.env.PARLEY_CHAOS_DIR || path.resolve(binDir, '..', 'chaos');
  process.env.PARLEY_TEST_LOG_DIR ||= path.join(chaosDir, 'logs');
  const log = (l) => console.log(l);
  log(`chaos: seed ${args.seed}, ${args.rounds} rounds, faults ${args.faults.join(',')}, brokers ${args.brokers}` +
      `${SANITIZE ? ', sanitizer build' : ''} (replay: --seed ${args.seed} --rounds ${args.rounds} --faults ${args.faults.join(',')}` +
      `${args.brokers !== 2 ? ` --brokers ${args.brokers}` : ''}${args.users !== 6 ? ` --users ${args.users}` : ''})`);

  // A private PostgreSQL: the harness stops and crashes it, which no shared cluster
  // may see. The services reach it through the proxy, which can cut the path.
  const pgDir = path.join(chaosDir, 'pg');
  const [pgPort] = await freePorts(1);
  await execFileP(PG_SH, ['start', pgDir, String(pgPort), '--fresh'], { timeout: 180000 });
  const proxy = new PgProxy('127.0.0.1', pgPort);
  await proxy.listen(0);
  process.env.PARLEY_TEST_PG = `host=127.0.0.1 port=${proxy.port} user=postgres`;

  let stack;
  const ctx = { pgSh: PG_SH, pgDir, pgPort, proxy };
  const cleanup = async () => {
    proxy.heal();
    try {
      await execFileP(PG_SH, ['start', pgDir, String(pgPort)], { timeout: 120000 });
    } catch {
      /* best effort */
    }
  };
  const results = [];
  const totals = { acked: 0, perKind: {}, presenceMs: [], reconnectMs: [], downWorstMs: 0, failures: [] };
  const agents = [];
  try {
    // brokers: two by default, all active (BROKER_ENDPOINTS); a broker fault kills one.
    stack = await startStack({ gateways: 2, chats: 2, presences: 2, calls: 2, brokers: args.brokers, env: ENV });
    ctx.stack = stack;
    const nBrokers = [...stack.procs.values()].filter((p) => p.kind === 'broker').length;
    if (nBrokers !== args.brokers) log(`chaos: note: the stack runs ${nBrokers} broker(s), ${args.brokers} asked`);
    const db = `host=127.0.0.1 port=${pgPort} user=postgres dbname=${stack.dbName}`;

    const rng = makeRng(args.seed);
    const plan = schedule(rng, args, stack);
    const wrng = makeRng(args.seed ^ 0x5bd1e995); // the workload's own stream
    const h = {
      round: 0,
      stopping: false,
      defects: [],
      urls: () => stack.gateways.map((g) => g.url),
      mentors: () => agents.filter((a) => a.role === 'mentor').map((a) => a.user),
      defect: (t) => h.defects.push(t),
    };
    const nMentors = Math.max(1, Math.round(args.users / 3));
    for (let i = 0; i < args.users; i++) {
      const role = i < nMentors ? 'mentor' : 'student';
      agents.push(new Agent(h, uid(role === 'mentor' ? 'm' : 's'), role, makeRng(wrng.int(0, 2 ** 31))));
    }
    const probeAgent = new Agent(h, uid('probe'), 'student', makeRng(wrng.int(0, 2 ** 31)));
    for (const a of [...agents, probeAgent]) await a.ensure();

    // One group of everyone (so every user may see every other's presence), plus
    // direct conversations between a few pairs.
    const convs = [];
    const create = async (by, participants, kind) => {
      const f = await by.reliable({ type: 'create_conversation', participants, kind });
      if (!f || f.type !== 'conversation_created') throw new Error(`create_conversation: ${JSON.stringify(f)}`);
      return f.conversation.conversation_id;
    };
    const group = await create(agents[0], [...agents.slice(1), probeAgent].map((a) => a.user), 'group');
    convs.push(group);
    for (const a of [...agents, probeAgent]) a.convs.push(group);
    for (let i = 0; i + 1 < agents.length; i += 2) {
      const cid = await create(agents[i], [agents[i + 1].user], 'direct');
      convs.push(cid);
      agents[i].convs.push(cid);
      agents[i + 1].convs.push(cid);
    }
    const observer = agents[0]; // never taken offline: it reads presence
    const probe = new DbProbe(probeAgent);
    const rss = new RssTracker();
    for (const a of agents) {
      a.active = true;
      a.sendLoop();
    }

    for (let r = 1; r <= args.rounds && !interrupted; r++) {
      const step = plan[r - 1];
      const watchdog = setTimeout(() => {
        log(`round ${r}/${args.rounds} stuck for ${ROUND_LIMIT_MS} ms: stopping (stack log: ${stack.logPath})`);
        log(`${results.filter(Boolean).length} passed, ${results.length - results.filter(Boolean).length + 1} failed`);
        process.exit(1);
      }, ROUND_LIMIT_MS);
      h.round = r;
      h.defects = [];
      const failures = [];
      const info = [];
      const deathsBefore = stack.failures.length;
      const ackedBefore = agents.reduce((n, a) => n + a.acks.length, 0);

      // One user leaves for this round: presence must take them offline.
      const leaver = agents[1 + Math.floor(step.offline * (agents.length - 1))];
      await leaver.goOffline();

      await sleep(step.atMs);
      let fault;
      let downStats = null;
      try {
        fault = await inject(ctx, step.kind, step.target);
      } catch (e) {
        failures.push(`injecting ${step.kind} failed: ${e.message.slice(0, 200)}`);
      }
      let healedAt = Date.now();
      if (fault) {
        const over = sleep(step.forMs);
        // During a network cut the answers are recorded too, but not bounded: a query
        // in flight hangs until the cut heals (lib/proxy.mjs), the gateway answers
        // `unavailable` after REQUEST_TIMEOUT_MS.
        if (fault.down || step.kind === 'net') downStats = await probe.during(over);
        await over;
        try {
          await fault.heal();
        } catch (e) {
          failures.push(`healing ${fault.what} failed: ${e.message.slice(0, 200)}`);
        }
        healedAt = Date.now();
      }
      // Presence is watched from the moment the stack is whole again.
      const presence = presenceConverges(observer, agents, healedAt, PRESENCE_BOUND_MS);
      try {
        await stack.waitHealthy(30000 * SLOW);
      } catch (e) {
        failures.push(`stack not healthy after healing: ${e.message.slice(0, 200)}`);
      }
      if (downStats && !fault.down) {
        info.push(`cut: ${JSON.stringify(downStats.answers)} worst ${JSON.stringify(downStats.worst)}`);
      } else if (downStats) {
        for (const [svc, ms] of Object.entries(fault.down ? downStats.worst : {})) {
          totals.downWorstMs = Math.max(totals.downWorstMs, ms);
          if (ms > DOWN_ANSWER_MS) failures.push(`${svc} took ${ms} ms to answer while PostgreSQL was down (bound ${DOWN_ANSWER_MS})`);
        }
        info.push(`down: ${JSON.stringify(downStats.answers)} worst ${JSON.stringify(downStats.worst)}`);
        const back = await probe.back(RECONNECT_BOUND_MS);
        failures.push(...back.out);
        const worstBack = Math.max(0, ...Object.values(back.ms));
        totals.reconnectMs.push(worstBack);
        info.push(`services back ${worstBack} ms after PostgreSQL`);
      }
      await sleep(1000); // the workload runs on the healed stack for a moment

      // Quiet the workload: every message in flight is retried until acknowledged.
      for (const a of agents) a.active = false;
      await Promise.all(agents.map((a) => a.idle()));
      const pr = await presence;
      failures.push(...pr.out);
      if (pr.ms !== null) totals.presenceMs.push(pr.ms);

      try {
        const { out, stored } = await checkStored(db, convs, agents);
        failures.push(...out);
        failures.push(...(await checkClients(agents, stored)));
        failures.push(...(await checkCallsAndHelp(db, agents, { waitMs: 12000 * SLOW, graceMs: Number(ENV.CALL_GRACE_MS) })));
      } catch (e) {
        failures.push(`check failed to run: ${e.message.slice(0, 300)}`);
      }
      failures.push(...h.defects);
      for (const d of stack.failures.slice(deathsBefore)) failures.push(d);
      for (const p of stack.procs.values()) {
        if (!p.running) {
          failures.push(`${p.name} is not running after the round; restarted`);
          stack._spawn(p);
        }
      }
      rss.sample(stack);
      if (!SANITIZE) failures.push(...rss.growing());

      const acked = agents.reduce((n, a) => n + a.acks.length, 0) - ackedBefore;
      totals.acked += acked;
      const k = (totals.perKind[step.kind] ||= { rounds: 0, failed: 0 });
      k.rounds++;
      const ok = failures.length === 0;
      if (!ok) k.failed++;
      results.push(ok);
      const what = fault ? fault.what : step.kind;
      log(
        `round ${r}/${args.rounds} ${what} at +${step.atMs} ms for ${step.forMs} ms; ${leaver.user} left | acked ${acked} | ` +
          `presence ${pr.ms === null ? '-' : `${pr.ms} ms`}${info.length ? ` | ${info.join('; ')}` : ''} | ` +
          (ok ? 'ok' : `FAILED:\n    - ${[...new Set(failures)].join('\n    - ')}`),
      );
      if (!ok) totals.failures.push({ round: r, what, failures: [...new Set(failures)] });

      await leaver.goOnline();
      for (const a of agents) a.active = true;
      clearTimeout(watchdog);
    }
    h.stopping = true;
    for (const a of agents) {
      a.active = false;
      a.stop();
    }
    await Promise.all(agents.map((a) => a.idle()));
    for (const line of rss.summary()) if (!args.quiet) log(`rss ${line}`);
    try {
      const states = async (table) =>
        (await psql(db, `SELECT state || ' ' || count(*) FROM call.${table} GROUP BY state ORDER BY count(*) DESC`)).split('\n').join(', ');
      log(`chaos: calls by final state: ${await states('calls')}; help requests: ${await states('help_requests')}`);
    } catch (e) {
      log(`chaos: could not count calls: ${e.message.slice(0, 200)}`);
    }
  } finally {
    await cleanup();
    if (stack) {
      try {
        await stack.stop();
      } catch (e) {
        results.push(false);
        log(`stack stop: ${e.message}`);
      }
    }
    await proxy.close();
    try {
      await execFileP(PG_SH, ['stop', pgDir], { timeout: 120000 });
    } catch {
      /* best effort */
    }
  }
  const pct = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] : '-');
  log(`chaos: seed ${args.seed}; messages acknowledged ${totals.acked}; rounds per fault ` +
      Object.entries(totals.perKind).map(([k, v]) => `${k} ${v.rounds}${v.failed ? ` (${v.failed} failed)` : ''}`).join(', '));
  log(`chaos: presence converged in median ${pct(totals.presenceMs, 0.5)} ms, p95 ${pct(totals.presenceMs, 0.95)} ms, ` +
      `max ${pct(totals.presenceMs, 1)} ms; slowest answer while PostgreSQL was down ${totals.downWorstMs} ms; ` +
      `services back after PostgreSQL in max ${pct(totals.reconnectMs, 1)} ms`);
  const passed = results.filter(Boolean).length;
  log(`${passed} passed, ${results.length - passed} failed`);
  process.exitCode = results.length - passed ? 1 : 0;
}

main().then(
  () => process.exit(process.exitCode || 0),
  (e) => {
    console.error(`chaos: ${e.stack || e.message}`);
    process.exit(2);
  },
);
