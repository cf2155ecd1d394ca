// Presence: online/offline with a grace period, no flapping on a quick reconnect,
// multi-device, chosen statuses kept across reconnects, roles, status messages, and
// who hears what (contacts, the user's other devices, students for mentors, not
// strangers). Two gateways and two presence-svc instances, short timers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, uid } from './lib/client.mjs';
import { assertError, assertIso, expectError } from './lib/expect.mjs';
import { createConversation } from './lib/chat.mjs';
import { about, presenceOf } from './lib/presence.mjs';

const GRACE_MS = 1500;
const LEASE_MS = 300;
// Long enough for a grace period, a tick and a delivery; only an upper bound on waits.
const SETTLE_MS = GRACE_MS + 8000;

let stack;
useStack(
  () => ({
    gateways: 2,
    presences: 2,
    // PRES_LOG_LEVEL=debug logs every presence change (user, status before → after).
    envFor: { presence: { LOG_LEVEL: process.env.PRES_LOG_LEVEL || 'info' } },
    env: { OFFLINE_GRACE_MS: String(GRACE_MS), GW_LEASE_INTERVAL_MS: String(LEASE_MS), RATE_LIMIT_PER_S: '0' },
  }),
  (s) => {
    stack = s;
  },
);

// ---- helpers of this file ----------------------------------------------------------

// Poll get_presence until `who` shows `status` (the grace timer runs in the service).
async function waitStatus(client, who, status, timeoutMs = SETTLE_MS) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    last = await presenceOf(client, who);
    if (last.status === status) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${who} did not become ${status} within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

function assertStatusChange(f, expected) {
  assert.equal(f.type, 'status_change', JSON.stringify(f));
  for (const k of ['user_id', 'role', 'status', 'status_message', 'last_seen']) {
    assert.ok(k in f, `status_change lacks ${k}: ${JSON.stringify(f)}`);
  }
  for (const [k, v] of Object.entries(expected)) assert.deepEqual(f[k], v, `status_change.${k}: ${JSON.stringify(f)}`);
  if (f.status === 'offline' && f.last_seen !== null) assertIso(f.last_seen, 'last_seen');
  if (f.status !== 'offline') assert.equal(f.last_seen, null, 'last_seen is null while online');
}

// ---- online / offline ---------------------------------------------------------------

describe('online and offline', () => {
  it('a connected user is online; after the last connection goes and the grace period, offline with last_seen', async () => {
    const x = uid('x');
    const obs = await login(stack.url(1), uid('obs'), 'student', { label: 'obs' });
    const cx = await login(stack.url(0), x, 'student', { label: 'x' });
    await createConversation(obs, [x]); // a student's presence is for their contacts
    await cx.next('conversation_created');
    const p = await waitStatus(obs, x, 'online');
    assert.deepEqual(p, { user_id: x, role: 'student', status: 'online', status_message: null, last_seen: null });
    const closedAt = Date.now();
    await cx.close();
    const q = await waitStatus(obs, x, 'offline');
    assert.equal(q.role, 'student');
    assertIso(q.last_seen, 'last_seen');
    const seen = Date.parse(q.last_seen);
    assert.ok(Math.abs(seen - closedAt) < 5000, `last_seen ${q.last_seen} is when the connection went away`);
  });

  it('a mentor going online and offline is announced to students: user_online, status_change, user_offline', async () => {
    const m = uid('m');
    const s = await login(stack.url(1), uid('s'), 'student', { label: 's' });
    const cm = await login(stack.url(0), m, 'mentor', { label: 'm', tokenOpts: { name: 'Mia' } });
    await s.next(about(m, 'user_online'));
    assertStatusChange(await s.next(about(m, 'status_change')), { user_id: m, role: 'mentor', status: 'online', last_seen: null });
    await cm.close();
    const sc = await s.next(about(m, 'status_change', { status: 'offline' }), SETTLE_MS);
    assertStatusChange(sc, { user_id: m, role: 'mentor', status: 'offline' });
    assertIso(sc.last_seen, 'last_seen');
    const off = await s.next(about(m, 'user_offline'), SETTLE_MS);
    assert.equal(off.last_seen, sc.last_seen);
    await s.expectNone(about(m, 'user_offline'), 1000); // the timer fired once, not once per instance
  });

  it('a quick reconnect does not flap: no user_offline, no second user_online', async () => {
    const m = uid('m');
    const s = await login(stack.url(0), uid('s'), 'student', { label: 's' });
    const c1 = await login(stack.url(0), m, 'mentor', { label: 'm1' });
    await s.next(about(m, 'user_online'));
    await s.next(about(m, 'status_change'));
    await c1.close();
    const c2 = await login(stack.url(1), m, 'mentor', { label: 'm2' });
    await s.expectNone((f) => f.user_id === m, GRACE_MS + 2000);
    assert.equal((await presenceOf(s, m)).status, 'online');
    await c2.close();
    await s.next(about(m, 'user_offline'), SETTLE_MS);
  });

  it('multi-device: offline only after the last connection', async () => {
    const m = uid('m');
    const s = await login(stack.url(1), uid('s'), 'student', { label: 's' });
    const d1 = await login(stack.url(0), m, 'mentor', { label: 'm-d1' });
    const d2 = await login(stack.url(1), m, 'mentor', { label: 'm-d2' });
    await s.next(about(m, 'user_online'));
    await d1.close();
    await s.expectNone(about(m, 'user_offline'), GRACE_MS + 2000);
    assert.equal((await presenceOf(s, m)).status, 'online');
    await d2.close();
    await s.next(about(m, 'user_offline'), SETTLE_MS);
    assert.equal((await presenceOf(s, m)).status, 'offline');
  });
});

// ---- chosen statuses ----------------------------------------------------------------

describe('chosen status', () => {
  it('set_status is answered with the own status_change; kept across reconnects', async () => {
    const m = uid('m');
    const s = await login(stack.url(1), uid('s'), 'student', { label: 's' });
    let cm = await login(stack.url(0), m, 'mentor', { label: 'm' });
    const a = await cm.request({ type: 'set_status', status: 'away', status_message: 'lunch' });
    assertStatusChange(a, { user_id: m, role: 'mentor', status: 'away', status_message: 'lunch', last_seen: null });
    assertStatusChange(await s.next(about(m, 'status_change', { status: 'away' })), { status_message: 'lunch' });
    await cm.close();
    await s.next(about(m, 'status_change', { status: 'offline' }), SETTLE_MS);
    await s.next(about(m, 'user_offline'), SETTLE_MS);
    assert.deepEqual((await presenceOf(s, m)).status_message, 'lunch', 'the message stays while offline');
    cm = await login(stack.url(1), m, 'mentor', { label: 'm-again' });
    await s.next(about(m, 'user_online'));
    assertStatusChange(await s.next(about(m, 'status_change', { status: 'away' })), { status: 'away', status_message: 'lunch' });
    assert.equal((await presenceOf(s, m)).status, 'away');
  });

  it('mentor_available and mentor_busy; available kept across reconnects; list_mentors', async () => {
    const m = uid('m');
    const s = await login(stack.url(0), uid('s'), 'student', { label: 's' });
    let cm = await login(stack.url(1), m, 'mentor', { label: 'm', tokenOpts: { name: 'Max' } });
    assertStatusChange(await cm.request({ type: 'mentor_available', status_message: 'ask me' }), {
      user_id: m, status: 'available', status_message: 'ask me',
    });
    let list = await s.request({ type: 'list_mentors', available_only: true });
    assert.equal(list.type, 'mentors');
    assert.deepEqual(list.mentors.find((x) => x.user_id === m),
      { user_id: m, name: 'Max', status: 'available', status_message: 'ask me', last_seen: null });
    assertStatusChange(await cm.request({ type: 'mentor_busy' }), { status: 'busy', status_message: null });
    list = await s.request({ type: 'list_mentors', available_only: true });
    assert.ok(!list.mentors.some((x) => x.user_id === m), 'a busy mentor is not listed as available');
    await cm.request({ type: 'mentor_available' });
    await cm.close();
    await waitStatus(s, m, 'offline');
    list = await s.request({ type: 'list_mentors' });
    const off = list.mentors.find((x) => x.user_id === m);
    assert.equal(off.status, 'offline', 'offline mentors are listed too');
    assertIso(off.last_seen, 'last_seen');
    cm = await login(stack.url(0), m, 'mentor', { label: 'm-again' });
    assert.equal((await waitStatus(s, m, 'available')).status, 'available');
  });

  it('roles: available and the mentor events are for mentors and admins', async () => {
    const st = await login(stack.url(0), uid('st'), 'student', { label: 'student' });
    await expectError(st, { type: 'set_status', status: 'available' }, 'forbidden');
    await expectError(st, { type: 'mentor_available' }, 'forbidden');
    await expectError(st, { type: 'mentor_busy', status_message: 'x' }, 'forbidden');
    for (const status of ['online', 'away', 'busy', 'offline']) {
      assertStatusChange(await st.request({ type: 'set_status', status }), { status });
    }
    const ad = await login(stack.url(1), uid('ad'), 'admin', { label: 'admin' });
    assertStatusChange(await ad.request({ type: 'mentor_available' }), { role: 'admin', status: 'available' });
    assertStatusChange(await ad.request({ type: 'set_status', status: 'available' }), { status: 'available' });
    await expectError(st, { type: 'set_status', status: 'sleeping' }, 'bad_request');
  });

  it('status_message: up to 140 characters; 141 is too_large; omitted clears it to null', async () => {
    const c = await login(stack.url(0), uid('u'), 'student', { label: 'u' });
    const max = 'é'.repeat(140);
    assertStatusChange(await c.request({ type: 'set_status', status: 'away', status_message: max }), { status_message: max });
    const err = await c.request({ type: 'set_status', status: 'away', status_message: 'x'.repeat(141) });
    assertError(err, 'too_large', err.id);
    assertStatusChange(await c.request({ type: 'set_status', status: 'away' }), { status: 'away', status_message: null });
    assertStatusChange(await c.request({ type: 'set_status', status: 'online', status_message: '' }), { status_message: null });
  });

  it('invisible: choosing offline while connected looks offline to others, and back', async () => {
    const m = uid('m');
    const s = await login(stack.url(1), uid('s'), 'student', { label: 's' });
    const cm = await login(stack.url(0), m, 'mentor', { label: 'm' });
    await s.next(about(m, 'user_online'));
    assertStatusChange(await cm.request({ type: 'set_status', status: 'offline' }), { status: 'offline' });
    assertStatusChange(await s.next(about(m, 'status_change', { status: 'offline' })), { status: 'offline' });
    await s.next(about(m, 'user_offline'));
    assert.equal((await presenceOf(s, m)).status, 'offline');
    await cm.request({ type: 'set_status', status: 'online' });
    await s.next(about(m, 'user_online'));
    assert.equal((await presenceOf(s, m)).status, 'online');
  });

  it('get_presence: never-seen users are offline with role null; order kept', async () => {
    const c = await login(stack.url(0), uid('u'), 'student', { label: 'u' });
    const ghost = uid('ghost');
    await createConversation(c, [ghost]); // a contact who never connected
    const f = await c.request({ type: 'get_presence', user_ids: [ghost, c.auth.user_id] });
    assert.deepEqual(f.users[0], { user_id: ghost, role: null, status: 'offline', status_message: null, last_seen: null });
    assert.equal(f.users[1].user_id, c.auth.user_id);
    assert.equal(f.users[1].status, 'online');
    assert.deepEqual((await c.request({ type: 'get_presence', user_ids: [] })).users, []);
    await expectError(c, { type: 'get_presence' }, 'bad_request');
    await expectError(c, { type: 'get_presence', user_ids: ['x'.repeat(129)] }, 'too_large');
    await expectError(c, { type: 'get_presence', user_ids: Array.from({ length: 501 }, (_, i) => `u${i}`) }, 'bad_request');
  });
});

// ---- who hears what -----------------------------------------------------------------

describe('who hears what', () => {
  it('a contact hears status_change, a stranger does not; the actor gets the answer, its other device the event', async () => {
    const [a, b, x] = [uid('a'), uid('b'), uid('x')];
    const a1 = await login(stack.url(0), a, 'student', { label: 'a1' });
    const a2 = await login(stack.url(1), a, 'student', { label: 'a2' });
    const cb = await login(stack.url(1), b, 'student', { label: 'b' });
    const cx = await login(stack.url(0), x, 'student', { label: 'stranger' });
    await createConversation(a1, [b], { kind: 'direct' });
    await cb.next('conversation_created');
    await a2.next('conversation_created');
    const ans = await a1.request({ type: 'set_status', status: 'away', status_message: 'brb' });
    assertStatusChange(ans, { user_id: a, status: 'away', status_message: 'brb' });
    // (b may also hear a coming online first: a's conn_open can reach presence after
    // b has learnt of a, which is then news to b.)
    const away = { status: 'away' };
    assertStatusChange(await cb.next(about(a, 'status_change', away)), { user_id: a, role: 'student', status: 'away', status_message: 'brb' });
    assertStatusChange(await a2.next(about(a, 'status_change', away)), { status: 'away', status_message: 'brb' });
    await a1.expectNone(about(a, 'status_change', away), 500); // the answer, not the event too
    await cx.expectNone(about(a, 'status_change'), 500);
    await cb.expectNone(about(a, 'status_change', away), 300); // exactly once
  });

  it('a contact that connects later hears going offline and coming back', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await login(stack.url(0), a, 'student', { label: 'a' });
    await login(stack.url(1), b, 'student', { label: 'b0' }).then(async (b0) => {
      await createConversation(ca, [b]);
      await b0.next('conversation_created');
      await b0.close();
    });
    const cb = await login(stack.url(1), b, 'student', { label: 'b' }); // learns a from auth_success
    await ca.close();
    assertStatusChange(await cb.next(about(a, 'status_change', { status: 'offline' }), SETTLE_MS), { user_id: a });
    await cb.next(about(a, 'user_offline'), SETTLE_MS);
    await login(stack.url(0), a, 'student', { label: 'a-again' });
    await cb.next(about(a, 'user_online'));
    assertStatusChange(await cb.next(about(a, 'status_change', { status: 'online' })), { last_seen: null });
  });

  it('students hear mentors\' changes; mentors do not hear other mentors they share nothing with', async () => {
    const m = uid('m');
    const s = await login(stack.url(0), uid('s'), 'student', { label: 's' });
    const m2 = await login(stack.url(1), uid('m2'), 'mentor', { label: 'other-mentor' });
    const cm = await login(stack.url(1), m, 'mentor', { label: 'm' });
    await cm.request({ type: 'mentor_available', status_message: 'office hours' });
    assertStatusChange(await s.next(about(m, 'status_change', { status: 'available' })), { role: 'mentor', status_message: 'office hours' });
    await m2.expectNone(about(m, 'status_change'), 500);
    await s.expectNone(about(m, 'status_change', { status: 'available' }), 300);
  });

  // The change is published on p<mentor> and on rstudent; the gateway delivers it once.
  it('a student who shares a conversation with a mentor hears each change once', async () => {
    const [m, st] = [uid('m'), uid('s')];
    const cm = await login(stack.url(0), m, 'mentor', { label: 'm' });
    const cs = await login(stack.url(1), st, 'student', { label: 's' });
    await createConversation(cm, [st]);
    await cs.next('conversation_created');
    await cm.request({ type: 'set_status', status: 'away' });
    await cs.next(about(m, 'status_change', { status: 'away' }));
    await cs.expectNone(about(m, 'status_change', { status: 'away' }), 1000);
  });
});
