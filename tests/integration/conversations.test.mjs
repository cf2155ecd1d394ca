// Conversations: create_conversation (direct is unique, group with title), who gets
// conversation_created and is subscribed, subscribe/unsubscribe, and the errors for
// non-participants and unknown conversations.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, uid } from './lib/client.mjs';
import { assertConversation, assertError } from './lib/expect.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';

let stack;
let url;
useStack(undefined, (s) => ((stack = s), (url = s.url())));

describe('direct conversations', () => {
  it('create direct: answer, the peer and the creator\'s other device get conversation_created', async () => {
    const a = uid('a');
    const b = uid('b');
    const a1 = await login(url, a, 'student', { label: 'a1' });
    const a2 = await login(url, a, 'student', { label: 'a2' });
    const b1 = await login(url, b, 'mentor', { label: 'b1' });
    const ans = await a1.request({ type: 'create_conversation', participants: [b], kind: 'direct', id: 'cc-1' });
    assert.equal(ans.type, 'conversation_created', JSON.stringify(ans));
    assert.equal(ans.id, 'cc-1');
    assertConversation(ans.conversation, { kind: 'direct', participants: [a, b], last_seq: 0, unread_count: 0 });
    const cid = ans.conversation.conversation_id;
    for (const c of [a2, b1]) {
      const ev = await c.next('conversation_created');
      assert.ok(!('id' in ev), 'an event carries no request id');
      assertConversation(ev.conversation, { conversation_id: cid, kind: 'direct', participants: [a, b] });
    }
    await a1.expectNone('conversation_created', 300);
  });

  it('a direct conversation between the same two users is unique and returned again', async () => {
    const a = uid('a');
    const b = uid('b');
    const ca = await login(url, a, 'student');
    const cb = await login(url, b, 'student');
    const first = await createConversation(ca, [b], { kind: 'direct' });
    const again = await createConversation(ca, [b], { kind: 'direct' });
    assert.equal(again.conversation_id, first.conversation_id, 'same creator again');
    const reverse = await createConversation(cb, [a], { kind: 'direct' });
    assert.equal(reverse.conversation_id, first.conversation_id, 'the other user creating it');
    const withSelf = await createConversation(ca, [a, b], { kind: 'direct' });
    assert.equal(withSelf.conversation_id, first.conversation_id, 'listing oneself changes nothing');
    assertConversation(withSelf, { kind: 'direct', participants: [a, b] });
  });

  it('the sender is always a participant; conversations may include users who never connected', async () => {
    const a = uid('a');
    const ghost = uid('ghost');
    const ca = await login(url, a, 'student');
    const conv = await createConversation(ca, [ghost], { kind: 'direct' });
    assertConversation(conv, { participants: [a, ghost] });
    await sendMessage(ca, conv.conversation_id, 'hello ghost');
    // The ghost connects later: the conversation is listed at auth.
    const cg = await login(url, ghost, 'student');
    const listed = cg.auth.conversations.find((c) => c.conversation_id === conv.conversation_id);
    assert.ok(listed, `auth_success lists the conversation: ${JSON.stringify(cg.auth.conversations)}`);
    assertConversation(listed, { kind: 'direct', participants: [a, ghost], last_seq: 1 });
  });
});

describe('group conversations', () => {
  it('group with title: every participant gets conversation_created and is subscribed', async () => {
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    const ghost = uid('ghost');
    const ca = await login(url, a, 'mentor');
    const cb = await login(url, b, 'student');
    const cc = await login(url, c, 'student');
    const conv = await createConversation(ca, [b, c, ghost], { kind: 'group', title: 'Study group ✏️' });
    assertConversation(conv, { kind: 'group', title: 'Study group ✏️', participants: [a, b, c, ghost] });
    for (const x of [cb, cc]) {
      const ev = await x.next('conversation_created');
      assertConversation(ev.conversation, { conversation_id: conv.conversation_id, kind: 'group', title: 'Study group ✏️' });
    }
    // Subscribed without asking: a message reaches both.
    const sent = await sendMessage(ca, conv.conversation_id, 'welcome');
    for (const x of [cb, cc]) {
      const ev = await x.next('new_message');
      assert.equal(ev.message.message_id, sent.message_id);
    }
  });

  it('a later connection lists the group in auth_success', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await login(url, a, 'student');
    const conv = await createConversation(ca, [b], { kind: 'group', title: 'Two of us' });
    const cb = await login(url, b, 'student');
    const listed = cb.auth.conversations.find((x) => x.conversation_id === conv.conversation_id);
    assert.ok(listed, JSON.stringify(cb.auth.conversations));
    assertConversation(listed, { kind: 'group', title: 'Two of us', participants: [a, b], last_seq: 0, unread_count: 0 });
    // ... and is subscribed to it at auth.
    await sendMessage(ca, conv.conversation_id, 'hi');
    assert.equal((await cb.next('new_message')).message.content, 'hi');
  });
});

describe('subscribe / unsubscribe', () => {
  it('subscribe → subscribed; unsubscribe → unsubscribed and no more events there', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await login(url, a, 'student');
    const b1 = await login(url, b, 'student', { label: 'b1' });
    const b2 = await login(url, b, 'student', { label: 'b2' });
    const conv = await createConversation(ca, [b]);
    await b1.next('conversation_created');
    await b2.next('conversation_created');
    const cid = conv.conversation_id;

    const s = await b1.request({ type: 'subscribe_conversation', conversation_id: cid });
    assert.equal(s.type, 'subscribed');
    assert.equal(s.conversation_id, cid);

    const u = await b1.request({ type: 'unsubscribe_conversation', conversation_id: cid });
    assert.equal(u.type, 'unsubscribed');
    assert.equal(u.conversation_id, cid);
    const m1 = await sendMessage(ca, cid, 'only b2 sees this');
    assert.equal((await b2.next('new_message')).message.message_id, m1.message_id);
    await b1.expectNone('new_message', 700);

    await b1.request({ type: 'subscribe_conversation', conversation_id: cid });
    const m2 = await sendMessage(ca, cid, 'both see this');
    assert.equal((await b1.next('new_message')).message.message_id, m2.message_id);
    assert.equal((await b2.next('new_message')).message.message_id, m2.message_id);
  });

  it('a non-participant cannot subscribe (forbidden) and receives nothing', async () => {
    const [a, b, eve] = [uid('a'), uid('b'), uid('eve')];
    const ca = await login(url, a, 'student');
    const ce = await login(url, eve, 'admin');
    const conv = await createConversation(ca, [b]);
    const f = await ce.request({ type: 'subscribe_conversation', conversation_id: conv.conversation_id });
    assertError(f, 'forbidden', f.id);
    await sendMessage(ca, conv.conversation_id, 'secret');
    await ce.expectNone('new_message', 700);
  });

  it('subscribe to an unknown conversation → not_found', async () => {
    const c = await login(url, uid('x'), 'student');
    const f = await c.request({ type: 'subscribe_conversation', conversation_id: 987654321 });
    assertError(f, 'not_found', f.id);
  });
});

describe('validation', () => {
  it('create_conversation: missing or ill-typed participants, bad kind → bad_request', async () => {
    const c = await login(url, uid('v'), 'student');
    for (const frame of [
      { type: 'create_conversation' },
      { type: 'create_conversation', participants: null },
      { type: 'create_conversation', participants: 'bob' },
      { type: 'create_conversation', participants: [{}] },
      { type: 'create_conversation', participants: ['bob'], kind: 'channel' },
      { type: 'create_conversation', participants: ['bob'], kind: 'group', title: ['t'] },
    ]) {
      const f = await c.request(frame);
      assertError(f, 'bad_request', f.id);
    }
  });
});
