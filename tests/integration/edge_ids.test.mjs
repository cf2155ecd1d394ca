// Gateway-built answers (pong, unsubscribed) echo the client's `id` exactly, however
// much JSON escaping it needs. Regression test for a stack overflow reachable before
// login: a ping whose id was 128 control characters re-encoded to ~770 bytes of JSON
// and was written through a 320-byte stack buffer (the pong carried the stack).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { open, login, uid } from './lib/client.mjs';

let stack;
let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

// Ids at the 128-byte limit that each need the most escaping JSON has.
const controls = String.fromCharCode(...Array.from({ length: 128 }, (_, i) => 1 + (i % 31)));
const quotes = '"\\'.repeat(64);
const mixed = ('\u0001"\\\u001f' + 'é').repeat(21) + 'ab'; // 6 bytes a round, 128 bytes
const ids = { controls, quotes, mixed, emoji: '😀'.repeat(32) };

describe('gateway-built answers echo ids exactly', () => {
  for (const [name, id] of Object.entries(ids)) {
    it(`pong before auth, id of ${name} (${Buffer.byteLength(id)} bytes)`, async () => {
      assert.ok(Buffer.byteLength(id) <= 128);
      const c = await open(url, { label: `ping-${name}` });
      c.send({ type: 'ping', id });
      const pong = await c.next('pong');
      assert.deepEqual(pong, { type: 'pong', id }, 'the pong is the id and nothing else');
      // The gateway is still whole: a second ping on the same connection is answered.
      assert.deepEqual(await c.request({ type: 'ping', id: 7 }), { type: 'pong', id: 7 });
      await c.close();
    });
  }

  it('unsubscribed after auth echoes a control-character id and the conversation id', async () => {
    const c = await login(url, uid('unsub'), 'student');
    c.send({ type: 'unsubscribe_conversation', conversation_id: 9007199254740991, id: controls });
    const f = await c.next('unsubscribed');
    assert.deepEqual(f, { type: 'unsubscribed', conversation_id: 9007199254740991, id: controls });
    await c.close();
  });

  it('many hostile pings in a row leave the gateway healthy', async () => {
    const c = await open(url, { label: 'ping-many' });
    for (let i = 0; i < 200; i++) c.send({ type: 'ping', id: controls });
    for (let i = 0; i < 200; i++) assert.equal((await c.next('pong')).id, controls);
    const other = await login(url, uid('after'), 'student');
    assert.equal(other.auth.type, 'auth_success');
    await c.close();
    await other.close();
  });
});
