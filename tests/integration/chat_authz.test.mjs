// Chat: authorization for every chat event. A non-participant gets forbidden whatever
// the role (admins included: no role reaches into conversations it is not part of);
// editing or deleting someone else's message is forbidden even for a participant;
// unknown conversation or message ids are not_found. A refused request changes
// nothing and nobody hears of it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, sleep, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { fullHistory, sendMessage, twoInConversation } from './lib/chat.mjs';

let stack;
let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

const UNKNOWN = 987654321;
const CHAT_EVENTS = ['new_message', 'message_updated', 'message_deleted', 'reaction', 'user_typing',
  'read_receipt', 'conversation_created'];

// Every chat event that names a conversation, with a valid body for conversation cid.
const convEvents = (cid) => [
  { type: 'subscribe_conversation', conversation_id: cid },
  { type: 'message', conversation_id: cid, content: 'let me in' },
  { type: 'send_message', conversation_id: cid, content: 'let me in' },
  // membership is decided first: a reply target says nothing about the conversation
  { type: 'message', conversation_id: cid, content: 'let me in', reply_to_id: UNKNOWN },
  { type: 'send_message', conversation_id: cid, content: 'let me in', reply_to_id: UNKNOWN, temp_id: 'eve-1' },
  { type: 'history', conversation_id: cid },
  { type: 'history', conversation_id: cid, after_seq: 0 },
  { type: 'typing_start', conversation_id: cid },
  { type: 'user_typing', conversation_id: cid },
  { type: 'typing_stop', conversation_id: cid },
  { type: 'user_stopped_typing', conversation_id: cid },
  { type: 'mark_read', conversation_id: cid, seq: 1 },
];

// Every chat event that names a message.
const msgEvents = (mid) => [
  { type: 'edit_message', message_id: mid, content: 'mine now' },
  { type: 'delete_message', message_id: mid },
  { type: 'react', message_id: mid, emoji: '👀' },
  { type: 'unreact', message_id: mid, emoji: '👀' },
];

async function setting() {
  const { a, b, a1, b1, cid } = await twoInConversation(url, 'student', 'mentor');
  const conv = { conversation_id: cid };
  const sent = await sendMessage(a1, conv.conversation_id, 'private');
  await sleep(200);
  a1.drain();
  b1.drain();
  return { a, b, a1, b1, cid: conv.conversation_id, mid: sent.message_id };
}

describe('non-participants', () => {
  it('unsubscribe_conversation answers unsubscribed for any id and changes nothing for the participants', async () => {
    const { a1, b1, cid } = await setting();
    const eve = await login(url, uid('eve'), 'student');
    for (const id of [cid, UNKNOWN]) {
      const f = await eve.request({ type: 'unsubscribe_conversation', conversation_id: id });
      assert.deepEqual({ type: f.type, conversation_id: f.conversation_id }, { type: 'unsubscribed', conversation_id: id },
        'the same answer whether or not the conversation exists: nothing is revealed');
    }
    await sendMessage(a1, cid, 'still private');
    const got = await b1.next('new_message');
    assert.equal(got.message.content, 'still private');
    await eve.expectNone((f) => CHAT_EVENTS.includes(f.type), 300);
  });

  for (const role of ['student', 'mentor', 'admin']) {
    it(`a ${role} who is not a participant → forbidden for every conversation and message event`, async () => {
      const { a1, b1, cid, mid } = await setting();
      const eve = await login(url, uid(`eve-${role}`), role);
      for (const frame of [...convEvents(cid), ...msgEvents(mid)]) {
        const f = await eve.request(frame);
        assertError(f, 'forbidden', f.id);
      }
      for (const x of [a1, b1]) await x.expectNone((f) => CHAT_EVENTS.includes(f.type), 300);
      const msgs = await fullHistory(a1, cid);
      assert.equal(msgs.length, 1);
      assert.equal(msgs[0].content, 'private');
      assert.deepEqual(msgs[0].reactions, []);
      const again = await login(url, eve.auth.user_id, role);
      assert.deepEqual(again.auth.conversations, [], 'nothing was created for eve');
    });
  }
});

describe('participants who are not the sender', () => {
  it('edit_message and delete_message of another participant\'s message → forbidden; react/unreact are allowed', async () => {
    const { a1, b1, cid, mid } = await setting();
    for (const frame of msgEvents(mid).slice(0, 2)) {
      const f = await b1.request(frame);
      assertError(f, 'forbidden', f.id);
    }
    assert.equal((await b1.request({ type: 'react', message_id: mid, emoji: '👀' })).type, 'reaction');
    assert.equal((await b1.request({ type: 'unreact', message_id: mid, emoji: '👀' })).type, 'reaction');
    const [m] = await fullHistory(a1, cid);
    assert.equal(m.content, 'private');
    assert.equal(m.deleted, false);
    assert.equal(m.edited_at, null);
  });
});

describe('unknown ids', () => {
  it('every conversation event with an unknown conversation_id → not_found', async () => {
    const { a1 } = await setting();
    for (const frame of convEvents(UNKNOWN)) {
      const f = await a1.request(frame);
      assertError(f, 'not_found', f.id);
    }
  });

  it('every message event with an unknown message_id → not_found', async () => {
    const { a1 } = await setting();
    for (const frame of msgEvents(UNKNOWN)) {
      const f = await a1.request(frame);
      assertError(f, 'not_found', f.id);
    }
  });

  it('ids out of range or of the wrong type → bad_request, never internal', async () => {
    const { a1 } = await setting();
    for (const bad of [0, -1, '1', 1.5, 2 ** 64, null, true]) {
      for (const frame of [...convEvents(bad), ...msgEvents(bad)]) {
        const f = await a1.request(frame);
        assertError(f, 'bad_request', f.id);
      }
    }
    for (const frame of [...convEvents(2 ** 53), ...msgEvents(2 ** 53)]) {
      const f = await a1.request(frame); // large but valid integers
      assertError(f, 'not_found', f.id);
    }
  });
});

describe('before authentication', () => {
  it('every chat event → unauthenticated', async () => {
    const { open } = await import('./lib/client.mjs');
    const c = await open(url, { label: 'anon' });
    for (const frame of [...convEvents(1), ...msgEvents(1), { type: 'create_conversation', participants: ['x'] }]) {
      const f = await c.request(frame);
      assertError(f, 'unauthenticated', f.id);
    }
  });
});
