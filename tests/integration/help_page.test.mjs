// Help offers are paged: a mentor holds at most HELP_OFFERS_PER_MENTOR (3 here) live
// offers. A mentor who becomes available gets the oldest waiting requests; the
// others come one by one as earlier ones close (cancelled, declined by them, taken by
// another mentor, expired), requests naming them first. Two call-svc instances run, and both
// react to every presence event.
// Needs presence-svc: available_mentors, presence_changed events.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SANITIZE, useStack } from './lib/stack.mjs';
import { eventually, login, uid } from './lib/client.mjs';

const PAGE = 3;
const QUIET_MS = 500 * (SANITIZE ? 2 : 1);

let stack;
let url;
useStack(() => ({ calls: 2, env: { RATE_LIMIT_PER_S: '0', HELP_OFFERS_PER_MENTOR: String(PAGE) } }), (s) => ((stack = s), (url = s.url())));

async function student(label) {
  const id = uid(label);
  return { id, c: await login(url, id, 'student', { label }) };
}

async function mentor(label) {
  const id = uid(label);
  const c = await login(url, id, 'mentor', { label });
  assert.equal((await c.request({ type: 'mentor_available' })).type, 'status_change');
  return { id, c };
}

async function ask(s, extra = {}) {
  const f = await s.c.request({ type: 'student_request_help', topic: `help ${s.id}`, ...extra });
  assert.equal(f.type, 'help_requested', JSON.stringify(f));
  return f.request_id;
}

const offer = (id) => ({ type: 'help_request', request_id: id });
const isOffer = (ids) => (f) => f.type === 'help_request' && ids.includes(f.request_id);

async function liveOffers(m) {
  return Number(
    await stack.sql(
      `SELECT count(*) FROM call.help_offers o JOIN call.help_requests r ON r.id = o.request_id WHERE o.mentor_id = '${m.id}' AND o.declined_at IS NULL AND r.state = 'waiting'`,
    ),
  );
}

describe('help offers are paged per mentor', () => {
  it(`oldest ${PAGE} first; the rest as earlier ones close; requests naming the mentor first`, async () => {
    const s = [];
    for (let i = 1; i <= 8; i++) s.push(await student(`s${i}`));
    const r = [null];
    for (let i = 0; i < 5; i++) r.push(await ask(s[i])); // r1..r5 wait: nobody is available

    // Available: the oldest PAGE, nothing more.
    const m = await mentor('m');
    for (const id of [r[1], r[2], r[3]]) await m.c.next(offer(id));
    await m.c.expectNone(isOffer([r[4], r[5]]), QUIET_MS);
    assert.equal(await liveOffers(m), PAGE);

    // A cancelled request makes room: the next oldest comes.
    assert.equal((await s[0].c.request({ type: 'cancel_help', request_id: r[1] })).type, 'ack');
    await m.c.next({ type: 'help_request_closed', request_id: r[1] });
    await m.c.next(offer(r[4]));
    // So does one the mentor declines.
    assert.equal((await m.c.request({ type: 'decline_help', request_id: r[2] })).type, 'ack');
    await m.c.next(offer(r[5])); // m holds r3 r4 r5

    // A new request while the page is full waits for room.
    const r6 = await ask(s[5]);
    await m.c.expectNone(isOffer([r6]), QUIET_MS);

    // Another mentor takes one of m's: room again, r6 comes.
    const m2 = await mentor('m2');
    for (const id of [r[2], r[3], r[4]]) await m2.c.next(offer(id));
    assert.equal((await m2.c.request({ type: 'accept_help', request_id: r[3] })).type, 'help_assigned');
    assert.equal((await m.c.next({ type: 'help_request_closed', request_id: r[3] })).reason, 'taken');
    await m.c.next(offer(r6)); // m holds r4 r5 r6
    await m2.c.expectNone(isOffer([r[5], r6]), QUIET_MS); // busy in the session

    // A request naming m and a newer one for anyone: the named one takes the next room.
    const r7 = await ask(s[6], { mentor_id: m.id });
    const r8 = await ask(s[7]);
    await m.c.expectNone(isOffer([r7, r8]), QUIET_MS);
    assert.equal((await s[3].c.request({ type: 'cancel_help', request_id: r[4] })).type, 'ack');
    await m.c.next({ type: 'help_request_closed', request_id: r[4] });
    await m.c.next(offer(r7));
    await m.c.expectNone(isOffer([r8]), QUIET_MS);
    assert.equal(await liveOffers(m), PAGE);

    // Whatever was offered can be taken.
    assert.equal((await m.c.request({ type: 'accept_help', request_id: r7 })).type, 'help_assigned');
  });

  it('a mentor who comes back available gets the page topped up, each request once', async () => {
    const s = [];
    for (let i = 1; i <= PAGE + 2; i++) s.push(await student(`t${i}`));
    const m = await mentor('back');
    // Whatever older requests wait from the first test fill m's page first.
    await eventually(async () => (await liveOffers(m)) === PAGE, { what: `${m.id} holds ${PAGE} offers` });
    for (const st of s) await ask(st);
    assert.equal(await liveOffers(m), PAGE);
    const away = await m.c.request({ type: 'set_status', status: 'away' });
    assert.notEqual(away.type, 'error', JSON.stringify(away));
    assert.equal((await m.c.request({ type: 'mentor_available' })).type, 'status_change');
    await eventually(async () => (await liveOffers(m)) === PAGE, { what: `${m.id} still holds ${PAGE}` });
    const offered = Number(await stack.sql(`SELECT count(*) FROM call.help_offers WHERE mentor_id = '${m.id}'`));
    assert.equal(offered, PAGE, 'coming back offers nothing while the page is full');
  });

  it('an expiring request makes room too', async () => {
    for (let i = 1; i <= PAGE + 1; i++) await ask(await student(`e${i}`));
    const waiting = (await stack.sql(
      "SELECT string_agg(id::text, ',' ORDER BY id) FROM call.help_requests WHERE state = 'waiting' AND mentor_id IS NULL",
    )).split(',').map(Number);
    const m = await mentor('exp');
    for (const id of waiting.slice(0, PAGE)) await m.c.next(offer(id));
    await m.c.expectNone(isOffer(waiting.slice(PAGE)), QUIET_MS);
    // due now: the tick expires it (the timer is a column)
    await stack.sql(`UPDATE call.help_requests SET expires_at = clock_timestamp() WHERE id = ${waiting[0]}`);
    assert.equal((await m.c.next({ type: 'help_request_closed', request_id: waiting[0] })).reason, 'expired');
    await m.c.next(offer(waiting[PAGE]));
    assert.equal(await liveOffers(m), PAGE);
  });
});
