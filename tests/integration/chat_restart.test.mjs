// Chat: the only chat-svc instance is SIGKILLed in the middle of a stream and started
// again. No acknowledged message is lost; a connected reader that missed events while
// it was down catches up exactly with history {after_seq: last seen}; a reader that was
// offline the whole time finds last_seq and unread_count right in auth_success; the
// restarted instance serves every chat event (its caches start empty).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { eventually, login, sleep, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { assertGapless, createConversation, fullHistory, history, sendMessage } from './lib/chat.mjs';

const REQUEST_TIMEOUT_MS = 1500;
const WAIT = REQUEST_TIMEOUT_MS + 15000;
let stack;
let url;
useStack(() => ({ env: { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), RATE_LIMIT_PER_S: '0', TYPING_TTL_MS: '1500' } }), (s) => ((stack = s), (url = s.url())));

describe('chat-svc SIGKILLed mid-stream and restarted', () => {
  it('acknowledged messages survive; readers catch up exactly; the restarted instance serves every event', async () => {
    const [a, b, c] = [uid('a'), uid('b'), uid('c-offline')];
    const a1 = await login(url, a, 'student', { label: 'a1' });
    const b1 = await login(url, b, 'student', { label: 'b1' });
    const conv = await createConversation(a1, [b, c], { kind: 'group' });
    const cid = conv.conversation_id;
    await b1.next('conversation_created');
    // Until b1's subscription is live, a message may reach b1 only through history,
    // which is exactly what this test checks anyway.

    const TOTAL = 50;
    const answers = new Map();
    let killed = null;
    let next = 0;
    let acks = 0;
    const worker = async () => {
      while (next < TOTAL) {
        const i = next++;
        const f = await a1.request({ type: 'message', conversation_id: cid, content: `s${i}`, temp_id: `s${i}` }, WAIT);
        answers.set(i, f);
        if (f.type === 'message_sent' && ++acks === 15 && !killed) killed = stack.kill('chat', 'SIGKILL');
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    assert.ok(killed, 'chat-svc was killed mid-stream');
    await killed;
    const live = b1.drain('new_message').map((f) => f.message);
    await stack.restart('chat');

    // Retry what was refused, as a client does (same temp_id).
    for (const [i, f] of answers) {
      if (f.type === 'message_sent') continue;
      assertError(f, 'unavailable', f.id);
      const r = await eventually(async () => {
        const x = await a1.request({ type: 'message', conversation_id: cid, content: `s${i}`, temp_id: `s${i}` }, WAIT);
        return x.type === 'message_sent' ? x : null;
      }, { timeoutMs: 60000, what: `s${i} accepted after the restart` });
      answers.set(i, r);
    }
    const stored = await fullHistory(a1, cid);
    assertGapless(stored, TOTAL);
    for (const [i, f] of answers) {
      const m = stored.find((x) => x.message_id === f.message_id);
      assert.ok(m, `acknowledged s${i} is stored`);
      assert.equal(m.content, `s${i}`);
      assert.equal(m.seq, f.seq);
    }

    // b1 stayed connected: what it saw live plus history after its last seen seq is
    // everything, each message once.
    const seen = new Set(live.map((m) => m.seq));
    let lastSeen = 0;
    while (seen.has(lastSeen + 1)) lastSeen++;
    await sleep(300);
    for (const f of b1.drain('new_message')) seen.add(f.message.seq);
    const missed = [];
    let after = lastSeen;
    for (;;) {
      const h = await history(b1, cid, { after_seq: after, limit: 20 });
      missed.push(...h.messages);
      if (!h.has_more) break;
      after = h.messages.at(-1).seq;
    }
    assert.deepEqual(missed.map((m) => m.seq), Array.from({ length: TOTAL - lastSeen }, (_, i) => lastSeen + 1 + i));

    // c was offline throughout.
    const c1 = await login(url, c, 'student', { label: 'c1' });
    const entry = c1.auth.conversations.find((x) => x.conversation_id === cid);
    assert.equal(entry.last_seq, TOTAL);
    assert.equal(entry.unread_count, TOTAL);
    assert.equal(c1.auth.notification_count, TOTAL, 'one notification per message for the offline user');

    // The new instance serves everything.
    const mid = stored[0].message_id;
    await a1.request({ type: 'subscribe_conversation', conversation_id: cid });
    assert.equal((await c1.request({ type: 'typing_start', conversation_id: cid })).type, 'ack');
    assert.equal((await c1.request({ type: 'mark_read', conversation_id: cid, seq: TOTAL })).type, 'ack');
    assert.equal((await c1.request({ type: 'react', message_id: mid, emoji: '✅' })).type, 'reaction');
    assert.equal((await a1.request({ type: 'edit_message', message_id: mid, content: 'edited' })).type, 'message_updated');
    const last = await sendMessage(b1, cid, 'after all that');
    assert.equal(last.seq, TOTAL + 1);
  });
});
