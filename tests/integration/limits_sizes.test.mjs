// The contract's size limits are configurable (docs/protocol/basics.md, "Limits
// (defaults; environment variables)"): MESSAGE_MAX_CHARS, STATUS_MESSAGE_MAX_CHARS and
// SIGNAL_MAX_BYTES, read by the gateway. Set small here; one over each is too_large,
// exactly each is accepted. The defaults (16384, 140, 64 KiB) are tested elsewhere
// (messages, presence, calls).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { createConversation, sendMessage, twoInConversation } from './lib/chat.mjs';

const CONTENT = 10;
const STATUS = 5;
const SIGNAL = 40;
let stack;
let url;
useStack(() => ({
    env: {
      RATE_LIMIT_PER_S: '0',
      MESSAGE_MAX_CHARS: String(CONTENT),
      STATUS_MESSAGE_MAX_CHARS: String(STATUS),
      SIGNAL_MAX_BYTES: String(SIGNAL),
      // timers far below their defaults, as a test harness sets them (README.md)
      TYPING_TTL_MS: '50',
      RING_TIMEOUT_MS: '50',
      HELP_TIMEOUT_MS: '50',
    },
  }), (s) => ((stack = s), (url = s.url())));

describe('configured size limits', () => {
  it(`MESSAGE_MAX_CHARS=${CONTENT}: message and edit_message content, counted in characters`, async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await login(url, a);
    const conv = await createConversation(ca, [b]);
    const cid = conv.conversation_id;
    const over = await ca.request({ type: 'message', conversation_id: cid, content: 'x'.repeat(CONTENT + 1) });
    assertError(over, 'too_large', over.id);
    const alias = await ca.request({ type: 'send_message', conversation_id: cid, content: 'x'.repeat(CONTENT + 1) });
    assertError(alias, 'too_large', alias.id);
    const sent = await sendMessage(ca, cid, '😀'.repeat(CONTENT)); // ten characters, forty bytes
    assert.equal(sent.seq, 1);
    const edit = await ca.request({ type: 'edit_message', message_id: sent.message_id, content: 'y'.repeat(CONTENT + 1) });
    assertError(edit, 'too_large', edit.id);
    const ok = await ca.request({ type: 'edit_message', message_id: sent.message_id, content: 'y'.repeat(CONTENT) });
    assert.equal(ok.type, 'message_updated', JSON.stringify(ok));
  });

  it(`STATUS_MESSAGE_MAX_CHARS=${STATUS}: set_status and mentor_available`, async () => {
    const m = await login(url, uid('m'), 'mentor');
    const over = await m.request({ type: 'set_status', status: 'busy', status_message: 'x'.repeat(STATUS + 1) });
    assertError(over, 'too_large', over.id);
    const over2 = await m.request({ type: 'mentor_available', status_message: 'x'.repeat(STATUS + 1) });
    assertError(over2, 'too_large', over2.id);
    const ok = await m.request({ type: 'set_status', status: 'busy', status_message: 'x'.repeat(STATUS) });
    assert.notEqual(ok.type, 'error', JSON.stringify(ok));
  });

  it(`SIGNAL_MAX_BYTES=${SIGNAL}: call_signal's JSON text`, async () => {
    const c = await login(url, uid('c'));
    const pad = (n) => ({ sdp: 'v'.repeat(n - '{"sdp":""}'.length) });
    const over = await c.request({ type: 'call_signal', call_id: 987654, signal: pad(SIGNAL + 1) });
    assertError(over, 'too_large', over.id);
    // exactly at the limit the gateway passes it on: call-svc answers for the unknown call
    const at = await c.request({ type: 'call_signal', call_id: 987654, signal: pad(SIGNAL) });
    assertError(at, 'not_found', at.id);
  });

  it('timers accept values under 100 ms: TYPING_TTL_MS=50 expires a typing indicator at once', async () => {
    const { ca, cb, cid } = await twoInConversation(url);
    await ca.request({ type: 'typing_start', conversation_id: cid });
    assert.equal((await cb.next('user_typing')).is_typing, true);
    assert.equal((await cb.next('user_typing', 5000)).is_typing, false);
  });
});
