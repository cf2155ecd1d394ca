// Server API messages: POST /api/v1/conversations/{id}/messages as a participant or
// as the system (sender_id null), answered 201 after commit with the same fan-out as a
// client's message, a repeated temp_id answering 200 with the original; and
// GET /api/v1/conversations/{id}/messages with the contract's paging. Every answer is
// checked against docs/openapi.json.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { call } from './lib/api.mjs';
import { twoInConversation, history, sendMessage } from './lib/chat.mjs';
import { login, uid, sleep } from './lib/client.mjs';

let stack;
let url;
let base;
useStack(() => ({ api: true }), (s) => {
  stack = s;
  url = s.url();
  base = s.gateways[0].api;
});

const path = (cid) => `/api/v1/conversations/${cid}/messages`;

describe('POST messages', () => {
  it('a system message: 201, sender_id null, new_message on every participant connection', async () => {
    const { a, ca, cb, cid } = await twoInConversation(url);
    const ca2 = await login(url, a); // the same user's second device
    const r = await call(base, 'POST', path(cid), { body: { content: 'Your session starts in 5 minutes', temp_id: 'sys-1' } });
    assert.equal(r.status, 201, r.text);
    const m = r.body.message;
    assert.equal(m.sender_id, null);
    assert.equal(m.content, 'Your session starts in 5 minutes');
    assert.equal(m.conversation_id, cid);
    assert.equal(m.seq, 1);
    assert.equal(m.temp_id, 'sys-1');
    for (const c of [ca, ca2, cb]) {
      const f = await c.next((x) => x.type === 'new_message');
      assert.deepEqual(f.message, m);
    }
    // it counts as unread for everyone and stays in history
    const h = await history(cb, cid);
    assert.deepEqual(h.messages.map((x) => x.sender_id), [null]);
  });

  it('as a participant: new_message reaches every connection, the sender\'s included', async () => {
    const { a, ca, cb, cid } = await twoInConversation(url);
    const r = await call(base, 'POST', path(cid), {
      body: { content: 'booked', sender_id: a, attachments: [{ url: 'https://x.example/a.pdf', name: 'a.pdf', mime: 'application/pdf', size: 3 }] },
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.message.sender_id, a);
    assert.equal(r.body.message.attachments.length, 1);
    for (const c of [ca, cb]) assert.deepEqual((await c.next((x) => x.type === 'new_message')).message, r.body.message);
  });

  it('a repeated temp_id: 200 with the original, stored and delivered once', async () => {
    const { a, cb, cid } = await twoInConversation(url);
    const first = await call(base, 'POST', path(cid), { body: { content: 'once', sender_id: a, temp_id: 7 } });
    const again = await call(base, 'POST', path(cid), { body: { content: 'once', sender_id: a, temp_id: 7 } });
    assert.equal(first.status, 201);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.message, first.body.message);
    const sys1 = await call(base, 'POST', path(cid), { body: { content: 'sys', temp_id: 7 } });
    const sys2 = await call(base, 'POST', path(cid), { body: { content: 'sys', temp_id: 7 } });
    assert.equal(sys1.status, 201, 'the system is another sender');
    assert.equal(sys2.status, 200);
    assert.equal(sys2.body.message.message_id, sys1.body.message.message_id);
    await cb.next((x) => x.type === 'new_message' && x.message.content === 'once');
    await cb.next((x) => x.type === 'new_message' && x.message.content === 'sys');
    await sleep(300);
    assert.equal(cb.inbox.filter((x) => x.type === 'new_message').length, 0, 'no second delivery');
    const h = await history(cb, cid);
    assert.equal(h.messages.length, 2);
  });

  it('refusals: not a participant 403, no such conversation 404, bad reply 400, too long 413', async () => {
    const { cid } = await twoInConversation(url);
    let r = await call(base, 'POST', path(cid), { body: { content: 'x', sender_id: uid('stranger') } });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'forbidden');
    r = await call(base, 'POST', path(987654321), { body: { content: 'x' } });
    assert.equal(r.status, 404);
    r = await call(base, 'POST', path('abc'), { body: { content: 'x' } });
    assert.equal(r.status, 404);
    r = await call(base, 'POST', path(cid), { body: { content: 'x', reply_to_id: 987654321 } });
    assert.equal(r.status, 400);
    r = await call(base, 'POST', path(cid), { body: { content: 'x'.repeat(16385) } });
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, 'too_large');
    r = await call(base, 'POST', path(cid), { body: { content: '' } });
    assert.equal(r.status, 400);
    r = await call(base, 'POST', path(cid), { body: { content: 'x', attachments: [{ url: 'ftp://no' }] } });
    assert.equal(r.status, 400);
  });
});

describe('GET messages', () => {
  it('the contract\'s paging: newest page, after_seq, before_seq, limit, has_more', async () => {
    const { ca, cid } = await twoInConversation(url);
    for (let i = 1; i <= 5; i++) await sendMessage(ca, cid, `m${i}`);
    let r = await call(base, 'GET', path(cid));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.messages.map((m) => m.seq), [1, 2, 3, 4, 5]);
    assert.equal(r.body.has_more, false);
    r = await call(base, 'GET', `${path(cid)}?after_seq=1&limit=2`);
    assert.deepEqual(r.body.messages.map((m) => m.seq), [2, 3]);
    assert.equal(r.body.has_more, true);
    r = await call(base, 'GET', `${path(cid)}?before_seq=5&limit=2`);
    assert.deepEqual(r.body.messages.map((m) => m.seq), [3, 4]);
    assert.equal(r.body.has_more, true);
    r = await call(base, 'GET', `${path(cid)}?limit=0`);
    assert.equal(r.status, 400);
    r = await call(base, 'GET', `${path(cid)}?after_seq=x`);
    assert.equal(r.status, 400);
    r = await call(base, 'GET', path(987654321));
    assert.equal(r.status, 404);
  });
});
