// Text at the edge (docs/protocol/basics.md, "Text": a string with a NUL character or
// invalid UTF-8 is bad_request). Every string of every client event — nested ones in
// lists and objects, the call signal and unknown fields included — is refused when it
// holds NUL (the JSON escape \u0000) or invalid UTF-8 (raw bytes in the text frame, or a
// lone surrogate escape). The refusal carries the request's id and names the field, for
// raw WebSocket and Socket.IO clients alike; the connection stays open (the gateway does
// not close 1007 on invalid UTF-8 in a text frame: a bad frame costs an error, never the
// connection). Nothing of it reaches a service: a batch of good messages sent at the
// same moment by another user is stored whole (a NUL used to reach PostgreSQL and abort
// the shared batch transaction).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, open, token, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { assertGapless, createConversation, fullHistory, pipeline, twoInConversation } from './lib/chat.mjs';

let stack;
let url;
// A long batch interval makes the good and the bad frames of a burst share a batch.
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0', BATCH_INTERVAL_MS: '100', BATCH_PACING: 'fixed' } }), (s) => {
  stack = s;
  url = s.url();
});

const pair = () => twoInConversation(url, 'mentor', 'student');

// One request per event, each with one string made bad at the marker BAD; `field` is
// what the error message must start with.
const BAD = '@@BAD@@';
function cases(cid, peer) {
  return [
    { field: 'temp_id', frame: { type: 'message', conversation_id: cid, content: 'hi', temp_id: `t${BAD}` } },
    { field: 'content', frame: { type: 'send_message', conversation_id: cid, content: `x${BAD}y` } },
    {
      field: 'attachments[0].url',
      frame: {
        type: 'message',
        conversation_id: cid,
        content: 'file',
        attachments: [{ url: `https://cdn.example.com/${BAD}`, name: 'a.pdf', mime: 'application/pdf', size: 1 }],
      },
    },
    {
      field: 'attachments[1].mime',
      frame: {
        type: 'message',
        conversation_id: cid,
        content: 'file',
        attachments: [
          { url: 'https://cdn.example.com/a', name: 'a.pdf', mime: 'application/pdf', size: 1 },
          { url: 'https://cdn.example.com/b', name: 'b.pdf', mime: `application/${BAD}`, size: 1 },
        ],
      },
    },
    { field: 'participants[1]', frame: { type: 'create_conversation', participants: [peer, `u${BAD}`], kind: 'group' } },
    { field: 'title', frame: { type: 'create_conversation', participants: [peer], kind: 'group', title: `t${BAD}` } },
    { field: 'status_message', frame: { type: 'set_status', status: 'away', status_message: `m${BAD}` } },
    { field: 'status_message', frame: { type: 'mentor_available', status_message: BAD } },
    { field: 'emoji', frame: { type: 'react', message_id: 1, emoji: BAD } },
    { field: 'user_ids[0]', frame: { type: 'get_presence', user_ids: [`u${BAD}`] } },
    { field: 'callee_id', frame: { type: 'initiate_call', callee_id: `${peer}${BAD}`, media: 'audio' } },
    { field: 'signal.candidate', frame: { type: 'call_signal', call_id: 1, signal: { candidate: `c${BAD}` } } },
    { field: 'reason', frame: { type: 'end_call', call_id: 1, reason: BAD } },
    { field: 'topic', frame: { type: 'student_request_help', topic: `sql${BAD}` } },
    { field: 'extra.note', frame: { type: 'typing_start', conversation_id: cid, extra: { note: BAD } } },
  ];
}

// The frame as JSON text bytes, the marker replaced by `bad` (raw bytes or JSON text).
function frameBytes(frame, bad) {
  const [head, tail] = JSON.stringify(frame).split(BAD);
  return Buffer.concat([Buffer.from(head), Buffer.isBuffer(bad) ? bad : Buffer.from(bad), Buffer.from(tail)]);
}

const BADS = [
  { what: 'NUL (\\u0000)', bytes: '\\u0000', why: 'must not contain NUL characters' },
  { what: 'a raw 0xFF byte', bytes: Buffer.from([0xff]), why: 'must be valid UTF-8' },
  { what: 'an encoded surrogate (ED A0 80)', bytes: Buffer.from([0xed, 0xa0, 0x80]), why: 'must be valid UTF-8' },
  { what: 'a truncated sequence (E2 82)', bytes: Buffer.from([0xe2, 0x82]), why: 'must be valid UTF-8' },
  { what: 'a lone surrogate escape (\\ud800)', bytes: '\\ud800', why: 'must be valid UTF-8' },
];

describe('NUL and invalid UTF-8 in any string field: bad_request with the id, naming the field', () => {
  for (const bad of BADS) {
    it(`${bad.what}, in every event`, async () => {
      const { b, a1, cid } = await pair();
      let n = 0;
      for (const { field, frame } of cases(cid, b)) {
        const id = `bad-${n++}`;
        a1.send(frameBytes({ ...frame, id }, bad.bytes));
        const f = await a1.next((x) => x && x.id === id);
        assertError(f, 'bad_request', id);
        assert.equal(f.message, `${field}: ${bad.why}`, `${frame.type}: ${JSON.stringify(f)}`);
      }
      // the connection is still open and served
      assert.equal((await a1.request({ type: 'ping', id: 'after' })).type, 'pong');
    });
  }

  it('a key with NUL is refused too; the envelope id itself may hold anything and is echoed', async () => {
    const { a1, cid } = await pair();
    a1.send(Buffer.from(`{"type":"typing_start","id":"k1","conversation_id":${cid},"a\\u0000b":1}`));
    const f = await a1.next((x) => x && x.id === 'k1');
    assertError(f, 'bad_request', 'k1');
    assert.match(f.message, /^frame: keys must be valid UTF-8/);
    const g = await a1.request({ type: 'ping', id: 'n\u0000l' });
    assert.equal(g.type, 'pong', JSON.stringify(g));
  });

  it('a good batch sent at the same moment by another user is stored whole', async () => {
    const { a1, b1, cid } = await pair();
    const c = uid('c');
    const c1 = await login(url, c, 'student', { label: 'c1' });
    const other = (await createConversation(c1, [uid('d')])).conversation_id;
    const good = Array.from({ length: 20 }, (_, i) => ({
      type: 'message',
      conversation_id: other,
      content: `good ${i}`,
      temp_id: `g-${i}`,
    }));
    // a1 and b1 send poisoned messages in the same instant as c1's burst
    const poison = (client, who) =>
      Array.from({ length: 10 }, (_, i) => {
        const id = `${who}-p${i}`;
        const bytes = i % 2 ? Buffer.from([0xc3, 0x28]) : '\\u0000';
        client.send(frameBytes({ type: 'message', id, conversation_id: cid, content: 'x', temp_id: `p${BAD}` }, bytes));
        return client.next((x) => x && x.id === id);
      });
    const [acks, refusedA, refusedB] = await Promise.all([
      pipeline(c1, good),
      Promise.all(poison(a1, 'a')),
      Promise.all(poison(b1, 'b')),
    ]);
    for (const f of [...refusedA, ...refusedB]) assertError(f, 'bad_request', f.id);
    for (const f of acks) assert.equal(f.type, 'message_sent', JSON.stringify(f));
    const h = await fullHistory(c1, other);
    assertGapless(h, 20);
    assert.deepEqual(h.map((m) => m.content), good.map((m) => m.content));
    assert.equal((await fullHistory(a1, cid)).length, 0, 'no poisoned message was stored');
  });
});

// ---- Socket.IO: the same rule, the refusal as the emit's acknowledgement ------------

const sioText = (f) => (f && typeof f.__unparsable === 'string' ? f.__unparsable : null);
const sioPacket = (prefix) => (f) => sioText(f) !== null && sioText(f).startsWith(prefix);

async function sioLogin(user, role) {
  const c = await open(url, { path: '/socket.io/', query: { EIO: '4', transport: 'websocket' }, label: `sio-${user}` });
  await c.next(sioPacket('0{'));
  c.send(`40${JSON.stringify({ token: token(user, role) })}`);
  await c.next(sioPacket('40{'));
  await c.next(sioPacket('42["auth_success"'));
  return c;
}

describe('Socket.IO clients get the same validation', () => {
  for (const bad of BADS) {
    it(`${bad.what}: the ack is bad_request naming the field`, async () => {
      const { a, b1, cid } = await pair();
      const s = await sioLogin(a, 'mentor');
      let ack = 10;
      for (const { field, frame } of cases(cid, 'peer')) {
        const { type, ...arg } = frame;
        const n = ack++;
        const [head, tail] = `42${n}${JSON.stringify([type, arg])}`.split(BAD);
        s.send(Buffer.concat([Buffer.from(head), Buffer.isBuffer(bad.bytes) ? bad.bytes : Buffer.from(bad.bytes), Buffer.from(tail)]));
        const f = await s.next(sioPacket(`43${n}[`));
        const [answer] = JSON.parse(sioText(f).slice(2 + String(n).length));
        assert.equal(answer.type, 'error', JSON.stringify(answer));
        assert.equal(answer.code, 'bad_request', JSON.stringify(answer));
        assert.equal(answer.message, `${field}: ${bad.why}`, `${type}: ${JSON.stringify(answer)}`);
      }
      await b1.expectNone((x) => x && x.type === 'new_message', 200);
      s.close();
    });
  }
});
