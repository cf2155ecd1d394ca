// expect.mjs: assertions on Parley frames that several test files share.
import assert from 'node:assert/strict';
import { ISO_UTC } from './client.mjs';

// An error frame {type:"error", code, message, id?}: the id is present exactly when the
// request had one (id === undefined: the request had none).
export function assertError(frame, code, id) {
  assert.equal(frame.type, 'error', `expected an error frame, got ${JSON.stringify(frame)}`);
  assert.equal(frame.code, code, `expected error code ${code}, got ${JSON.stringify(frame)}`);
  assert.equal(typeof frame.message, 'string', `error.message must be a string: ${JSON.stringify(frame)}`);
  if (id === undefined) {
    assert.ok(!('id' in frame), `error for a request without id must not carry one: ${JSON.stringify(frame)}`);
  } else {
    assert.deepEqual(frame.id, id, `error must echo the request id: ${JSON.stringify(frame)}`);
  }
}

// Send obj (with a fresh id) and assert the answer is error `code`.
export async function expectError(client, obj, code) {
  const f = await client.request(obj);
  assertError(f, code, f.id);
  return f;
}

export function assertIso(v, what = 'timestamp') {
  assert.equal(typeof v, 'string', `${what} must be an ISO 8601 string, got ${JSON.stringify(v)}`);
  assert.match(v, ISO_UTC, `${what} must be ISO 8601 UTC, got ${v}`);
}

export function assertInt(v, what) {
  assert.ok(Number.isInteger(v), `${what} must be an integer, got ${JSON.stringify(v)}`);
}

// A full message object as docs/protocol/chat.md defines it.
export function assertMessage(m, expected = {}) {
  assert.equal(typeof m, 'object', `message must be an object: ${JSON.stringify(m)}`);
  for (const k of ['message_id', 'conversation_id', 'seq', 'sender_id', 'content', 'reply_to_id',
    'attachments', 'created_at', 'edited_at', 'deleted', 'temp_id']) {
    assert.ok(k in m, `message lacks "${k}": ${JSON.stringify(m).slice(0, 300)}`);
  }
  assertInt(m.message_id, 'message_id');
  assertInt(m.conversation_id, 'conversation_id');
  assertInt(m.seq, 'seq');
  assert.equal(typeof m.sender_id, 'string', 'sender_id is a string');
  assert.equal(typeof m.content, 'string', 'content is a string');
  assert.ok(Array.isArray(m.attachments), `attachments must be a list: ${JSON.stringify(m.attachments)}`);
  assertIso(m.created_at, 'created_at');
  assert.equal(m.deleted, false, 'deleted is false for a live message');
  for (const [k, v] of Object.entries(expected)) {
    assert.deepEqual(m[k], v, `message.${k}: ${JSON.stringify(m).slice(0, 300)}`);
  }
}

// A conversation object: {conversation_id, kind, title, participants, last_seq,
// unread_count, read_positions} (read_positions: a seq for every participant).
export function assertConversation(c, expected = {}) {
  for (const k of ['conversation_id', 'kind', 'title', 'participants', 'last_seq', 'unread_count', 'read_positions']) {
    assert.ok(k in c, `conversation lacks "${k}": ${JSON.stringify(c)}`);
  }
  assertInt(c.conversation_id, 'conversation_id');
  assert.ok(['direct', 'group'].includes(c.kind), `kind: ${c.kind}`);
  assert.ok(Array.isArray(c.participants), 'participants is a list');
  assertInt(c.last_seq, 'last_seq');
  assertInt(c.unread_count, 'unread_count');
  assert.deepEqual(Object.keys(c.read_positions).sort(), [...c.participants].sort(), 'read_positions: one per participant');
  for (const [u, seq] of Object.entries(c.read_positions)) {
    assertInt(seq, `read_positions.${u}`);
    assert.ok(seq >= 0 && seq <= c.last_seq, `read_positions.${u} = ${seq} outside 0..last_seq ${c.last_seq}`);
  }
  for (const [k, v] of Object.entries(expected)) {
    if (k === 'participants') {
      assert.deepEqual([...c.participants].sort(), [...v].sort(), 'participants');
    } else {
      assert.deepEqual(c[k], v, `conversation.${k}: ${JSON.stringify(c)}`);
    }
  }
}
