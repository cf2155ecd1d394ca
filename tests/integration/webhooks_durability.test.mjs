// Webhooks under failure: kill -9 of parley-hooks mid-delivery loses nothing (the
// receiver de-duplicates by event id, and only the attempt in flight at the kill ever
// arrives twice); a receiver that is down backs up the outbox (in PostgreSQL, visible as
// parley_webhook_outbox_depth) without slowing chat: message acks keep flowing; two
// workers share the outboxes without delivering one event twice at once.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SANITIZE, freePorts, useStack } from './lib/stack.mjs';
import { eventually, httpGet, login, sleep, uid } from './lib/client.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';
import { hookEnv, startReceiver } from './lib/webhooks.mjs';

const SLOW = SANITIZE ? 2 : 1;
const TIMEOUT_MS = 1000; // one attempt; the lease is 2 × this + 5 s

const rx = await startReceiver();
const [metricsPort] = await freePorts(1);
let stack;
let url;
useStack(
  () => ({
    hooks: 2,
    env: hookEnv(rx, {
      WEBHOOK_MAX_ATTEMPTS: '50',
      WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
      RATE_LIMIT_PER_S: '0',
    }),
    envFor: { hooks: { METRICS_PORT: String(metricsPort) }, hooks2: {} }, // the first one's /metrics
  }),
  (s) => ((stack = s), (url = s.url())),
);
after(async () => {
  await rx?.close();
});

const messageHits = (cid) => rx.hits.filter((h) => h.body?.type === 'message.created' && h.body.data.message.conversation_id === cid);

async function metric(name) {
  const r = await httpGet(`http://127.0.0.1:${metricsPort}`, '/metrics');
  assert.equal(r.status, 200);
  let sum = 0;
  for (const line of r.body.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

describe('durability', () => {
  it('kill -9 of parley-hooks mid-delivery loses nothing; only the attempt in flight repeats', async () => {
    const a = uid('kd');
    const ca = await login(url, a, 'student');
    const conv = await createConversation(ca, [uid('kd')]);
    const cid = conv.conversation_id;
    // The receiver holds the 3rd message: the worker delivering it is then killed.
    rx.respond = (h) => (h.body?.data?.message?.content === 'm3' ? 'hold' : 200);
    try {
      const sent = [];
      for (let i = 1; i <= 6; i++) sent.push(await sendMessage(ca, cid, `m${i}`));
      const heldHit = await eventually(() => messageHits(cid).find((h) => h.status === 'held'), { what: 'the held attempt' });
      const inFlight = new Set(rx.hits.filter((h) => h.status === 'held').map((h) => h.body.id));
      // Whichever worker holds it, both die: nothing is left to finish the attempt.
      await stack.kill('hooks', 'SIGKILL');
      await stack.kill('hooks2', 'SIGKILL');
      rx.respond = () => 200;
      rx.release(503); // the dead workers' sockets: nobody reads this answer
      await stack.restart('hooks');
      await eventually(() => sent.every((m) => messageHits(cid).some((h) => h.status === 200 && h.body.data.message.message_id === m.message_id)),
        { what: 'every message delivered after the restart', timeoutMs: (TIMEOUT_MS * 2 + 5000) * 3 * SLOW });
      // At least once: every event acknowledged; twice only for what was in flight.
      const byId = new Map();
      for (const h of messageHits(cid)) byId.set(h.body.id, (byId.get(h.body.id) || 0) + 1);
      for (const [id, n] of byId) if (n > 1) assert.ok(inFlight.has(id), `event ${id} arrived ${n} times but was not in flight`);
      assert.ok(byId.get(heldHit.body.id) >= 2, 'the held event was delivered again');
      // per-user order held across the kill
      const acked = messageHits(cid).filter((h) => h.status === 200).map((h) => h.body.data.message.seq);
      assert.deepEqual(acked, [1, 2, 3, 4, 5, 6]);
    } finally {
      rx.respond = () => 200;
      rx.release(200);
      if (!stack._proc('hooks2').running) await stack.restart('hooks2');
    }
  });

  it('a receiver that is down backs up the outbox without slowing chat', async () => {
    const a = uid('bd');
    const ca = await login(url, a, 'student');
    const others = [];
    for (let i = 0; i < 4; i++) others.push(await login(url, uid('bd'), 'student'));
    const convs = [];
    for (const o of others) convs.push((await createConversation(o, [a])).conversation_id);
    // Down: every attempt fails (the receiver answers 503 at once, like a proxy in
    // front of a stopped backend).
    rx.respond = () => 503;
    try {
      const acks = [];
      const N = 40;
      for (let i = 0; i < N; i++) {
        const t0 = Date.now();
        await sendMessage(others[i % others.length], convs[i % convs.length], `backlog ${i}`);
        acks.push(Date.now() - t0);
      }
      acks.sort((x, y) => x - y);
      const p95 = acks[Math.floor(acks.length * 0.95)];
      assert.ok(p95 < 1000 * SLOW, `acks slowed down while the receiver is down: p95 ${p95} ms`);
      // the events wait in PostgreSQL, and the metric shows it
      const depth = Number(await stack.sql('SELECT count(*) FROM chat.webhook_outbox'));
      assert.ok(depth >= N, `outbox depth ${depth}`);
      await eventually(async () => (await metric('parley_webhook_outbox_depth{source="chat"}')) >= N, { what: 'the depth metric' });
      assert.ok((await metric('parley_webhook_attempts_total{outcome="http_error"}')) > 0);
      const downFor = Date.now();
      // Still flowing for 3 s, at a bounded pace: each message adds an event that one
      // user's ordered chain must deliver after the outage, and a fast stack would
      // otherwise queue more of them than the drain below is given time for.
      while (Date.now() - downFor < 3000) {
        await sendMessage(others[0], convs[0], 'still flowing');
        await sleep(25);
      }
    } finally {
      rx.respond = () => 200;
    }
    // Back up: everything is delivered, the outbox drains.
    await eventually(async () => Number(await stack.sql('SELECT count(*) FROM chat.webhook_outbox')) === 0,
      { what: 'the outbox drained', timeoutMs: 30000 * SLOW });
    for (const cid of convs) {
      const seqs = messageHits(cid).filter((h) => h.status === 200).map((h) => h.body.data.message.seq);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'per-user order after the outage');
    }
    assert.ok((await metric('parley_webhook_delivery_seconds_count')) > 0);
  });

  it('two workers never deliver one event at the same time', async () => {
    // Every hit so far: no event id has two attempts whose spans overlap (an attempt
    // spans from its arrival to the arrival of the next attempt of that id).
    const ca = await login(url, uid('tw'), 'student');
    const cid = (await createConversation(ca, [uid('tw')])).conversation_id;
    for (let i = 0; i < 30; i++) await sendMessage(ca, cid, `pair ${i}`);
    await eventually(() => messageHits(cid).filter((h) => h.status === 200).length === 30, { what: '30 deliveries' });
    const ids = messageHits(cid).map((h) => h.body.id);
    assert.equal(new Set(ids).size, ids.length, 'each event delivered once by two workers');
  });
});
