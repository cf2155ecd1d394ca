// history paging (newest page, before_seq, after_seq, both, limit default 50 and clamp
// to 200, has_more) and what auth_success says about each conversation (last_seq,
// unread_count) so a client can catch up. Rate limiting is off in this stack
// (RATE_LIMIT_PER_S=0) to fill a conversation quickly.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './lib/stack.mjs';
import { login, uid } from './lib/client.mjs';
import { assertError, assertMessage } from './lib/expect.mjs';
import { createConversation, history, pipeline } from './lib/chat.mjs';

const N = 250;
let stack;
let url;
let a;
let b;
let ca;
let cid;
const contentBySeq = new Map();

before(async () => {
  stack = await startStack({ env: { RATE_LIMIT_PER_S: '0' } });
  url = stack.url();
  a = uid('a');
  b = uid('b');
  ca = await login(url, a, 'student');
  cid = (await createConversation(ca, [b], { kind: 'direct' })).conversation_id;
  const sent = await pipeline(
    ca,
    Array.from({ length: N }, (_, i) => ({ type: 'message', conversation_id: cid, content: `m${i}`, temp_id: `t${i}` })),
    60000,
  );
  for (const [i, s] of sent.entries()) {
    assert.equal(s.type, 'message_sent', JSON.stringify(s));
    contentBySeq.set(s.seq, { message_id: s.message_id, content: `m${i}` });
  }
  assert.equal(contentBySeq.size, N);
});
after(async () => {
  await stack?.stop();
});

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function assertPage(h, seqs, hasMore) {
  assert.deepEqual(h.messages.map((m) => m.seq), seqs, 'seqs of the page, ascending');
  assert.equal(h.has_more, hasMore, 'has_more');
  for (const m of h.messages) {
    const sent = contentBySeq.get(m.seq);
    assert.ok(sent, `seq ${m.seq} was never acknowledged`);
    assertMessage(m, { conversation_id: cid, sender_id: a, message_id: sent.message_id, content: sent.content });
  }
}

describe('history paging', () => {
  it('neither bound: the newest page, default limit 50, ascending', async () => {
    assertPage(await history(ca, cid), range(N - 49, N), true);
  });

  it('limit: the newest `limit`; limit 1', async () => {
    assertPage(await history(ca, cid, { limit: 10 }), range(N - 9, N), true);
    assertPage(await history(ca, cid, { limit: 1 }), [N], true);
    assertPage(await history(ca, cid, { limit: N }), range(N - 199, N), true);
  });

  it('a limit above 200 is clamped to 200', async () => {
    const h = await history(ca, cid, { limit: 100000 });
    assert.equal(h.messages.length, 200);
    assertPage(h, range(N - 199, N), true);
  });

  it('before_seq: the newest page before it', async () => {
    assertPage(await history(ca, cid, { before_seq: 11, limit: 5 }), range(6, 10), true);
    assertPage(await history(ca, cid, { before_seq: 6, limit: 5 }), range(1, 5), false);
    assertPage(await history(ca, cid, { before_seq: 4, limit: 5 }), range(1, 3), false);
    assertPage(await history(ca, cid, { before_seq: 1 }), [], false);
    assertPage(await history(ca, cid, { before_seq: 101 }), range(51, 100), true);
  });

  it('after_seq: the oldest page after it (catch-up)', async () => {
    assertPage(await history(ca, cid, { after_seq: 0, limit: 5 }), range(1, 5), true);
    assertPage(await history(ca, cid, { after_seq: 100 }), range(101, 150), true);
    assertPage(await history(ca, cid, { after_seq: N - 5 }), range(N - 4, N), false);
    assertPage(await history(ca, cid, { after_seq: N - 5, limit: 5 }), range(N - 4, N), false);
    assertPage(await history(ca, cid, { after_seq: N }), [], false);
    assertPage(await history(ca, cid, { after_seq: N + 100 }), [], false);
  });

  it('both: the range between them, oldest first, has_more within the range', async () => {
    assertPage(await history(ca, cid, { after_seq: 10, before_seq: 20 }), range(11, 19), false);
    assertPage(await history(ca, cid, { after_seq: 10, before_seq: 20, limit: 5 }), range(11, 15), true);
    assertPage(await history(ca, cid, { after_seq: 10, before_seq: 16, limit: 5 }), range(11, 15), false);
    assertPage(await history(ca, cid, { after_seq: 10, before_seq: 11 }), [], false);
    assertPage(await history(ca, cid, { after_seq: 0, before_seq: N + 1, limit: 1000 }), range(1, 200), true);
  });

  it('paging forward with after_seq reads every message exactly once', async () => {
    const seen = [];
    let after = 0;
    for (;;) {
      const h = await history(ca, cid, { after_seq: after, limit: 37 });
      seen.push(...h.messages);
      if (!h.has_more) break;
      after = h.messages.at(-1).seq;
    }
    assert.deepEqual(seen.map((m) => m.seq), range(1, N));
    for (const m of seen) assert.equal(m.content, contentBySeq.get(m.seq).content);
  });

  it('paging backward with before_seq reads every message exactly once', async () => {
    const pages = [];
    let before = null;
    for (;;) {
      const h = await history(ca, cid, before === null ? { limit: 64 } : { before_seq: before, limit: 64 });
      pages.unshift(...h.messages);
      if (!h.has_more) break;
      before = h.messages[0].seq;
    }
    assert.deepEqual(pages.map((m) => m.seq), range(1, N));
  });

  it('an empty conversation: no messages, has_more false', async () => {
    const other = await createConversation(ca, [uid('empty')]);
    assertPage(await history(ca, other.conversation_id), [], false);
    assertPage(await history(ca, other.conversation_id, { after_seq: 0 }), [], false);
  });

  it('the other participant reads the same history', async () => {
    const cb = await login(url, b, 'mentor');
    assertPage(await history(cb, cid, { after_seq: 0, limit: 3 }), [1, 2, 3], true);
  });

  it('ill-typed or out-of-range paging values → bad_request', async () => {
    for (const extra of [{ limit: 'ten' }, { limit: -1 }, { before_seq: 'x' }, { after_seq: -1 }, { after_seq: 1.5 }]) {
      const f = await ca.request({ type: 'history', conversation_id: cid, ...extra });
      assertError(f, 'bad_request', f.id);
    }
  });
});

describe('auth_success for catch-up', () => {
  it('lists each conversation with last_seq', async () => {
    for (const [user, role] of [[a, 'student'], [b, 'mentor']]) {
      const c = await login(url, user, role);
      const conv = c.auth.conversations.find((x) => x.conversation_id === cid);
      assert.ok(conv, `${user}: ${JSON.stringify(c.auth.conversations)}`);
      assert.equal(conv.last_seq, N);
      assert.equal(conv.kind, 'direct');
      assert.deepEqual([...conv.participants].sort(), [a, b].sort());
    }
  });

  it('unread_count: the sender\'s own messages never count; the reader has all unread', async () => {
    const cA = await login(url, a, 'student');
    const cB = await login(url, b, 'mentor');
    assert.equal(cA.auth.conversations.find((x) => x.conversation_id === cid).unread_count, 0);
    assert.equal(cB.auth.conversations.find((x) => x.conversation_id === cid).unread_count, N);
  });

  it('a client that was offline catches up exactly with after_seq = its last seen seq', async () => {
    const cB = await login(url, b, 'mentor');
    const lastSeen = cB.auth.conversations.find((x) => x.conversation_id === cid).last_seq;
    cB.close();
    const more = await pipeline(ca, [1, 2, 3].map((i) => ({ type: 'message', conversation_id: cid, content: `late${i}` })));
    for (const [i, m] of more.entries()) contentBySeq.set(m.seq, { message_id: m.message_id, content: `late${i + 1}` });
    const back = await login(url, b, 'mentor');
    const conv = back.auth.conversations.find((x) => x.conversation_id === cid);
    assert.equal(conv.last_seq, lastSeen + 3);
    const h = await history(back, cid, { after_seq: lastSeen });
    assertPage(h, range(lastSeen + 1, lastSeen + 3), false);
    assert.deepEqual(h.messages.map((m) => m.content).sort(), ['late1', 'late2', 'late3']);
  });
});
