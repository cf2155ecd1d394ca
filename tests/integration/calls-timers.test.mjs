// Call timers, which live in the database and are fired by whichever of the two
// call-svc instances gets there first, exactly once: ring timeout (missed) and the
// disconnect grace (a party whose connections all vanish during a call and do not
// come back → disconnected), including a gateway that dies without a word (presence
// notices its lease lapse and publishes conn_gone).
// Needs presence-svc: presence_query (offline/busy, and whether a party still has
// connections when the grace ends) and conn_gone for the dead gateway.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SANITIZE, startStack } from './lib/stack.mjs';
import { login, sleep, uid, waitOnline } from './lib/client.mjs';
import { assertInt, expectError } from './lib/expect.mjs';

const SLOW = SANITIZE ? 2 : 1;
const RING_MS = 1500 * SLOW;
const GRACE_MS = 1500 * SLOW;
const LEASE_MS = 300; // the gateways' lease interval: a dead one is noticed in ~1 s
const WAIT = 15000 * SLOW;

let stack;
let url;
let url2;
before(async () => {
  stack = await startStack({
    calls: 2,
    gateways: 2,
    env: {
      RATE_LIMIT_PER_S: '0',
      RING_TIMEOUT_MS: String(RING_MS),
      CALL_GRACE_MS: String(GRACE_MS),
      GW_LEASE_INTERVAL_MS: String(LEASE_MS),
      OFFLINE_GRACE_MS: '300',
    },
  });
  url = stack.url(0);
  url2 = stack.url(1);
});
after(async () => {
  await stack?.stop();
});


// a1 on gateway 1 calls b1 (on gateway `calleeUrl`); returns once b1 has incoming_call.
async function ringing(calleeUrl = url) {
  const a = uid('a');
  const b = uid('b');
  const a1 = await login(url, a, 'student', { label: 'a1' });
  const b1 = await login(calleeUrl, b, 'mentor', { label: 'b1' });
  await waitOnline(a1, b);
  const init = await a1.request({ type: 'initiate_call', callee_id: b, media: 'audio' });
  assert.equal(init.type, 'call_initiated', JSON.stringify(init));
  await b1.next({ type: 'incoming_call', call_id: init.call_id });
  return { a, b, a1, b1, callId: init.call_id };
}

async function active(calleeUrl) {
  const r = await ringing(calleeUrl);
  assert.equal((await r.b1.request({ type: 'accept_call', call_id: r.callId })).type, 'call_accepted');
  await r.a1.next({ type: 'call_accepted', call_id: r.callId });
  return r;
}

const ended = (id) => (f) => f.type === 'call_ended' && f.call_id === id;

describe('ring timeout', () => {
  it('an unanswered call is missed: both sides told once, a later accept conflicts', async () => {
    const { a1, b1, callId } = await ringing();
    assert.deepEqual(await a1.next(ended(callId), WAIT), { type: 'call_ended', call_id: callId, reason: 'missed' });
    assert.deepEqual(await b1.next(ended(callId), WAIT), { type: 'call_ended', call_id: callId, reason: 'missed' });
    await sleep(RING_MS); // two instances, several ticks: still once
    await a1.expectNone(ended(callId), 0);
    await b1.expectNone(ended(callId), 0);
    await expectError(b1, { type: 'accept_call', call_id: callId }, 'conflict');
    const h = await a1.request({ type: 'call_history', limit: 1 });
    assert.equal(h.calls[0].end_reason, 'missed');
  });

  it('many calls time out together, each exactly once', async () => {
    const calls = [];
    for (let i = 0; i < 8; i++) calls.push(await ringing());
    for (const c of calls) {
      assert.equal((await c.a1.next(ended(c.callId), WAIT)).reason, 'missed');
      assert.equal((await c.b1.next(ended(c.callId), WAIT)).reason, 'missed');
    }
    await sleep(RING_MS);
    for (const c of calls) await c.a1.expectNone(ended(c.callId), 0);
  });
});

describe('disconnect grace', () => {
  it('the callee\'s only connection closes: after the grace the caller gets call_ended disconnected', async () => {
    const { b, a1, b1, callId } = await active();
    await b1.close();
    const ev = await a1.next(ended(callId), WAIT);
    assert.equal(ev.reason, 'disconnected');
    assert.equal(ev.ended_by, b);
    assertInt(ev.duration_s, 'duration_s');
    await sleep(GRACE_MS);
    await a1.expectNone(ended(callId), 0);
    const h = await a1.request({ type: 'call_history', limit: 1 });
    assert.equal(h.calls[0].end_reason, 'disconnected');
  });

  it('the caller\'s initiating connection closes during the call: the callee is told after the grace', async () => {
    const { a, a1, b1, callId } = await active();
    await a1.close();
    const ev = await b1.next(ended(callId), WAIT);
    assert.equal(ev.reason, 'disconnected');
    assert.equal(ev.ended_by, a);
  });

  it('a party that reconnects within the grace and speaks keeps the call; signals reach its new connection', async () => {
    const { a, b, a1, b1, callId } = await active();
    await b1.close();
    const b1again = await login(url, b, 'mentor', { label: 'b1again' });
    const restart = { type: 'offer', sdp: 'ice-restart' };
    await b1again.request({ type: 'call_signal', call_id: callId, signal: restart });
    assert.deepEqual((await a1.next('call_signal')).signal, restart);
    await a1.request({ type: 'call_signal', call_id: callId, signal: { type: 'answer', sdp: 'a' } });
    const back = await b1again.next('call_signal');
    assert.equal(back.from, a);
    await sleep(GRACE_MS * 2);
    await a1.expectNone(ended(callId), 0);
    assert.equal((await a1.request({ type: 'end_call', call_id: callId })).type, 'ack');
    assert.equal((await b1again.next(ended(callId))).reason, 'hangup');
  });

  it('a party that still has another connection when the grace ends keeps the call', async () => {
    const { b, a1, b1, callId } = await active();
    const b2 = await login(url, b, 'mentor', { label: 'b2' });
    await b1.close();
    await sleep(GRACE_MS * 2);
    await a1.expectNone(ended(callId), 0);
    // ... and the remaining device may end it
    assert.equal((await b2.request({ type: 'end_call', call_id: callId })).type, 'ack');
    assert.equal((await a1.next(ended(callId))).reason, 'hangup');
  });

  it('a gateway that dies silently: its users\' calls end disconnected once presence notices', async () => {
    const { b, a1, callId } = await active(url2);
    await stack.kill('gateway2', 'SIGKILL');
    const ev = await a1.next(ended(callId), WAIT + 10000);
    assert.equal(ev.reason, 'disconnected');
    assert.equal(ev.ended_by, b);
  });
});

describe('presence does not answer', () => {
  it('initiate_call answers unavailable and creates no call; a vanished party still ends the call', async () => {
    const { b, a1, b1, callId } = await active();
    const x = await login(url, uid('x'), 'student', { label: 'x' });
    const y = uid('y');
    await stack.kill('presence', 'SIGKILL');
    try {
      const f = await x.request({ type: 'initiate_call', callee_id: y, media: 'audio' }, WAIT);
      assert.equal(f.type, 'error', JSON.stringify(f));
      assert.equal(f.code, 'unavailable');
      assert.deepEqual((await x.request({ type: 'call_history' })).calls, [], 'no call was created');
      // the grace still ends a call whose party is gone: unknown presence is not "still here"
      await b1.close();
      const ev = await a1.next(ended(callId), WAIT);
      assert.equal(ev.reason, 'disconnected');
      assert.equal(ev.ended_by, b);
    } finally {
      await stack.restart('presence');
    }
  });
});
