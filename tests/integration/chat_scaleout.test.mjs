// Chat scaled out: two chat-svc instances behind two gateways. Typing expiry fires
// exactly once per recipient (it happens at the receiving gateway, not in a chat-svc
// instance) and still fires when the typing user's gateway dies; seq stays gapless and
// every message is delivered once while both instances take requests for the same
// conversation, mixed with receipts, reactions and edits; a chat-svc instance killed
// mid-stream loses no acknowledged message and clients catch up with history.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, sleep, uid } from './lib/client.mjs';
import { assertGapless, collect, createConversation, fullHistory, history, pipeline, settle } from './lib/chat.mjs';

const TTL = 1500;
const REQUEST_TIMEOUT_MS = 2000;
let stack;
useStack(
  () => ({
    gateways: 2,
    chats: 2,
    env: { TYPING_TTL_MS: String(TTL), RATE_LIMIT_PER_S: '0', REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) },
  }),
  (s) => {
    stack = s;
  },
);

const typingOf = (user, on) => (f) => f.type === 'user_typing' && f.user_id === user && f.is_typing === on;

describe('two chat-svc instances, two gateways', () => {
  it('seq is gapless and every message delivered once with 6 senders on both gateways, mixed with receipts and reactions', async () => {
    const users = Array.from({ length: 6 }, (_, i) => uid(`s${i}`));
    const clients = [];
    for (const [i, u] of users.entries()) clients.push(await login(stack.url(i % 2), u, 'student', { label: u }));
    const conv = await createConversation(clients[0], users.slice(1), { kind: 'group', title: 'busy' });
    const cid = conv.conversation_id;
    for (const c of clients.slice(1)) await c.next('conversation_created');
    await settle(clients[0], clients.slice(1), cid);
    const seed = await clients[0].request({ type: 'message', conversation_id: cid, content: 'seed' });
    for (const c of clients.slice(1)) await c.next('new_message');
    const PER = 30;
    const results = await Promise.all(
      clients.map((c, ci) =>
        pipeline(c, Array.from({ length: PER }, (_, i) => {
          // Every fifth request is not a message: receipts and reactions lock rows too.
          if (i % 5 === 4) return { type: 'mark_read', conversation_id: cid, seq: 1 + i };
          if (i % 5 === 2) return { type: i % 2 ? 'unreact' : 'react', message_id: seed.message_id, emoji: `e${ci}` };
          return { type: 'message', conversation_id: cid, content: `c${ci}-m${i}`, temp_id: `c${ci}-${i}` };
        })),
      ),
    );
    const sent = results.flat().filter((f) => f.type === 'message_sent');
    for (const f of results.flat()) assert.ok(['message_sent', 'ack', 'reaction'].includes(f.type), JSON.stringify(f));
    const N = 1 + sent.length;
    assert.equal(sent.length, users.length * PER * 3 / 5);
    assert.deepEqual(sent.map((s) => s.seq).sort((x, y) => x - y), Array.from({ length: N - 1 }, (_, i) => i + 2));
    const msgs = await fullHistory(clients[1], cid);
    assertGapless(msgs, N);
    for (const [ci, c] of clients.entries()) {
      const got = await collect(c, 'new_message', N - 1 - PER * 3 / 5);
      const ids = got.map((f) => f.message.message_id);
      assert.equal(new Set(ids).size, ids.length, 'no duplicate new_message');
      assert.ok(got.every((f) => !f.message.content.startsWith(`c${ci}-`)));
      await c.expectNone('new_message', 200);
    }
  });

  it('typing expiry fires exactly once per recipient, across gateways and chat instances', async () => {
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    const a1 = await login(stack.url(0), a, 'student', { label: 'a1' });
    const b1 = await login(stack.url(0), b, 'student', { label: 'b1' });
    const c1 = await login(stack.url(1), c, 'student', { label: 'c1' });
    const c2 = await login(stack.url(1), c, 'student', { label: 'c2' });
    const conv = await createConversation(a1, [b, c], { kind: 'group' });
    const cid = conv.conversation_id;
    for (const x of [b1, c1, c2]) await x.next('conversation_created');
    await settle(a1, [b1, c1, c2], cid);
    // Refreshes land on both chat instances (the queue alternates between them).
    for (let i = 0; i < 4; i++) {
      await a1.request({ type: 'typing_start', conversation_id: cid });
      await sleep(100);
    }
    for (const x of [b1, c1, c2]) {
      await x.next(typingOf(a, true));
      await x.next(typingOf(a, false), TTL * 4);
    }
    await sleep(TTL + 500);
    for (const x of [b1, c1, c2]) await x.expectNone(typingOf(a, false), 0);
  });

  it('a chat-svc instance SIGKILLed mid-stream: nothing acknowledged is lost, the reader catches up by history after_seq', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const a1 = await login(stack.url(0), a, 'student', { label: 'a1' });
    const b1 = await login(stack.url(1), b, 'student', { label: 'b1' });
    const conv = await createConversation(a1, [b]);
    const cid = conv.conversation_id;
    await b1.next('conversation_created');
    await settle(a1, [b1], cid);
    const TOTAL = 60;
    const answers = [];
    let killed = null;
    let next = 0;
    const worker = async () => {
      while (next < TOTAL) {
        const i = next++;
        const f = await a1.request({ type: 'message', conversation_id: cid, content: `k${i}`, temp_id: `k${i}` }, REQUEST_TIMEOUT_MS + 15000);
        answers.push([i, f]);
        if (answers.length === 20 && !killed) killed = stack.kill('chat2', 'SIGKILL');
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    await killed;
    // The reader saw some of them live; it catches up from the last seq it saw.
    const live = b1.drain('new_message').map((f) => f.message.seq);
    const lastSeen = live.length ? Math.max(...live) : 0;
    const caught = await fullHistory(b1, cid);
    assertGapless(caught, caught.length);
    const after = await history(b1, cid, { after_seq: lastSeen, limit: 200 });
    assert.deepEqual(after.messages.map((m) => m.seq), caught.filter((m) => m.seq > lastSeen).map((m) => m.seq));
    const stored = new Map(caught.map((m) => [m.message_id, m]));
    let acked = 0;
    for (const [i, f] of answers) {
      if (f.type !== 'message_sent') {
        assert.equal(f.code, 'unavailable', JSON.stringify(f));
        continue;
      }
      acked++;
      assert.equal(stored.get(f.message_id)?.content, `k${i}`, `acknowledged k${i} is stored`);
      assert.equal(stored.get(f.message_id).seq, f.seq);
    }
    assert.ok(acked >= 20, `acked ${acked}`);
    // Retrying the refused ones with their temp_id stores each once.
    for (const [i, f] of answers) {
      if (f.type === 'message_sent') continue;
      const r = await a1.request({ type: 'message', conversation_id: cid, content: `k${i}`, temp_id: `k${i}` }, REQUEST_TIMEOUT_MS + 15000);
      assert.equal(r.type, 'message_sent', JSON.stringify(r));
    }
    const all = await fullHistory(a1, cid);
    assertGapless(all, TOTAL);
    assert.equal(new Set(all.map((m) => m.temp_id)).size, TOTAL);
    await stack.restart('chat2');
  });

  it('the typing user\'s gateway dies: the others still get is_typing:false', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const a1 = await login(stack.url(1), a, 'student', { label: 'a1' });
    const b1 = await login(stack.url(0), b, 'student', { label: 'b1' });
    const conv = await createConversation(a1, [b]);
    const cid = conv.conversation_id;
    await b1.next('conversation_created');
    await settle(a1, [b1], cid);
    await a1.request({ type: 'typing_start', conversation_id: cid });
    await b1.next(typingOf(a, true));
    await stack.kill('gateway2', 'SIGKILL');
    await b1.next(typingOf(a, false), TTL * 4);
    await sleep(TTL);
    await b1.expectNone('user_typing', 0);
  });
});
