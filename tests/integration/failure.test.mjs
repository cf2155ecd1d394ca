// Failure: chat-svc killed with SIGKILL. Requests get `unavailable` (after
// REQUEST_TIMEOUT_MS, short here), /healthz says 503, the rest of the gateway keeps
// working; once chat-svc is back, sending works again and nothing that was
// acknowledged is lost. Every request with an id is answered exactly once throughout.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { eventually, httpGet } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { assertGapless, fullHistory, sendMessage, twoInConversation } from './lib/chat.mjs';

const REQUEST_TIMEOUT_MS = 1500;
const WAIT = REQUEST_TIMEOUT_MS + 15000;
let stack;
let url;
useStack(() => ({ env: { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

const conversation = () => twoInConversation(url);

// Retry sending (same temp_id, as a client would) until message_sent.
async function sendUntilAccepted(c, cid, content, tempId) {
  return eventually(
    async () => {
      const f = await c.request({ type: 'message', conversation_id: cid, content, temp_id: tempId }, WAIT);
      if (f.type === 'message_sent') return f;
      assertError(f, 'unavailable', f.id);
      return null;
    },
    { timeoutMs: 60000, everyMs: 500, what: 'sending works again' },
  );
}

describe('chat-svc dies', () => {
  it('SIGKILL chat-svc → unavailable, healthz 503; restart → works, nothing acknowledged lost', async () => {
    const { ca, cb, cid } = await conversation();
    const acked = [];
    for (let i = 0; i < 5; i++) acked.push(await sendMessage(ca, cid, `before ${i}`));
    for (let i = 0; i < 5; i++) await cb.next('new_message');

    await stack.kill('chat', 'SIGKILL');

    const f = await ca.request({ type: 'message', conversation_id: cid, content: 'during outage', temp_id: 'outage-1' }, WAIT);
    assertError(f, 'unavailable', f.id);
    const h = await ca.request({ type: 'history', conversation_id: cid }, WAIT);
    assertError(h, 'unavailable', h.id);
    assert.equal((await ca.request({ type: 'ping' })).type, 'pong', 'the gateway itself still answers');

    await eventually(async () => (await httpGet(url, '/healthz')).status === 503, {
      timeoutMs: 60000,
      what: '/healthz 503 while chat-svc is down',
    });

    await stack.restart('chat');
    const sent = await sendUntilAccepted(ca, cid, 'during outage', 'outage-1');
    acked.push(sent);
    const ev = await cb.next((x) => x.type === 'new_message' && x.message.message_id === sent.message_id, WAIT);
    assert.equal(ev.message.content, 'during outage');
    assert.equal((await httpGet(url, '/healthz')).status, 200);

    const msgs = await fullHistory(ca, cid);
    assertGapless(msgs, msgs.length);
    const stored = new Map(msgs.map((m) => [m.message_id, m]));
    for (const s of acked) {
      const m = stored.get(s.message_id);
      assert.ok(m, `acknowledged message ${s.message_id} is lost`);
      assert.equal(m.seq, s.seq);
    }
    assert.equal(msgs.filter((m) => m.temp_id === 'outage-1').length, 1, 'the retried message is stored once');
  });

  it('SIGKILL in the middle of a stream: every acknowledged message survives, each request answered once', async () => {
    const { ca, cid } = await conversation();
    const TOTAL = 40;
    const WINDOW = 8;
    const KILL_AFTER = 15;
    const answers = new Map(); // id -> answer
    const content = new Map(); // id -> content
    let killed = null;
    let next = 0;
    let acks = 0;
    const worker = async () => {
      while (next < TOTAL) {
        const i = next++;
        const id = `s-${i}`;
        content.set(id, `stream ${i}`);
        const f = await ca.request({ type: 'message', id, conversation_id: cid, content: `stream ${i}`, temp_id: id }, WAIT);
        answers.set(id, f);
        if (f.type === 'message_sent' && ++acks === KILL_AFTER && !killed) killed = stack.kill('chat', 'SIGKILL');
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
    assert.ok(killed, 'chat-svc was killed mid-stream');
    await killed;
    for (const [id, f] of answers) {
      assert.ok(f.type === 'message_sent' || (f.type === 'error' && f.code === 'unavailable'), `${id}: ${JSON.stringify(f)}`);
    }

    await stack.restart('chat');
    await sendUntilAccepted(ca, cid, 'after restart', 'after-restart');
    // No request is answered twice, even by a late reply of a restarted service.
    await ca.expectNone((f) => typeof f.id === 'string' && f.id.startsWith('s-'), 1500);

    const msgs = await fullHistory(ca, cid);
    assertGapless(msgs, msgs.length);
    const stored = new Map(msgs.map((m) => [m.message_id, m]));
    let ackedCount = 0;
    for (const [id, f] of answers) {
      if (f.type !== 'message_sent') continue;
      ackedCount++;
      const m = stored.get(f.message_id);
      assert.ok(m, `acknowledged ${id} (message ${f.message_id}) is lost`);
      assert.equal(m.seq, f.seq, `${id}: seq`);
      assert.equal(m.content, content.get(id), `${id}: content`);
    }
    assert.ok(ackedCount >= KILL_AFTER);
    const tempIds = msgs.map((m) => m.temp_id).filter(Boolean);
    assert.equal(new Set(tempIds).size, tempIds.length, 'no temp_id stored twice');
  });
});
