// Calls within a help session (docs/protocol/calls.md, "Calls within a help session").
// Accepting a help request makes the mentor `busy`, and a busy mentor rejects calls
// with `busy`; the student and the mentor of an accepted session can still call each
// other, both ways, through the whole call (ring, accept, signal, end). Everyone else
// still finds the mentor busy, a party who is in a call is busy even for their help
// partner, and after `end_help` the exception is gone.
// Needs presence-svc (presence_query, activity) and call-svc's help requests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SANITIZE, useStack } from './lib/stack.mjs';
import { eventually, login, uid } from './lib/client.mjs';
import { assertInt } from './lib/expect.mjs';

const QUIET_MS = 400 * (SANITIZE ? 2 : 1);

let stack;
let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

// ---- helpers (local to this file) ---------------------------------------------------

async function statusOf(observer, user) {
  const f = await observer.request({ type: 'get_presence', user_ids: [user] });
  return f.type === 'presence' ? f.users?.[0]?.status : undefined;
}

async function waitStatus(observer, user, want) {
  await eventually(async () => (await statusOf(observer, user)) === want, { what: `${user} ${want}` });
}

// A connected user that presence already counts as online.
async function person(label, role) {
  const id = uid(label);
  const c = await login(url, id, role, { label });
  await eventually(async () => ((await statusOf(c, id)) || 'offline') !== 'offline', { what: `${id} online` });
  return { id, c };
}

// A student and an available mentor in an accepted help session; the mentor shows busy.
async function session() {
  const s = await person('s', 'student');
  const m = await person('m', 'mentor');
  assert.equal((await m.c.request({ type: 'mentor_available' })).type, 'status_change');
  const asked = await s.c.request({ type: 'student_request_help', topic: 'recursion', mentor_id: m.id });
  assert.equal(asked.type, 'help_requested', JSON.stringify(asked));
  const requestId = asked.request_id;
  await m.c.next({ type: 'help_request', request_id: requestId });
  const assigned = await m.c.request({ type: 'accept_help', request_id: requestId });
  assert.equal(assigned.type, 'help_assigned', JSON.stringify(assigned));
  await s.c.next({ type: 'help_accepted', request_id: requestId });
  await waitStatus(s.c, m.id, 'busy');
  return { s, m, requestId };
}

async function initiate(caller, calleeId) {
  const f = await caller.request({ type: 'initiate_call', callee_id: calleeId, media: 'video' });
  assert.equal(f.type, 'call_initiated', `initiate_call answered ${JSON.stringify(f)}`);
  assertInt(f.call_id, 'call_id');
  return f.call_id;
}

// The call rings the callee (and was not turned away).
async function rings(caller, callee, callId) {
  const inc = await callee.next({ type: 'incoming_call', call_id: callId });
  await caller.expectNone({ type: 'call_rejected', call_id: callId }, 0);
  return inc;
}

async function turnedAwayBusy(caller, callee, callId) {
  const rej = await caller.next({ type: 'call_rejected', call_id: callId });
  assert.deepEqual(rej, { type: 'call_rejected', call_id: callId, reason: 'busy' });
  await callee.expectNone({ type: 'incoming_call', call_id: callId }, QUIET_MS);
}

// ---- the exception ------------------------------------------------------------------

describe('calls within an accepted help session', () => {
  it('the student calls the busy mentor: it rings, is answered, signals flow, it ends', async () => {
    const { s, m } = await session();
    const callId = await initiate(s.c, m.id);
    const inc = await rings(s.c, m.c, callId);
    assert.equal(inc.caller_id, s.id);
    assert.equal(inc.caller_role, 'student');
    assert.equal((await m.c.request({ type: 'accept_call', call_id: callId })).type, 'call_accepted');
    await s.c.next({ type: 'call_accepted', call_id: callId });
    const offer = { type: 'offer', sdp: 'v=0 student' };
    assert.equal((await s.c.request({ type: 'call_signal', call_id: callId, signal: offer })).type, 'ack');
    assert.deepEqual(await m.c.next({ type: 'call_signal', call_id: callId }), { type: 'call_signal', call_id: callId, from: s.id, signal: offer });
    const answer = { type: 'answer', sdp: 'v=0 mentor' };
    assert.equal((await m.c.request({ type: 'call_signal', call_id: callId, signal: answer })).type, 'ack');
    assert.deepEqual(await s.c.next({ type: 'call_signal', call_id: callId }), { type: 'call_signal', call_id: callId, from: m.id, signal: answer });
    assert.equal((await s.c.request({ type: 'end_call', call_id: callId })).type, 'ack');
    const ended = await m.c.next({ type: 'call_ended', call_id: callId });
    assert.equal(ended.reason, 'hangup');
    assert.equal(ended.ended_by, s.id);
  });

  it('the mentor calls the student: it rings', async () => {
    const { s, m } = await session();
    const callId = await initiate(m.c, s.id);
    const inc = await rings(m.c, s.c, callId);
    assert.equal(inc.caller_id, m.id);
    assert.equal(inc.caller_role, 'mentor');
    assert.equal((await s.c.request({ type: 'accept_call', call_id: callId })).type, 'call_accepted');
    await m.c.next({ type: 'call_accepted', call_id: callId });
    assert.equal((await m.c.request({ type: 'end_call', call_id: callId })).type, 'ack');
    await s.c.next({ type: 'call_ended', call_id: callId, reason: 'hangup' });
  });

  it('a mentor who also chose busy is still reachable by their help student', async () => {
    const { s, m } = await session();
    assert.equal((await m.c.request({ type: 'mentor_busy', status_message: 'in a session' })).type, 'status_change');
    const callId = await initiate(s.c, m.id);
    await rings(s.c, m.c, callId);
    assert.equal((await s.c.request({ type: 'end_call', call_id: callId })).type, 'ack');
    await m.c.next({ type: 'call_ended', call_id: callId, reason: 'cancelled' });
  });

  it('another student calling that mentor: busy', async () => {
    const { m } = await session();
    const other = await person('other', 'student');
    const callId = await initiate(other.c, m.id);
    await turnedAwayBusy(other.c, m.c, callId);
  });

  it('a help partner who is in another call is busy for them too', async () => {
    const { s, m } = await session();
    // the mentor rings someone else: party to a ringing call
    const third = await person('third', 'student');
    const outgoing = await initiate(m.c, third.id);
    await third.c.next({ type: 'incoming_call', call_id: outgoing });
    const callId = await initiate(s.c, m.id);
    await turnedAwayBusy(s.c, m.c, callId);
    assert.equal((await m.c.request({ type: 'end_call', call_id: outgoing })).type, 'ack');
    // free again: the student gets through
    const again = await initiate(s.c, m.id);
    await rings(s.c, m.c, again);
  });

  it('after end_help the exception is gone: a busy mentor is busy for the student too', async () => {
    const { s, m, requestId } = await session();
    assert.equal((await s.c.request({ type: 'end_help', request_id: requestId })).type, 'ack');
    await m.c.next({ type: 'help_ended', request_id: requestId });
    await waitStatus(s.c, m.id, 'available');
    assert.equal((await m.c.request({ type: 'mentor_busy' })).type, 'status_change');
    await waitStatus(s.c, m.id, 'busy');
    const callId = await initiate(s.c, m.id);
    await turnedAwayBusy(s.c, m.c, callId);
    // the other way round the student is no mentor, so nothing changed: it rings
    const back = await initiate(m.c, s.id);
    await rings(m.c, s.c, back);
  });
});
