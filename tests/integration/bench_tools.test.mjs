// The measuring instruments: parley-bench and parley-relay, the bare relay it is
// calibrated with (docs/performance.md, "A yardstick"). A number in performance.md is
// only as good as the tool that produced it, so the tools are checked like code: the
// bench must count every acknowledgement and delivery, notice what is missing and
// fail its setup when the server refuses it; the relay must relay what the bench sends
// and refuse what it should. bench/storm.mjs (K bench processes on K source addresses
// as one run) is checked against the relay and against a real Parley stack, whose
// per-address connection cap shows whether --source really moved the connections.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePorts, startStack } from './lib/stack.mjs';
import { DEFAULT_SECRET, connect, login, sleep, uid } from './lib/client.mjs';

const execFileP = promisify(execFile);
const BIN = process.env.PARLEY_BIN_DIR;
const SECRET = DEFAULT_SECRET;

let relay;
let port;
let relayLog = '';

before(async () => {
  [port] = await freePorts(1);
  relay = spawn(path.join(BIN, 'parley-relay'), ['--port', String(port), '--secret', SECRET], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  relay.stdout.on('data', (d) => (relayLog += d));
  relay.stderr.on('data', (d) => (relayLog += d));
  for (let i = 0; i < 100 && !/relay listening/.test(relayLog); i++) await sleep(50);
  assert.match(relayLog, /relay listening/, `parley-relay did not start:\n${relayLog}`);
});

after(async () => {
  if (!relay || relay.exitCode !== null) return;
  const exited = new Promise((resolve) => relay.once('exit', (code, signal) => resolve({ code, signal })));
  relay.kill('SIGTERM');
  const { code, signal } = await exited;
  assert.equal(signal, null, `parley-relay died on ${signal}:\n${relayLog}`);
  assert.equal(code, 0, `parley-relay exited ${code}:\n${relayLog}`);
  assert.doesNotMatch(relayLog, /ERROR: (Address|Leak)Sanitizer|runtime error:/, relayLog);
});

async function bench(args) {
  const all = ['--url', `ws://127.0.0.1:${port}/ws`, '--quiet', '--json', ...args];
  try {
    const { stdout } = await execFileP(path.join(BIN, 'parley-bench'), all, { timeout: 120000 });
    return { code: 0, report: JSON.parse(stdout.trim().split('\n').pop()) };
  } catch (e) {
    if (typeof e.code !== 'number') throw e;
    const last = (e.stdout || '').trim().split('\n').pop();
    return { code: e.code, report: last.startsWith('{') ? JSON.parse(last) : null, stderr: e.stderr };
  }
}

describe('parley-bench against the bare relay', () => {
  it('counts every message acknowledged and delivered once to every other member', async () => {
    const timeline = path.join(os.tmpdir(), `pl-timeline-${process.pid}.csv`);
    const { code, report } = await bench([
      '--secret', SECRET, '--users', '40', '--room-size', '10', '--rate', '200',
      '--duration', '2', '--warmup', '1', '--pids', `gateway:${relay.pid}`, '--timeline', timeline,
    ]);
    // --timeline: 20 slots of 100 ms that account for every acknowledged message
    const rows = fs.readFileSync(timeline, 'utf8').trim().split('\n');
    fs.rmSync(timeline);
    assert.equal(rows[0], 'sent_s,acks,max_ms,over_10ms');
    assert.equal(rows.length, 21);
    const slots = rows.slice(1).map((r) => r.split(',').map(Number));
    assert.deepEqual(slots.map((x) => x[0]), Array.from({ length: 20 }, (_, i) => i / 10));
    assert.equal(slots.reduce((n, x) => n + x[1], 0), report.acked);
    assert.ok(Math.max(...slots.map((x) => x[2])) <= report.ack_ms.max + 0.01, 'no slot is slower than the slowest ack');
    assert.equal(code, 0);
    assert.equal(report.rooms_ready, 4);
    assert.equal(report.scheduled, 400);
    assert.equal(report.acked, report.scheduled);
    assert.equal(report.deliveries_expected, report.scheduled * 9);
    assert.equal(report.deliveries_received, report.deliveries_expected);
    for (const k of ['failed', 'no_answer', 'dup_acks', 'deliveries_missing', 'duplicates', 'misrouted', 'unparsed']) {
      assert.equal(report[k], 0, k);
    }
    assert.ok(Object.values(report.errors).every((n) => n === 0), JSON.stringify(report.errors));
    assert.equal(report.ack_ms.count, report.acked);
    assert.equal(report.delivery_ms.count, report.deliveries_received);
  });

  it('fails its setup, and says so, when the server refuses its tokens', async () => {
    const { code, report } = await bench([
      '--secret', 'not-the-relay-secret', '--users', '10', '--room-size', '10', '--rate', '10',
      '--duration', '1', '--warmup', '0', '--setup-timeout', '5',
    ]);
    assert.equal(code, 1, 'exit 1: no room became ready');
    if (report) {
      assert.equal(report.authed, 0);
      assert.equal(report.rooms_ready, 0);
      assert.equal(report.acked, 0);
    }
    assert.match(relayLog, /connection refused.*reason="bad signature"/);
  });
});

describe('parley-relay', () => {
  it('relays to the other members only, acknowledges the sender with its temp_id', async () => {
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    const url = `ws://127.0.0.1:${port}/ws`;
    const ca = await login(url, a);
    const cb = await login(url, b);
    const cc = await login(url, c);
    assert.equal(ca.auth.user_id, a);
    ca.send({ type: 'create_conversation', id: 'k', kind: 'group', participants: [b] });
    const created = await ca.next('conversation_created');
    await cb.next('conversation_created');
    const cid = created.conversation.conversation_id;
    ca.send({ type: 'message', id: 7, conversation_id: cid, content: 'hé "quoted"', temp_id: 't1' });
    const sent = await ca.next('message_sent');
    assert.equal(sent.id, 7);
    assert.equal(sent.temp_id, 't1');
    assert.equal(sent.seq, 1);
    const got = await cb.next('new_message');
    assert.equal(got.message.content, 'hé "quoted"');
    assert.equal(got.message.sender_id, a);
    assert.equal(got.message.message_id, sent.message_id);
    cc.send({ type: 'message', id: 8, conversation_id: cid, content: 'intruder' });
    const refused = await cc.next('error');
    assert.equal(refused.id, 8);
    assert.equal(refused.code, 'bad_request');
    ca.send({ type: 'message', id: 9, conversation_id: 999999, content: 'x' });
    assert.equal((await ca.next('error')).code, 'not_found');
    ca.send('{not json');
    assert.equal((await ca.next('error')).code, 'bad_request');
    await cc.expectNone('new_message');
  });

  it('closes a connection that brings no valid token', async () => {
    const c = await connect(`ws://127.0.0.1:${port}/ws`, { token: 'a.b.c', noAuthWait: true });
    await c.waitClose();
  });
});

// bench/storm.mjs: its combined report as JSON (last stdout line) and its exit code.
async function storm(url, args) {
  const all = [path.join(import.meta.dirname, '../../bench/storm.mjs'), '--url', url, '--secret', SECRET, '--json', ...args];
  try {
    const { stdout } = await execFileP(process.execPath, all, { timeout: 120000, env: { ...process.env, PARLEY_BIN_DIR: BIN } });
    return { code: 0, report: JSON.parse(stdout.trim().split('\n').pop()), stdout };
  } catch (e) {
    if (typeof e.code !== 'number') throw e;
    const last = (e.stdout || '').trim().split('\n').pop();
    return { code: e.code, report: last.startsWith('{') ? JSON.parse(last) : null, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('storm.mjs: several bench processes on several source addresses, one report', () => {
  it('against the relay: 200 connections from 2 processes, settled when all are authenticated', async () => {
    const { code, report: r, stderr } = await storm(`ws://127.0.0.1:${port}/ws`, [
      '--users', '200', '--procs', '2', '--sources', '127.0.0.2,127.0.0.3', '--window', '1', '--settle', '10',
      '--pids', `gateway:${relay.pid}`,
    ]);
    assert.equal(code, 0, stderr);
    assert.equal(r.reports, 2);
    assert.deepEqual(r.sources, ['127.0.0.2', '127.0.0.3']);
    assert.equal(r.authed, 200);
    assert.equal(r.connect_errors, 0);
    assert.equal(r.settled, true);
    assert.equal(r.settled_by, 'authenticated');
    assert.equal(r.settled_s, r.auth_s);
    assert.ok(r.open_s > 0 && r.open_s <= r.auth_s, `opened over ${r.open_s} s, authenticated after ${r.auth_s} s`);
    assert.deepEqual(r.gateway_pids, [relay.pid]);
    assert.equal(r.nprocs.gateway, 1, 'the relay counted once, not once per bench process');
    assert.ok(r.cpu_s.stack === r.cpu_s.gateway && r.stack_cpu_us_per_conn > 0, JSON.stringify(r.cpu_s));
    assert.ok(r.gateway_rss_after_kb > r.gateway_rss_before_kb, 'the relay grew with 200 connections');
    assert.ok(r.cpu_window_s >= r.auth_s, `cpu window ${r.cpu_window_s} s covers connect + auth ${r.auth_s} s`);
  });
});

describe('storm.mjs against a Parley stack', () => {
  let stack;
  before(async () => {
    // 100 connections per address: 200 from one address would be refused in part
    stack = await startStack({ env: { MAX_CONNECTIONS_PER_IP: '100', CONNECT_RATE_PER_IP: '0', RATE_LIMIT_PER_S: '0' } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('200 connections over 2 processes and 2 source addresses: all admitted, settled when presence-svc has them all', async () => {
    const { code, report: r, stderr } = await storm(stack.url(), [
      '--users', '200', '--procs', '2', '--sources', '127.0.0.2,127.0.0.3', '--window', '1', '--settle', '20',
      '--pg', stack.dbConn,
    ]);
    assert.equal(code, 0, stderr);
    assert.equal(r.authed, 200);
    assert.equal(r.connect_errors, 0);
    assert.equal(r.settled, true);
    assert.equal(r.settled_by, 'presence.connections');
    assert.ok(r.settled_s >= r.auth_s, `settled ${r.settled_s} s after auth ${r.auth_s} s`);
    for (const g of ['gateway', 'presence', 'broker']) assert.equal(r.nprocs[g], 1, `${g} counted once`);
    assert.ok(r.nprocs.postgres >= 1, 'PostgreSQL and its backends are counted');
    assert.ok(r.cpu_s.presence > 0 || r.cpu_s.postgres > 0, JSON.stringify(r.cpu_s));
    assert.ok(r.stack_cpu_us_per_conn > r.gateway_cpu_us_per_conn, 'the stack costs more than its gateway');
    assert.ok(r.rss_per_conn_kb > 0, `gateway RSS per connection ${r.rss_per_conn_kb} KiB`);
  });

  it('the same 200 from one source address: the gateway refuses those over its per-address cap', async () => {
    const { code, report: r } = await storm(stack.url(), [
      '--users', '200', '--procs', '2', '--sources', '127.0.0.4', '--window', '1', '--settle', '5',
      '--pg', stack.dbConn,
    ]);
    assert.equal(code, 1, 'not every connection was admitted');
    assert.deepEqual(r.sources, ['127.0.0.4']);
    assert.ok(r.authed <= 100 && r.authed >= 90, `authed ${r.authed}: the cap of 100 per address held`);
    assert.equal(r.authed + r.connect_errors, 200);
  });
});
