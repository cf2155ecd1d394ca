// Chat: typing indicators. typing_start/user_typing and typing_stop/user_stopped_typing
// reach the other participants as user_typing {conversation_id, user_id, is_typing},
// never the typer's own connections; an ack answers a request with an id; an indicator
// that is not refreshed expires (is_typing: false) and a message from the typer clears
// it, once per recipient; typing writes nothing to the database.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { useStack } from './lib/stack.mjs';
import { login, sleep, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { collect, createConversation, sendMessage, settle } from './lib/chat.mjs';

const TTL = 1500;
let stack;
let url;
useStack(() => ({ env: { TYPING_TTL_MS: String(TTL), RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

// A group of a (two devices), b and c.
async function room() {
  const [a, b, c] = [uid('a'), uid('b'), uid('c')];
  const a1 = await login(url, a, 'student', { label: 'a1' });
  const a2 = await login(url, a, 'student', { label: 'a2' });
  const b1 = await login(url, b, 'mentor', { label: 'b1' });
  const c1 = await login(url, c, 'student', { label: 'c1' });
  const conv = await createConversation(a1, [b, c], { kind: 'group', title: 'typing' });
  for (const x of [a2, b1, c1]) await x.next('conversation_created');
  await settle(a1, [a2, b1, c1], conv.conversation_id);
  return { a, b, c, a1, a2, b1, c1, cid: conv.conversation_id };
}

const typingOf = (user, on) => (f) => f.type === 'user_typing' && f.user_id === user && f.is_typing === on;

describe('typing_start / typing_stop', () => {
  it('typing_start → the others get user_typing is_typing:true; the typer\'s devices get nothing; ack to the request', async () => {
    const { a, a1, a2, b1, c1, cid } = await room();
    const ack = await a1.request({ type: 'typing_start', conversation_id: cid, id: 'ty-1' });
    assert.deepEqual(ack, { type: 'ack', id: 'ty-1', of: 'typing_start' });
    for (const x of [b1, c1]) {
      const ev = await x.next('user_typing');
      assert.deepEqual(ev, { type: 'user_typing', conversation_id: cid, user_id: a, is_typing: true });
    }
    await a2.expectNone('user_typing', 400);
    await a1.expectNone('user_typing', 0);
  });

  it('typing_stop → is_typing:false to the others; aliases user_typing / user_stopped_typing keep their name in ack.of', async () => {
    const { a, a1, b1, c1, cid } = await room();
    const s = await a1.request({ type: 'user_typing', conversation_id: cid, id: 7 });
    assert.deepEqual(s, { type: 'ack', id: 7, of: 'user_typing' });
    for (const x of [b1, c1]) await x.next(typingOf(a, true));
    const t = await a1.request({ type: 'user_stopped_typing', conversation_id: cid, id: 8 });
    assert.deepEqual(t, { type: 'ack', id: 8, of: 'user_stopped_typing' });
    for (const x of [b1, c1]) await x.next(typingOf(a, false));
    const u = await a1.request({ type: 'typing_stop', conversation_id: cid });
    assert.equal(u.type, 'ack');
    assert.equal(u.of, 'typing_stop');
  });

  it('without an id there is no ack, but the others still hear it', async () => {
    const { a, a1, b1, cid } = await room();
    a1.send({ type: 'typing_start', conversation_id: cid });
    await b1.next(typingOf(a, true));
    await a1.expectNone('ack', 500);
  });

  it('an indicator that is not refreshed expires: is_typing:false exactly once per recipient', async () => {
    const { a, a1, b1, c1, cid } = await room();
    await a1.request({ type: 'typing_start', conversation_id: cid });
    for (const x of [b1, c1]) await x.next(typingOf(a, true));
    for (const x of [b1, c1]) await x.next(typingOf(a, false), TTL * 4);
    await sleep(TTL + 300);
    for (const x of [b1, c1]) await x.expectNone('user_typing', 0);
  });

  it('refreshing keeps it alive; it expires once refreshing stops', async () => {
    const { a, a1, b1, cid } = await room();
    const until = Date.now() + TTL * 2;
    while (Date.now() < until) {
      await a1.request({ type: 'typing_start', conversation_id: cid });
      await sleep(TTL / 5);
    }
    assert.ok(b1.drain(typingOf(a, true)).length >= 1, 'refreshes arrive as is_typing:true');
    await b1.expectNone(typingOf(a, false), 0);
    await b1.next(typingOf(a, false), TTL * 4);
  });

  it('a message from the typer clears it: is_typing:false once, and no second one at expiry', async () => {
    const { a, a1, b1, c1, cid } = await room();
    await a1.request({ type: 'typing_start', conversation_id: cid });
    for (const x of [b1, c1]) await x.next(typingOf(a, true));
    await sendMessage(a1, cid, 'done typing');
    for (const x of [b1, c1]) {
      const msg = await x.next('new_message');
      const stop = await x.next(typingOf(a, false));
      assert.ok(x.all.indexOf(msg) < x.all.indexOf(stop), `${x.label}: new_message arrives before is_typing:false`);
    }
    await sleep(TTL + 500);
    for (const x of [b1, c1]) await x.expectNone('user_typing', 0);
  });

  it('two users typing at once are independent', async () => {
    const { a, b, a1, b1, c1, cid } = await room();
    await a1.request({ type: 'typing_start', conversation_id: cid });
    await b1.request({ type: 'typing_start', conversation_id: cid });
    await c1.next(typingOf(a, true));
    await c1.next(typingOf(b, true));
    await b1.next(typingOf(a, true));
    await a1.next(typingOf(b, true));
    await b1.request({ type: 'typing_stop', conversation_id: cid });
    await c1.next(typingOf(b, false));
    await c1.next(typingOf(a, false), TTL * 4); // a's expires on its own
  });
});

describe('typing: who may, and what it costs', () => {
  it('a non-participant → forbidden; an unknown conversation → not_found; nobody hears either', async () => {
    const { b1, cid } = await room();
    const eve = await login(url, uid('eve'), 'admin');
    for (const type of ['typing_start', 'user_typing', 'typing_stop', 'user_stopped_typing']) {
      const f = await eve.request({ type, conversation_id: cid });
      assertError(f, 'forbidden', f.id);
      const g = await eve.request({ type, conversation_id: 987654321 });
      assertError(g, 'not_found', g.id);
    }
    await b1.expectNone('user_typing', 300);
  });

  it('missing or ill-typed conversation_id → bad_request', async () => {
    const { a1 } = await room();
    for (const bad of [{}, { conversation_id: 'x' }, { conversation_id: 0 }, { conversation_id: -3 }, { conversation_id: 1.5 }]) {
      const f = await a1.request({ type: 'typing_start', ...bad });
      assertError(f, 'bad_request', f.id);
    }
  });

  it('typing writes nothing to the database', async () => {
    const { a1, b1, cid } = await room();
    const snapshot = () =>
      promisify(execFile)('psql', ['-X', '-q', '-t', '-A', stack.dbConn, '-c',
        "SELECT (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM chat.conversations t)," +
        " (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM chat.participants t)," +
        ' (SELECT count(*) FROM chat.messages), (SELECT count(*) FROM chat.notifications)'])
        .then((r) => r.stdout.trim());
    const before = await snapshot();
    for (let i = 0; i < 20; i++) {
      await a1.request({ type: i % 2 ? 'typing_stop' : 'typing_start', conversation_id: cid });
    }
    await collect(b1, 'user_typing', 20); // the others heard every one
    assert.equal(await snapshot(), before, 'no chat table changed');
  });
});
