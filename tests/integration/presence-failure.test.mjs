// Presence when processes die: a gateway killed with SIGKILL takes its users offline
// (after its lease lapses and the grace period), users with a device elsewhere stay
// online; presence-svc restarted (both instances down at once) loses neither chosen
// statuses nor grace timers that came due while it was down, and does not take the
// live gateways for dead ones.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { execFile } from 'node:child_process';
import { eventually, login, sleep, uid } from './lib/client.mjs';
import { assertIso } from './lib/expect.mjs';
import { createConversation } from './lib/chat.mjs';
import { about, presenceOf } from './lib/presence.mjs';

const GRACE_MS = 1500;
const LEASE_MS = 300; // the gateway's lease lasts three intervals
const SETTLE_MS = 3 * LEASE_MS + GRACE_MS + 10000;

let stack;
useStack(
  () => ({
    gateways: 2,
    presences: 2,
    env: { OFFLINE_GRACE_MS: String(GRACE_MS), GW_LEASE_INTERVAL_MS: String(LEASE_MS), RATE_LIMIT_PER_S: '0' },
    // Every presence change in the log (user, status before → after): restarts are
    // where a lost event would hide.
    envFor: { presence: { LOG_LEVEL: process.env.PRES_LOG_LEVEL || 'debug' } },
  }),
  (s) => {
    stack = s;
  },
);

// Is the user's grace timer armed in presence's table? (psql variables keep the id
// out of the SQL text.)
function graceArmed(who) {
  return new Promise((resolve, reject) => {
    const child = execFile('psql', ['-X', '-q', '-t', '-A', '-v', `uid=${who}`, stack.dbConn], { timeout: 10000 },
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim() === '1')));
    child.stdin.end("SELECT count(*) FROM presence.users WHERE user_id = :'uid' AND offline_due_at IS NOT NULL;\n");
  });
}

describe('a gateway dies', () => {
  it('SIGKILL of a gateway: its users go offline after lease + grace; a user with another device stays online', async () => {
    const [m, d, a, b] = [uid('m'), uid('d'), uid('a'), uid('b')];
    const s = await login(stack.url(0), uid('s'), 'student', { label: 's@gw1' });
    const cb = await login(stack.url(0), b, 'student', { label: 'b@gw1' });
    await login(stack.url(1), m, 'mentor', { label: 'm@gw2' });
    await login(stack.url(1), d, 'mentor', { label: 'd@gw2' });
    await login(stack.url(0), d, 'mentor', { label: 'd@gw1' });
    const ca = await login(stack.url(1), a, 'student', { label: 'a@gw2' });
    await createConversation(ca, [b]);
    await cb.next('conversation_created');
    await s.next(about(m, 'user_online'));

    await stack.kill('gateway2', 'SIGKILL');

    const sc = await s.next(about(m, 'status_change', { status: 'offline' }), SETTLE_MS);
    assertIso(sc.last_seen, 'last_seen');
    await s.next(about(m, 'user_offline'), SETTLE_MS);
    await cb.next(about(a, 'user_offline'), SETTLE_MS); // a contact, not a mentor
    assert.equal((await presenceOf(cb, a)).status, 'offline'); // a student: for contacts
    assert.equal((await presenceOf(s, d)).status, 'online', 'd still has a device on gateway 1');
    await s.expectNone(about(d, 'user_offline'), GRACE_MS);
    await s.expectNone(about(m, 'user_offline'), 0); // announced once

    await stack.restart('gateway2');
    const back = await login(stack.url(1), m, 'mentor', { label: 'm@gw2-again' });
    await s.next(about(m, 'user_online'));
    assert.equal((await presenceOf(back, m)).status, 'online');
  });
});

describe('presence-svc restarts', () => {
  it('chosen status and grace timers survive a restart of every instance; live gateways stay alive', async () => {
    const m = uid('m');
    const s = await login(stack.url(1), uid('s'), 'student', { label: 's' });
    const other = await login(stack.url(0), uid('o'), 'student', { label: 'other' });
    let cm = await login(stack.url(0), m, 'mentor', { label: 'm' });
    await createConversation(other, [s.auth.user_id]); // students see their contacts only
    await s.next('conversation_created');
    await cm.request({ type: 'mentor_available', status_message: 'here' });
    await s.next(about(m, 'status_change', { status: 'available' }));

    await cm.close();
    // The timer must be armed before the restart: a conn_close still queued in a
    // stopping instance's socket is lost with it (docs/design/presence.md, Consequences).
    await eventually(() => graceArmed(m), { timeoutMs: SETTLE_MS, everyMs: 50, what: 'grace timer armed' });
    for (const name of ['presence', 'presence2']) {
      const r = await stack.kill(name, 'SIGTERM');
      assert.equal(r.code, 0, `${name} exits 0 on SIGTERM`);
    }
    await sleep(GRACE_MS + 3 * LEASE_MS + 500); // the timer comes due, leases lapse in the table
    await stack.restart('presence');
    await stack.restart('presence2');

    const sc = await s.next(about(m, 'status_change', { status: 'offline' }), SETTLE_MS);
    assert.equal(sc.status_message, 'here');
    await s.next(about(m, 'user_offline'), SETTLE_MS);

    // Both gateways renewed their leases after the restart: nobody else went offline.
    await sleep(3 * LEASE_MS + 1000);
    assert.equal((await presenceOf(other, s.auth.user_id)).status, 'online');
    assert.equal((await presenceOf(s, other.auth.user_id)).status, 'online');

    cm = await login(stack.url(1), m, 'mentor', { label: 'm-again' });
    const again = await s.next(about(m, 'status_change', { status: 'available' }));
    assert.equal(again.status_message, 'here', 'the chosen status and message were kept');
  });
});
