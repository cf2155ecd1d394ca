// Calls: every transition of the call state machine (ringing → active → ended;
// ringing → rejected / cancelled / offline / busy), who hears what (incoming_call on
// every callee device, answered_elsewhere, the caller's initiating connection only),
// a browser-free WebRTC exchange (offers, answers and candidates reach exactly the right
// connection unchanged), errors and roles, and call_history.
// Needs presence-svc answering call-svc's asks (presence_query): with a presence-svc
// that does not, initiate_call answers `unavailable` and most of these fail.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SANITIZE, useStack } from './lib/stack.mjs';
import { eventually, login, uid, waitOnline } from './lib/client.mjs';
import { assertInt, assertIso, expectError } from './lib/expect.mjs';
import { createConversation } from './lib/chat.mjs';

const QUIET_MS = 400 * (SANITIZE ? 2 : 1); // how long "nothing else arrives" is watched

let stack;
let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

// ---- helpers (small, local to this file) -------------------------------------------


// Log in `n` devices of a new user (label prefix), and wait until presence knows them.
async function user(prefix, role = 'student', n = 1) {
  const id = uid(prefix);
  const devices = [];
  for (let i = 0; i < n; i++) devices.push(await login(url, id, role, { label: `${prefix}${i + 1}` }));
  await waitOnline(devices[0], id);
  return { id, devices };
}

// initiate_call; asserts call_initiated and returns it.
async function initiate(caller, calleeId, media = 'audio', extra = {}) {
  const f = await caller.request({ type: 'initiate_call', callee_id: calleeId, media, ...extra });
  assert.equal(f.type, 'call_initiated', `initiate_call answered ${JSON.stringify(f)}`);
  assertInt(f.call_id, 'call_id');
  assert.equal(f.callee_id, calleeId);
  assert.equal(f.media, media);
  return f;
}

// Caller a (2 devices) rings callee b (2 devices); every callee device got incoming_call.
async function ringing(opts = {}) {
  const a = await user('a', opts.callerRole || 'student', 2);
  const b = await user('b', opts.calleeRole || 'mentor', 2);
  const init = await initiate(a.devices[0], b.id, 'video');
  for (const d of b.devices) await d.next({ type: 'incoming_call', call_id: init.call_id });
  return { a, b, callId: init.call_id, a1: a.devices[0], a2: a.devices[1], b1: b.devices[0], b2: b.devices[1] };
}

// ringing() and b1 accepts.
async function active(opts) {
  const r = await ringing(opts);
  const ans = await r.b1.request({ type: 'accept_call', call_id: r.callId });
  assert.equal(ans.type, 'call_accepted', JSON.stringify(ans));
  await r.a1.next({ type: 'call_accepted', call_id: r.callId });
  await r.b2.next({ type: 'call_ended', call_id: r.callId, reason: 'answered_elsewhere' });
  return r;
}

const isCallEvent = (f) => f && typeof f.type === 'string' && /call/.test(f.type) && !('id' in f);

// ---- ringing ------------------------------------------------------------------------

describe('initiate_call', () => {
  it('answers call_initiated; every callee connection gets incoming_call; nobody else', async () => {
    const a = await user('a', 'student', 2);
    const b = await user('b', 'mentor', 2);
    const c = await user('c', 'student', 1);
    const conv = await createConversation(a.devices[0], [b.id]);
    for (const d of b.devices) await d.next('conversation_created');
    const init = await initiate(a.devices[0], b.id, 'video', { conversation_id: conv.conversation_id });
    for (const d of b.devices) {
      const ev = await d.next('incoming_call');
      assert.deepEqual(ev, {
        type: 'incoming_call',
        call_id: init.call_id,
        caller_id: a.id,
        caller_name: null, // the token has no name
        caller_role: 'student',
        media: 'video',
        conversation_id: conv.conversation_id,
      });
    }
    await a.devices[1].expectNone(isCallEvent, QUIET_MS);
    await a.devices[0].expectNone(isCallEvent, 0);
    await c.devices[0].expectNone(isCallEvent, 0);
  });

  it("caller_name is the caller's token name", async () => {
    const [a, b] = [uid('named'), uid('b')];
    const ca = await login(url, a, 'student', { label: 'a', tokenOpts: { name: 'Ada Lovelace 👩‍💻' } });
    const cb = await login(url, b, 'mentor', { label: 'b' });
    await waitOnline(ca, b);
    const init = await initiate(ca, b);
    const ev = await cb.next({ type: 'incoming_call', call_id: init.call_id });
    assert.equal(ev.caller_name, 'Ada Lovelace 👩‍💻');
    assert.equal(ev.caller_id, a);
  });

  it('without conversation_id: incoming_call carries conversation_id null', async () => {
    const a = await user('a');
    const b = await user('b');
    const init = await initiate(a.devices[0], b.id);
    const ev = await b.devices[0].next('incoming_call');
    assert.equal(ev.call_id, init.call_id);
    assert.equal(ev.conversation_id, null);
    assert.equal(ev.media, 'audio');
  });

  it('a callee who never connected is offline: call_initiated, then call_ended offline', async () => {
    const a = await user('a');
    const init = await initiate(a.devices[0], uid('never'));
    const ended = await a.devices[0].next({ type: 'call_ended', call_id: init.call_id });
    assert.equal(ended.reason, 'offline');
  });

  it('a callee who disconnected is offline', async () => {
    const a = await user('a');
    const b = await user('b');
    await createConversation(a.devices[0], [b.id]); // so that a may see b's presence
    await b.devices[0].next('conversation_created');
    await b.devices[0].close();
    await eventually(async () => {
      const f = await a.devices[0].request({ type: 'get_presence', user_ids: [b.id] });
      return f.users?.[0]?.status === 'offline';
    }, { what: 'b offline' });
    const init = await initiate(a.devices[0], b.id);
    assert.equal((await a.devices[0].next({ type: 'call_ended', call_id: init.call_id })).reason, 'offline');
  });

  it('a callee already in a call is busy: call_initiated, then call_rejected busy', async () => {
    const { b } = await active();
    const c = await user('c');
    const init = await initiate(c.devices[0], b.id);
    const rej = await c.devices[0].next({ type: 'call_rejected', call_id: init.call_id });
    assert.equal(rej.reason, 'busy');
    await b.devices[0].expectNone({ type: 'incoming_call', call_id: init.call_id }, QUIET_MS);
  });

  it('a callee with a ringing call is busy too', async () => {
    const { b } = await ringing();
    const c = await user('c');
    const init = await initiate(c.devices[0], b.id);
    assert.equal((await c.devices[0].next({ type: 'call_rejected', call_id: init.call_id })).reason, 'busy');
  });

  it('a mentor whose status is busy is busy', async () => {
    const m = await user('m', 'mentor');
    const busy = await m.devices[0].request({ type: 'mentor_busy' });
    assert.equal(busy.type, 'status_change', JSON.stringify(busy));
    const a = await user('a');
    const init = await initiate(a.devices[0], m.id);
    assert.equal((await a.devices[0].next({ type: 'call_rejected', call_id: init.call_id })).reason, 'busy');
  });

  it('a caller already in a call gets conflict', async () => {
    const { a1, a2 } = await active();
    const c = await user('c');
    await expectError(a1, { type: 'initiate_call', callee_id: c.id, media: 'audio' }, 'conflict');
    // ... from any of the caller's devices
    await expectError(a2, { type: 'initiate_call', callee_id: c.id, media: 'audio' }, 'conflict');
  });

  it('a caller with an outgoing ringing call gets conflict', async () => {
    const { a1 } = await ringing();
    const c = await user('c');
    await expectError(a1, { type: 'initiate_call', callee_id: c.id, media: 'audio' }, 'conflict');
  });

  it('calling yourself, bad media, missing callee: bad_request', async () => {
    const a = await user('a');
    await expectError(a.devices[0], { type: 'initiate_call', callee_id: a.id, media: 'audio' }, 'bad_request');
    await expectError(a.devices[0], { type: 'initiate_call', callee_id: 'x', media: 'smell' }, 'bad_request');
    await expectError(a.devices[0], { type: 'initiate_call', media: 'audio' }, 'bad_request');
  });
});

// ---- answering ------------------------------------------------------------------------

describe('accept_call / reject_call / end_call', () => {
  it('accept: caller and accepting connection get call_accepted; other callee devices answered_elsewhere', async () => {
    const { a1, a2, b1, b2, callId } = await ringing();
    const ans = await b1.request({ type: 'accept_call', call_id: callId });
    assert.deepEqual({ ...ans, id: undefined }, { type: 'call_accepted', call_id: callId, id: undefined });
    assert.deepEqual(await a1.next('call_accepted'), { type: 'call_accepted', call_id: callId });
    assert.deepEqual(await b2.next('call_ended'), { type: 'call_ended', call_id: callId, reason: 'answered_elsewhere' });
    await b1.expectNone(isCallEvent, QUIET_MS);
    await a2.expectNone(isCallEvent, 0);
  });

  it('accept by the caller: forbidden; by a stranger: forbidden; a second accept: conflict', async () => {
    const { a1, b1, b2, callId } = await ringing();
    const c = await user('c');
    await expectError(a1, { type: 'accept_call', call_id: callId }, 'forbidden');
    await expectError(c.devices[0], { type: 'accept_call', call_id: callId }, 'forbidden');
    assert.equal((await b1.request({ type: 'accept_call', call_id: callId })).type, 'call_accepted');
    await expectError(b2, { type: 'accept_call', call_id: callId }, 'conflict');
    await expectError(b1, { type: 'accept_call', call_id: callId }, 'conflict');
  });

  it('reject with reason: caller gets call_rejected {reason}; other callee devices call_ended rejected', async () => {
    const { a1, b1, b2, callId } = await ringing();
    const ack = await b1.request({ type: 'reject_call', call_id: callId, reason: 'in a meeting' });
    assert.deepEqual({ type: ack.type, of: ack.of }, { type: 'ack', of: 'reject_call' });
    assert.deepEqual(await a1.next('call_rejected'), { type: 'call_rejected', call_id: callId, reason: 'in a meeting' });
    assert.deepEqual(await b2.next('call_ended'), { type: 'call_ended', call_id: callId, reason: 'rejected' });
    await b1.expectNone(isCallEvent, QUIET_MS);
    await expectError(b1, { type: 'accept_call', call_id: callId }, 'conflict');
  });

  it('reject without reason, and without id: no ack, caller still told', async () => {
    const { a1, b1, callId } = await ringing();
    b1.send({ type: 'reject_call', call_id: callId });
    const rej = await a1.next('call_rejected');
    assert.equal(rej.call_id, callId);
    assert.equal(typeof rej.reason, 'string');
    await b1.expectNone((f) => f.type === 'ack' || f.type === 'error', QUIET_MS);
  });

  it('reject by the caller: forbidden', async () => {
    const { a1, callId } = await ringing();
    await expectError(a1, { type: 'reject_call', call_id: callId }, 'forbidden');
  });

  it('end_call by the caller while ringing cancels: callee devices get call_ended cancelled', async () => {
    const { a1, b1, b2, callId } = await ringing();
    const ack = await a1.request({ type: 'end_call', call_id: callId });
    assert.equal(ack.type, 'ack');
    assert.equal(ack.of, 'end_call');
    for (const d of [b1, b2]) assert.deepEqual(await d.next('call_ended'), { type: 'call_ended', call_id: callId, reason: 'cancelled' });
    await expectError(b1, { type: 'accept_call', call_id: callId }, 'conflict');
  });

  it('end_call by the callee while ringing is a rejection', async () => {
    const { a1, b1, b2, callId } = await ringing();
    assert.equal((await b1.request({ type: 'end_call', call_id: callId })).type, 'ack');
    assert.equal((await a1.next('call_rejected')).call_id, callId);
    assert.equal((await b2.next('call_ended')).reason, 'rejected');
  });

  it('hang up an active call: the other party gets call_ended hangup with ended_by and duration_s', async () => {
    const { a, a1, b1, b2, callId } = await active();
    const ack = await a1.request({ type: 'end_call', call_id: callId, reason: 'bye' });
    assert.equal(ack.type, 'ack');
    const ev = await b1.next('call_ended');
    assert.equal(ev.call_id, callId);
    assert.equal(ev.reason, 'hangup');
    assert.equal(ev.ended_by, a.id);
    assertInt(ev.duration_s, 'duration_s');
    assert.ok(ev.duration_s >= 0);
    await b2.expectNone(isCallEvent, QUIET_MS);
    await a1.expectNone(isCallEvent, 0);
    await expectError(b1, { type: 'end_call', call_id: callId }, 'conflict');
  });

  it('the callee hangs up: the caller\'s initiating connection is told', async () => {
    const { b, a1, a2, b1, callId } = await active();
    assert.equal((await b1.request({ type: 'end_call', call_id: callId })).type, 'ack');
    const ev = await a1.next('call_ended');
    assert.equal(ev.reason, 'hangup');
    assert.equal(ev.ended_by, b.id);
    await a2.expectNone(isCallEvent, QUIET_MS);
  });

  it('the caller\'s initiating connection closing while ringing cancels at once; other caller devices do not keep it', async () => {
    const { a1, a2, b1, b2, callId } = await ringing();
    await a1.close();
    for (const d of [b1, b2]) assert.deepEqual(await d.next('call_ended'), { type: 'call_ended', call_id: callId, reason: 'cancelled' });
    await expectError(b1, { type: 'accept_call', call_id: callId }, 'conflict');
    await a2.expectNone(isCallEvent, QUIET_MS);
  });

  it('a callee device closing while ringing does not end the call', async () => {
    const { a1, b1, b2, callId } = await ringing();
    await b2.close();
    await a1.expectNone(isCallEvent, QUIET_MS);
    assert.equal((await b1.request({ type: 'accept_call', call_id: callId })).type, 'call_accepted');
    await a1.next({ type: 'call_accepted', call_id: callId });
  });

  it('not_found for an unknown call, for every call event', async () => {
    const a = await user('a');
    for (const type of ['accept_call', 'reject_call', 'end_call']) {
      await expectError(a.devices[0], { type, call_id: 987654321 }, 'not_found');
    }
    await expectError(a.devices[0], { type: 'call_signal', call_id: 987654321, signal: { type: 'offer', sdp: 'x' } }, 'not_found');
  });
});

// ---- signaling -----------------------------------------------------------------------

describe('call_signal (browser-free WebRTC)', () => {
  const offer = {
    type: 'offer',
    sdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n',
  };
  const answer = { type: 'answer', sdp: 'v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=ünïcødé ✓\r\n' };
  const candidate = (i) => ({
    candidate: `candidate:${i} 1 udp 2122260223 192.168.1.${i} 5${i}123 typ host generation 0 ufrag abc network-id 1`,
    sdpMid: '0',
    sdpMLineIndex: 0,
    usernameFragment: 'abc',
    extra: { nested: [1, 2.5, -3, true, null, 'x'], empty: {} },
  });

  it('offer, answer and candidates reach exactly the other party\'s call connection, unchanged', async () => {
    const { a, b, a1, a2, b1, b2, callId } = await active();
    // caller → callee: only b1 (the accepting connection)
    const ack = await a1.request({ type: 'call_signal', call_id: callId, signal: offer });
    assert.deepEqual({ type: ack.type, of: ack.of }, { type: 'ack', of: 'call_signal' });
    assert.deepEqual(await b1.next('call_signal'), { type: 'call_signal', call_id: callId, from: a.id, signal: offer });
    // callee → caller: only a1 (the initiating connection)
    await b1.request({ type: 'call_signal', call_id: callId, signal: answer });
    assert.deepEqual(await a1.next('call_signal'), { type: 'call_signal', call_id: callId, from: b.id, signal: answer });
    // a burst of candidates both ways, in order, without ids (no ack)
    for (let i = 1; i <= 10; i++) {
      a1.send({ type: 'call_signal', call_id: callId, signal: candidate(i) });
      b1.send({ type: 'call_signal', call_id: callId, signal: candidate(100 + i) });
    }
    for (let i = 1; i <= 10; i++) {
      assert.deepEqual((await b1.next('call_signal')).signal, candidate(i));
      assert.deepEqual((await a1.next('call_signal')).signal, candidate(100 + i));
    }
    await a2.expectNone('call_signal', QUIET_MS);
    await b2.expectNone('call_signal', 0);
    await a1.expectNone((f) => f.type === 'ack' || f.type === 'call_signal', 0);
    await b1.expectNone((f) => f.type === 'ack' || f.type === 'call_signal', 0);
  });

  it('while ringing: the caller\'s offer reaches every callee device; a callee signal reaches the initiating connection', async () => {
    const { a, b, a1, a2, b1, b2, callId } = await ringing();
    await a1.request({ type: 'call_signal', call_id: callId, signal: offer });
    for (const d of [b1, b2]) assert.deepEqual(await d.next('call_signal'), { type: 'call_signal', call_id: callId, from: a.id, signal: offer });
    await b2.request({ type: 'call_signal', call_id: callId, signal: candidate(7) });
    assert.deepEqual(await a1.next('call_signal'), { type: 'call_signal', call_id: callId, from: b.id, signal: candidate(7) });
    await a2.expectNone('call_signal', QUIET_MS);
  });

  it('a non-party gets forbidden; an ended call conflict; a non-object signal bad_request; a huge one too_large', async () => {
    const { a1, b1, callId } = await active();
    const c = await user('c');
    await expectError(c.devices[0], { type: 'call_signal', call_id: callId, signal: offer }, 'forbidden');
    await expectError(a1, { type: 'call_signal', call_id: callId, signal: 'not an object' }, 'bad_request');
    await expectError(a1, { type: 'call_signal', call_id: callId, signal: { sdp: 'x'.repeat(70 * 1024) } }, 'too_large');
    await b1.expectNone('call_signal', QUIET_MS);
    assert.equal((await a1.request({ type: 'end_call', call_id: callId })).type, 'ack');
    await expectError(a1, { type: 'call_signal', call_id: callId, signal: offer }, 'conflict');
    await expectError(b1, { type: 'call_signal', call_id: callId, signal: offer }, 'conflict');
  });
});

// ---- history ---------------------------------------------------------------------------

describe('call_history', () => {
  it('lists every call of the user, newest first, with how it ended', async () => {
    const a = await user('a');
    const b = await user('b', 'mentor');
    const a1 = a.devices[0];
    const b1 = b.devices[0];
    // 1: rejected
    const c1 = await initiate(a1, b.id);
    await b1.next('incoming_call');
    await b1.request({ type: 'reject_call', call_id: c1.call_id });
    await a1.next('call_rejected');
    // 2: answered, then hung up
    const c2 = await initiate(a1, b.id, 'video');
    await b1.next('incoming_call');
    await b1.request({ type: 'accept_call', call_id: c2.call_id });
    await a1.next('call_accepted');
    await a1.request({ type: 'end_call', call_id: c2.call_id });
    await b1.next('call_ended');
    // 3: offline
    const c3 = await initiate(a1, uid('nobody'));
    await a1.next('call_ended');
    // 4: cancelled by the caller while it rang
    const c4 = await initiate(a1, b.id);
    await b1.next('incoming_call');
    await a1.request({ type: 'end_call', call_id: c4.call_id });
    await b1.next({ type: 'call_ended', call_id: c4.call_id });
    // 5: busy (b chose busy; b is a mentor in no help session with a)
    assert.equal((await b1.request({ type: 'mentor_busy' })).type, 'status_change');
    const c5 = await initiate(a1, b.id);
    await a1.next({ type: 'call_rejected', call_id: c5.call_id });

    const h = await a1.request({ type: 'call_history' });
    assert.equal(h.type, 'call_history', JSON.stringify(h));
    assert.deepEqual(h.calls.map((c) => c.call_id), [c5.call_id, c4.call_id, c3.call_id, c2.call_id, c1.call_id]);
    for (const c of h.calls) {
      for (const k of ['call_id', 'caller_id', 'callee_id', 'media', 'state', 'end_reason', 'conversation_id', 'created_at', 'answered_at', 'ended_at', 'duration_s']) {
        assert.ok(k in c, `history entry lacks ${k}: ${JSON.stringify(c)}`);
      }
      assert.equal(c.caller_id, a.id);
      assert.equal(c.conversation_id, null);
      assertIso(c.created_at, 'created_at');
      assertIso(c.ended_at, 'ended_at');
      // docs/protocol/calls.md: an answered call is `ended`, the others are named by how they ended
      assert.equal(c.state, c.end_reason === 'hangup' ? 'ended' : c.end_reason);
    }
    const [e5, e4, e3, e2, e1] = h.calls;
    assert.equal(e5.end_reason, 'busy');
    assert.equal(e4.end_reason, 'cancelled');
    assert.equal(e1.end_reason, 'rejected');
    assert.equal(e1.answered_at, null);
    assert.equal(e1.duration_s, null);
    assert.equal(e2.end_reason, 'hangup');
    assert.equal(e2.media, 'video');
    assertIso(e2.answered_at, 'answered_at');
    assertInt(e2.duration_s, 'duration_s');
    assert.equal(e3.end_reason, 'offline');

    // the callee sees the calls it was part of
    const hb = await b1.request({ type: 'call_history', limit: 2 });
    assert.deepEqual(hb.calls.map((c) => c.call_id), [c5.call_id, c4.call_id]);
    // a stranger sees none of them
    const c = await user('c');
    assert.deepEqual((await c.devices[0].request({ type: 'call_history' })).calls, []);
  });

  it('a ringing call is listed without an end', async () => {
    const { a1, callId } = await ringing();
    const h = await a1.request({ type: 'call_history' });
    assert.equal(h.calls[0].call_id, callId);
    assert.equal(h.calls[0].end_reason, null);
    assert.equal(h.calls[0].ended_at, null);
  });
});

// ---- a mentor in a call shows busy ---------------------------------------------------------

describe('mentor status during a call', () => {
  it('a mentor who accepts shows busy, then returns to the status they had', async () => {
    const m = await user('m', 'mentor');
    const s = await user('s');
    assert.equal((await m.devices[0].request({ type: 'mentor_available' })).type, 'status_change');
    const init = await initiate(s.devices[0], m.id);
    await m.devices[0].next('incoming_call');
    await m.devices[0].request({ type: 'accept_call', call_id: init.call_id });
    const statusOf = async () => (await s.devices[0].request({ type: 'get_presence', user_ids: [m.id] })).users[0].status;
    await eventually(async () => (await statusOf()) === 'busy', { what: 'mentor busy during the call' });
    await s.devices[0].request({ type: 'end_call', call_id: init.call_id });
    await eventually(async () => (await statusOf()) === 'available', { what: 'mentor available again' });
  });
});
