// Server API presence: POST /api/v1/presence/query (up to 1,000 ids, no privacy
// filter: strangers who share nothing with anyone are seen too) and GET /api/v1/mentors
// (?available_only=true). Answers are checked against docs/openapi.json.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { call } from './lib/api.mjs';
import { login, uid, eventually } from './lib/client.mjs';

let stack;
let url;
let base;
useStack(() => ({ api: true }), (s) => {
  stack = s;
  url = s.url();
  base = s.gateways[0].api;
});

const byId = (users) => Object.fromEntries(users.map((u) => [u.user_id, u]));

describe('POST /presence/query', () => {
  it('everyone asked about, online or never seen, with the contract\'s entry', async () => {
    const [s, m, never] = [uid('s'), uid('m'), uid('never')];
    const cs = await login(url, s); // shares no conversation with anyone
    const cm = await login(url, m, 'mentor');
    cs.send({ type: 'set_status', status: 'away', status_message: 'lunch' });
    await cs.next((f) => f.type === 'status_change');
    cm.send({ type: 'mentor_available' });
    await cm.next((f) => f.type === 'status_change');
    const users = await eventually(async () => {
      const r = await call(base, 'POST', '/api/v1/presence/query', { body: { user_ids: [s, m, never] } });
      assert.equal(r.status, 200, r.text);
      const u = byId(r.body.users);
      return u[s]?.status === 'away' && u[m]?.status === 'available' ? u : null;
    }, { what: 'both statuses seen' });
    assert.deepEqual(users[s], { user_id: s, role: 'student', status: 'away', status_message: 'lunch', last_seen: null });
    assert.equal(users[m].role, 'mentor');
    assert.equal(users[never]?.status ?? 'offline', 'offline');
  });

  it('1,000 ids pass, 1,001 are a bad request', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `bulk-${i}`);
    let r = await call(base, 'POST', '/api/v1/presence/query', { body: { user_ids: ids } });
    assert.equal(r.status, 200, r.text);
    r = await call(base, 'POST', '/api/v1/presence/query', { body: { user_ids: [...ids, 'one-more'] } });
    assert.equal(r.status, 400);
    r = await call(base, 'POST', '/api/v1/presence/query', { body: { user_ids: ['x'.repeat(129)] } });
    assert.equal(r.status, 413);
  });
});

describe('GET /mentors', () => {
  it('every mentor who connected; available_only keeps the available ones', async () => {
    const [m1, m2] = [uid('m1'), uid('m2')];
    const c1 = await login(url, m1, 'mentor', { tokenOpts: { name: 'Ada' } });
    const c2 = await login(url, m2, 'mentor');
    c1.send({ type: 'mentor_available', status_message: 'ask me' });
    await c1.next((f) => f.type === 'status_change');
    c2.send({ type: 'mentor_busy' });
    await c2.next((f) => f.type === 'status_change');
    const all = await eventually(async () => {
      const r = await call(base, 'GET', '/api/v1/mentors');
      assert.equal(r.status, 200);
      const m = byId(r.body.mentors);
      return m[m1]?.status === 'available' && m[m2]?.status === 'busy' ? m : null;
    }, { what: 'both mentors listed' });
    assert.equal(all[m1].status_message, 'ask me');
    const avail = byId((await call(base, 'GET', '/api/v1/mentors?available_only=true')).body.mentors);
    assert.ok(avail[m1]);
    assert.equal(avail[m2], undefined);
    const r = await call(base, 'GET', '/api/v1/mentors?available_only=maybe');
    assert.equal(r.status, 400);
  });
});
