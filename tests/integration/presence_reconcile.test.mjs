// Presence heals after lost notices (docs/design/presence.md, "Healing lost notices"):
// presence-svc is killed with SIGKILL in the middle of a burst of connects and
// disconnects, so the conn_open / conn_close notices it had taken but not committed are
// gone. The gateways send their live connections every GW_RECONCILE_EVERY_LEASES (2)
// leases; within 3 × GW_LEASE_INTERVAL_MS of presence-svc's restart every user's status
// (the server API's presence query) and every connection row match what is really
// connected. A gateway's healthy lease does not expire anything meanwhile: only the
// reconciliation can fix these rows.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { call } from './lib/api.mjs';
import { eventually, login, sleep, uid } from './lib/client.mjs';

const LEASE_MS = 1000;
const GRACE_MS = 200;
let stack;
useStack(
  () => ({
    api: true,
    gateways: 2,
    env: {
      GW_LEASE_INTERVAL_MS: String(LEASE_MS),
      OFFLINE_GRACE_MS: String(GRACE_MS),
      PRESENCE_TICK_MS: '50',
      RATE_LIMIT_PER_S: '0',
      MAX_CONNECTIONS_PER_IP: '1000', // the third case opens more than one list's worth
    },
  }),
  (s) => (stack = s),
);

// Status of each user as the server API reports it, and their connection rows.
async function observed(users) {
  const r = await call(stack.gateways[0].api, 'POST', '/api/v1/presence/query', { body: { user_ids: users } });
  assert.equal(r.status, 200, r.text);
  const status = Object.fromEntries(r.body.users.map((u) => [u.user_id, u.status]));
  const rows = await stack.sql(
    `SELECT user_id, count(*) FROM presence.connections WHERE user_id IN (${users.map((u) => `'${u}'`).join(',')}) GROUP BY user_id`,
  );
  const conns = Object.fromEntries(rows.split('\n').filter(Boolean).map((l) => l.split('|')).map(([u, n]) => [u, Number(n)]));
  return { status, conns };
}

// Where the observed state differs from the truth (connected: user -> live connections).
function mismatches(users, connected, { status, conns }) {
  const out = [];
  for (const u of users) {
    const live = connected.get(u) || 0;
    const want = live > 0 ? 'online' : 'offline';
    if ((status[u] || 'offline') !== want) out.push(`${u}: ${status[u]} (truth ${want})`);
    if ((conns[u] || 0) !== live) out.push(`${u}: ${conns[u] || 0} rows (truth ${live})`);
  }
  return out;
}

describe('presence reconciliation', () => {
  it('kill -9 presence-svc during a burst: every status right within 3 leases of its restart', async () => {
    const USERS = 24;
    const users = Array.from({ length: USERS }, (_, i) => uid(`r${i}`));
    const open = new Map(); // user -> their live clients
    const connected = new Map(); // truth: user -> live connections
    let stop = false;
    const churn = async (u, i) => {
      const url = stack.url(i % 2);
      while (!stop) {
        const c = await login(url, u, 'student', { label: u });
        open.set(u, [...(open.get(u) || []), c]);
        await sleep(Math.random() * 40);
        // Two devices now and then, so one user's rows are not all or nothing.
        if (Math.random() < 0.3) continue;
        for (const x of open.get(u) || []) await x.close();
        open.set(u, []);
        await sleep(Math.random() * 40);
      }
      // The end: even users stay connected (once), odd users leave.
      for (const x of open.get(u) || []) await x.close();
      if (i % 2 === 0) {
        await login(url, u, 'student', { label: `${u}-final` });
        connected.set(u, 1);
      }
    };
    const burst = Promise.all(users.map(churn));
    await sleep(700);
    await stack.kill('presence', 'SIGKILL');
    await sleep(500); // the burst goes on; its notices wait at the broker
    stop = true;
    await burst;

    await stack.restart('presence');
    const t0 = Date.now();
    let last = [];
    await eventually(
      async () => {
        last = mismatches(users, connected, await observed(users));
        return last.length === 0;
      },
      { timeoutMs: 3 * LEASE_MS, everyMs: 100, what: `presence matching the truth (${last.slice(0, 5).join('; ')})` },
    ).catch((e) => {
      throw new Error(`${e.message}; still wrong: ${last.join('; ')}`);
    });
    stack.log(`presence matched the truth ${Date.now() - t0} ms after its restart`);
  });

  it('a lost conn_close and a lost conn_open are healed with presence-svc running', async () => {
    // Forge what lost notices leave behind: a row for a connection the gateway does
    // not have (closed, its conn_close lost), and no row for one it has (its conn_open
    // lost). Gateway 0's id comes from a live connection's row.
    const [ghost, real] = [uid('ghost'), uid('real')];
    const c = await login(stack.url(0), real, 'student');
    await eventually(async () => (await observed([real])).status[real] === 'online', { what: 'real online' });
    const gw = await stack.sql(`SELECT gw FROM presence.connections WHERE user_id = '${real}'`);
    assert.ok(gw, 'the live connection has a row');
    await stack.sql(`DELETE FROM presence.connections WHERE user_id = '${real}'`);
    await stack.sql(
      `INSERT INTO presence.users(user_id, role, online) VALUES ('${ghost}', 'student', true);` +
        ` INSERT INTO presence.connections(gw, cn, user_id, role) VALUES ('${gw}', 1, '${ghost}', 'student')`,
    );
    const connected = new Map([[real, 1]]);
    await eventually(async () => mismatches([ghost, real], connected, await observed([ghost, real])).length === 0, {
      timeoutMs: 3 * LEASE_MS + GRACE_MS + 2000,
      everyMs: 100,
      what: 'the ghost offline and the real connection back',
    });
    await c.close();
  });

  it('more connections than one message holds: every part of the round heals its range', async () => {
    // 300 connections on gateway 0: a round of two messages (256 + 44). Every row is
    // deleted (lost opens, in both parts), and one connection of the second part is
    // closed but its row put back (a lost close past the first part's range).
    const N = 300;
    const users = Array.from({ length: N }, (_, i) => uid(`m${i}`));
    const clients = [];
    for (let i = 0; i < N; i += 25) {
      clients.push(...(await Promise.all(users.slice(i, i + 25).map((u) => login(stack.url(0), u, 'student')))));
    }
    const list = users.map((u) => `'${u}'`).join(',');
    await eventually(async () => Number(await stack.sql(`SELECT count(*) FROM presence.connections WHERE user_id IN (${list})`)) === N, {
      what: 'every connection has its row',
    });
    const gone = users[N - 10];
    const row = await stack.sql(`SELECT gw || '|' || cn FROM presence.connections WHERE user_id = '${gone}'`);
    const [gw, cn] = row.split('|');
    await clients[N - 10].close();
    await eventually(async () => (await stack.sql(`SELECT count(*) FROM presence.connections WHERE user_id = '${gone}'`)) === '0', {
      what: 'the closed connection loses its row',
    });
    await stack.sql(
      `DELETE FROM presence.connections WHERE user_id IN (${list});` +
        ` INSERT INTO presence.connections(gw, cn, user_id, role) VALUES ('${gw}', ${cn}, '${gone}', 'student');` +
        ` UPDATE presence.users SET online = true, offline_due_at = NULL WHERE user_id = '${gone}'`,
    );
    const connected = new Map(users.filter((u) => u !== gone).map((u) => [u, 1]));
    let last = [];
    await eventually(
      async () => {
        last = mismatches(users, connected, await observed(users));
        return last.length === 0;
      },
      { timeoutMs: 3 * LEASE_MS + GRACE_MS + 2000, everyMs: 200, what: 'both parts healed' },
    ).catch((e) => {
      throw new Error(`${e.message}; still wrong: ${last.slice(0, 10).join('; ')}`);
    });
  });
});
