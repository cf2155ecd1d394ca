// The envelope of docs/protocol/basics.md: JSON objects with `type` and an optional `id`
// (string or integer) echoed on the one answer; errors for bad frames that cost the
// sender an error, never the connection; the exceptions that close it (oversized frame
// 1009, second binary frame 1003). Default limits (MAX_FRAME_BYTES 131072).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { createConversation } from './lib/chat.mjs';

let stack;
let url;
useStack(undefined, (s) => ((stack = s), (url = s.url())));

const me = () => login(url, uid('env'), 'student');

async function stillAlive(c) {
  const f = await c.request({ type: 'ping' });
  assert.equal(f.type, 'pong', 'the connection survives');
}

describe('malformed frames', () => {
  it('not JSON → bad_request (no id), connection kept', async () => {
    const c = await me();
    for (const raw of ['hello{', '{"type":"ping"', '{type:"ping"}', '', ' ']) {
      c.send(raw);
      assertError(await c.next('error'), 'bad_request', undefined);
    }
    await stillAlive(c);
  });

  it('JSON that is not an object → bad_request', async () => {
    const c = await me();
    for (const raw of ['[1,2]', '[{"type":"ping"}]', '"ping"', '42', 'true', 'null']) {
      c.send(raw);
      assertError(await c.next('error'), 'bad_request', undefined);
    }
    await stillAlive(c);
  });

  it('missing or non-string type → bad_request with the id echoed', async () => {
    const c = await me();
    for (const frame of [{ id: 'no-type' }, { type: 5, id: 'num-type' }, { type: null, id: 'null-type' }, { type: ['ping'], id: 'arr-type' }]) {
      c.send(frame);
      assertError(await c.next({ id: frame.id }), 'bad_request', frame.id);
    }
    await stillAlive(c);
  });

  it('unknown type after auth → bad_request, id echoed', async () => {
    const c = await me();
    const f = await c.request({ type: 'definitely_not_an_event', id: 'u-1' });
    assertError(f, 'bad_request', 'u-1');
    c.send({ type: 'also_unknown' });
    assertError(await c.next('error'), 'bad_request', undefined);
    await stillAlive(c);
  });

  it('missing or ill-typed fields → bad_request, id echoed', async () => {
    const c = await me();
    const frames = [
      { type: 'message', content: 'no conversation' },
      { type: 'message', conversation_id: 'abc', content: 'x' },
      { type: 'message', conversation_id: 1.5, content: 'x' },
      { type: 'message', conversation_id: 1 },
      { type: 'message', conversation_id: 1, content: 5 },
      { type: 'message', conversation_id: 1, content: null },
      { type: 'message', conversation_id: 1, content: ['x'] },
      { type: 'send_message', conversation_id: '1', content: 'x' },
      { type: 'history' },
      { type: 'history', conversation_id: 1, limit: 'ten' },
      { type: 'history', conversation_id: 1, before_seq: 'x' },
      { type: 'subscribe_conversation' },
      { type: 'subscribe_conversation', conversation_id: { id: 1 } },
      { type: 'unsubscribe_conversation', conversation_id: true },
      { type: 'create_conversation' },
      { type: 'create_conversation', participants: 'bob' },
      { type: 'create_conversation', participants: [{ user: 'bob' }] },
      { type: 'create_conversation', participants: ['bob'], kind: 'triangle' },
      { type: 'create_conversation', participants: ['bob'], kind: 'group', title: 7 },
    ];
    for (const frame of frames) {
      const f = await c.request(frame);
      assert.equal(f.code, 'bad_request', `${JSON.stringify(frame)} → ${JSON.stringify(f)}`);
      assertError(f, 'bad_request', f.id);
    }
    await stillAlive(c);
  });

  it('deeply nested and odd JSON does not hurt the gateway', async () => {
    const c = await me();
    const deep = '['.repeat(20000) + ']'.repeat(20000);
    c.send(deep);
    assertError(await c.next('error'), 'bad_request', undefined);
    const deepObj = `{"type":"message","id":"deep","conversation_id":1,"content":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    c.send(deepObj);
    const f = await c.next('error');
    assert.ok(['bad_request', 'too_large'].includes(f.code), JSON.stringify(f));
    // Extra fields, escapes and astral characters: ignored or refused, never fatal.
    const g = await c.request({ type: 'ping', extra: { a: [1, 2, { b: null }], 'ü\u0001x': '\ud83d\ude00\u0000' } });
    assert.ok(g.type === 'pong' || (g.type === 'error' && g.code === 'bad_request'), JSON.stringify(g));
    await stillAlive(c);
  });

  it('text frame with invalid UTF-8 → bad_request or close 1007; the gateway lives on', async () => {
    const c = await me();
    c.ws.send(Buffer.from([0x7b, 0x22, 0x74, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    const r = await Promise.race([c.next('error').then((f) => ({ f })), c.closed.then((info) => ({ info }))]);
    if (r.f) assertError(r.f, 'bad_request', undefined);
    else assert.equal(r.info.code, 1007);
    await stillAlive(await me());
  });
});

describe('correlation ids', () => {
  it('a string id is echoed as the same string', async () => {
    const c = await me();
    const f = await c.request({ type: 'ping', id: 'abc-123' });
    assert.equal(f.type, 'pong');
    assert.equal(f.id, 'abc-123');
  });

  it('an integer id is echoed as the same integer (0 included)', async () => {
    const c = await me();
    for (const id of [42, 0, 9007199254740991]) {
      const f = await c.request({ type: 'ping', id });
      assert.equal(f.type, 'pong');
      assert.strictEqual(f.id, id);
    }
    const e = await c.request({ type: 'nope', id: 7 });
    assertError(e, 'bad_request', 7);
  });

  it('an id it cannot use (a string over 128 bytes, a float) is refused bad_request, and still echoed', async () => {
    const c = await me();
    const long = 'i'.repeat(200);
    for (const id of [long, 1.5]) {
      const f = await c.request({ type: 'ping', id });
      assertError(f, 'bad_request', id);
    }
    c.send({ type: 'ping', id: { not: 'scalar' } });
    const f = await c.next('error');
    assert.equal(f.code, 'bad_request');
    assert.equal(f.id, undefined, 'an object cannot be echoed as an id');
    assert.equal((await c.request({ type: 'ping', id: 'still-fine' })).type, 'pong');
  });

  it('a request without id gets its answer without id', async () => {
    const c = await me();
    const peer = uid('peer');
    c.send({ type: 'create_conversation', participants: [peer] });
    const f = await c.next('conversation_created');
    assert.ok(!('id' in f), JSON.stringify(f));
    c.send({ type: 'history', conversation_id: f.conversation.conversation_id });
    const h = await c.next('history');
    assert.ok(!('id' in h));
  });

  it('every request with an id gets exactly one answer carrying it', async () => {
    const c = await me();
    const conv = await createConversation(c, [uid('peer')]);
    const frames = [
      { type: 'ping', id: 'x1' },
      { type: 'message', conversation_id: conv.conversation_id, content: 'one', id: 'x2' },
      { type: 'history', conversation_id: conv.conversation_id, id: 'x3' },
      { type: 'bogus', id: 'x4' },
      { type: 'message', conversation_id: conv.conversation_id, content: '', id: 'x5' },
      { type: 'subscribe_conversation', conversation_id: conv.conversation_id, id: 'x6' },
    ];
    for (const f of frames) c.send(f);
    for (const f of frames) await c.next({ id: f.id });
    await c.expectNone((f) => frames.some((x) => x.id === f.id), 700);
  });
});

describe('ack', () => {
  // Requests without a named answer get {type:"ack", id, of}.
  it('typing_start with id → {type:"ack", id, of:"typing_start"}; alias keeps its name; no id → no ack', async () => {
    const c = await me();
    const conv = await createConversation(c, [uid('peer')]);
    const a = await c.request({ type: 'typing_start', conversation_id: conv.conversation_id, id: 'ty-1' });
    assert.deepEqual(a, { type: 'ack', id: 'ty-1', of: 'typing_start' });
    const b = await c.request({ type: 'user_typing', conversation_id: conv.conversation_id, id: 9 });
    assert.deepEqual(b, { type: 'ack', id: 9, of: 'user_typing' });
    c.send({ type: 'typing_stop', conversation_id: conv.conversation_id });
    await c.expectNone('ack', 700);
  });
});

describe('frame limits and binary frames', () => {
  it('a frame just under 128 KiB is read (content too_large), connection kept', async () => {
    const c = await me();
    const conv = await createConversation(c, [uid('peer')]);
    const frame = { type: 'message', id: 'big', conversation_id: conv.conversation_id, content: 'a'.repeat(120000) };
    assert.ok(JSON.stringify(frame).length < 131072);
    c.send(frame);
    assertError(await c.next({ id: 'big' }), 'too_large', 'big');
    await stillAlive(c);
  });

  it('a frame over MAX_FRAME_BYTES (131072) → close 1009', async () => {
    const c = await me();
    c.send({ type: 'ping', id: 'huge', pad: 'x'.repeat(131072 + 100) });
    const info = await c.waitClose();
    assert.equal(info.code, 1009);
    await stillAlive(await me());
  });

  it('binary frame → bad_request; a second binary frame → close 1003', async () => {
    const c = await me();
    c.sendBinary(Buffer.from('{"type":"ping","id":"b1"}'));
    assertError(await c.next('error'), 'bad_request', undefined);
    await stillAlive(c);
    c.sendBinary(Buffer.from([1, 2, 3]));
    const info = await c.waitClose();
    assert.equal(info.code, 1003);
  });
});
