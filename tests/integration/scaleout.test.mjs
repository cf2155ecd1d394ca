// Scale-out: two gateways and two chat-svc instances on one broker and one database.
// Users on different gateways converse; under many concurrent senders every recipient
// connection gets every message exactly once and history has them all, gapless.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, uid } from './lib/client.mjs';
import { assertConversation, assertMessage } from './lib/expect.mjs';
import { assertGapless, collect, createConversation, fullHistory, pipeline, sendMessage } from './lib/chat.mjs';

let stack;
useStack(() => ({ gateways: 2, chats: 2, env: { RATE_LIMIT_PER_S: '0' } }), (s) => {
  stack = s;
});

describe('two gateways, two chat instances', () => {
  it('a direct conversation across gateways: created, subscribed, messages both ways', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await login(stack.url(0), a, 'student', { label: 'a@gw1' });
    const cb = await login(stack.url(1), b, 'mentor', { label: 'b@gw2' });
    const conv = await createConversation(ca, [b], { kind: 'direct' });
    const ev = await cb.next('conversation_created');
    assertConversation(ev.conversation, { conversation_id: conv.conversation_id, participants: [a, b] });
    for (let i = 0; i < 5; i++) {
      const s1 = await sendMessage(ca, conv.conversation_id, `a→b ${i}`);
      const m1 = await cb.next('new_message');
      assertMessage(m1.message, { message_id: s1.message_id, sender_id: a, content: `a→b ${i}` });
      const s2 = await sendMessage(cb, conv.conversation_id, `b→a ${i}`);
      const m2 = await ca.next('new_message');
      assertMessage(m2.message, { message_id: s2.message_id, sender_id: b, content: `b→a ${i}` });
    }
    assertGapless(await fullHistory(cb, conv.conversation_id), 10);
  });

  it('200 messages from 4 senders on both gateways: every recipient gets each exactly once', async () => {
    const users = [uid('u1'), uid('u2'), uid('u3'), uid('u4')];
    // u3 has a device on each gateway.
    const conns = [
      { user: users[0], c: await login(stack.url(0), users[0], 'student', { label: 'u1@gw1' }) },
      { user: users[1], c: await login(stack.url(1), users[1], 'student', { label: 'u2@gw2' }) },
      { user: users[2], c: await login(stack.url(0), users[2], 'mentor', { label: 'u3@gw1' }) },
      { user: users[2], c: await login(stack.url(1), users[2], 'mentor', { label: 'u3@gw2' }) },
      { user: users[3], c: await login(stack.url(1), users[3], 'student', { label: 'u4@gw2' }) },
    ];
    const conv = await createConversation(conns[0].c, users.slice(1), { kind: 'group', title: 'scale' });
    for (const x of conns.slice(1)) {
      const ev = await x.c.next('conversation_created');
      assert.equal(ev.conversation.conversation_id, conv.conversation_id);
    }
    const senders = [conns[0], conns[1], conns[2], conns[4]];
    const PER = 50;
    const N = senders.length * PER;
    const results = await Promise.all(
      senders.map((s, si) =>
        pipeline(
          s.c,
          Array.from({ length: PER }, (_, i) => ({
            type: 'message', conversation_id: conv.conversation_id, content: `s${si}-${i}`, temp_id: `s${si}-${i}`,
          })),
          60000,
        ),
      ),
    );
    const acked = new Map(); // message_id -> sending connection label
    results.forEach((answers, si) => {
      for (const a of answers) {
        assert.equal(a.type, 'message_sent', JSON.stringify(a));
        acked.set(a.message_id, senders[si].c.label);
      }
    });
    assert.equal(acked.size, N, 'every message got its own message_id');

    for (const x of conns) {
      const expected = [...acked.entries()].filter(([, label]) => label !== x.c.label).map(([id]) => id);
      const got = await collect(x.c, (f) => f.type === 'new_message' && f.message.conversation_id === conv.conversation_id, expected.length, 60000);
      const ids = got.map((f) => f.message.message_id);
      assert.equal(new Set(ids).size, ids.length, `${x.c.label}: duplicate new_message`);
      assert.deepEqual([...ids].sort((p, q) => p - q), [...expected].sort((p, q) => p - q), `${x.c.label}: the right messages`);
    }
    for (const x of conns) await x.c.expectNone('new_message', 500);

    const msgs = await fullHistory(conns[3].c, conv.conversation_id);
    assertGapless(msgs, N);
    assert.deepEqual(new Set(msgs.map((m) => m.message_id)), new Set(acked.keys()));
  });

  it('both chat instances are alive after the load', async () => {
    for (const name of ['chat', 'chat2']) {
      assert.ok(stack.procs.get(name).running, `${name} is running`);
    }
  });
});
