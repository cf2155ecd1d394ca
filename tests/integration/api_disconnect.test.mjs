// Server API disconnect: POST /api/v1/users/{id}/disconnect closes every connection of
// the user on every gateway with code 4002 and the reason; with revoke, that user's
// tokens issued before then are refused at the upgrade, by auth, Socket.IO CONNECT
// and refresh, on every gateway, including one started afterwards; later tokens pass.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { useStack } from './lib/stack.mjs';
import { call } from './lib/api.mjs';
import { connect, login, open, refusedStatus, token, uid, eventually } from './lib/client.mjs';

let stack;
let base;
useStack(() => ({ api: true, gateways: 2 }), (s) => {
  stack = s;
  base = s.gateways[0].api;
});

const now = () => Math.floor(Date.now() / 1000);
const oldToken = (u) => token(u, 'student', { claims: { iat: now() - 60 } });
const newToken = (u) => token(u, 'student', { claims: { iat: now() + 2 } });

describe('disconnect', () => {
  it('every connection on every gateway closes with 4002 and the reason; 202 {connections}', async () => {
    const u = uid('u');
    const other = uid('other');
    const c1 = await login(stack.url(0), u);
    const c2 = await login(stack.url(1), u);
    const bystander = await login(stack.url(0), other);
    await eventually(async () => {
      const r = await call(base, 'POST', '/api/v1/presence/query', { body: { user_ids: [u] } });
      return r.body.users[0]?.status === 'online';
    }, { what: 'presence knows both connections' });
    const r = await call(base, 'POST', `/api/v1/users/${u}/disconnect`, { body: { reason: 'account suspended' } });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.connections, 2);
    for (const c of [c1, c2]) assert.deepEqual(await c.closed, { code: 4002, reason: 'account suspended' });
    assert.ok(bystander.isOpen, 'other users stay connected');
    // without revoke, the same token connects again
    const again = await connect(stack.url(0), { token: oldToken(u) });
    assert.equal(again.auth.type, 'auth_success');
  });

  it('a user with no connection: 202 {connections: 0}; no body is fine; a long reason 413', async () => {
    let r = await call(base, 'POST', `/api/v1/users/${uid('nobody')}/disconnect`);
    assert.equal(r.status, 202);
    assert.equal(r.body.connections, 0);
    r = await call(base, 'POST', `/api/v1/users/${uid('nobody')}/disconnect`, { body: { reason: 'é'.repeat(62) } });
    assert.equal(r.status, 413);
    r = await call(base, 'POST', `/api/v1/users/${uid('nobody')}/disconnect`, { body: { revoke: 'yes' } });
    assert.equal(r.status, 400);
  });
});

describe('revoke', () => {
  it('old tokens refused everywhere (upgrade 401, auth, refresh, Socket.IO), new ones pass', async () => {
    const u = uid('r');
    const c = await connect(stack.url(1), { token: oldToken(u) });
    const keeper = uid('k'); // a session of another user, to try refresh with u's token
    const r = await call(base, 'POST', `/api/v1/users/${u}/disconnect`, { body: { revoke: true } });
    assert.equal(r.status, 202);
    assert.equal((await c.closed).code, 4002);
    for (const i of [0, 1]) {
      await eventually(async () => (await refusedStatus(stack.url(i), { token: oldToken(u) })) === 401, {
        what: `gateway ${i} refuses the old token`,
      });
    }
    // a token without iat cannot show it is newer
    assert.equal(await refusedStatus(stack.url(0), { token: token(u, 'student', { claims: { iat: undefined } }) }), 401);
    // auth frame
    const late = await open(stack.url(0));
    const f = await late.request({ type: 'auth', token: oldToken(u) });
    assert.equal(f.type, 'error');
    assert.equal(f.code, 'unauthenticated');
    // Socket.IO CONNECT
    const sock = io(stack.url(0).replace(/^ws/, 'http'), { transports: ['websocket'], auth: { token: oldToken(u) }, reconnection: false });
    const err = await new Promise((resolve) => sock.on('connect_error', resolve));
    sock.close();
    assert.equal(err.data?.code, 'unauthenticated');
    // a token issued after the revocation works, and refreshing it with an old one does not
    const fresh = await connect(stack.url(1), { token: newToken(u) });
    assert.equal(fresh.auth.type, 'auth_success');
    const rf = await fresh.request({ type: 'refresh', token: oldToken(u) });
    assert.equal(rf.code, 'unauthenticated');
    void keeper;
  });

  it('a gateway started after the revocation loads it from presence-svc', async () => {
    const u = uid('later');
    const r = await call(base, 'POST', `/api/v1/users/${u}/disconnect`, { body: { revoke: true } });
    assert.equal(r.status, 202);
    await stack.restart('gateway2');
    await eventually(async () => (await refusedStatus(stack.url(1), { token: oldToken(u) })) === 401, {
      what: 'the restarted gateway refuses the old token',
    });
    const ok = await connect(stack.url(1), { token: newToken(u) });
    assert.equal(ok.auth.type, 'auth_success');
  });
});
