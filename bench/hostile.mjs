#!/usr/bin/env node
// hostile.mjs: how much does one hostile client cost everyone else? For each attack of
// the hardening issue (tests/integration/lib/attacks.mjs) it runs parley-bench's normal
// load alone, then the same load with the attack running beside it, as interleaved
// pairs on one running stack, and prints the normal users' delivery p99 for both, their
// ratio, lost messages and the gateway's peak RSS.
//
//   node bench/hostile.mjs --url ws://127.0.0.1:18080/ws --secret s3cret \
//        [--bench build/bin/parley-bench] [--pairs 3] [--seconds 10] [--users 200] [--rate 200]
//        [--attacker-nice N]
//
// --attacker-nice N runs each attack in a process of its own (bench/attack.mjs) at nice
// N: on a real deployment the attacker's CPU is not the server's, and on a two-core host
// an attacker at the stack's priority measures the contention for cores as much as
// what the gateway lets one client cost the others. Without it, the attack runs in this
// process, at the same priority as everything else.
//
// The stack keeps its default limits (the attacks must meet them); 200 users sending 200
// messages/s in total stay far under the 20 frames/s per connection. Loopback only, like
// parley-bench. Needs tests/integration's node_modules (`make test` or npm ci there).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:8080/ws' },
    secret: { type: 'string', default: process.env.JWT_SECRET || '' },
    bench: { type: 'string', default: path.join(here, '..', 'build', 'bin', 'parley-bench') },
    pairs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    users: { type: 'string', default: '200' },
    rate: { type: 'string', default: '200' },
    'gateway-pid': { type: 'string' },
    'attacker-nice': { type: 'string' },
  },
});
if (!/^ws:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//.test(o.url)) {
  console.error('hostile.mjs: --url must be a ws:// loopback URL');
  process.exit(2);
}
if (!o.secret) {
  console.error('hostile.mjs: --secret (or JWT_SECRET) is required');
  process.exit(2);
}
process.env.PARLEY_TEST_JWT_SECRET = o.secret; // the attackers' tokens
const { attacks } = await import('../tests/integration/lib/attacks.mjs');
const { closeAllClients } = await import('../tests/integration/lib/client.mjs');

function gatewayPid() {
  if (o['gateway-pid']) return Number(o['gateway-pid']);
  const port = Number(new URL(o.url).port || 80);
  // the process whose command line is parley-gateway and whose environment says PORT
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('parley-gateway')) continue;
      const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (env.includes(`PORT=${port}`)) return Number(pid);
    } catch {
      /* gone, or not ours */
    }
  }
  throw new Error(`no parley-gateway with PORT=${port} found; give --gateway-pid`);
}

const rssMiB = (pid) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

// One parley-bench run; resolves to its JSON summary.
function runBench() {
  const args = ['--url', o.url, '--secret', o.secret, '--users', o.users, '--room-size', '10',
    '--rate', o.rate, '--duration', o.seconds, '--warmup', '2', '--quiet', '--json'];
  return new Promise((resolve, reject) => {
    const child = spawn(o.bench, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop();
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`parley-bench exited ${code} without a JSON summary`));
      }
    });
  });
}

const p99 = (r) => r.delivery_ms?.p99 ?? NaN;
// scheduled but never acknowledged, plus deliveries of acknowledged messages missing
const lost = (r) => r.scheduled - r.acked + r.deliveries_missing;

// The attack in a process of its own at nice N (see the header); resolves when it ends.
function attackElsewhere(name, seconds) {
  const args = ['-n', o['attacker-nice'], process.execPath, path.join(here, 'attack.mjs'), '--url', o.url,
    '--secret', o.secret, '--attack', name, '--seconds', String(seconds)];
  return new Promise((resolve) => spawn('nice', args, { stdio: 'inherit' }).on('exit', resolve));
}

const pid = gatewayPid();
const rows = [];
for (const [name, attack] of Object.entries(attacks)) {
  for (let i = 0; i < Number(o.pairs); i++) {
    const calm = await runBench();
    await new Promise((r) => setTimeout(r, 1000));
    let peak = rssMiB(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 200);
    const until = Date.now() + (Number(o.seconds) + 3) * 1000;
    const attacking = o['attacker-nice'] !== undefined
      ? attackElsewhere(name, Number(o.seconds) + 3)
      : attack(o.url, until).catch((e) => e);
    const [hostile] = await Promise.all([runBench(), attacking]);
    clearInterval(sampler);
    await closeAllClients();
    rows.push({ name, calm: p99(calm), hostile: p99(hostile), lostCalm: lost(calm), lostHostile: lost(hostile), peak });
    console.error(`${name} #${i + 1}: p99 ${p99(calm)} ms alone, ${p99(hostile)} ms beside the attack`);
  }
}
console.log('| attack | p99 alone (ms) | p99 beside it (ms) | ratio | lost alone / beside | gateway RSS peak (MiB) |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.calm.toFixed(2)} | ${r.hostile.toFixed(2)} | ${(r.hostile / r.calm).toFixed(2)} | ${r.lostCalm} / ${r.lostHostile} | ${r.peak.toFixed(1)} |`);
}
process.exit(0);
