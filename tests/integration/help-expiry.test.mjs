// Help requests nobody accepts expire after HELP_TIMEOUT_MS (short here): the student
// gets help_expired, the mentors still holding the offer help_request_closed expired,
// each once although two call-svc instances run; the timer survives a call-svc
// restart.
// Needs presence-svc: available_mentors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SANITIZE, useStack } from './lib/stack.mjs';
import { eventually, login, sleep, uid } from './lib/client.mjs';
import { expectError } from './lib/expect.mjs';

const SLOW = SANITIZE ? 2 : 1;
const HELP_MS = 2000 * SLOW;
const WAIT = HELP_MS + 20000 * SLOW;

let stack;
let url;
useStack(() => ({ calls: 2, env: { RATE_LIMIT_PER_S: '0', HELP_TIMEOUT_MS: String(HELP_MS) } }), (s) => ((stack = s), (url = s.url())));

async function mentor(label) {
  const id = uid(label);
  const c = await login(url, id, 'mentor', { label });
  const f = await c.request({ type: 'mentor_available' });
  assert.equal(f.type, 'status_change', JSON.stringify(f));
  await eventually(async () => {
    const p = await c.request({ type: 'get_presence', user_ids: [id] });
    return p.users?.[0]?.status === 'available';
  }, { what: `${id} available` });
  return { id, c };
}

async function request(s) {
  const f = await s.request({ type: 'student_request_help', topic: 'recursion' });
  assert.equal(f.type, 'help_requested', JSON.stringify(f));
  return f.request_id;
}

describe('help expiry', () => {
  it('expires once: help_expired to the student, closed expired to offered mentors (not to one who declined)', async () => {
    const s = await login(url, uid('s'), 'student', { label: 's' });
    const m1 = await mentor('m1');
    const m2 = await mentor('m2');
    const m3 = await mentor('m3');
    const id = await request(s);
    for (const m of [m1, m2, m3]) await m.c.next({ type: 'help_request', request_id: id });
    assert.equal((await m3.c.request({ type: 'decline_help', request_id: id })).type, 'ack');
    assert.deepEqual(await s.next('help_expired', WAIT), { type: 'help_expired', request_id: id });
    for (const m of [m1, m2]) {
      assert.deepEqual(await m.c.next('help_request_closed', WAIT), { type: 'help_request_closed', request_id: id, reason: 'expired' });
    }
    await sleep(HELP_MS / 2);
    await s.expectNone('help_expired', 0);
    for (const m of [m1, m2, m3]) await m.c.expectNone({ type: 'help_request_closed', request_id: id }, 0);
    await expectError(m1.c, { type: 'accept_help', request_id: id }, 'conflict');
    await expectError(s, { type: 'cancel_help', request_id: id }, 'conflict');
  });

  it('an accepted request does not expire', async () => {
    const s = await login(url, uid('s'), 'student', { label: 's' });
    const m = await mentor('m');
    const id = await request(s);
    await m.c.next({ type: 'help_request', request_id: id });
    assert.equal((await m.c.request({ type: 'accept_help', request_id: id })).type, 'help_assigned');
    await sleep(HELP_MS * 1.5);
    await s.expectNone('help_expired', 0);
    assert.equal((await s.request({ type: 'end_help', request_id: id })).type, 'ack');
  });

  it('the expiry survives both call-svc instances being killed and restarted', async () => {
    const s = await login(url, uid('s'), 'student', { label: 's' });
    const m = await mentor('m');
    const id = await request(s);
    await m.c.next({ type: 'help_request', request_id: id });
    await stack.kill('call', 'SIGKILL');
    await stack.kill('call2', 'SIGKILL');
    await sleep(HELP_MS); // due while nobody runs
    await stack.restart('call');
    await stack.restart('call2');
    assert.equal((await s.next('help_expired', WAIT)).request_id, id);
    assert.equal((await m.c.next({ type: 'help_request_closed', request_id: id }, WAIT)).reason, 'expired');
  });
});
