// The broker with no instance of a service connected: requests wait (bounded by the
// gateway's deadline) and flow, in order, once an instance connects. The broker holds
// the first of them itself and leaves the rest in ZeroMQ's queue (broker/broker_pump.c);
// nothing may be lost, duplicated or reordered on the way out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { sleep } from './lib/client.mjs';
import { assertGapless, fullHistory, twoInConversation } from './lib/chat.mjs';

let stack;
let url;
// A deadline long enough to outlast the restart below.
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0', REQUEST_TIMEOUT_MS: '60000' } }), (s) => {
  stack = s;
  url = s.url();
});

describe('requests while no chat-svc is connected', () => {
  it('wait at the broker and are served in order when an instance connects', async () => {
    const { ca, cb, cid } = await twoInConversation(url);

    await stack.kill('chat', 'SIGTERM');
    await sleep(500); // the broker sees the instance's connection close

    const N = 5;
    for (let i = 0; i < N; i++) {
      ca.send({ type: 'message', id: `w${i}`, conversation_id: cid, content: `waiting ${i}`, temp_id: `w${i}` });
    }
    await ca.expectNone((f) => typeof f.id === 'string' && f.id.startsWith('w'), 1000);

    await stack.restart('chat');
    const acks = [];
    for (let i = 0; i < N; i++) acks.push(await ca.next((f) => f.id === `w${i}`, 30000));
    for (const f of acks) assert.equal(f.type, 'message_sent', JSON.stringify(f));
    const seqs = acks.map((f) => f.seq);
    for (let i = 1; i < N; i++) assert.equal(seqs[i], seqs[i - 1] + 1, `sent in order, numbered in order: ${seqs}`);
    for (let i = 0; i < N; i++) {
      const ev = await cb.next('new_message', 30000);
      assert.equal(ev.message.content, `waiting ${i}`);
    }
    await ca.expectNone((f) => typeof f.id === 'string' && f.id.startsWith('w'), 500);

    const msgs = await fullHistory(ca, cid);
    assertGapless(msgs, msgs.length);
    assert.deepEqual(
      msgs.map((m) => m.content),
      Array.from({ length: N }, (_, i) => `waiting ${i}`),
    );
  });
});
