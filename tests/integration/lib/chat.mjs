// chat.mjs: conversation and message helpers on top of client.mjs.
import assert from 'node:assert/strict';
import { DEFAULT_TIMEOUT_MS, login, sleep, uid } from './client.mjs';

// Two new users (roles roleA, roleB), each logged in once at url, in a conversation a
// created and b's connection has seen (so it is subscribed).
// Returns { a, b, ca, cb, cid }, with a1/b1 naming ca/cb too.
export async function twoInConversation(url, roleA = 'student', roleB = 'student') {
  const [a, b] = [uid('a'), uid('b')];
  const ca = await login(url, a, roleA, { label: 'a1' });
  const cb = await login(url, b, roleB, { label: 'b1' });
  const conv = await createConversation(ca, [b]);
  await cb.next('conversation_created');
  return { a, b, ca, cb, a1: ca, b1: cb, cid: conv.conversation_id };
}

// create_conversation; asserts the answer and returns the conversation object.
export async function createConversation(client, participants, extra = {}) {
  const f = await client.request({ type: 'create_conversation', participants, ...extra });
  assert.equal(f.type, 'conversation_created', `create_conversation answered ${JSON.stringify(f)}`);
  assert.ok(f.conversation && typeof f.conversation === 'object', 'conversation_created.conversation');
  return f.conversation;
}

// message; asserts message_sent and returns it.
export async function sendMessage(client, conversationId, content, extra = {}) {
  const f = await client.request({ type: 'message', conversation_id: conversationId, content, ...extra });
  assert.equal(f.type, 'message_sent', `message answered ${JSON.stringify(f).slice(0, 300)}`);
  return f;
}

// history; asserts the answer shape and returns it.
export async function history(client, conversationId, opts = {}) {
  const f = await client.request({ type: 'history', conversation_id: conversationId, ...opts });
  assert.equal(f.type, 'history', `history answered ${JSON.stringify(f).slice(0, 300)}`);
  assert.equal(f.conversation_id, conversationId, 'history.conversation_id');
  assert.ok(Array.isArray(f.messages), 'history.messages is a list');
  assert.equal(typeof f.has_more, 'boolean', 'history.has_more is a boolean');
  return f;
}

// Every message of a conversation, paging forward with after_seq.
export async function fullHistory(client, conversationId) {
  const out = [];
  let after = 0;
  for (let i = 0; i < 1000; i++) {
    const h = await history(client, conversationId, { after_seq: after, limit: 200 });
    out.push(...h.messages);
    if (!h.has_more || h.messages.length === 0) break;
    after = h.messages[h.messages.length - 1].seq;
  }
  return out;
}

// Assert seqs are exactly 1..n, ascending, no duplicates.
export function assertGapless(messages, n) {
  const seqs = messages.map((m) => m.seq);
  assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i + 1), 'seq must be 1..n with no gap or duplicate');
  const ids = new Set(messages.map((m) => m.message_id));
  assert.equal(ids.size, messages.length, 'message ids are unique');
}

// Send many frames without awaiting each answer; resolves to the answers in send order.
export async function pipeline(client, frames, timeoutMs = DEFAULT_TIMEOUT_MS * 3) {
  const waits = frames.map((frame) => {
    const msg = { ...frame };
    if (!('id' in msg)) msg.id = `${client.label}-${client.nextId++}`;
    const p = client.next((f) => f && f.id === msg.id, timeoutMs);
    client.send(msg);
    return p;
  });
  return Promise.all(waits);
}

// Collect frames matching pred on client until `count` are in; returns them.
export async function collect(client, pred, count, timeoutMs = DEFAULT_TIMEOUT_MS * 3) {
  const out = [];
  const end = Date.now() + timeoutMs;
  while (out.length < count) {
    const left = end - Date.now();
    if (left <= 0) break;
    try {
      out.push(await client.next(pred, left));
    } catch (e) {
      throw new Error(`${client.label}: got ${out.length} of ${count} frames: ${e.message.slice(0, 400)}`);
    }
  }
  if (out.length < count) throw new Error(`${client.label}: got ${out.length} of ${count} frames`);
  return out;
}

// Wait until a conversation's events reach every connection in `others`. The gateway
// subscribes a connection's conversation topic when conversation_created passes
// through, and that subscription takes a moment to reach the publishers; an event
// published before then is not delivered live (clients recover by history). A
// harmless mark_read {seq: 0} from `actor` is repeated until each other connection
// hears its read_receipt; the receipts are then drained.
export async function settle(actor, others, cid) {
  for (const o of others) {
    for (let i = 0; ; i++) {
      actor.send({ type: 'mark_read', conversation_id: cid, seq: 0 });
      try {
        await o.next('read_receipt', 250);
        break;
      } catch (e) {
        if (i > 40) throw e;
      }
    }
  }
  await sleep(300);
  for (const x of [actor, ...others]) x.drain('read_receipt');
}
