// Several brokers, all active (docs/design/topology.md, "Several brokers"): two brokers,
// two gateways, every process connected to both (BROKER_ENDPOINTS).
// - An event goes through both brokers and reaches a client once: the gateway drops the
//   second copy by the event's id (and counts it).
// - kill -9 of one broker in the middle of a stream of messages: a client sees at most
//   one `unavailable` per request in flight at the kill, the retry (same temp_id) is
//   accepted at once, every acknowledged message is stored once, and the reader on the
//   other gateway gets each message exactly once, with no process restarted.
// - The killed broker, started again, rejoins: events still arrive once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { eventually, httpGet, login, uid } from './lib/client.mjs';
import { assertGapless, createConversation, fullHistory, sendMessage } from './lib/chat.mjs';

const REQUEST_TIMEOUT_MS = 1500;
const WAIT = REQUEST_TIMEOUT_MS + 15000;
let stack;
useStack(
  () => ({ brokers: 2, gateways: 2, env: { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), RATE_LIMIT_PER_S: '0' } }),
  (s) => (stack = s),
);

// a on gateway 0 writes, b on gateway 1 reads: every event crosses the bus.
async function writerAndReader() {
  const [a, b] = [uid('a'), uid('b')];
  const ca = await login(stack.url(0), a, 'student', { label: 'a' });
  const cb = await login(stack.url(1), b, 'student', { label: 'b' });
  const conv = await createConversation(ca, [b]);
  await cb.next('conversation_created');
  return { ca, cb, cid: conv.conversation_id };
}

async function metric(gw, name) {
  const r = await httpGet(stack.gateways[gw].http, '/metrics');
  const m = r.body.match(new RegExp(`^${name} (\\d+)$`, 'm'));
  assert.ok(m, `${name} in the gateway's /metrics`);
  return Number(m[1]);
}

// Every new_message cb receives for cid until `want` distinct ones came, then a quiet
// spell: returns the message ids in arrival order (copies included, if any).
async function readAll(cb, cid, want) {
  const got = [];
  const isNew = (f) => f.type === 'new_message' && f.message.conversation_id === cid;
  while (new Set(got).size < want) got.push((await cb.next(isNew, WAIT)).message.message_id);
  await cb.expectNone(isNew, 1500);
  return got;
}

describe('two brokers', () => {
  it('an event published through both brokers reaches the client once', async () => {
    const { ca, cb, cid } = await writerAndReader();
    const before = await metric(1, 'parley_gateway_bus_copies_dropped_total');
    const sent = [];
    for (let i = 0; i < 20; i++) sent.push((await sendMessage(ca, cid, `twice ${i}`)).message_id);
    const got = await readAll(cb, cid, sent.length);
    assert.deepEqual(got, sent, 'each message once, in order');
    const dropped = (await metric(1, 'parley_gateway_bus_copies_dropped_total')) - before;
    assert.ok(dropped >= sent.length, `the second broker's copies were dropped (${dropped})`);
  });

  it('kill -9 of one broker under load: retries only, nothing lost, nothing twice', async () => {
    const { ca, cb, cid } = await writerAndReader();
    const TOTAL = 80;
    const WINDOW = 8;
    const KILL_AFTER = 25;
    const acked = new Map(); // temp_id -> message_sent
    const attempts = new Map(); // temp_id -> requests sent
    let unavailable = 0;
    let killed = null;
    let next = 0;
    const worker = async () => {
      while (next < TOTAL) {
        const tempId = `k-${next++}`;
        for (let attempt = 1; ; attempt++) {
          attempts.set(tempId, attempt);
          const f = await ca.request({ type: 'message', conversation_id: cid, content: tempId, temp_id: tempId }, WAIT);
          if (f.type === 'message_sent') {
            acked.set(tempId, f);
            break;
          }
          assert.equal(f.code, 'unavailable', `${tempId}: ${JSON.stringify(f)}`);
          unavailable++;
          assert.ok(attempt < 3, `${tempId}: refused twice after the kill`);
        }
        if (acked.size === KILL_AFTER && !killed) killed = stack.kill('broker2', 'SIGKILL');
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
    assert.ok(killed, 'a broker was killed mid-stream');
    await killed;
    stack.log(`kill under load: ${unavailable} unavailable, ${[...attempts.values()].filter((n) => n > 1).length} retried`);
    assert.equal(acked.size, TOTAL, 'every message accepted in the end');
    assert.ok(unavailable <= WINDOW, `at most the requests in flight at the kill saw unavailable (${unavailable})`);

    const msgs = await fullHistory(ca, cid);
    assertGapless(msgs, TOTAL);
    const stored = new Map(msgs.map((m) => [m.temp_id, m]));
    for (const [tempId, f] of acked) {
      const m = stored.get(tempId);
      assert.ok(m, `acknowledged ${tempId} is lost`);
      assert.equal(m.message_id, f.message_id, `${tempId}: stored once, under the acknowledged id`);
    }
    const got = await readAll(cb, cid, TOTAL);
    assert.equal(got.length, TOTAL, 'the reader got no message twice');
    const extra = ca.drain((f) => f.type === 'message_sent' || f.type === 'error');
    assert.deepEqual(extra, [], 'the writer got no answer twice, nor one it did not wait for');
  });

  it('the killed broker, started again, rejoins without copies reaching clients', async () => {
    const p = stack.procs.get('broker2');
    if (p.running) await stack.kill('broker2', 'SIGKILL');
    await stack.restart('broker2');
    const { ca, cb, cid } = await writerAndReader();
    // Wait until both brokers carry events again: the processes reconnect by
    // themselves, and the gateways' subscriptions reach the new broker with them.
    let probes = 0;
    await eventually(
      async () => {
        const before = await metric(1, 'parley_gateway_bus_copies_dropped_total');
        const m = await sendMessage(ca, cid, `probe ${probes++}`);
        assert.equal((await cb.next((f) => f.type === 'new_message' && f.message.message_id === m.message_id, WAIT)).type, 'new_message');
        return (await metric(1, 'parley_gateway_bus_copies_dropped_total')) > before;
      },
      { timeoutMs: 20000, what: 'events through the restarted broker too' },
    );
    const before = await metric(1, 'parley_gateway_bus_copies_dropped_total');
    const sent = [];
    for (let i = 0; i < 10; i++) sent.push((await sendMessage(ca, cid, `again ${i}`)).message_id);
    assert.deepEqual(await readAll(cb, cid, sent.length), sent, 'each once, in order');
    const dropped = (await metric(1, 'parley_gateway_bus_copies_dropped_total')) - before;
    assert.ok(dropped >= sent.length, `copies through both brokers (${dropped})`);
  });
});
