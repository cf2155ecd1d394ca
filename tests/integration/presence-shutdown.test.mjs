// A gateway stopped with SIGTERM tells presence that its users left, so they go
// offline after the grace period and not only when its lease lapses. The gateway
// holds requests that follow each other closely (REQUEST_FLUSH_MS, here 100 ms so
// that several of the closing notices are held) and sends what it holds before it
// exits. The clients here stop reading before the SIGTERM, so they never answer the
// close frame: their connections last until the gateway tears everything down, and
// the notices of those last closes are exactly the ones held when it exits.
import { describe, it } from 'node:test';
import { useStack } from './lib/stack.mjs';
import { login, uid } from './lib/client.mjs';

const GRACE_MS = 500;
const LEASE_MS = 60000; // a lapsed lease would take three of these: far past the test

let stack;
useStack(
  () => ({
    gateways: 2,
    env: {
      OFFLINE_GRACE_MS: String(GRACE_MS),
      GW_LEASE_INTERVAL_MS: String(LEASE_MS),
      REQUEST_FLUSH_MS: '100',
      RATE_LIMIT_PER_S: '0',
    },
  }),
  (s) => {
    stack = s;
  },
);

const offline = (who) => (f) => f && f.type === 'user_offline' && f.user_id === who;
const online = (who) => (f) => f && f.type === 'user_online' && f.user_id === who;

describe('a gateway stops', () => {
  it('SIGTERM: every user it served goes offline after the grace period, held notices included', async () => {
    const s = await login(stack.url(0), uid('s'), 'student', { label: 's@gw1' });
    const mentors = Array.from({ length: 5 }, () => uid('m'));
    const clients = [];
    for (const m of mentors) {
      clients.push(await login(stack.url(1), m, 'mentor', { label: `${m}@gw2` }));
      await s.next(online(m)); // students hear mentors come and go
    }
    for (const c of clients) c.ws._socket.pause(); // a client gone quiet: no close reply

    await stack.kill('gateway2', 'SIGTERM');

    // Well inside the lease: only the gateway's own closing notices explain it.
    for (const m of mentors) await s.next(offline(m), 10000 + GRACE_MS);
  });
});
