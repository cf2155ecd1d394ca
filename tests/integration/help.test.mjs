// Help requests: a student asks for a mentor. Offers to every available mentor or to a
// named one, first accept wins (also when several mentors accept at once), decline,
// cancel, end, roles, and requests that wait for mentors who become available later.
// Two call-svc instances run, so offers made in reaction to presence events (which
// reach every instance) must still be made once.
// Needs presence-svc: available_mentors, presence_query, presence_changed events.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SANITIZE, useStack } from './lib/stack.mjs';
import { eventually, login, uid } from './lib/client.mjs';
import { assertInt, expectError } from './lib/expect.mjs';

const QUIET_MS = 400 * (SANITIZE ? 2 : 1);
const RACE_ROUNDS = 10;

let stack;
let url;
useStack(() => ({ calls: 2, env: { RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

// ---- helpers (local to this file) ---------------------------------------------------

async function statusOf(observer, user) {
  const f = await observer.request({ type: 'get_presence', user_ids: [user] });
  return f.type === 'presence' ? f.users?.[0]?.status : undefined;
}

async function waitStatus(observer, user, want) {
  await eventually(async () => (await statusOf(observer, user)) === want, { what: `${user} ${want}` });
}

// A student, connected and known to presence.
async function student(label = 's') {
  const id = uid(label);
  const c = await login(url, id, 'student', { label });
  await eventually(async () => ((await statusOf(c, id)) || 'offline') !== 'offline', { what: `${id} online` });
  return { id, c };
}

// A mentor (or admin), connected; `available` makes them available first.
async function mentor(label = 'm', { available = true, role = 'mentor' } = {}) {
  const id = uid(label);
  const c = await login(url, id, role, { label });
  if (available) {
    const f = await c.request({ type: 'mentor_available' });
    assert.equal(f.type, 'status_change', `mentor_available answered ${JSON.stringify(f)}`);
    await waitStatus(c, id, 'available');
  } else {
    await eventually(async () => ((await statusOf(c, id)) || 'offline') !== 'offline', { what: `${id} online` });
  }
  return { id, c };
}

async function requestHelp(s, extra = {}) {
  const f = await s.c.request({ type: 'student_request_help', topic: 'pointers in C', message: 'segfault :(', ...extra });
  assert.equal(f.type, 'help_requested', `student_request_help answered ${JSON.stringify(f)}`);
  assertInt(f.request_id, 'request_id');
  return f.request_id;
}

const isHelp = (f) => f && typeof f.type === 'string' && f.type.startsWith('help_') && !('id' in f);

// ---- offers --------------------------------------------------------------------------

describe('student_request_help', () => {
  it('every available mentor gets help_request; unavailable mentors and students do not', async () => {
    const s = await student();
    const m1 = await mentor('m1');
    const m2 = await mentor('m2');
    const away = await mentor('away', { available: false });
    const other = await student('other');
    const id = await requestHelp(s);
    for (const m of [m1, m2]) {
      const ev = await m.c.next({ type: 'help_request', request_id: id });
      assert.deepEqual(ev, { type: 'help_request', request_id: id, student_id: s.id, student_name: null, topic: 'pointers in C', message: 'segfault :(' });
    }
    await away.c.expectNone({ type: 'help_request', request_id: id }, QUIET_MS);
    await other.c.expectNone('help_request', 0);
  });

  it("names: student_name with the offer and the assignment, mentor_name with the acceptance (the tokens' name claims)", async () => {
    const sid = uid('named_s');
    const sc = await login(url, sid, 'student', { label: 'named_s', tokenOpts: { name: 'Grace Hopper' } });
    await eventually(async () => ((await statusOf(sc, sid)) || 'offline') !== 'offline', { what: `${sid} online` });
    const mid = uid('named_m');
    const mc = await login(url, mid, 'mentor', { label: 'named_m', tokenOpts: { name: 'Édouard Lucas' } });
    assert.equal((await mc.request({ type: 'mentor_available' })).type, 'status_change');
    await waitStatus(mc, mid, 'available');
    const id = await requestHelp({ id: sid, c: sc }, { mentor_id: mid });
    const offer = await mc.next({ type: 'help_request', request_id: id });
    assert.equal(offer.student_name, 'Grace Hopper');
    const f = await mc.request({ type: 'accept_help', request_id: id });
    assert.equal(f.type, 'help_assigned', JSON.stringify(f));
    assert.equal(f.student_name, 'Grace Hopper');
    const acc = await sc.next('help_accepted');
    assert.deepEqual(acc, { type: 'help_accepted', request_id: id, mentor_id: mid, mentor_name: 'Édouard Lucas' });
  });

  it('without message: message null', async () => {
    const s = await student();
    const m = await mentor();
    const id = await s.c.request({ type: 'student_request_help', topic: 'git' }).then((f) => f.request_id);
    const ev = await m.c.next({ type: 'help_request', request_id: id });
    assert.equal(ev.message, null);
    assert.equal(ev.topic, 'git');
  });

  it('a named mentor alone gets it, whatever their status', async () => {
    const s = await student();
    const named = await mentor('named', { available: false });
    const bystander = await mentor('by');
    const id = await requestHelp(s, { mentor_id: named.id });
    assert.equal((await named.c.next('help_request')).request_id, id);
    await bystander.c.expectNone({ type: 'help_request', request_id: id }, QUIET_MS);
  });

  it('a named mentor who is not connected gets it as soon as they connect', async () => {
    const s = await student();
    const mid = uid('late');
    const id = await requestHelp(s, { mentor_id: mid });
    const m = await login(url, mid, 'mentor', { label: 'late' });
    assert.equal((await m.next('help_request')).request_id, id);
    await m.expectNone('help_request', QUIET_MS); // once, though two instances heard of it
  });

  it('with no mentor available it waits; a mentor who becomes available gets it once', async () => {
    const s = await student();
    const m = await mentor('m', { available: false });
    const id = await requestHelp(s);
    await m.c.expectNone('help_request', QUIET_MS);
    assert.equal((await m.c.request({ type: 'mentor_available' })).type, 'status_change');
    assert.equal((await m.c.next({ type: 'help_request', request_id: id })).student_id, s.id);
    await m.c.expectNone({ type: 'help_request', request_id: id }, QUIET_MS);
    // and it can take it
    assert.equal((await m.c.request({ type: 'accept_help', request_id: id })).type, 'help_assigned');
  });

  it('an admin acts as a mentor: offered, may accept', async () => {
    const s = await student();
    const a = await mentor('admin', { role: 'admin' });
    const id = await requestHelp(s);
    await a.c.next({ type: 'help_request', request_id: id });
    const f = await a.c.request({ type: 'accept_help', request_id: id });
    assert.deepEqual({ type: f.type, request_id: f.request_id, student_id: f.student_id }, { type: 'help_assigned', request_id: id, student_id: s.id });
  });
});

// ---- one open request per student ---------------------------------------------------

describe('one open request per student', () => {
  it('a second request while one waits or is accepted: conflict; after it closes, a new one is fine', async () => {
    const s = await student();
    const id = await requestHelp(s);
    await expectError(s.c, { type: 'student_request_help', topic: 'again' }, 'conflict');
    const m = await mentor('m');
    await expectError(s.c, { type: 'student_request_help', topic: 'named', mentor_id: m.id }, 'conflict');
    await m.c.next({ type: 'help_request', request_id: id });
    assert.equal((await m.c.request({ type: 'accept_help', request_id: id })).type, 'help_assigned');
    await expectError(s.c, { type: 'student_request_help', topic: 'during the session' }, 'conflict');
    assert.equal((await s.c.request({ type: 'end_help', request_id: id })).type, 'ack');
    const id2 = await requestHelp(s);
    assert.notEqual(id2, id);
    assert.equal((await s.c.request({ type: 'cancel_help', request_id: id2 })).type, 'ack');
    const id3 = await requestHelp(s, { mentor_id: m.id }); // cancelled: closed too
    assert.notEqual(id3, id2);
  });

  it(`two connections of one student asking at once: exactly one request (${RACE_ROUNDS} rounds)`, async () => {
    const s = await student('twice');
    const c2 = await login(url, s.id, 'student', { label: 'twice-2' });
    for (let round = 0; round < RACE_ROUNDS; round++) {
      const answers = await Promise.all(
        [s.c, c2].map((c) => c.request({ type: 'student_request_help', topic: `race ${round}` })),
      );
      const won = answers.filter((a) => a.type === 'help_requested');
      assert.equal(won.length, 1, `round ${round}: ${JSON.stringify(answers)}`);
      const lost = answers.find((a) => a.type !== 'help_requested');
      assert.equal(lost.type, 'error', JSON.stringify(lost));
      assert.equal(lost.code, 'conflict', JSON.stringify(lost));
      const rows = await stack.sql(
        `SELECT count(*) FROM call.help_requests WHERE student_id = '${s.id}' AND state IN ('waiting', 'accepted')`,
      );
      assert.equal(rows, '1');
      assert.equal((await s.c.request({ type: 'cancel_help', request_id: won[0].request_id })).type, 'ack');
    }
  });
});

// ---- accept -------------------------------------------------------------------------

describe('accept_help', () => {
  it('first accept wins: help_assigned, help_accepted to the student, taken to the others, later accept conflict', async () => {
    const s = await student();
    const m1 = await mentor('m1');
    const m2 = await mentor('m2');
    const m3 = await mentor('m3');
    const id = await requestHelp(s);
    for (const m of [m1, m2, m3]) await m.c.next({ type: 'help_request', request_id: id });
    const f = await m1.c.request({ type: 'accept_help', request_id: id });
    assert.equal(f.type, 'help_assigned');
    assert.equal(f.request_id, id);
    assert.equal(f.student_id, s.id);
    assert.deepEqual(await s.c.next('help_accepted'), { type: 'help_accepted', request_id: id, mentor_id: m1.id, mentor_name: null });
    for (const m of [m2, m3]) {
      const closed = await m.c.next('help_request_closed');
      assert.equal(closed.request_id, id);
      assert.equal(closed.reason, 'taken');
    }
    await expectError(m2.c, { type: 'accept_help', request_id: id }, 'conflict');
    // (older waiting requests may be offered to m1 meanwhile: only this one matters)
    await m1.c.expectNone((f) => isHelp(f) && f.request_id === id, QUIET_MS);
  });

  it(`several mentors accepting at once: exactly one wins (${RACE_ROUNDS} rounds)`, async () => {
    const s = await student();
    const ms = [await mentor('r1'), await mentor('r2'), await mentor('r3'), await mentor('r4')];
    for (let round = 0; round < RACE_ROUNDS; round++) {
      const id = await requestHelp(s, { topic: `race ${round}` });
      for (const m of ms) await m.c.next({ type: 'help_request', request_id: id });
      const answers = await Promise.all(ms.map((m) => m.c.request({ type: 'accept_help', request_id: id })));
      const winners = answers.filter((a) => a.type === 'help_assigned');
      assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(answers)}`);
      for (const a of answers) if (a.type !== 'help_assigned') assert.equal(a.code, 'conflict', JSON.stringify(a));
      const winner = ms[answers.indexOf(winners[0])];
      const acc = await s.c.next({ type: 'help_accepted', request_id: id });
      assert.equal(acc.mentor_id, winner.id);
      for (const m of ms) if (m !== winner) await m.c.next({ type: 'help_request_closed', request_id: id });
      await s.c.expectNone({ type: 'help_accepted', request_id: id }, 50);
      // free the winner again for the next round
      await winner.c.request({ type: 'end_help', request_id: id });
      await s.c.next({ type: 'help_ended', request_id: id });
      await waitStatus(s.c, winner.id, 'available');
    }
  });

  it('roles: a student cannot accept (forbidden); a mentor who was not offered it cannot (forbidden)', async () => {
    const s = await student();
    const other = await student('other');
    const m = await mentor('m');
    const id = await requestHelp(s);
    await m.c.next({ type: 'help_request', request_id: id });
    await expectError(other.c, { type: 'accept_help', request_id: id }, 'forbidden');
    await expectError(s.c, { type: 'accept_help', request_id: id }, 'forbidden');
    const late = await mentor('late', { available: false }); // never offered
    await expectError(late.c, { type: 'accept_help', request_id: id }, 'forbidden');
    await expectError(late.c, { type: 'decline_help', request_id: id }, 'forbidden');
    await expectError(m.c, { type: 'accept_help', request_id: 99999999 }, 'not_found');
  });

  it('roles: mentors and admins cannot request help (forbidden)', async () => {
    const m = await mentor('m', { available: false });
    await expectError(m.c, { type: 'student_request_help', topic: 'x' }, 'forbidden');
    const a = await mentor('a', { available: false, role: 'admin' });
    await expectError(a.c, { type: 'student_request_help', topic: 'x' }, 'forbidden');
  });
});

// ---- decline, cancel, end ------------------------------------------------------------

describe('decline_help / cancel_help / end_help', () => {
  it('the named mentor declines: the student gets help_declined, the request is closed', async () => {
    const s = await student();
    const m = await mentor('m');
    const id = await requestHelp(s, { mentor_id: m.id });
    await m.c.next({ type: 'help_request', request_id: id });
    const ack = await m.c.request({ type: 'decline_help', request_id: id });
    assert.deepEqual({ type: ack.type, of: ack.of }, { type: 'ack', of: 'decline_help' });
    assert.deepEqual(await s.c.next('help_declined'), { type: 'help_declined', request_id: id, mentor_id: m.id });
    await expectError(m.c, { type: 'accept_help', request_id: id }, 'conflict');
    await expectError(s.c, { type: 'cancel_help', request_id: id }, 'conflict');
  });

  it('one of several mentors declines: the request stays open for the others', async () => {
    const s = await student();
    const m1 = await mentor('m1');
    const m2 = await mentor('m2');
    const id = await requestHelp(s);
    for (const m of [m1, m2]) await m.c.next({ type: 'help_request', request_id: id });
    assert.equal((await m1.c.request({ type: 'decline_help', request_id: id })).type, 'ack');
    await s.c.expectNone(isHelp, QUIET_MS);
    await expectError(m1.c, { type: 'accept_help', request_id: id }, 'conflict');
    assert.equal((await m2.c.request({ type: 'accept_help', request_id: id })).type, 'help_assigned');
    await s.c.next({ type: 'help_accepted', request_id: id });
    await m1.c.expectNone('help_request_closed', QUIET_MS); // it dismissed the offer already
  });

  it('cancel: offered mentors get help_request_closed cancelled; only the student may cancel', async () => {
    const s = await student();
    const m1 = await mentor('m1');
    const m2 = await mentor('m2');
    const id = await requestHelp(s);
    for (const m of [m1, m2]) await m.c.next({ type: 'help_request', request_id: id });
    await expectError(m1.c, { type: 'cancel_help', request_id: id }, 'forbidden');
    const ack = await s.c.request({ type: 'cancel_help', request_id: id });
    assert.equal(ack.type, 'ack');
    assert.equal(ack.of, 'cancel_help');
    for (const m of [m1, m2]) assert.deepEqual(await m.c.next('help_request_closed'), { type: 'help_request_closed', request_id: id, reason: 'cancelled' });
    await expectError(m1.c, { type: 'accept_help', request_id: id }, 'conflict');
    await expectError(s.c, { type: 'cancel_help', request_id: id }, 'conflict');
    await expectError(s.c, { type: 'cancel_help', request_id: 99999999 }, 'not_found');
  });

  it('end_help by either party: the other gets help_ended {request_id, ended_by}', async () => {
    const s = await student();
    const m = await mentor('m');
    const id1 = await requestHelp(s);
    await m.c.next({ type: 'help_request', request_id: id1 });
    await m.c.request({ type: 'accept_help', request_id: id1 });
    await s.c.next('help_accepted');
    const other = await student('other');
    await expectError(other.c, { type: 'end_help', request_id: id1 }, 'forbidden');
    assert.equal((await s.c.request({ type: 'end_help', request_id: id1 })).type, 'ack');
    assert.deepEqual(await m.c.next('help_ended'), { type: 'help_ended', request_id: id1, ended_by: s.id });
    await expectError(m.c, { type: 'end_help', request_id: id1 }, 'conflict');

    await waitStatus(s.c, m.id, 'available');
    const id2 = await requestHelp(s);
    await m.c.next({ type: 'help_request', request_id: id2 });
    await m.c.request({ type: 'accept_help', request_id: id2 });
    await s.c.next('help_accepted');
    assert.equal((await m.c.request({ type: 'end_help', request_id: id2 })).type, 'ack');
    assert.deepEqual(await s.c.next('help_ended'), { type: 'help_ended', request_id: id2, ended_by: m.id });
  });

  it('end_help on a request that was never accepted: conflict', async () => {
    const s = await student();
    const id = await requestHelp(s);
    await expectError(s.c, { type: 'end_help', request_id: id }, 'conflict');
  });

  it('a mentor in a help session shows busy, then returns to available', async () => {
    const s = await student();
    const m = await mentor('m');
    const id = await requestHelp(s, { mentor_id: m.id });
    await m.c.next({ type: 'help_request', request_id: id });
    await m.c.request({ type: 'accept_help', request_id: id });
    await waitStatus(s.c, m.id, 'busy');
    // a busy mentor is offered nothing new
    const s2 = await student('s2');
    const id2 = await requestHelp(s2);
    await m.c.expectNone({ type: 'help_request', request_id: id2 }, QUIET_MS);
    await s.c.request({ type: 'end_help', request_id: id });
    await waitStatus(s.c, m.id, 'available');
    // available again: the waiting request reaches them now
    await m.c.next({ type: 'help_request', request_id: id2 });
  });
});
