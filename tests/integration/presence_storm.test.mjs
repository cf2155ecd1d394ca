// A storm of connection notices (presence-svc/presence_conns.c): a batch made only of
// conn_open/conn_close is sent to PostgreSQL in one pipeline and each handler answers
// from its own rows. Whatever the batching, every connection must be recorded once,
// every user online while a connection is open, offline after the grace period once
// the last one closed, and the users left connected untouched. A long fixed batch
// interval makes the notices share batches; the service's metrics show they did.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, freePorts } from './lib/stack.mjs';
import { batchSizes } from './lib/prom.mjs';
import { eventually, login, uid } from './lib/client.mjs';
import { about } from './lib/presence.mjs';

const GRACE_MS = 600;
let stack, url, metricsPort;
before(async () => {
  [metricsPort] = await freePorts(1);
  stack = await startStack({
    env: { RATE_LIMIT_PER_S: '0', BATCH_INTERVAL_MS: '150', BATCH_PACING: 'fixed', OFFLINE_GRACE_MS: String(GRACE_MS) },
    envFor: { presence: { METRICS_PORT: String(metricsPort) } },
  });
  url = stack.url();
});
after(async () => {
  await stack?.stop();
});


const list = (users) => users.map((u) => `'${u}'`).join(',');

describe('connection notices in one pipeline', () => {
  it('opens and closes in shared batches: each recorded once, online and offline as they should be', async () => {
    // Mentors, so that a student watching sees each one's announcements.
    const users = Array.from({ length: 16 }, (_, k) => uid(`p${k}`));
    const watcher = await login(url, uid('watcher'), 'student', { label: 'watcher' });
    const before = await batchSizes(metricsPort);
    // Two connections for the first four users, one for the rest.
    const who = [...users, ...users.slice(0, 4)];
    const clients = await Promise.all(who.map((u, i) => login(url, u, 'mentor', { label: `c${i}` })));
    for (const u of users) await watcher.next(about(u, 'user_online'));
    await eventually(async () => Number(await stack.sql(`SELECT count(*) FROM presence.connections WHERE user_id IN (${list(users)})`)) === who.length,
      { what: 'every connection recorded' });
    const online = await stack.sql(`SELECT count(*) FROM presence.users WHERE online AND user_id IN (${list(users)})`);
    assert.equal(Number(online), users.length);

    // Close every connection of users 0..7 at once (users 0..3 have two): offline after
    // the grace; users 8..15 stay online.
    const gone = users.slice(0, 8);
    await Promise.all(clients.filter((_, i) => gone.includes(who[i])).map((c) => c.close()));
    await eventually(async () => Number(await stack.sql(`SELECT count(*) FROM presence.connections WHERE user_id IN (${list(gone)})`)) === 0,
      { what: 'closed connections removed' });
    await eventually(async () => Number(await stack.sql(`SELECT count(*) FROM presence.users WHERE online AND user_id IN (${list(gone)})`)) === 0,
      { what: 'users offline after the grace period', timeoutMs: GRACE_MS * 10 });
    const still = await stack.sql(`SELECT count(*) FROM presence.users WHERE online AND user_id IN (${list(users.slice(8))})`);
    assert.equal(Number(still), 8, 'the users left connected are untouched');
    for (const u of gone) await watcher.next(about(u, 'user_offline'));
    // Each announced once: no second user_online, no user_offline for those still here.
    for (const u of users) await watcher.expectNone(about(u, 'user_online'), 50);
    for (const u of users.slice(8)) await watcher.expectNone(about(u, 'user_offline'), 50);
    const after = await batchSizes(metricsPort);
    assert.ok(after.count - before.count < after.sum - before.sum,
      `notices shared batches: ${after.sum - before.sum} requests in ${after.count - before.count} batches`);
  });
});
