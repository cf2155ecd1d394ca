// Chat: read positions and offline catch-up. mark_read stores one position per user and
// conversation that never moves backwards and is clamped to last_seq; read_receipt goes
// to the other connections (the actor's other devices too), the actor gets an ack;
// unread_count in auth_success follows it and never counts the user's own or deleted
// messages. A user who was offline gets last_seq/unread_count in auth_success and
// catches up exactly with history {after_seq}; participants with no live connection
// when a message arrived get an in-app notification row (notification_count).
// Every participant's read position is in each conversation object (read_positions),
// so read receipts survive a reload.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { eventually, login, uid } from './lib/client.mjs';
import { assertConversation, assertError, assertIso } from './lib/expect.mjs';
import { assertGapless, createConversation, fullHistory, history, sendMessage, settle } from './lib/chat.mjs';

let stack;
let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

// A direct conversation: a on two devices, b on one.
async function pair() {
  const [a, b] = [uid('a'), uid('b')];
  const a1 = await login(url, a, 'student', { label: 'a1' });
  const a2 = await login(url, a, 'student', { label: 'a2' });
  const b1 = await login(url, b, 'mentor', { label: 'b1' });
  const conv = await createConversation(a1, [b]);
  for (const x of [a2, b1]) await x.next('conversation_created');
  await settle(a1, [a2, b1], conv.conversation_id);
  return { a, b, a1, a2, b1, cid: conv.conversation_id };
}

// The conversation entry of a fresh auth_success for `user`; closes that connection.
async function listed(user, cid) {
  const c = await login(url, user, 'student', { label: `probe-${user}` });
  const entry = c.auth.conversations.find((x) => x.conversation_id === cid);
  await c.close();
  return { entry, auth: c.auth };
}

async function sendN(c, cid, n, prefix = 'm') {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await sendMessage(c, cid, `${prefix}${i}`));
  return out;
}

describe('mark_read', () => {
  it('the others get read_receipt {conversation_id, user_id, seq, read_at}, the actor\'s other device too; the actor gets an ack', async () => {
    const { b, a1, a2, b1, cid } = await pair();
    await sendN(a1, cid, 3);
    const ack = await b1.request({ type: 'mark_read', conversation_id: cid, seq: 2, id: 'mr-1' });
    assert.deepEqual(ack, { type: 'ack', id: 'mr-1', of: 'mark_read' });
    for (const x of [a1, a2]) {
      const r = await x.next('read_receipt');
      assert.equal(r.conversation_id, cid);
      assert.equal(r.user_id, b);
      assert.equal(r.seq, 2);
      assertIso(r.read_at, 'read_at');
      assert.ok(!('id' in r), 'events carry no request id');
    }
    await b1.expectNone('read_receipt', 300);
    // The actor's other devices hear it too.
    const b2 = await login(url, b, 'mentor', { label: 'b2' });
    await settle(b1, [b2], cid);
    await b1.request({ type: 'mark_read', conversation_id: cid, seq: 3 });
    assert.equal((await b2.next('read_receipt')).seq, 3);
  });

  it('never moves backwards: a lower seq leaves the position (the receipt tells the current one)', async () => {
    const { b, a1, b1, cid } = await pair();
    await sendN(a1, cid, 5);
    await b1.request({ type: 'mark_read', conversation_id: cid, seq: 4 });
    assert.equal((await a1.next('read_receipt')).seq, 4);
    const r = await b1.request({ type: 'mark_read', conversation_id: cid, seq: 2 });
    assert.equal(r.type, 'ack');
    assert.equal((await a1.next('read_receipt')).seq, 4, 'still 4');
    assert.equal((await listed(b, cid)).entry.unread_count, 1);
  });

  it('is clamped to the conversation\'s last_seq', async () => {
    const { b, a1, b1, cid } = await pair();
    await sendN(a1, cid, 2);
    await b1.request({ type: 'mark_read', conversation_id: cid, seq: 1000000 });
    assert.equal((await a1.next('read_receipt')).seq, 2);
    await sendN(a1, cid, 3);
    const { entry } = await listed(b, cid);
    assert.equal(entry.last_seq, 5);
    assert.equal(entry.unread_count, 3, 'messages after the clamp are unread');
  });

  it('seq 0 on an empty conversation is fine; ill-typed seq → bad_request', async () => {
    const { b1, cid } = await pair();
    assert.equal((await b1.request({ type: 'mark_read', conversation_id: cid, seq: 0 })).type, 'ack');
    for (const bad of [{ seq: -1 }, { seq: 'x' }, { seq: 1.5 }, {}, { seq: null }]) {
      const f = await b1.request({ type: 'mark_read', conversation_id: cid, ...bad });
      assertError(f, 'bad_request', f.id);
    }
  });

  it('a non-participant → forbidden, an unknown conversation → not_found; the position is untouched', async () => {
    const { b, a1, b1, cid } = await pair();
    await sendN(a1, cid, 2);
    const eve = await login(url, uid('eve'), 'admin');
    const f = await eve.request({ type: 'mark_read', conversation_id: cid, seq: 2 });
    assertError(f, 'forbidden', f.id);
    const nf = await b1.request({ type: 'mark_read', conversation_id: 987654321, seq: 1 });
    assertError(nf, 'not_found', nf.id);
    await a1.expectNone('read_receipt', 300);
    assert.equal((await listed(b, cid)).entry.unread_count, 2);
  });
});

describe('unread_count', () => {
  it('follows mark_read; own messages never count; sending advances the sender\'s position', async () => {
    const { a, b, a1, b1, cid } = await pair();
    await sendN(a1, cid, 3);
    assert.equal((await listed(b, cid)).entry.unread_count, 3);
    assert.equal((await listed(a, cid)).entry.unread_count, 0, 'a\'s own messages');
    await b1.request({ type: 'mark_read', conversation_id: cid, seq: 2 });
    assert.equal((await listed(b, cid)).entry.unread_count, 1);
    await sendMessage(b1, cid, 'reply');
    assert.equal((await listed(b, cid)).entry.unread_count, 0, 'b answered: everything before is read');
    assert.equal((await listed(a, cid)).entry.unread_count, 1, 'b\'s reply is unread for a');
  });

  it('a deleted message no longer counts as unread', async () => {
    const { b, a1, cid } = await pair();
    const [m1] = await sendN(a1, cid, 2);
    assert.equal((await listed(b, cid)).entry.unread_count, 2);
    assert.equal((await a1.request({ type: 'delete_message', message_id: m1.message_id })).type, 'message_deleted');
    assert.equal((await listed(b, cid)).entry.unread_count, 1);
  });
});

describe('read_positions', () => {
  it('a fresh login shows every participant\'s position: after mark_read by one user, the other sees it', async () => {
    const { a, b, a1, b1, cid } = await pair();
    await sendN(a1, cid, 3);
    // sending moved a's own position to its last message
    assert.deepEqual((await listed(b, cid)).entry.read_positions, { [a]: 3, [b]: 0 });
    await b1.request({ type: 'mark_read', conversation_id: cid, seq: 2 });
    const seen = (await listed(a, cid)).entry;
    assertConversation(seen, { read_positions: { [a]: 3, [b]: 2 }, unread_count: 0 });
    // b's own reload shows the same positions, and its unread_count follows its own
    const own = (await listed(b, cid)).entry;
    assertConversation(own, { read_positions: { [a]: 3, [b]: 2 }, unread_count: 1 });
    // a stale mark_read does not move it back; a reply moves b to the end
    await b1.request({ type: 'mark_read', conversation_id: cid, seq: 1 });
    await sendMessage(b1, cid, 'reply');
    assert.deepEqual((await listed(a, cid)).entry.read_positions, { [a]: 3, [b]: 4 });
  });

  it('conversation_created: every participant starts at 0; asking again for a direct one shows the positions as they are', async () => {
    const [a, b, ghost] = [uid('a'), uid('b'), uid('ghost')];
    const a1 = await login(url, a, 'student', { label: 'a1' });
    const b1 = await login(url, b, 'mentor', { label: 'b1' });
    const group = await createConversation(a1, [b, ghost], { kind: 'group' });
    assertConversation(group, { read_positions: { [a]: 0, [b]: 0, [ghost]: 0 } });
    const ev = await b1.next({ type: 'conversation_created' });
    assert.deepEqual(ev.conversation.read_positions, { [a]: 0, [b]: 0, [ghost]: 0 });

    const direct = await createConversation(a1, [b]);
    assert.deepEqual(direct.read_positions, { [a]: 0, [b]: 0 });
    await b1.next((f) => f.type === 'conversation_created' && f.conversation.conversation_id === direct.conversation_id);
    await sendN(a1, direct.conversation_id, 2);
    await b1.request({ type: 'mark_read', conversation_id: direct.conversation_id, seq: 1 });
    const again = await createConversation(b1, [a]);
    assert.equal(again.conversation_id, direct.conversation_id);
    assertConversation(again, { read_positions: { [a]: 2, [b]: 1 }, last_seq: 2, unread_count: 1 });
  });

  it('a conversation of 256 participants lists all 256 positions', async () => {
    const a = uid('big');
    const a1 = await login(url, a, 'student', { label: 'big' });
    const others = Array.from({ length: 255 }, (_, i) => `${a}-p${i}`);
    const conv = await createConversation(a1, others, { kind: 'group' });
    await sendMessage(a1, conv.conversation_id, 'hello all');
    const { entry } = await listed(a, conv.conversation_id);
    assert.equal(Object.keys(entry.read_positions).length, 256);
    assert.equal(entry.read_positions[a], 1);
    assert.equal(entry.read_positions[others[254]], 0);
    assertConversation(entry);
  });
});

describe('offline catch-up', () => {
  it('auth_success has last_seq and unread_count; history {after_seq: last seen} returns exactly what was missed', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const a1 = await login(url, a, 'student', { label: 'a1' });
    const conv = await createConversation(a1, [b]); // b has never connected
    const cid = conv.conversation_id;
    await sendN(a1, cid, 3, 'before');
    let b1 = await login(url, b, 'student', { label: 'b1' });
    let entry = b1.auth.conversations.find((x) => x.conversation_id === cid);
    assert.equal(entry.last_seq, 3);
    assert.equal(entry.unread_count, 3);
    const first = await history(b1, cid, { after_seq: 0 });
    assert.deepEqual(first.messages.map((m) => m.content), ['before0', 'before1', 'before2']);
    assert.equal(first.has_more, false);
    await b1.request({ type: 'mark_read', conversation_id: cid, seq: 3 });
    await b1.close();

    const missed = await sendN(a1, cid, 4, 'while-away');
    b1 = await login(url, b, 'student', { label: 'b1-again' });
    entry = b1.auth.conversations.find((x) => x.conversation_id === cid);
    assert.equal(entry.last_seq, 7);
    assert.equal(entry.unread_count, 4);
    const h = await history(b1, cid, { after_seq: 3 });
    assert.deepEqual(h.messages.map((m) => m.seq), [4, 5, 6, 7]);
    assert.deepEqual(h.messages.map((m) => m.message_id), missed.map((m) => m.message_id));
    assert.equal(h.has_more, false);
    // Paging with a small limit reads the same set, once each.
    const paged = [];
    let after = 3;
    for (;;) {
      const p = await history(b1, cid, { after_seq: after, limit: 3 });
      paged.push(...p.messages);
      if (!p.has_more) break;
      after = p.messages.at(-1).seq;
    }
    assert.deepEqual(paged.map((m) => m.seq), [4, 5, 6, 7]);
    assertGapless(await fullHistory(b1, cid), 7);
  });
});

describe('in-app notifications', () => {
  // Notifications follow presence: chat-svc keeps chat.online from session_open and
  // presence's presence_changed events. Wait until it has heard that `user` left.
  async function waitOffline(user) {
    await eventually(async () => (await stack.sql(`SELECT count(*) FROM chat.online WHERE user_id = '${user}'`)) === '0', {
      timeoutMs: 15000,
      what: `chat-svc learns that ${user} went offline`,
    });
  }

  async function rows(user, cid) {
    return stack.sql(`SELECT string_agg(seq::text, ',' ORDER BY seq) FROM chat.notifications WHERE user_id = '${user}' AND conversation_id = ${cid}`);
  }

  it('a participant who never connected gets a notification row per message', async () => {
    const [a, n] = [uid('a'), uid('never')];
    const a1 = await login(url, a, 'student', { label: 'a1' });
    const conv = await createConversation(a1, [n]);
    await sendN(a1, conv.conversation_id, 2);
    assert.equal(await rows(n, conv.conversation_id), '1,2');
    assert.equal(await rows(a, conv.conversation_id), '', 'never for the sender');
    const n1 = await login(url, n, 'student', { label: 'n1' });
    assert.equal(n1.auth.notification_count, 2);
  });

  it('replying without mark_read: notifications up to the reply no longer count, the next mark_read deletes them', async () => {
    const [a, n] = [uid('a'), uid('away')];
    const a1 = await login(url, a, 'student', { label: 'a1' });
    const conv = await createConversation(a1, [n]);
    const cid = conv.conversation_id;
    await sendN(a1, cid, 2);
    const n1 = await login(url, n, 'student', { label: 'n1' });
    assert.equal(n1.auth.notification_count, 2);
    const reply = await sendMessage(n1, cid, 'back, answering');
    await n1.close();
    const { entry, auth } = await listed(n, cid);
    assert.equal(entry.unread_count, 0, 'sending advanced the read position');
    assert.equal(auth.notification_count, 0, 'so the notifications before it are read');
    assert.equal(await rows(n, cid), '1,2', 'the rows stay until mark_read');
    const n2 = await login(url, n, 'student', { label: 'n2' });
    await n2.request({ type: 'mark_read', conversation_id: cid, seq: reply.seq });
    assert.equal(await rows(n, cid), '', 'mark_read at the current position deletes them');
  });

  it('a connected participant gets none; after they leave they do; mark_read clears them', async () => {
    const { b, a1, b1, cid } = await pair();
    await sendN(a1, cid, 2, 'online');
    assert.equal(await rows(b, cid), '', 'b was connected');
    await b1.close();
    await waitOffline(b);
    await sendN(a1, cid, 3, 'offline');
    assert.equal(await rows(b, cid), '3,4,5');
    const b2 = await login(url, b, 'mentor', { label: 'b2' });
    assert.equal(b2.auth.notification_count, 3, JSON.stringify(b2.auth));
    await b2.request({ type: 'mark_read', conversation_id: cid, seq: 4 });
    assert.equal(await rows(b, cid), '5', 'read ones are cleared');
    await sendMessage(a1, cid, 'while b is back');
    assert.equal(await rows(b, cid), '5', 'b is connected again');
    await b2.close();
    const b3 = await login(url, b, 'mentor', { label: 'b3' });
    assert.equal(b3.auth.notification_count, 1);
  });
});
