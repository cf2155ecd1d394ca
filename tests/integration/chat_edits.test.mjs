// Chat: edit_message, delete_message, react, unreact. Sender only for edit and delete
// (forbidden otherwise, not_found for unknown ids); the actor gets the event as its
// answer, every other connection of every participant (the actor's other devices
// included) gets it too; a deleted message is a tombstone (deleted: true, content "",
// no attachments, no reactions); one reaction per (user, emoji, message), counted in
// history as reactions: [{emoji, count, user_ids}].
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, uid } from './lib/client.mjs';
import { assertError, assertIso } from './lib/expect.mjs';
import { createConversation, history, sendMessage, settle } from './lib/chat.mjs';

let stack;
let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

// A group: a (two devices), b, c; one message from a already there.
async function room() {
  const [a, b, c] = [uid('a'), uid('b'), uid('c')];
  const a1 = await login(url, a, 'student', { label: 'a1' });
  const a2 = await login(url, a, 'student', { label: 'a2' });
  const b1 = await login(url, b, 'mentor', { label: 'b1' });
  const c1 = await login(url, c, 'student', { label: 'c1' });
  const conv = await createConversation(a1, [b, c], { kind: 'group' });
  for (const x of [a2, b1, c1]) await x.next('conversation_created');
  await settle(a1, [a2, b1, c1], conv.conversation_id);
  const attachments = [{ url: 'https://files.example.com/x.png', name: 'x.png', mime: 'image/png', size: 10 }];
  const sent = await sendMessage(a1, conv.conversation_id, 'original', { temp_id: 't-orig', attachments });
  for (const x of [a2, b1, c1]) await x.next('new_message');
  return { a, b, c, a1, a2, b1, c1, cid: conv.conversation_id, mid: sent.message_id, sent, attachments };
}

const lastOf = async (client, cid) => (await history(client, cid)).messages.at(-1);

describe('edit_message', () => {
  it('the sender edits: message_updated with the whole message to the actor (answer) and everyone else', async () => {
    const { a, a1, a2, b1, c1, cid, mid, sent, attachments } = await room();
    const ans = await a1.request({ type: 'edit_message', message_id: mid, content: 'edited!', id: 'e1' });
    assert.equal(ans.type, 'message_updated', JSON.stringify(ans));
    assert.equal(ans.id, 'e1');
    const m = ans.message;
    assert.equal(m.message_id, mid);
    assert.equal(m.conversation_id, cid);
    assert.equal(m.seq, sent.seq);
    assert.equal(m.sender_id, a);
    assert.equal(m.content, 'edited!');
    assert.equal(m.deleted, false);
    assert.equal(m.temp_id, 't-orig');
    assert.equal(m.created_at, sent.created_at);
    assertIso(m.edited_at, 'edited_at');
    assert.deepEqual(m.attachments, attachments, 'attachments are kept');
    assert.deepEqual(m.reactions, []);
    for (const x of [a2, b1, c1]) {
      const ev = await x.next('message_updated');
      assert.ok(!('id' in ev));
      assert.deepEqual(ev.message, m);
    }
    await a1.expectNone('message_updated', 300);
    const h = await lastOf(b1, cid);
    assert.equal(h.content, 'edited!');
    assert.equal(h.edited_at, m.edited_at);
    assert.equal(h.seq, sent.seq, 'an edit takes no seq');
  });

  it('not the sender → forbidden; unknown message → not_found; nothing changes, nobody hears', async () => {
    const { a1, b1, c1, cid, mid } = await room();
    const f = await b1.request({ type: 'edit_message', message_id: mid, content: 'hijack' });
    assertError(f, 'forbidden', f.id);
    const eve = await login(url, uid('eve'), 'admin');
    const g = await eve.request({ type: 'edit_message', message_id: mid, content: 'hijack' });
    assertError(g, 'forbidden', g.id);
    const n = await a1.request({ type: 'edit_message', message_id: 987654321, content: 'x' });
    assertError(n, 'not_found', n.id);
    await c1.expectNone('message_updated', 300);
    assert.equal((await lastOf(a1, cid)).content, 'original');
  });

  it('content limits apply: empty → bad_request, 16385 characters → too_large, 16384 fine', async () => {
    const { a1, mid } = await room();
    const e = await a1.request({ type: 'edit_message', message_id: mid, content: '' });
    assertError(e, 'bad_request', e.id);
    const t = await a1.request({ type: 'edit_message', message_id: mid, content: '😀'.repeat(16385) });
    assertError(t, 'too_large', t.id);
    const ok = await a1.request({ type: 'edit_message', message_id: mid, content: '😀'.repeat(16384) });
    assert.equal(ok.type, 'message_updated');
    for (const bad of [
      { content: 'x' },
      { message_id: 'x', content: 'x' },
      { message_id: 0, content: 'x' },
      { message_id: mid, content: 5 },
      { message_id: mid },
    ]) {
      const f = await a1.request({ type: 'edit_message', ...bad });
      assertError(f, 'bad_request', f.id);
    }
  });
});

describe('delete_message', () => {
  it('soft delete: message_deleted (deleted:true, content "", no attachments, no reactions) to everyone; history keeps a tombstone', async () => {
    const { b, a1, a2, b1, c1, cid, mid, sent } = await room();
    await b1.request({ type: 'react', message_id: mid, emoji: '👍' });
    for (const x of [a1, a2, c1]) await x.next('reaction');
    const ans = await a1.request({ type: 'delete_message', message_id: mid, id: 'd1' });
    assert.equal(ans.type, 'message_deleted', JSON.stringify(ans));
    assert.equal(ans.id, 'd1');
    const m = ans.message;
    assert.equal(m.message_id, mid);
    assert.equal(m.seq, sent.seq);
    assert.equal(m.deleted, true);
    assert.equal(m.content, '');
    assert.deepEqual(m.attachments, []);
    assert.deepEqual(m.reactions, []);
    for (const x of [a2, b1, c1]) assert.deepEqual((await x.next('message_deleted')).message, m);
    const h = await history(c1, cid);
    assert.equal(h.messages.length, 1, 'the tombstone keeps its place in the sequence');
    assert.deepEqual(h.messages[0], m);
    void b;
  });

  it('deleting again answers the same (a retry), tells nobody; edit or react on it → conflict; unreact is a no-op', async () => {
    const { a1, b1, c1, mid } = await room();
    const first = await a1.request({ type: 'delete_message', message_id: mid });
    for (const x of [b1, c1]) await x.next('message_deleted');
    const again = await a1.request({ type: 'delete_message', message_id: mid });
    assert.equal(again.type, 'message_deleted');
    assert.deepEqual(again.message, first.message);
    await b1.expectNone('message_deleted', 300);
    const e = await a1.request({ type: 'edit_message', message_id: mid, content: 'resurrect' });
    assertError(e, 'conflict', e.id);
    const r = await b1.request({ type: 'react', message_id: mid, emoji: '👍' });
    assertError(r, 'conflict', r.id);
    const u = await b1.request({ type: 'unreact', message_id: mid, emoji: '👍' });
    assert.equal(u.type, 'reaction');
    assert.equal(u.added, false);
    await c1.expectNone('reaction', 300);
  });

  it('not the sender → forbidden (participants and others alike); unknown → not_found', async () => {
    const { a1, b1, c1, cid, mid } = await room();
    const f = await b1.request({ type: 'delete_message', message_id: mid });
    assertError(f, 'forbidden', f.id);
    const eve = await login(url, uid('eve'), 'mentor');
    const g = await eve.request({ type: 'delete_message', message_id: mid });
    assertError(g, 'forbidden', g.id);
    const n = await b1.request({ type: 'delete_message', message_id: 987654321 });
    assertError(n, 'not_found', n.id);
    await c1.expectNone('message_deleted', 300);
    assert.equal((await lastOf(a1, cid)).deleted, false);
  });

  it('a reply to a deleted message is still allowed, and points at the tombstone', async () => {
    const { a1, b1, cid, mid } = await room();
    await a1.request({ type: 'delete_message', message_id: mid });
    const r = await sendMessage(b1, cid, 'what did you say?', { reply_to_id: mid });
    assert.equal(r.seq, 2);
    assert.equal((await lastOf(a1, cid)).reply_to_id, mid);
  });
});

describe('react / unreact', () => {
  it('react → reaction {conversation_id, message_id, user_id, emoji, added:true}: the answer, and an event to the others', async () => {
    const { b, a1, a2, b1, c1, cid, mid } = await room();
    const ans = await b1.request({ type: 'react', message_id: mid, emoji: '🎉', id: 'r1' });
    assert.deepEqual(ans, { type: 'reaction', id: 'r1', conversation_id: cid, message_id: mid, user_id: b, emoji: '🎉', added: true });
    const { id: _id, ...event } = ans;
    void _id;
    for (const x of [a1, a2, c1]) assert.deepEqual(await x.next('reaction'), event);
    await b1.expectNone('reaction', 300);
  });

  it('one reaction per (user, emoji, message): a repeat answers added:true and tells nobody', async () => {
    const { b, a1, b1, cid, mid } = await room();
    await b1.request({ type: 'react', message_id: mid, emoji: '👍' });
    await a1.next('reaction');
    const again = await b1.request({ type: 'react', message_id: mid, emoji: '👍' });
    assert.equal(again.added, true);
    await a1.expectNone('reaction', 300);
    const m = await lastOf(a1, cid);
    assert.deepEqual(m.reactions, [{ emoji: '👍', count: 1, user_ids: [b] }]);
  });

  it('counts in history: grouped by emoji in order of first use, with who reacted; unreact takes one back', async () => {
    const { a, b, c, a1, b1, c1, cid, mid } = await room();
    await b1.request({ type: 'react', message_id: mid, emoji: '👍' });
    await c1.request({ type: 'react', message_id: mid, emoji: '❤️' });
    await c1.request({ type: 'react', message_id: mid, emoji: '👍' });
    await a1.request({ type: 'react', message_id: mid, emoji: '👍' });
    let m = await lastOf(b1, cid);
    assert.deepEqual(m.reactions, [
      { emoji: '👍', count: 3, user_ids: [b, c, a] },
      { emoji: '❤️', count: 1, user_ids: [c] },
    ]);
    a1.drain('reaction');
    const un = await c1.request({ type: 'unreact', message_id: mid, emoji: '👍', id: 'u1' });
    assert.deepEqual(un, { type: 'reaction', id: 'u1', conversation_id: cid, message_id: mid, user_id: c, emoji: '👍', added: false });
    assert.equal((await a1.next((f) => f.type === 'reaction' && f.added === false)).user_id, c);
    const none = await c1.request({ type: 'unreact', message_id: mid, emoji: '🙈' });
    assert.equal(none.added, false, 'unreacting what is not there is a no-op');
    await a1.expectNone((f) => f.type === 'reaction' && f.emoji === '🙈', 300);
    m = await lastOf(a1, cid);
    assert.deepEqual(m.reactions, [
      { emoji: '👍', count: 2, user_ids: [b, a] },
      { emoji: '❤️', count: 1, user_ids: [c] },
    ]);
    // The whole message object carries them too, e.g. after an edit.
    const ed = await a1.request({ type: 'edit_message', message_id: mid, content: 'with reactions' });
    assert.deepEqual(ed.message.reactions, m.reactions);
    // A history page with several messages, some with reactions.
    const other = await sendMessage(b1, cid, 'second');
    await a1.request({ type: 'react', message_id: other.message_id, emoji: '🔥' });
    const page = await history(c1, cid);
    assert.deepEqual(page.messages.map((x) => x.reactions.length), [2, 1]);
    assert.deepEqual(page.messages[1].reactions, [{ emoji: '🔥', count: 1, user_ids: [a] }]);
  });

  it('emoji: missing/empty/ill-typed or control characters → bad_request, longer than 32 characters → too_large', async () => {
    const { b1, mid } = await room();
    for (const bad of [{}, { emoji: '' }, { emoji: 5 }, { emoji: 'a\u0001' }, { emoji: null }]) {
      const f = await b1.request({ type: 'react', message_id: mid, ...bad });
      assertError(f, 'bad_request', f.id);
    }
    const t = await b1.request({ type: 'react', message_id: mid, emoji: 'x'.repeat(33) });
    assertError(t, 'too_large', t.id);
    const ok = await b1.request({ type: 'react', message_id: mid, emoji: ':custom_emoji:' });
    assert.equal(ok.type, 'reaction', 'short codes are emoji too');
  });

  it(`at most 20 different reactions per user on one message → conflict beyond`, async () => {
    const { b1, c1, mid } = await room();
    for (let i = 0; i < 20; i++) {
      const r = await b1.request({ type: 'react', message_id: mid, emoji: `e${i}` });
      assert.equal(r.type, 'reaction', JSON.stringify(r));
    }
    const f = await b1.request({ type: 'react', message_id: mid, emoji: 'one-too-many' });
    assertError(f, 'conflict', f.id);
    assert.equal((await b1.request({ type: 'react', message_id: mid, emoji: 'e3' })).added, true, 'a repeat is fine');
    assert.equal((await c1.request({ type: 'react', message_id: mid, emoji: 'e99' })).type, 'reaction', 'others are not limited by it');
  });

  it('a non-participant → forbidden; unknown message → not_found; nobody hears', async () => {
    const { a1, mid } = await room();
    const eve = await login(url, uid('eve'), 'admin');
    for (const type of ['react', 'unreact']) {
      const f = await eve.request({ type, message_id: mid, emoji: '👀' });
      assertError(f, 'forbidden', f.id);
      const n = await a1.request({ type, message_id: 987654321, emoji: '👀' });
      assertError(n, 'not_found', n.id);
    }
    await a1.expectNone('reaction', 300);
  });
});
