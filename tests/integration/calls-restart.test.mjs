// call-svc restarts in the middle of ringing calls: the calls and their timers are
// rows, so after a SIGKILL or a SIGTERM restart a ringing call can still be answered,
// and one nobody answers is still missed (both sides told once).
// Needs presence-svc answering presence_query.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SANITIZE, useStack } from './lib/stack.mjs';
import { eventually, login, sleep, uid } from './lib/client.mjs';
import { createConversation } from './lib/chat.mjs';

const SLOW = SANITIZE ? 2 : 1;
const RING_MS = 8000 * SLOW; // outlives a restart
const WAIT = RING_MS + 20000 * SLOW;

let stack;
let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0', RING_TIMEOUT_MS: String(RING_MS) } }), (s) => ((stack = s), (url = s.url())));

async function ringing() {
  const a = uid('a');
  const b = uid('b');
  const a1 = await login(url, a, 'student', { label: 'a1' });
  const b1 = await login(url, b, 'student', { label: 'b1' });
  await createConversation(a1, [b]); // a contact, so that a1 may see b's presence
  await b1.next('conversation_created');
  await eventually(async () => {
    const f = await a1.request({ type: 'get_presence', user_ids: [b] });
    return f.type === 'presence' && f.users?.[0]?.status && f.users[0].status !== 'offline';
  }, { what: `${b} online` });
  const init = await a1.request({ type: 'initiate_call', callee_id: b, media: 'video' });
  assert.equal(init.type, 'call_initiated', JSON.stringify(init));
  await b1.next({ type: 'incoming_call', call_id: init.call_id });
  return { a1, b1, callId: init.call_id };
}

// accept_call until call-svc answers (it may still be starting).
async function acceptWhenBack(b1, callId) {
  return eventually(async () => {
    const f = await b1.request({ type: 'accept_call', call_id: callId });
    if (f.type === 'error' && f.code === 'unavailable') return null;
    return f;
  }, { timeoutMs: WAIT, what: 'call-svc answers again' });
}

for (const signal of ['SIGKILL', 'SIGTERM']) {
  describe(`call-svc restarted (${signal}) while calls ring`, () => {
    it('a ringing call can still be answered; an unanswered one is still missed, once', async () => {
      const answered = await ringing();
      const unanswered = await ringing();
      if (signal === 'SIGKILL') await stack.kill('call', 'SIGKILL');
      await stack.restart('call'); // SIGTERM (when still running), then start again

      const acc = await acceptWhenBack(answered.b1, answered.callId);
      assert.equal(acc.type, 'call_accepted', JSON.stringify(acc));
      await answered.a1.next({ type: 'call_accepted', call_id: answered.callId });
      // signaling works after the restart, to the connections stored before it
      await answered.a1.request({ type: 'call_signal', call_id: answered.callId, signal: { type: 'offer', sdp: 'after restart' } });
      assert.equal((await answered.b1.next('call_signal')).signal.sdp, 'after restart');

      const missed = (f) => f.type === 'call_ended' && f.call_id === unanswered.callId;
      assert.equal((await unanswered.a1.next(missed, WAIT)).reason, 'missed');
      assert.equal((await unanswered.b1.next(missed, WAIT)).reason, 'missed');
      await sleep(1000);
      await unanswered.a1.expectNone(missed, 0);

      assert.equal((await answered.a1.request({ type: 'end_call', call_id: answered.callId })).type, 'ack');
      assert.equal((await answered.b1.next('call_ended')).reason, 'hangup');
    });
  });
}
