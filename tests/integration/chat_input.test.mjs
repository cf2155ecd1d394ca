// Chat: every input checked, every limit with its error code. Attachments are validated
// references ({url http(s), name, mime, size >= 0}, at most 10, other keys dropped);
// reply_to_id must be a message of the same conversation; a refused message takes no
// seq (the sequence stays gapless through refusals and retries); conversation and
// history limits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { eventually, login, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { assertGapless, createConversation, fullHistory, history, pipeline, sendMessage, twoInConversation } from './lib/chat.mjs';

let stack;
let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

const pair = () => twoInConversation(url);

const att = (over = {}) => ({ url: 'https://cdn.example.com/f/1.pdf', name: '1.pdf', mime: 'application/pdf', size: 1, ...over });

describe('attachments', () => {
  it('up to 10 are accepted and stored exactly; size 0 and http:// are fine; unknown keys are dropped', async () => {
    const { a1, b1, cid } = await pair();
    const ten = Array.from({ length: 10 }, (_, i) => att({ name: `f${i}.pdf`, size: i }));
    await sendMessage(a1, cid, 'ten', { attachments: ten });
    assert.deepEqual((await history(b1, cid)).messages.at(-1).attachments, ten);
    await sendMessage(a1, cid, 'plain http', { attachments: [att({ url: 'http://example.com/a b'.replace(' ', '%20'), size: 0 })] });
    const extra = await sendMessage(a1, cid, 'extra keys', { attachments: [{ ...att(), thumbnail: 'x', id: 7 }] });
    const m = (await history(b1, cid)).messages.find((x) => x.message_id === extra.message_id);
    assert.deepEqual(m.attachments, [att()]);
    assert.deepEqual(Object.keys(m.attachments[0]).sort(), ['mime', 'name', 'size', 'url']);
    const none = await sendMessage(a1, cid, 'empty list', { attachments: [] });
    assert.deepEqual((await history(b1, cid)).messages.find((x) => x.message_id === none.message_id).attachments, []);
  });

  it('11 attachments, or any invalid one → bad_request, and nothing is stored', async () => {
    const { a1, cid } = await pair();
    const bads = [
      Array.from({ length: 11 }, () => att()),
      'not a list',
      {},
      [5],
      [null],
      [att({ url: 'ftp://example.com/x' })],
      [att({ url: 'javascript:alert(1)' })],
      [att({ url: 'https://example.com/with space' })],
      [att({ url: 'https://' })],
      [att({ url: 42 })],
      [att({ name: '' })],
      [att({ name: undefined })],
      [att({ name: 'tab\there' })],
      [att({ mime: undefined })],
      [att({ mime: 7 })],
      [att({ size: -1 })],
      [att({ size: 1.5 })],
      [att({ size: '3' })],
      [att({ size: undefined })],
      [att(), att({ url: 'mailto:x@example.com' })],
    ];
    for (const attachments of bads) {
      const f = await a1.request({ type: 'message', conversation_id: cid, content: 'x', attachments });
      assertError(f, 'bad_request', f.id);
    }
    assert.equal((await fullHistory(a1, cid)).length, 0);
    assert.equal((await sendMessage(a1, cid, 'fine')).seq, 1, 'no seq was taken by the refusals');
  });

  it('a url over 2048 bytes, a name or mime over 255 → too_large, and nothing is stored', async () => {
    const { a1, cid } = await pair();
    const longUrl = 'https://x.example/' + 'a'.repeat(2048 - 18);
    for (const attachments of [
      [att({ url: longUrl + 'a' })],
      [att({ name: 'x'.repeat(256) })],
      [att({ mime: 'm'.repeat(256) })],
      [att(), att({ url: 'https://x.example/' + 'a'.repeat(5000) })],
    ]) {
      const f = await a1.request({ type: 'message', conversation_id: cid, content: 'x', attachments });
      assertError(f, 'too_large', f.id);
    }
    assert.equal((await fullHistory(a1, cid)).length, 0);
    const ok = await sendMessage(a1, cid, 'at the limits', { attachments: [att({ url: longUrl, name: 'n'.repeat(255), mime: 'm'.repeat(255) })] });
    assert.equal(ok.seq, 1, 'no seq was taken by the refusals');
  });
});

describe('reply_to_id', () => {
  it('a message of the same conversation: kept in new_message and history', async () => {
    const { a1, b1, cid } = await pair();
    const q = await sendMessage(a1, cid, 'question');
    const r = await sendMessage(b1, cid, 'answer', { reply_to_id: q.message_id });
    const m = (await history(a1, cid)).messages.find((x) => x.message_id === r.message_id);
    assert.equal(m.reply_to_id, q.message_id);
  });

  it('another conversation\'s message, an unknown id, or ill-typed → bad_request, no seq taken', async () => {
    const { a1, cid } = await pair();
    const other = await pair();
    const foreign = await sendMessage(other.a1, other.cid, 'elsewhere');
    await sendMessage(a1, cid, 'first');
    for (const reply_to_id of [foreign.message_id, 987654321, 0, -5, 'x', 1.5]) {
      const f = await a1.request({ type: 'message', conversation_id: cid, content: 'x', reply_to_id });
      assertError(f, 'bad_request', f.id);
    }
    assert.equal((await sendMessage(a1, cid, 'second')).seq, 2);
    assertGapless(await fullHistory(a1, cid), 2);
  });
});

describe('refusals and retries keep seq gapless', () => {
  it('forbidden, bad reply and temp_id retries interleaved with real messages: seq 1..n', async () => {
    const { a1, b1, cid } = await pair();
    const eve = await login(url, uid('eve'), 'student');
    let n = 0;
    for (let i = 0; i < 5; i++) {
      const s = await sendMessage(i % 2 ? b1 : a1, cid, `real ${i}`, { temp_id: `t${i}` });
      assert.equal(s.seq, ++n);
      assertError(await eve.request({ type: 'message', conversation_id: cid, content: 'no', id: `e${i}` }), 'forbidden', `e${i}`);
      assertError(await a1.request({ type: 'message', conversation_id: cid, content: 'no', reply_to_id: 987654321, id: `r${i}` }), 'bad_request', `r${i}`);
      const again = await sendMessage(i % 2 ? b1 : a1, cid, `real ${i}`, { temp_id: `t${i}` });
      assert.equal(again.seq, s.seq, 'a retry returns the original');
    }
    assertGapless(await fullHistory(a1, cid), n);
  });

  it('a burst mixing messages, retries and refusals (one batch, one pipeline): the same outcome one by one would give', async () => {
    const { a1, b1, cid } = await pair();
    const eve = await login(url, uid('eve'), 'student');
    const first = await sendMessage(a1, cid, 'anchor');
    const frames = [];
    for (let i = 0; i < 30; i++) {
      frames.push({ type: 'message', conversation_id: cid, content: `burst ${i}`, temp_id: `b${i % 20}` }); // 10 retries
      if (i % 7 === 0) frames.push({ type: 'message', conversation_id: cid, content: 'bad reply', reply_to_id: 987654321 });
      if (i % 9 === 0) frames.push({ type: 'message', conversation_id: cid, content: 'reply', reply_to_id: first.message_id });
    }
    const eveBurst = pipeline(eve, Array.from({ length: 5 }, () => ({ type: 'message', conversation_id: cid, content: 'no' })));
    const [answers, bAnswers, eveAnswers] = await Promise.all([
      pipeline(a1, frames),
      pipeline(b1, Array.from({ length: 10 }, (_, i) => ({ type: 'message', conversation_id: cid, content: `b ${i}` }))),
      eveBurst,
    ]);
    for (const f of eveAnswers) assertError(f, 'forbidden', f.id);
    const byTemp = new Map();
    for (const [i, f] of answers.entries()) {
      if (frames[i].reply_to_id === 987654321) {
        assertError(f, 'bad_request', f.id);
        continue;
      }
      assert.equal(f.type, 'message_sent', JSON.stringify(f));
      if (frames[i].temp_id) {
        const seen = byTemp.get(frames[i].temp_id);
        if (seen) assert.deepEqual([f.message_id, f.seq], [seen.message_id, seen.seq], 'a retry gets the original');
        else byTemp.set(frames[i].temp_id, f);
      }
    }
    for (const f of bAnswers) assert.equal(f.type, 'message_sent');
    const stored = await fullHistory(a1, cid);
    const expected = 1 + 20 + frames.filter((x) => x.reply_to_id === first.message_id).length + 10;
    assertGapless(stored, expected);
    assert.equal(new Set(stored.map((m) => m.message_id)).size, expected);
  });

  it('an integer temp_id is idempotent too and echoed as sent in message_sent', async () => {
    const { a1, cid } = await pair();
    const s = await sendMessage(a1, cid, 'numbered', { temp_id: 12345 });
    assert.equal(s.temp_id, 12345);
    const again = await sendMessage(a1, cid, 'numbered', { temp_id: 12345 });
    assert.equal(again.message_id, s.message_id);
    const s2 = await sendMessage(a1, cid, 'string twin', { temp_id: '12345x' });
    assert.notEqual(s2.message_id, s.message_id);
  });

  it('temp_id keeps its type everywhere: 12345 and "12345" are two temp_ids; history, edits and deletes give each back as sent', async () => {
    const { a1, b1, cid } = await pair();
    const sent = [];
    for (const temp_id of [12345, '12345', '#7', '##x', -3]) {
      const s = await sendMessage(a1, cid, `temp ${JSON.stringify(temp_id)}`, { temp_id });
      assert.deepEqual(s.temp_id, temp_id, 'message_sent echoes it');
      assert.deepEqual((await b1.next('new_message')).message.temp_id, temp_id, 'new_message carries it');
      sent.push(s);
    }
    assert.equal(new Set(sent.map((s) => s.message_id)).size, 5, 'five temp_ids, five messages');
    for (const [i, temp_id] of [12345, '12345', '#7', '##x', -3].entries()) {
      const again = await sendMessage(a1, cid, 'retry', { temp_id });
      assert.equal(again.message_id, sent[i].message_id, `a retry of ${JSON.stringify(temp_id)} gets the original`);
    }
    const msgs = await fullHistory(b1, cid);
    assert.deepEqual(msgs.map((m) => m.temp_id), [12345, '12345', '#7', '##x', -3]);
    const edited = await a1.request({ type: 'edit_message', message_id: sent[0].message_id, content: 'edited' });
    assert.equal(edited.type, 'message_updated');
    assert.strictEqual(edited.message.temp_id, 12345);
    const deleted = await a1.request({ type: 'delete_message', message_id: sent[2].message_id });
    assert.equal(deleted.type, 'message_deleted');
    assert.strictEqual(deleted.message.temp_id, '#7');
  });

  it('temp_id: empty or not a string/integer → bad_request; longer than 128 bytes → too_large', async () => {
    const { a1, cid } = await pair();
    for (const temp_id of ['', { a: 1 }, [1], 1.5, true]) {
      const f = await a1.request({ type: 'message', conversation_id: cid, content: 'x', temp_id });
      assertError(f, 'bad_request', f.id);
    }
    const long = await a1.request({ type: 'message', conversation_id: cid, content: 'x', temp_id: 'x'.repeat(129) });
    assertError(long, 'too_large', long.id);
    await sendMessage(a1, cid, 'x', { temp_id: 'y'.repeat(128) });
  });
});

describe('conversation limits', () => {
  it('title over 200 characters or a participant id over 128 bytes → too_large; more than 256 participants or bad ids → bad_request', async () => {
    const c = await login(url, uid('lim'), 'student');
    const t = await c.request({ type: 'create_conversation', participants: [uid('p')], kind: 'group', title: 't'.repeat(201) });
    assertError(t, 'too_large', t.id);
    const many = Array.from({ length: 257 }, (_, i) => `p-${i}`);
    const m = await c.request({ type: 'create_conversation', participants: many, kind: 'group' });
    assertError(m, 'bad_request', m.id);
    for (const participants of [[''], ['ctl\u0007'], [5]]) {
      const f = await c.request({ type: 'create_conversation', participants });
      assertError(f, 'bad_request', f.id);
    }
    const long = await c.request({ type: 'create_conversation', participants: ['x'.repeat(129)] });
    assertError(long, 'too_large', long.id);
    const ok = await createConversation(c, Array.from({ length: 255 }, (_, i) => `q-${i}-${uid('q')}`), { kind: 'group', title: 't'.repeat(200) });
    assert.equal(ok.participants.length, 256);
  });
});

// Last: it restarts chat-svc.
describe('migration 5 on an existing database', () => {
  it("string temp_ids stored before it that start with '#' keep their value and their retries", async () => {
    const { a1, b1, cid } = await pair();
    const one = await sendMessage(a1, cid, 'old one', { temp_id: 'old-1' });
    const two = await sendMessage(a1, cid, 'old two', { temp_id: 'old-2' });
    await stack.kill('chat', 'SIGTERM');
    // what migration 4 left for the strings "#a" and "##a": stored as sent
    await stack.sql(
      `UPDATE chat.messages SET temp_id = '#a' WHERE id = ${one.message_id};` +
        ` UPDATE chat.messages SET temp_id = '##a' WHERE id = ${two.message_id};` +
        ' DELETE FROM chat.schema_migrations WHERE version >= 5',
    );
    await stack.restart('chat');
    // the gateways answer /healthz before chat-svc has migrated: wait for it
    await eventually(async () => (await stack.sql('SELECT count(*) FROM chat.schema_migrations WHERE version = 5')) === '1', {
      what: 'chat-svc applies migration 5',
    });
    const stored = await stack.sql(
      `SELECT string_agg(temp_id, ',' ORDER BY id) FROM chat.messages WHERE id IN (${one.message_id}, ${two.message_id})`,
    );
    assert.equal(stored, '##a,###a');
    const msgs = await fullHistory(b1, cid);
    assert.deepEqual(msgs.map((m) => m.temp_id), ['#a', '##a']);
    const retry = await sendMessage(a1, cid, 'old one', { temp_id: '#a' });
    assert.equal(retry.message_id, one.message_id, 'a retry after the upgrade finds the original');
  });
});
