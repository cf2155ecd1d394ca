// /metrics of every process: each service's own listener (METRICS_PORT) and the
// gateway's port. After some traffic the samples must say what happened: requests by
// event type, a latency histogram per event type, errors by code, batch sizes, database
// transaction latency, the backlog gauge; and a taken METRICS_PORT stops a service at
// start with one clear line.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { startStack, freePorts } from './lib/stack.mjs';
import { httpGet, login, uid, eventually } from './lib/client.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';
import { parseProm, pick, scrape as scrape_, value } from './lib/prom.mjs';

let stack;
let ports;
before(async () => {
  ports = await freePorts(3);
  stack = await startStack({
    envFor: {
      chat: { METRICS_PORT: String(ports[0]) },
      presence: { METRICS_PORT: String(ports[1]) },
      call: { METRICS_PORT: String(ports[2]) },
    },
  });
});
after(async () => {
  await stack?.stop();
});

const scrape = async (port) => scrape_(`http://127.0.0.1:${port}`);

// A histogram series is well formed: cumulative buckets ending in +Inf == _count.
function assertHistogram(samples, name, labels) {
  const buckets = pick(samples, `${name}_bucket`, labels);
  assert.ok(buckets.length > 1, `${name}${JSON.stringify(labels)} has buckets`);
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, `${name} buckets are cumulative`);
  const inf = buckets.find((b) => b.labels.le === '+Inf');
  assert.ok(inf, `${name} has le="+Inf"`);
  assert.equal(inf.value, value(samples, `${name}_count`, labels), `${name}: +Inf bucket == _count`);
  return inf.value;
}

describe('service /metrics', () => {
  it('chat-svc counts requests, latency, errors, batches and transactions', async () => {
    const a = await login(stack.url(), uid('ma'), 'student');
    const b = await login(stack.url(), uid('mb'), 'student');
    const conv = await createConversation(a, [b.auth.user_id]);
    for (let i = 0; i < 5; i++) await sendMessage(a, conv.conversation_id, `metrics ${i}`);
    const err = await a.request({ type: 'history', conversation_id: 987654321 });
    assert.equal(err.type, 'error');

    await eventually(async () => value((await scrape(ports[0])).samples, 'parley_service_requests_total', { event: 'message' }) >= 5,
      { what: 'message requests counted' });
    const { samples, types } = await scrape(ports[0]);
    assert.equal(types.parley_service_requests_total, 'counter');
    assert.equal(types.parley_service_request_duration_seconds, 'histogram');
    assert.equal(types.parley_service_db_transaction_seconds, 'histogram');
    assert.equal(types.parley_service_batch_size, 'histogram');
    assert.equal(types.parley_service_backlog, 'gauge');
    assert.equal(value(samples, 'parley_service_info', { service: 'chat' }), 1);
    assert.equal(value(samples, 'parley_service_db_up'), 1);
    assert.ok(assertHistogram(samples, 'parley_service_request_duration_seconds', { event: 'message' }) >= 5);
    assert.ok(value(samples, 'parley_service_requests_total', { event: 'create_conversation' }) >= 1);
    assert.ok(value(samples, 'parley_service_requests_total', { event: 'session_open' }) >= 2, 'auth is a chat request');
    const errors = pick(samples, 'parley_service_errors_total').filter((s) => s.value > 0);
    assert.ok(errors.length >= 1, 'the failed history counts as an error by code');
    assert.ok(['not_found', 'forbidden'].includes(errors[0].labels.code), `error code label: ${errors[0].labels.code}`);
    assert.ok(assertHistogram(samples, 'parley_service_batch_size', {}) >= 5);
    assert.ok(assertHistogram(samples, 'parley_service_db_transaction_seconds', { kind: 'batch' }) >= 5);
    assert.ok(pick(samples, 'parley_service_backlog').length === 1);
    await a.close();
    await b.close();
  });

  it('presence-svc and call-svc serve their own /metrics and /healthz', async () => {
    for (const [i, kind] of [[1, 'presence'], [2, 'call']]) {
      const { samples } = await scrape(ports[i]);
      assert.equal(value(samples, 'parley_service_info', { service: kind }), 1, `${kind} info`);
      assert.equal(value(samples, 'parley_service_db_up', { service: kind }), 1);
      const h = await httpGet(`http://127.0.0.1:${ports[i]}`, '/healthz');
      assert.equal(h.status, 200);
      assert.equal(JSON.parse(h.body).service, kind);
    }
    // Connections open and close: presence is told (notifications count as requests).
    const c = await login(stack.url(), uid('mp'), 'student');
    await c.close();
    await eventually(async () => value((await scrape(ports[1])).samples, 'parley_service_requests_total', { event: 'conn_open' }) >= 1,
      { what: 'presence counted conn_open' });
  });

  it('an unknown path is 404 and a second listener on a taken METRICS_PORT refuses to start', async () => {
    const r = await httpGet(`http://127.0.0.1:${ports[0]}`, '/nope');
    assert.equal(r.status, 404);
    const bin = path.join(process.env.PARLEY_BIN_DIR, 'parley-chat');
    const child = spawn(bin, [], { env: { ...stack.baseEnv, METRICS_PORT: String(ports[0]) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 20000);
      child.on('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    assert.notEqual(code, 0, `parley-chat must not start on a taken metrics port:\n${out}`);
    assert.match(out, /cannot listen.*port=\d+/, 'one clear line says why');
  });

  it('the listener survives a client that connects and says nothing', async () => {
    const s = net.connect(ports[0], '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const { samples } = await scrape(ports[0]);
    assert.ok(samples.length > 0);
    s.destroy();
  });
});

describe('gateway /metrics', () => {
  it('frames, errors and a request latency histogram per event type', async () => {
    const a = await login(stack.url(), uid('mg'), 'student');
    await a.request({ type: 'list_mentors' });
    await a.request({ type: 'history', conversation_id: 1234567 });
    const r = await httpGet(stack.gateways[0].http, '/metrics');
    const { samples, types } = parseProm(r.body);
    assert.ok(value(samples, 'parley_gateway_frames_in_total', { type: 'list_mentors' }) >= 1);
    assert.equal(types.parley_gateway_request_duration_seconds, 'histogram');
    assert.ok(assertHistogram(samples, 'parley_gateway_request_duration_seconds', { type: 'list_mentors' }) >= 1);
    assert.ok(assertHistogram(samples, 'parley_gateway_request_duration_seconds', { type: 'history' }) >= 1);
    await a.close();
  });
});
