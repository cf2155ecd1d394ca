// Server API reads of calls and help requests: GET /api/v1/calls/{id},
// GET /api/v1/users/{id}/calls (newest first), GET /api/v1/help-requests
// (?state=waiting|accepted). Calls and requests are made by real clients; answers are
// checked against docs/openapi.json.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { call } from './lib/api.mjs';
import { eventually, login, uid } from './lib/client.mjs';

let stack;
let url;
let base;
useStack(() => ({ api: true, env: { RATE_LIMIT_PER_S: '0' } }), (s) => {
  stack = s;
  url = s.url();
  base = s.gateways[0].api;
});

async function online(id) {
  await eventually(async () => {
    const r = await call(base, 'POST', '/api/v1/presence/query', { body: { user_ids: [id] } });
    return r.body.users[0]?.status && r.body.users[0].status !== 'offline';
  }, { what: `${id} online` });
}

describe('calls', () => {
  it('a call by id, and a user\'s calls newest first, as the parties made them', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await login(url, a);
    const cb = await login(url, b);
    await online(b);
    const first = await ca.request({ type: 'initiate_call', callee_id: b, media: 'audio' });
    assert.equal(first.type, 'call_initiated', JSON.stringify(first));
    await cb.next((f) => f.type === 'incoming_call');
    assert.equal((await cb.request({ type: 'accept_call', call_id: first.call_id })).type, 'call_accepted');
    let r = await call(base, 'GET', `/api/v1/calls/${first.call_id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.call.state, 'active');
    assert.equal(r.body.call.caller_id, a);
    assert.equal(r.body.call.end_reason, null);
    ca.send({ type: 'end_call', call_id: first.call_id });
    await cb.next((f) => f.type === 'call_ended');
    const second = await ca.request({ type: 'initiate_call', callee_id: b, media: 'video' });
    await cb.next((f) => f.type === 'incoming_call');
    cb.send({ type: 'reject_call', call_id: second.call_id });
    await ca.next((f) => f.type === 'call_rejected');
    r = await call(base, 'GET', `/api/v1/calls/${first.call_id}`);
    assert.equal(r.body.call.end_reason, 'hangup');
    assert.equal(typeof r.body.call.duration_s, 'number');
    r = await call(base, 'GET', `/api/v1/users/${b}/calls`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.calls.map((c) => c.call_id), [second.call_id, first.call_id]);
    r = await call(base, 'GET', `/api/v1/users/${a}/calls?limit=1`);
    assert.deepEqual(r.body.calls.map((c) => c.call_id), [second.call_id]);
    r = await call(base, 'GET', `/api/v1/users/${uid('nobody')}/calls`);
    assert.deepEqual(r.body.calls, []);
    r = await call(base, 'GET', '/api/v1/calls/987654321');
    assert.equal(r.status, 404);
    r = await call(base, 'GET', `/api/v1/users/${a}/calls?limit=-1`);
    assert.equal(r.status, 400);
  });
});

describe('help requests', () => {
  it('waiting and accepted ones, filtered by state', async () => {
    const [s1, s2, m] = [uid('s1'), uid('s2'), uid('m')];
    const c1 = await login(url, s1, 'student', { tokenOpts: { name: 'Student One' } });
    const c2 = await login(url, s2);
    const cm = await login(url, m, 'mentor');
    const q1 = await c1.request({ type: 'student_request_help', topic: 'recursion', message: 'stuck' });
    const q2 = await c2.request({ type: 'student_request_help', topic: 'pointers', mentor_id: m });
    assert.equal(q1.type, 'help_requested');
    await cm.next((f) => f.type === 'help_request' && f.request_id === q2.request_id);
    assert.equal((await cm.request({ type: 'accept_help', request_id: q2.request_id })).type, 'help_assigned');
    const mine = (list) => list.filter((x) => [q1.request_id, q2.request_id].includes(x.request_id));
    let r = await call(base, 'GET', '/api/v1/help-requests');
    assert.equal(r.status, 200, r.text);
    const both = mine(r.body.requests);
    assert.deepEqual(both.map((x) => [x.request_id, x.state]), [[q1.request_id, 'waiting'], [q2.request_id, 'accepted']]);
    assert.equal(both[0].topic, 'recursion');
    assert.equal(both[0].message, 'stuck');
    assert.equal(both[0].student_name, 'Student One');
    assert.equal(both[1].student_name, null);
    assert.equal(both[1].accepted_by, m);
    assert.equal(both[1].mentor_id, m);
    r = await call(base, 'GET', '/api/v1/help-requests?state=waiting');
    assert.deepEqual(mine(r.body.requests).map((x) => x.request_id), [q1.request_id]);
    r = await call(base, 'GET', '/api/v1/help-requests?state=accepted');
    assert.deepEqual(mine(r.body.requests).map((x) => x.request_id), [q2.request_id]);
    r = await call(base, 'GET', '/api/v1/help-requests?state=ended');
    assert.equal(r.status, 400);
  });
});
