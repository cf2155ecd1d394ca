// Chat: many messages in one transaction. chat-svc stores a batch's messages with one
// set-based statement (chat_store.c, POST_BATCH) after locking the batch's
// conversations; BATCH_INTERVAL_MS paces batches so that a burst shares one. This
// stack uses a long interval (100 ms) so every burst below is one batch, and checks
// from the service's own /metrics that batches of several messages did happen. What
// must hold, whatever the batching: per conversation, seq is gapless and follows each
// sender's order; retries and refusals get what they would get one by one; every
// participant without a connection gets one notification row per message; the
// sender's read position follows their own last message. The gateway holds requests
// that arrive in a burst and sends them together (REQUEST_FLUSH_MS); order is kept.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, freePorts } from './lib/stack.mjs';
import { batchSizes } from './lib/prom.mjs';
import { httpGet, login, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { assertGapless, createConversation, fullHistory, pipeline, sendMessage, settle } from './lib/chat.mjs';

let stack;
let url;
let metricsPort;
before(async () => {
  [metricsPort] = await freePorts(1);
  stack = await startStack({
    env: { RATE_LIMIT_PER_S: '0', BATCH_INTERVAL_MS: '100', BATCH_PACING: 'fixed' },
    envFor: { chat: { METRICS_PORT: String(metricsPort) } },
  });
  url = stack.url();
});
after(async () => {
  await stack?.stop();
});

// Requests the gateway held back to send together (REQUEST_FLUSH_MS).
async function heldByGateway() {
  const r = await httpGet(stack.gateways[0].http, '/metrics');
  return Number((r.body.match(/^parley_gateway_requests_held_total(?:\{[^}]*\})? (\d+)/m) || [])[1] ?? NaN);
}


async function notified(user, cid) {
  return stack.sql(`SELECT coalesce(string_agg(seq::text, ',' ORDER BY seq), '') FROM chat.notifications
               WHERE user_id = '${user}' AND conversation_id = ${cid}`);
}

describe('a batch of messages in one statement', () => {
  it('several conversations and senders in one batch: gapless seqs in each sender\'s order, notifications for the absent only, read positions', async () => {
    const [a, b, c, away1, away2] = ['a', 'b', 'c', 'away1', 'away2'].map(uid);
    const a1 = await login(url, a, 'student', { label: 'a1' });
    const b1 = await login(url, b, 'mentor', { label: 'b1' });
    const c1 = await login(url, c, 'student', { label: 'c1' });
    // g1: a, b and two users who never connect; g2: a and c, both connected.
    const g1 = (await createConversation(a1, [b, away1, away2], { kind: 'group' })).conversation_id;
    const g2 = (await createConversation(a1, [c], { kind: 'group' })).conversation_id;
    await b1.next('conversation_created');
    await c1.next('conversation_created');
    await settle(a1, [b1], g1);
    await settle(a1, [c1], g2);

    const before = await batchSizes(metricsPort);
    const heldBefore = await heldByGateway();
    const aFrames = [];
    for (let i = 0; i < 12; i++) aFrames.push({ type: 'message', conversation_id: i % 3 ? g1 : g2, content: `a${i}`, temp_id: `a-${i}` });
    const bFrames = Array.from({ length: 8 }, (_, i) => ({ type: 'message', conversation_id: g1, content: `b${i}`, temp_id: `b-${i}` }));
    const cFrames = Array.from({ length: 5 }, (_, i) => ({ type: 'message', conversation_id: g2, content: `c${i}` }));
    const [aAcks, bAcks, cAcks] = await Promise.all([pipeline(a1, aFrames), pipeline(b1, bFrames), pipeline(c1, cFrames)]);
    for (const f of [...aAcks, ...bAcks, ...cAcks]) assert.equal(f.type, 'message_sent', JSON.stringify(f));
    const after = await batchSizes(metricsPort);
    assert.ok(after.sum - before.sum >= 25, 'every message went through the service');
    assert.ok(after.count - before.count < after.sum - before.sum, `batches held several messages: ${JSON.stringify({ before, after })}`);
    assert.ok((await heldByGateway()) > heldBefore, 'the gateway sent part of the burst together');

    const h1 = await fullHistory(a1, g1);
    const h2 = await fullHistory(a1, g2);
    assertGapless(h1, 8 + 8); // 8 of a's (i % 3 != 0), 8 of b's
    assertGapless(h2, 4 + 5);
    for (const [acks, frames] of [[aAcks, aFrames], [bAcks, bFrames], [cAcks, cFrames]]) {
      const perConv = new Map();
      for (const [i, f] of acks.entries()) {
        const cid = frames[i].conversation_id;
        assert.equal(f.conversation_id, cid);
        assert.ok(f.seq > (perConv.get(cid) || 0), 'one sender\'s messages keep their order');
        perConv.set(cid, f.seq);
      }
    }
    // Content and sender are the ones acknowledged for that seq.
    const bySeq = new Map(h1.map((m) => [m.seq, m]));
    for (const [i, f] of bAcks.entries()) {
      assert.equal(bySeq.get(f.seq).content, bFrames[i].content);
      assert.equal(bySeq.get(f.seq).sender_id, b);
      assert.equal(bySeq.get(f.seq).message_id, f.message_id);
    }

    const all1 = h1.map((m) => m.seq).join(',');
    assert.equal(await notified(away1, g1), all1, 'an absent participant: one row per message');
    assert.equal(await notified(away2, g1), all1);
    for (const [u, cid] of [[a, g1], [b, g1], [a, g2], [c, g2]]) assert.equal(await notified(u, cid), '', `${u} is connected`);

    const readSeq = async (u, cid) => Number(await stack.sql(`SELECT read_seq FROM chat.participants WHERE conversation_id = ${cid} AND user_id = '${u}'`));
    assert.equal(await readSeq(b, g1), Math.max(...bAcks.map((f) => f.seq)), 'the sender\'s position is their last message');
    assert.equal(await readSeq(a, g2), Math.max(...aAcks.filter((f) => f.conversation_id === g2).map((f) => f.seq)));
    assert.equal(await readSeq(away1, g1), 0);
  });

  it('retries inside the same batch and of earlier messages, refusals and replies: each gets what it would alone', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const a1 = await login(url, a, 'student', { label: 'a1' });
    const b1 = await login(url, b, 'student', { label: 'b1' });
    const eve = await login(url, uid('eve'), 'student', { label: 'eve' });
    const cid = (await createConversation(a1, [b])).conversation_id;
    const other = (await createConversation(eve, [uid('x')])).conversation_id;
    await b1.next('conversation_created');
    const first = await sendMessage(a1, cid, 'first', { temp_id: 'early' });
    const foreign = await sendMessage(eve, other, 'elsewhere');

    const frames = [
      { type: 'message', conversation_id: cid, content: 'one', temp_id: 'x1' },
      { type: 'message', conversation_id: cid, content: 'one again', temp_id: 'x1' }, // same batch
      { type: 'message', conversation_id: cid, content: 'first again', temp_id: 'early' }, // committed before
      { type: 'message', conversation_id: cid, content: 'reply', reply_to_id: first.message_id },
      { type: 'message', conversation_id: cid, content: 'foreign reply', reply_to_id: foreign.message_id },
      { type: 'message', conversation_id: other, content: 'not mine' },
      { type: 'message', conversation_id: 987654321, content: 'nowhere' },
      { type: 'message', conversation_id: cid, content: 'two', temp_id: 'x2' },
    ];
    const [answers] = await Promise.all([pipeline(a1, frames), pipeline(b1, [{ type: 'message', conversation_id: cid, content: 'from b' }])]);
    const [one, oneAgain, firstAgain, reply, foreignReply, notMine, nowhere, two] = answers;
    assert.equal(one.type, 'message_sent');
    assert.deepEqual([oneAgain.type, oneAgain.message_id, oneAgain.seq], ['message_sent', one.message_id, one.seq], 'a retry in the same batch gets the original');
    assert.deepEqual([firstAgain.message_id, firstAgain.seq], [first.message_id, first.seq], 'a retry of a committed message gets it');
    assert.equal(reply.type, 'message_sent');
    assertError(foreignReply, 'bad_request', foreignReply.id);
    assertError(notMine, 'forbidden', notMine.id);
    assertError(nowhere, 'not_found', nowhere.id);
    assert.equal(two.type, 'message_sent');
    assert.ok(two.seq > one.seq);
    const h = await fullHistory(a1, cid);
    assertGapless(h, 5); // first, one, reply, two, from b
    assert.deepEqual(h.filter((m) => m.sender_id === a).map((m) => m.content), ['first', 'one', 'reply', 'two']);
    assert.equal(h.find((m) => m.content === 'reply').reply_to_id, first.message_id);
  });
});
