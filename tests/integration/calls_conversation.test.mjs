// A call's conversation_id (docs/protocol/calls.md: "A `conversation_id` must be a
// conversation of both caller and callee, else `forbidden`"). call-svc owns calls, chat-svc owns
// conversations: call-svc asks chat-svc at the moment of the call
// (conversation_members), so a conversation created a moment ago counts. Both
// parties participants → the call rings and incoming_call carries the id; the caller
// or the callee not a participant, or an unknown id → forbidden, and nothing rings.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, uid, waitOnline } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { createConversation } from './lib/chat.mjs';

let stack;
let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

// Three connected users: caller a, callee b, outsider c.
async function three() {
  const [a, b, c] = [uid('a'), uid('b'), uid('c')];
  const a1 = await login(url, a, 'student', { label: 'a1' });
  const b1 = await login(url, b, 'mentor', { label: 'b1' });
  const c1 = await login(url, c, 'student', { label: 'c1' });
  await waitOnline(a1, b); // b is a mentor: visible to a1; else the call ends `offline`
  return { a, b, c, a1, b1, c1 };
}

const isIncoming = (f) => f && f.type === 'incoming_call';

describe('initiate_call with a conversation_id', () => {
  it('caller and callee both participants: the call rings, incoming_call carries the id', async () => {
    const { b, a1, b1 } = await three();
    const conv = await createConversation(a1, [b]); // created just now
    const f = await a1.request({ type: 'initiate_call', callee_id: b, media: 'audio', conversation_id: conv.conversation_id });
    assert.equal(f.type, 'call_initiated', JSON.stringify(f));
    const ev = await b1.next(isIncoming);
    assert.equal(ev.call_id, f.call_id);
    assert.equal(ev.conversation_id, conv.conversation_id);
    await a1.request({ type: 'end_call', call_id: f.call_id });
  });

  it('in a group conversation of both: rings too', async () => {
    const { b, c, a1, b1 } = await three();
    const conv = await createConversation(a1, [b, c], { kind: 'group' });
    const f = await a1.request({ type: 'initiate_call', callee_id: b, media: 'video', conversation_id: conv.conversation_id });
    assert.equal(f.type, 'call_initiated', JSON.stringify(f));
    assert.equal((await b1.next(isIncoming)).conversation_id, conv.conversation_id);
    await a1.request({ type: 'end_call', call_id: f.call_id });
  });

  it('the caller not a participant: forbidden, nothing rings', async () => {
    const { a, b, c, b1, c1 } = await three();
    const conv = await createConversation(c1, [b]); // b and c, without a
    const a2 = await login(url, a, 'student', { label: 'a2' });
    const f = await a2.request({ type: 'initiate_call', callee_id: b, media: 'audio', conversation_id: conv.conversation_id });
    assertError(f, 'forbidden', f.id);
    assert.match(f.message, /^conversation_id: /);
    await b1.expectNone(isIncoming, 300);
  });

  it('the callee not a participant: forbidden, nothing rings', async () => {
    const { b, c, a1, b1 } = await three();
    const conv = await createConversation(a1, [c]); // a and c, without b
    const f = await a1.request({ type: 'initiate_call', callee_id: b, media: 'audio', conversation_id: conv.conversation_id });
    assertError(f, 'forbidden', f.id);
    await b1.expectNone(isIncoming, 300);
  });

  it('an unknown conversation id: forbidden (not yours is not yours)', async () => {
    const { b, a1, b1 } = await three();
    const f = await a1.request({ type: 'initiate_call', callee_id: b, media: 'audio', conversation_id: 987654321 });
    assertError(f, 'forbidden', f.id);
    await b1.expectNone(isIncoming, 300);
  });

  it('without conversation_id nothing is asked of chat: strangers can still call', async () => {
    const { b, a1, b1 } = await three();
    const f = await a1.request({ type: 'initiate_call', callee_id: b, media: 'audio' });
    assert.equal(f.type, 'call_initiated', JSON.stringify(f));
    assert.equal((await b1.next(isIncoming)).conversation_id, null);
    await a1.request({ type: 'end_call', call_id: f.call_id });
  });

  it('chat-svc down: unavailable, not a guess', async () => {
    const { b, a1 } = await three();
    const conv = await createConversation(a1, [b]);
    await stack.kill('chat', 'SIGKILL');
    try {
      const f = await a1.request({ type: 'initiate_call', callee_id: b, media: 'audio', conversation_id: conv.conversation_id });
      assertError(f, 'unavailable', f.id);
    } finally {
      await stack.restart('chat');
    }
  });
});
