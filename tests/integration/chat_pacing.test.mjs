// Adaptive group commit (BATCH_PACING, service/pl_service.c pace()): a service waits
// out BATCH_INTERVAL_MS between batches only once batches hold several requests. A
// client sending one message at a time, each after the previous ack, must not pay the
// interval; a burst must still share commits. The interval here is long (150 ms) so
// that either behaviour is plain in the latencies; with BATCH_PACING=fixed every
// message after the first would wait about that long.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, freePorts } from './lib/stack.mjs';
import { batchSizes } from './lib/prom.mjs';
import { pipeline, sendMessage, twoInConversation } from './lib/chat.mjs';

const INTERVAL_MS = 150;


async function sequentialAcks(url, n) {
  const { ca, cid } = await twoInConversation(url);
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const ack = await sendMessage(ca, cid, `one at a time ${i}`, { temp_id: `seq-${i}` });
    assert.equal(ack.type, 'message_sent', JSON.stringify(ack));
    ms.push(performance.now() - t0);
  }
  return ms.sort((x, y) => x - y);
}

for (const pacing of ['adaptive', 'fixed']) {
  describe(`BATCH_PACING=${pacing}, BATCH_INTERVAL_MS=${INTERVAL_MS}`, () => {
    let stack, metricsPort;
    before(async () => {
      [metricsPort] = await freePorts(1);
      stack = await startStack({
        env: { RATE_LIMIT_PER_S: '0', BATCH_INTERVAL_MS: String(INTERVAL_MS), BATCH_PACING: pacing },
        envFor: { chat: { METRICS_PORT: String(metricsPort) } },
      });
    });
    after(async () => {
      await stack?.stop();
    });

    it(pacing === 'adaptive' ? 'one message at a time: no wait for the interval' : 'one message at a time: each waits for the interval', async () => {
      const ms = await sequentialAcks(stack.url(), 8);
      const median = ms[Math.floor(ms.length / 2)];
      if (pacing === 'adaptive') assert.ok(median < INTERVAL_MS / 2, `acks took ${ms.map((x) => x.toFixed(0)).join(', ')} ms`);
      else assert.ok(median >= INTERVAL_MS * 0.6, `acks took ${ms.map((x) => x.toFixed(0)).join(', ')} ms`);
    });

    it('a burst from several senders still shares commits', async () => {
      const pairs = await Promise.all([0, 1, 2].map(() => twoInConversation(stack.url())));
      const before = await batchSizes(metricsPort);
      const acks = await Promise.all(pairs.map(({ ca, cid }, k) =>
        pipeline(ca, Array.from({ length: 10 }, (_, i) => ({ type: 'message', conversation_id: cid, content: `burst ${k}.${i}`, temp_id: `b-${k}-${i}` })))));
      for (const f of acks.flat()) assert.equal(f.type, 'message_sent', JSON.stringify(f));
      const after = await batchSizes(metricsPort);
      const batches = after.count - before.count, msgs = after.sum - before.sum;
      assert.ok(msgs >= 30, `every message went through the service: ${JSON.stringify({ before, after })}`);
      assert.ok(batches * 2 <= msgs, `batches held several messages each: ${msgs} messages in ${batches} batches`);
    });
  });
}
