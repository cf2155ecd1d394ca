// Server API conversations: POST /api/v1/conversations, POST …/participants and
// DELETE …/participants/{user_id}, with their effects on real connections
// (conversation_created and subscription, participants_changed, a removed user's
// connections hearing nothing more at once). Answers are checked against
// docs/openapi.json.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { call } from './lib/api.mjs';
import { sendMessage } from './lib/chat.mjs';
import { login, uid, sleep } from './lib/client.mjs';
import { assertConversation } from './lib/expect.mjs';

let stack;
let url;
let base;
useStack(() => ({ api: true, gateways: 2 }), (s) => {
  stack = s;
  url = s.url(0);
  base = s.gateways[0].api;
});

const isType = (t) => (f) => f.type === t;

describe('POST /conversations', () => {
  it('a group of users: 201, every participant connection told and subscribed', async () => {
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    const ca = await login(url, a);
    const cb = await login(stack.url(1), b); // another gateway
    const r = await call(base, 'POST', '/api/v1/conversations', { body: { participants: [a, b, c, a], title: 'Algebra' } });
    assert.equal(r.status, 201, r.text);
    const conv = r.body.conversation;
    assertConversation(conv, { kind: 'group', title: 'Algebra' });
    assert.deepEqual([...conv.participants].sort(), [a, b, c].sort());
    for (const cl of [ca, cb]) {
      const f = await cl.next(isType('conversation_created'));
      assert.equal(f.conversation.conversation_id, conv.conversation_id);
    }
    await sendMessage(ca, conv.conversation_id, 'hello');
    assert.equal((await cb.next(isType('new_message'))).message.content, 'hello');
  });

  it('a direct conversation is unique: asked again, 200 with the same one', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const first = await call(base, 'POST', '/api/v1/conversations', { body: { participants: [a, b] } });
    const again = await call(base, 'POST', '/api/v1/conversations', { body: { participants: [b, a], kind: 'direct' } });
    assert.equal(first.status, 201);
    assert.equal(first.body.conversation.kind, 'direct');
    assert.equal(again.status, 200);
    assert.equal(again.body.conversation.conversation_id, first.body.conversation.conversation_id);
    const bad = await call(base, 'POST', '/api/v1/conversations', { body: { participants: [a], kind: 'direct' } });
    assert.equal(bad.status, 400);
    const none = await call(base, 'POST', '/api/v1/conversations', { body: { participants: [] } });
    assert.equal(none.status, 400);
  });
});

describe('participants', () => {
  it('added: conversation_created for the new one, participants_changed for the others', async () => {
    const [a, b, d] = [uid('a'), uid('b'), uid('d')];
    const ca = await login(url, a);
    const cd = await login(stack.url(1), d);
    const { body } = await call(base, 'POST', '/api/v1/conversations', { body: { participants: [a, b], kind: 'group' } });
    const cid = body.conversation.conversation_id;
    await ca.next(isType('conversation_created'));
    const r = await call(base, 'POST', `/api/v1/conversations/${cid}/participants`, { body: { user_ids: [d, a] } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([...r.body.conversation.participants].sort(), [a, b, d].sort());
    const changed = await ca.next(isType('participants_changed'));
    assert.deepEqual(changed, { type: 'participants_changed', conversation_id: cid, added: [d], removed: [] });
    assert.equal((await cd.next(isType('conversation_created'))).conversation.conversation_id, cid);
    await sendMessage(ca, cid, 'welcome');
    assert.equal((await cd.next(isType('new_message'))).message.content, 'welcome');
    await sleep(200);
    assert.equal(cd.inbox.filter(isType('participants_changed')).length, 0, 'the new one hears conversation_created only');
  });

  it('removed: 204, their connections unsubscribed at once, the others told', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await login(url, a);
    const cb1 = await login(url, b);
    const cb2 = await login(stack.url(1), b);
    const { body } = await call(base, 'POST', '/api/v1/conversations', { body: { participants: [a, b], kind: 'group' } });
    const cid = body.conversation.conversation_id;
    for (const c of [ca, cb1, cb2]) await c.next(isType('conversation_created'));
    const r = await call(base, 'DELETE', `/api/v1/conversations/${cid}/participants/${b}`);
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    const expected = { type: 'participants_changed', conversation_id: cid, added: [], removed: [b] };
    assert.deepEqual(await ca.next(isType('participants_changed')), expected);
    for (const c of [cb1, cb2]) assert.deepEqual(await c.next(isType('participants_changed')), expected);
    // nothing of the conversation reaches b any more, on either gateway
    await sendMessage(ca, cid, 'after');
    ca.send({ type: 'typing_start', conversation_id: cid });
    await call(base, 'POST', `/api/v1/conversations/${cid}/messages`, { body: { content: 'system after' } });
    await sleep(500);
    for (const c of [cb1, cb2]) {
      assert.deepEqual(c.inbox.filter((f) => f.conversation_id === cid || f.message?.conversation_id === cid), []);
    }
    // and b may no longer act in it
    const refused = await cb1.request({ type: 'message', conversation_id: cid, content: 'x' });
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'forbidden');
    const again = await call(base, 'DELETE', `/api/v1/conversations/${cid}/participants/${b}`);
    assert.equal(again.status, 404);
  });

  it('refusals: no such conversation 404, a direct conversation 409, a bad body 400', async () => {
    const [a, b] = [uid('a'), uid('b')];
    let r = await call(base, 'POST', '/api/v1/conversations/987654321/participants', { body: { user_ids: [a] } });
    assert.equal(r.status, 404);
    r = await call(base, 'DELETE', `/api/v1/conversations/987654321/participants/${a}`);
    assert.equal(r.status, 404);
    const { body } = await call(base, 'POST', '/api/v1/conversations', { body: { participants: [a, b] } });
    const cid = body.conversation.conversation_id;
    r = await call(base, 'POST', `/api/v1/conversations/${cid}/participants`, { body: { user_ids: [uid('c')] } });
    assert.equal(r.status, 409);
    r = await call(base, 'DELETE', `/api/v1/conversations/${cid}/participants/${a}`);
    assert.equal(r.status, 409);
    r = await call(base, 'POST', `/api/v1/conversations/${cid}/participants`, { body: { user_ids: 'x' } });
    assert.equal(r.status, 400);
  });
});
