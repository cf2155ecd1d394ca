// Messages: message / send_message, who gets message_sent and new_message, the message
// object, content limits (code points), reply_to_id, attachments, temp_id idempotency,
// permissions, and gapless seq under concurrent senders.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, uid } from './lib/client.mjs';
import { assertError, assertInt, assertIso, assertMessage } from './lib/expect.mjs';
import { assertGapless, collect, createConversation, fullHistory, history, pipeline, sendMessage } from './lib/chat.mjs';

let stack;
let url;
useStack(undefined, (s) => ((stack = s), (url = s.url())));

// A direct conversation between a (2 devices) and b (2 devices), all subscribed.
async function pair() {
  const [a, b] = [uid('a'), uid('b')];
  const a1 = await login(url, a, 'student', { label: 'a1' });
  const a2 = await login(url, a, 'student', { label: 'a2' });
  const b1 = await login(url, b, 'mentor', { label: 'b1' });
  const b2 = await login(url, b, 'mentor', { label: 'b2' });
  const conv = await createConversation(a1, [b], { kind: 'direct' });
  for (const c of [a2, b1, b2]) await c.next('conversation_created');
  // A new conversation's topic subscription travels gateway → broker → chat-svc while
  // the test races ahead; confirming it through chat-svc (as a client that wants
  // live events right away would) closes that window. Missed events are otherwise
  // recovered by history, which the contract allows (delivery is at-least-once via seq).
  for (const c of [a2, b1, b2]) {
    const f = await c.request({ type: 'subscribe_conversation', conversation_id: conv.conversation_id });
    assert.equal(f.type, 'subscribed', JSON.stringify(f));
  }
  return { a, b, a1, a2, b1, b2, cid: conv.conversation_id };
}

describe('sending', () => {
  it('message → message_sent to the sender; new_message to every other connection, sender\'s other device included', async () => {
    const { a, a1, a2, b1, b2, cid } = await pair();
    const ans = await a1.request({ type: 'message', id: 42, conversation_id: cid, content: 'hello there', temp_id: 'tmp-1' });
    assert.equal(ans.type, 'message_sent', JSON.stringify(ans));
    assert.equal(ans.id, 42);
    assertInt(ans.message_id, 'message_id');
    assert.equal(ans.temp_id, 'tmp-1');
    assert.equal(ans.conversation_id, cid);
    assert.equal(ans.seq, 1);
    assertIso(ans.created_at, 'created_at');
    for (const c of [a2, b1, b2]) {
      const ev = await c.next('new_message');
      assert.ok(!('id' in ev), 'events carry no request id');
      assertMessage(ev.message, {
        message_id: ans.message_id,
        conversation_id: cid,
        seq: 1,
        sender_id: a,
        content: 'hello there',
        reply_to_id: null,
        edited_at: null,
        temp_id: 'tmp-1',
        created_at: ans.created_at,
      });
    }
    await a1.expectNone('new_message', 500);
  });

  it('send_message is an alias of message', async () => {
    const { a1, b1, cid } = await pair();
    const ans = await a1.request({ type: 'send_message', conversation_id: cid, content: 'via alias' });
    assert.equal(ans.type, 'message_sent', JSON.stringify(ans));
    assert.equal((await b1.next('new_message')).message.content, 'via alias');
  });

  it('without temp_id: message_sent and new_message still come (temp_id null or absent)', async () => {
    const { a1, b1, cid } = await pair();
    const ans = await sendMessage(a1, cid, 'no temp id');
    assert.ok(ans.temp_id === null || ans.temp_id === undefined, JSON.stringify(ans));
    const ev = await b1.next('new_message');
    assertMessage(ev.message, { message_id: ans.message_id, temp_id: null });
  });

  it('seq is 1, 2, 3 … per conversation, whoever sends', async () => {
    const { a1, b1, b2, cid } = await pair();
    const seqs = [];
    seqs.push((await sendMessage(a1, cid, 'one')).seq);
    seqs.push((await sendMessage(b1, cid, 'two')).seq);
    seqs.push((await sendMessage(a1, cid, 'three')).seq);
    seqs.push((await sendMessage(b2, cid, 'four')).seq);
    assert.deepEqual(seqs, [1, 2, 3, 4]);
    const other = await pair();
    assert.equal((await sendMessage(other.a1, other.cid, 'first elsewhere')).seq, 1, 'seq is per conversation');
  });

  it('reply_to_id: a message of the same conversation is kept; any other → bad_request', async () => {
    const { a1, b1, cid } = await pair();
    const first = await sendMessage(a1, cid, 'question?');
    await b1.next('new_message');
    const reply = await sendMessage(b1, cid, 'answer!', { reply_to_id: first.message_id });
    const ev = await a1.next('new_message');
    assert.equal(ev.message.message_id, reply.message_id);
    assert.equal(ev.message.reply_to_id, first.message_id);

    const elsewhere = await pair();
    const foreign = await sendMessage(elsewhere.a1, elsewhere.cid, 'other conversation');
    const f1 = await a1.request({ type: 'message', conversation_id: cid, content: 'x', reply_to_id: foreign.message_id });
    assertError(f1, 'bad_request', f1.id);
    const f2 = await a1.request({ type: 'message', conversation_id: cid, content: 'x', reply_to_id: 2147483000 });
    assertError(f2, 'bad_request', f2.id);
    const f3 = await a1.request({ type: 'message', conversation_id: cid, content: 'x', reply_to_id: 'abc' });
    assertError(f3, 'bad_request', f3.id);
  });

  it('attachments are references carried through; ill-typed attachments → bad_request', async () => {
    const { a1, b1, cid } = await pair();
    const attachments = [
      { url: 'https://files.example.com/a/notes.pdf', name: 'notes.pdf', mime: 'application/pdf', size: 123456 },
      { url: 'https://files.example.com/a/pic.png', name: 'pic.png', mime: 'image/png', size: 42 },
    ];
    const ans = await sendMessage(a1, cid, 'see attached', { attachments });
    const ev = await b1.next('new_message');
    assert.equal(ev.message.message_id, ans.message_id);
    assert.deepEqual(ev.message.attachments, attachments);
    const h = await history(b1, cid);
    assert.deepEqual(h.messages.at(-1).attachments, attachments);
    for (const bad of ['x', [1], [{ url: 5 }]]) {
      const f = await a1.request({ type: 'message', conversation_id: cid, content: 'x', attachments: bad });
      assertError(f, 'bad_request', f.id);
    }
  });
});

describe('content', () => {
  it('empty content → bad_request; missing content → bad_request', async () => {
    const { a1, cid } = await pair();
    const e = await a1.request({ type: 'message', conversation_id: cid, content: '' });
    assertError(e, 'bad_request', e.id);
    const f = await a1.request({ type: 'message', conversation_id: cid });
    assertError(f, 'bad_request', f.id);
  });

  it('16384 characters are accepted and stored exactly; 16385 → too_large', async () => {
    const { a1, b1, cid } = await pair();
    const ok = 'x'.repeat(16383) + 'y';
    const ans = await sendMessage(a1, cid, ok);
    assert.equal((await b1.next('new_message')).message.content, ok);
    const f = await a1.request({ type: 'message', conversation_id: cid, content: 'x'.repeat(16385) });
    assertError(f, 'too_large', f.id);
    const h = await history(a1, cid);
    assert.equal(h.messages.length, 1, 'the refused one is not stored');
    assert.equal(h.messages[0].message_id, ans.message_id);
    assert.equal(h.messages[0].content, ok);
  });

  it('the limit counts code points: 16384 emoji (4 UTF-8 bytes each) are accepted, 16385 → too_large', async () => {
    const { a1, b1, cid } = await pair();
    const emoji = '😀'.repeat(16384);
    assert.equal([...emoji].length, 16384);
    await sendMessage(a1, cid, emoji);
    assert.equal((await b1.next('new_message')).message.content, emoji);
    const f = await a1.request({ type: 'message', conversation_id: cid, content: '😀'.repeat(16385) });
    assertError(f, 'too_large', f.id);
    const mixed = 'é'.repeat(8192) + '中'.repeat(8191) + '😀';
    assert.equal([...mixed].length, 16384);
    await sendMessage(a1, cid, mixed);
    assert.equal((await b1.next('new_message')).message.content, mixed);
  });

  it('content is not trimmed; whitespace-only content is content', async () => {
    const { a1, b1, cid } = await pair();
    for (const content of ['  padded  ', '\n\tline\n', ' ']) {
      await sendMessage(a1, cid, content);
      assert.equal((await b1.next('new_message')).message.content, content);
    }
  });

  it('a NUL character is stored or refused as bad_request, never an internal error', async () => {
    const { a1, cid } = await pair();
    const f = await a1.request({ type: 'message', conversation_id: cid, content: 'a\u0000b' });
    if (f.type === 'error') assertError(f, 'bad_request', f.id);
    else {
      assert.equal(f.type, 'message_sent', JSON.stringify(f));
      const h = await history(a1, cid);
      assert.equal(h.messages.at(-1).content, 'a\u0000b');
    }
    await sendMessage(a1, cid, 'still fine');
  });
});

describe('permissions and unknown conversations', () => {
  it('a non-participant: message, history, subscribe → forbidden, whatever the role', async () => {
    const { a1, cid } = await pair();
    for (const role of ['student', 'mentor', 'admin']) {
      const eve = await login(url, uid(`eve-${role}`), role);
      for (const frame of [
        { type: 'message', conversation_id: cid, content: 'let me in' },
        { type: 'send_message', conversation_id: cid, content: 'let me in' },
        { type: 'history', conversation_id: cid },
        { type: 'subscribe_conversation', conversation_id: cid },
      ]) {
        const f = await eve.request(frame);
        assertError(f, 'forbidden', f.id);
      }
    }
    const h = await history(a1, cid);
    assert.equal(h.messages.length, 0, 'nothing was stored');
  });

  it('an unknown conversation: message, history, subscribe → not_found', async () => {
    const c = await login(url, uid('nf'), 'student');
    for (const frame of [
      { type: 'message', conversation_id: 987654321, content: 'anyone?' },
      { type: 'history', conversation_id: 987654321 },
      { type: 'subscribe_conversation', conversation_id: 987654321 },
    ]) {
      const f = await c.request(frame);
      assertError(f, 'not_found', f.id);
    }
  });
});

describe('temp_id', () => {
  it('a retry with the same temp_id gets the original message_id and seq; one message stored', async () => {
    const { a1, cid } = await pair();
    const first = await sendMessage(a1, cid, 'once only', { temp_id: 'retry-1' });
    const again = await sendMessage(a1, cid, 'once only', { temp_id: 'retry-1' });
    assert.equal(again.message_id, first.message_id);
    assert.equal(again.seq, first.seq);
    assert.equal(again.temp_id, 'retry-1');
    const next = await sendMessage(a1, cid, 'a new one', { temp_id: 'retry-2' });
    assert.equal(next.seq, first.seq + 1, 'the retry consumed no seq');
    const msgs = await fullHistory(a1, cid);
    assert.equal(msgs.filter((m) => m.temp_id === 'retry-1').length, 1, 'stored once');
    assertGapless(msgs, 2);
  });

  it('a retry from another device of the same user is the same message', async () => {
    const { a1, a2, cid } = await pair();
    const first = await sendMessage(a1, cid, 'dup', { temp_id: 'dev-x' });
    const again = await sendMessage(a2, cid, 'dup', { temp_id: 'dev-x' });
    assert.equal(again.message_id, first.message_id);
    assert.equal(again.seq, first.seq);
    assert.equal((await fullHistory(a1, cid)).length, 1);
  });

  it('concurrent retries of one temp_id store one message', async () => {
    const { a1, cid } = await pair();
    const answers = await pipeline(a1, Array.from({ length: 8 }, () => ({ type: 'message', conversation_id: cid, content: 'burst', temp_id: 'same' })));
    for (const x of answers) assert.equal(x.type, 'message_sent', JSON.stringify(x));
    assert.equal(new Set(answers.map((x) => x.message_id)).size, 1, JSON.stringify(answers));
    assert.equal(new Set(answers.map((x) => x.seq)).size, 1);
    assert.equal((await fullHistory(a1, cid)).length, 1);
  });

  it('the same temp_id from another user, or in another conversation, is another message', async () => {
    const { a1, b1, cid } = await pair();
    const fromA = await sendMessage(a1, cid, 'from a', { temp_id: 'shared' });
    const fromB = await sendMessage(b1, cid, 'from b', { temp_id: 'shared' });
    assert.notEqual(fromB.message_id, fromA.message_id);
    const other = await createConversation(a1, [uid('z')]);
    const elsewhere = await sendMessage(a1, other.conversation_id, 'from a elsewhere', { temp_id: 'shared' });
    assert.notEqual(elsewhere.message_id, fromA.message_id);
    assert.equal(elsewhere.seq, 1);
    assertGapless(await fullHistory(a1, cid), 2);
  });
});

describe('concurrency', () => {
  it('concurrent senders: seq is gapless, unique, and every message is stored once', async () => {
    const users = [uid('c1'), uid('c2'), uid('c3'), uid('c4')];
    const clients = [];
    for (const u of users) clients.push(await login(url, u, 'student', { label: u }));
    const conv = await createConversation(clients[0], users.slice(1), { kind: 'group', title: 'race' });
    for (const c of clients.slice(1)) await c.next('conversation_created');
    const PER = 25;
    const results = await Promise.all(
      clients.map((c, ci) =>
        pipeline(c, Array.from({ length: PER }, (_, i) => ({
          type: 'message', conversation_id: conv.conversation_id, content: `c${ci}-m${i}`, temp_id: `c${ci}-${i}`,
        }))),
      ),
    );
    const sent = results.flat();
    for (const s of sent) assert.equal(s.type, 'message_sent', JSON.stringify(s));
    const N = users.length * PER;
    assert.deepEqual(sent.map((s) => s.seq).sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i + 1));
    const msgs = await fullHistory(clients[0], conv.conversation_id);
    assertGapless(msgs, N);
    const bySeq = new Map(sent.map((s) => [s.seq, s]));
    for (const m of msgs) assert.equal(m.message_id, bySeq.get(m.seq).message_id, `seq ${m.seq}`);
    assert.equal(new Set(msgs.map((m) => m.content)).size, N);
    // Each client got every other client's messages as new_message, once.
    for (const [ci, c] of clients.entries()) {
      const got = await collect(c, 'new_message', N - PER);
      const ids = got.map((f) => f.message.message_id);
      assert.equal(new Set(ids).size, ids.length, 'no duplicate new_message');
      assert.ok(got.every((f) => !f.message.content.startsWith(`c${ci}-`)), 'own messages come as message_sent only');
      await c.expectNone('new_message', 300);
    }
  });
});
