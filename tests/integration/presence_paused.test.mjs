// Presence around a gateway that was only paused past its lease (SIGSTOP, a VM stall,
// or PostgreSQL down long enough that its renewals were not stored): presence takes the
// gateway for dead and its users offline. Found by the chaos harness (tests/chaos,
// docs/reliability.md), where such users stayed offline for good:
// - once the gateway runs again, its users are online again without reconnecting (the
//   gateway's reconciliation, gw_reconcile, tells presence its live connections);
// - a user who closes right after must not come back: a reconciliation list sent
//   before the close can reach one presence-svc instance after the close reached the
//   other, and must not re-open the connection.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { eventually, login, sleep, uid } from './lib/client.mjs';
import { about, presenceOf } from './lib/presence.mjs';

const GRACE_MS = 500;
const LEASE_MS = 200; // the lease lasts three intervals
const SETTLE_MS = 3 * LEASE_MS + GRACE_MS + 10000;
const USERS = 7;

let stack;
useStack(
  () => ({ gateways: 2, presences: 2, env: { OFFLINE_GRACE_MS: String(GRACE_MS), GW_LEASE_INTERVAL_MS: String(LEASE_MS), RATE_LIMIT_PER_S: '0' } }),
  (s) => {
    stack = s;
  },
);

describe('a gateway paused past its lease', () => {
  it('its users come back online on their own once it renews its lease', async () => {
    const m = uid('m');
    const s = await login(stack.url(0), uid('s'), 'student', { label: 's@gw1' });
    const cm = await login(stack.url(1), m, 'mentor', { label: 'm@gw2' });
    await eventually(async () => (await presenceOf(s, m)).status === 'available' || (await presenceOf(s, m)).status === 'online', {
      what: 'm online',
    });
    s.drain(); // m's first user_online
    const gw2 = stack.procs.get('gateway2');
    gw2.child.kill('SIGSTOP');
    try {
      await s.next(about(m, 'user_offline'), SETTLE_MS);
    } finally {
      gw2.child.kill('SIGCONT');
    }
    // m's connection never closed: presence must count it again.
    await s.next(about(m, 'user_online'), SETTLE_MS);
    assert.notEqual((await presenceOf(s, m)).status, 'offline');
    assert.equal((await cm.request({ type: 'ping' })).type, 'pong', 'the paused connection still works');
    // And it stays so (no flapping back to offline once the grace passes).
    await s.expectNone(about(m, 'user_offline'), 3 * LEASE_MS + GRACE_MS + 500);
  });
});

// How the race is forced: gateway 2 is paused past its lease (its users go offline),
// presence2 is paused too, then gateway 2 resumes: its notices and reconciliations are
// pushed round-robin to both instances; those for presence2 wait in its queue. The
// users close at once (the closes spread over both instances), presence2 resumes and
// handles what waited. No user may come online again.
// Statuses of `ids` as `observer` sees them (mentors are visible to everyone).
async function statuses(observer, ids) {
  const f = await observer.request({ type: 'get_presence', user_ids: ids });
  assert.equal(f.type, 'presence', JSON.stringify(f));
  return new Map(f.users.map((u) => [u.user_id, u.status]));
}

describe('a reconciliation racing with closes', () => {
  it('a connection closed after the resync stays closed', async () => {
    const ids = Array.from({ length: USERS }, () => uid('m'));
    const observer = await login(stack.url(0), uid('s'), 'student', { label: 'observer' });
    const conns = [];
    for (const id of ids) conns.push(await login(stack.url(1), id, 'mentor', { label: id }));
    const allAre = async (pred) => [...(await statuses(observer, ids)).values()].every(pred);
    await eventually(() => allAre((s) => s !== 'offline'), { what: 'every mentor online' });

    const gw2 = stack.procs.get('gateway2').child;
    const p2 = stack.procs.get('presence2').child;
    gw2.kill('SIGSTOP');
    try {
      await eventually(() => allAre((s) => s === 'offline'), { what: 'gateway 2 taken for dead: all offline', everyMs: 100 });
      p2.kill('SIGSTOP');
    } finally {
      gw2.kill('SIGCONT');
    }
    try {
      // The gateway has told presence again once someone is online (through presence1).
      await eventually(async () => !(await allAre((s) => s === 'offline')), { what: 'the reconciliation', everyMs: 50 });
      await Promise.all(conns.map((c) => c.close()));
      await sleep(300);
      observer.drain();
    } finally {
      p2.kill('SIGCONT');
    }
    const cameBack = (f) => f.type === 'user_online' && ids.includes(f.user_id);
    await observer.expectNone(cameBack, 3 * LEASE_MS + GRACE_MS + 1500);
    // Everyone closed: after the grace, everyone is offline, and stays so.
    await eventually(() => allAre((s) => s === 'offline'), { what: 'every closed mentor offline', timeoutMs: 10000 });
    await sleep(3 * LEASE_MS + GRACE_MS + 500);
    const st = await statuses(observer, ids);
    assert.deepEqual([...st.entries()].filter(([, s]) => s !== 'offline'), [], 'users online without a connection');
  });
});
