// Webhooks end to end: every event type reaches a real HTTP receiver in this process,
// once per attempt, signed (checked here as docs/api.md tells a receiver to); a receiver
// failing N times gets the event on attempt N+1; events about one user arrive in order;
// after WEBHOOK_MAX_ATTEMPTS an event is a dead letter the API lists and replays.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SANITIZE, useStack } from './lib/stack.mjs';
import { call } from './lib/api.mjs';
import { eventually, login, uid, waitOnline } from './lib/client.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';
import { hookEnv, SECRET, startReceiver, verify } from './lib/webhooks.mjs';

const SLOW = SANITIZE ? 2 : 1;
const RING_MS = 1000 * SLOW;
const HELP_MS = 2500 * SLOW;
const GRACE_MS = 1500 * SLOW; // long enough to reconnect within it on a loaded machine
const CONCURRENCY = 4;

// Started before the stack, which needs its URL (a top-level await: node:test runs
// root hooks in no order this file can rely on).
const rx = await startReceiver();
let url;
let base;
useStack(
  () => ({
    api: true,
    hooks: 1,
    env: hookEnv(rx, {
      WEBHOOK_MAX_ATTEMPTS: '3',
      WEBHOOK_CONCURRENCY: String(CONCURRENCY),
      RATE_LIMIT_PER_S: '0',
      RING_TIMEOUT_MS: String(RING_MS),
      HELP_TIMEOUT_MS: String(HELP_MS),
      OFFLINE_GRACE_MS: String(GRACE_MS),
    }),
  }),
  (s) => {
    url = s.url();
    base = s.gateways[0].api;
  },
);
after(async () => {
  await rx?.close();
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// The first acknowledged delivery of an event matching pred.
async function delivered(pred, what) {
  return eventually(() => rx.acked().find((h) => h.body && pred(h.body)), { what, timeoutMs: 20000 * SLOW });
}

function checkSigned(h) {
  assert.equal(h.method, 'POST');
  assert.equal(h.headers['content-type'], 'application/json');
  assert.equal(h.headers['parley-event-id'], h.body.id);
  assert.ok(verify(SECRET, h.headers['parley-signature'], h.raw), `bad signature on ${h.body.type}`);
  assert.ok(!verify('another-secret-entirely', h.headers['parley-signature'], h.raw));
  assert.ok(!verify(SECRET, h.headers['parley-signature'], h.raw + ' '), 'a changed body must not verify');
  assert.deepEqual(Object.keys(h.body).sort(), ['created_at', 'data', 'id', 'type']);
  assert.match(h.body.created_at, ISO);
}

describe('every event type', () => {
  it('arrives once per attempt, signed, with the contract objects', async () => {
    const s = uid('ws');
    const m = uid('wm');
    const away = uid('wx'); // a participant who never connects
    const cs = await login(url, s, 'student');
    const cm = await login(url, m, 'mentor');
    await waitOnline(cs, m);
    for (const u of [s, m]) {
      const h = await delivered((b) => b.type === 'user.online' && b.data.user_id === u, `user.online ${u}`);
      assert.equal(h.body.data.last_seen, null);
      assert.ok(Number.isInteger(h.body.data.version) && h.body.data.version >= 1);
    }

    // message.created, with the participant who has no connection
    const conv = await createConversation(cs, [m, away]);
    const sent = await sendMessage(cs, conv.conversation_id, 'hello hooks');
    const mc = await delivered((b) => b.type === 'message.created' && b.data.message.message_id === sent.message_id, 'message.created');
    const msg = (await cm.next((f) => f.type === 'new_message' && f.message.message_id === sent.message_id)).message;
    assert.deepEqual(mc.body.data.message, msg, 'the same object clients get');
    assert.deepEqual(mc.body.data.recipients_offline, [away]);

    // call.ended with its duration, then call.missed
    const c1 = await cs.request({ type: 'initiate_call', callee_id: m, media: 'audio' });
    await cm.next({ type: 'incoming_call', call_id: c1.call_id });
    await cm.request({ type: 'accept_call', call_id: c1.call_id });
    await cs.request({ type: 'end_call', call_id: c1.call_id });
    const ended = await delivered((b) => b.type === 'call.ended' && b.data.call.call_id === c1.call_id, 'call.ended');
    assert.equal(ended.body.data.call.state, 'ended');
    assert.ok(Number.isInteger(ended.body.data.duration_s));
    const api = await call(base, 'GET', `/api/v1/calls/${c1.call_id}`);
    assert.deepEqual(ended.body.data.call, api.body.call, 'the same object the API reads');
    const c2 = await cs.request({ type: 'initiate_call', callee_id: m, media: 'video' });
    const missed = await delivered((b) => b.type === 'call.missed' && b.data.call.call_id === c2.call_id, 'call.missed');
    assert.equal(missed.body.data.call.state, 'missed');

    // help_request.created → accepted; another one expires
    const h1 = await cs.request({ type: 'student_request_help', topic: 'hooks', mentor_id: m });
    const created = await delivered((b) => b.type === 'help_request.created' && b.data.request.request_id === h1.request_id, 'help created');
    assert.equal(created.body.data.request.state, 'waiting');
    assert.equal(created.body.data.request.student_id, s);
    assert.equal((await cm.request({ type: 'accept_help', request_id: h1.request_id })).type, 'help_assigned');
    const acc = await delivered((b) => b.type === 'help_request.accepted' && b.data.request.request_id === h1.request_id, 'help accepted');
    assert.equal(acc.body.data.request.accepted_by, m);
    const s2 = uid('ws2');
    const cs2 = await login(url, s2, 'student');
    const h2 = await cs2.request({ type: 'student_request_help', topic: 'nobody takes this', mentor_id: uid('absent') });
    const exp = await delivered((b) => b.type === 'help_request.expired' && b.data.request.request_id === h2.request_id, 'help expired');
    assert.equal(exp.body.data.request.state, 'expired');

    // user.offline after the grace period, with a newer version than the online
    cs2.close();
    const off = await delivered((b) => b.type === 'user.offline' && b.data.user_id === s2, 'user.offline');
    const on = await delivered((b) => b.type === 'user.online' && b.data.user_id === s2, 'user.online');
    assert.ok(off.body.data.version > on.body.data.version);
    assert.match(off.body.data.last_seen, ISO);

    const types = new Set(rx.acked().map((h) => h.body.type));
    for (const t of ['message.created', 'user.online', 'user.offline', 'call.missed', 'call.ended',
      'help_request.created', 'help_request.accepted', 'help_request.expired']) assert.ok(types.has(t), t);
    for (const h of rx.hits) checkSigned(h);
    // once per attempt: with a receiver that always said 200, one hit per event id
    const ids = rx.hits.map((h) => h.body.id);
    assert.equal(new Set(ids).size, ids.length, 'an event acknowledged once was not sent again');
    assert.ok(rx.hits.every((h) => h.headers['parley-attempt'] === '1'));
  });

  it('a reconnect within the grace period sends no user.offline (no flap)', async () => {
    const u = uid('wf');
    const c = await login(url, u, 'student');
    await delivered((b) => b.type === 'user.online' && b.data.user_id === u, 'user.online');
    const c2 = await login(url, u, 'student');
    c.close();
    await c.closed;
    const t0 = Date.now();
    c2.close(); // the last connection: the grace period starts
    await c2.closed;
    const c3 = await login(url, u, 'student'); // back within it
    assert.ok(Date.now() - t0 < GRACE_MS, 'the reconnect took longer than the grace period');
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    assert.equal(rx.hits.filter((h) => h.body?.data?.user_id === u && h.body.type === 'user.offline').length, 0);
    assert.equal(rx.hits.filter((h) => h.body?.data?.user_id === u && h.body.type === 'user.online').length, 1);
    c3.close();
    await delivered((b) => b.type === 'user.offline' && b.data.user_id === u, 'user.offline at last');
  });
});

describe('retries, order and dead letters', () => {
  it('a receiver failing N times gets the event on attempt N+1, and the user\'s later events wait', async () => {
    const a = uid('wr');
    const b = uid('wr');
    const ca = await login(url, a, 'student');
    const conv = await createConversation(ca, [b]);
    const failures = new Map(); // content -> failures left
    failures.set('first', 2);
    rx.respond = (h) => {
      const c = h.body?.data?.message?.content;
      if (failures.get(c) > 0) {
        failures.set(c, failures.get(c) - 1);
        return 500;
      }
      return 200;
    };
    try {
      const sent = [];
      for (const text of ['first', 'second', 'third', 'fourth']) sent.push(await sendMessage(ca, conv.conversation_id, text));
      await delivered((x) => x.data?.message?.message_id === sent[3].message_id, 'the last message');
      const firstHits = rx.hits.filter((h) => h.body?.data?.message?.message_id === sent[0].message_id);
      assert.deepEqual(firstHits.map((h) => h.status), [500, 500, 200]);
      assert.deepEqual(firstHits.map((h) => h.headers['parley-attempt']), ['1', '2', '3']);
      assert.equal(new Set(firstHits.map((h) => h.body.id)).size, 1, 'the same event id on every attempt');
      // backoff: attempts are spaced (base 100 ms, jitter over the upper half)
      assert.ok(firstHits[1].at - firstHits[0].at >= 45, 'a delay before attempt 2');
      // per-user order: nothing of `a` after `first` arrived before `first` was acknowledged
      const mine = rx.hits.filter((h) => h.body?.type === 'message.created' && h.body.data.message.sender_id === a);
      const ackAt = firstHits[2].at;
      for (const h of mine) if (h.body.data.message.message_id !== sent[0].message_id) assert.ok(h.at >= ackAt, 'a later event overtook');
      assert.deepEqual(
        mine.filter((h) => h.status === 200).map((h) => h.body.data.message.seq),
        [1, 2, 3, 4],
      );
    } finally {
      rx.respond = () => 200;
    }
  });

  it('after WEBHOOK_MAX_ATTEMPTS the event is a dead letter the API lists and replays', async () => {
    const a = uid('wd');
    const ca = await login(url, a, 'student');
    const conv = await createConversation(ca, [uid('wd')]);
    rx.respond = (h) => (h.body?.data?.message?.content === 'doomed' ? 500 : 200);
    let sent;
    try {
      sent = await sendMessage(ca, conv.conversation_id, 'doomed');
      const dead = await eventually(async () => {
        const r = await call(base, 'GET', '/api/v1/webhooks/dead-letters?limit=500');
        assert.equal(r.status, 200, r.text);
        return r.body.events.find((e) => e.data?.message?.message_id === sent.message_id);
      }, { what: 'a dead letter', timeoutMs: 20000 * SLOW });
      assert.equal(dead.type, 'message.created');
      assert.equal(dead.attempts, 3);
      assert.equal(dead.last_error, 'HTTP 500');
      assert.match(dead.dead_at, ISO);
      assert.equal(rx.of(dead.id).length, 3, 'exactly WEBHOOK_MAX_ATTEMPTS attempts');
      // the user's next event is not held back by a dead one
      const next = await sendMessage(ca, conv.conversation_id, 'after the dead one');
      await delivered((x) => x.data?.message?.message_id === next.message_id, 'the next message');

      rx.respond = () => 200;
      const rp = await call(base, 'POST', `/api/v1/webhooks/dead-letters/${dead.id}/replay`);
      assert.equal(rp.status, 202, rp.text);
      assert.equal(rp.body.id, dead.id);
      const again = await eventually(() => rx.of(dead.id).find((h) => h.status === 200), { what: 'the replayed event' });
      assert.equal(again.headers['parley-attempt'], '1');
      assert.equal(again.body.created_at, rx.of(dead.id)[0].body.created_at, 'the same event, not a new one');
      const after = await call(base, 'GET', '/api/v1/webhooks/dead-letters');
      assert.ok(!after.body.events.some((e) => e.id === dead.id));
      // replayed once: a second replay and an unknown id are 404
      assert.equal((await call(base, 'POST', `/api/v1/webhooks/dead-letters/${dead.id}/replay`)).status, 404);
      assert.equal((await call(base, 'POST', '/api/v1/webhooks/dead-letters/chat_nosuchevent/replay')).status, 404);
      assert.equal((await call(base, 'POST', '/api/v1/webhooks/dead-letters/nothing/replay')).status, 404);
    } finally {
      rx.respond = () => 200;
    }
  });

  it('dead letters of several services are listed together, newest first, and each replays to its owner', async () => {
    const u = uid('wp');
    rx.respond = (h) => (h.body?.type === 'user.online' && h.body.data.user_id === u ? 500 : 200);
    try {
      const c = await login(url, u, 'student');
      const conv = await createConversation(c, [uid('wp')]);
      const dead = async (pred) => eventually(async () => {
        const r = await call(base, 'GET', '/api/v1/webhooks/dead-letters?limit=500');
        return r.body.events.find(pred);
      }, { what: 'a dead letter', timeoutMs: 20000 * SLOW });
      const online = await dead((e) => e.type === 'user.online' && e.data.user_id === u);
      assert.match(online.id, /^presence_/);
      rx.respond = (h) => (h.body?.type === 'user.online' && h.body.data.user_id === u) || h.body?.data?.message?.content === 'doomed too' ? 500 : 200;
      const sent = await sendMessage(c, conv.conversation_id, 'doomed too');
      const msg = await dead((e) => e.data?.message?.message_id === sent.message_id);
      assert.match(msg.id, /^chat_/);
      const list = (await call(base, 'GET', '/api/v1/webhooks/dead-letters?limit=500')).body.events;
      const at = list.map((e) => e.dead_at);
      assert.deepEqual(at, [...at].sort().reverse(), 'newest first across services');
      assert.ok(list.findIndex((e) => e.id === msg.id) < list.findIndex((e) => e.id === online.id));
      rx.respond = () => 200;
      assert.equal((await call(base, 'POST', `/api/v1/webhooks/dead-letters/${online.id}/replay`)).status, 202);
      await eventually(() => rx.of(online.id).some((h) => h.status === 200), { what: 'the replayed user.online' });
    } finally {
      rx.respond = () => 200;
    }
  });

  it('the list is bounded by limit and refuses a bad one', async () => {
    assert.equal((await call(base, 'GET', '/api/v1/webhooks/dead-letters?limit=0')).status, 400);
    assert.equal((await call(base, 'GET', '/api/v1/webhooks/dead-letters?limit=501')).status, 400);
    const r = await call(base, 'GET', '/api/v1/webhooks/dead-letters?limit=1');
    assert.equal(r.status, 200);
    assert.ok(r.body.events.length <= 1);
    assert.equal((await call(base, 'GET', '/api/v1/webhooks/dead-letters', { key: 'wrong' })).status, 401);
  });

  it('at most WEBHOOK_CONCURRENCY attempts are in flight per worker', async () => {
    const senders = [];
    for (let i = 0; i < CONCURRENCY + 2; i++) {
      const id = uid('wc');
      const c = await login(url, id, 'student');
      senders.push({ c, cid: (await createConversation(c, [uid('wc')])).conversation_id });
    }
    await new Promise((r) => setTimeout(r, 500)); // the logins' user.online go first
    rx.respond = (h) => (/^cap-/.test(h.body?.data?.message?.content || '') ? 'hold' : 200);
    try {
      for (const [i, s] of senders.entries()) await sendMessage(s.c, s.cid, `cap-${i}`);
      const held = () => rx.hits.filter((h) => h.status === 'held').length;
      await eventually(() => held() === CONCURRENCY, { what: `${CONCURRENCY} attempts held` });
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(held(), CONCURRENCY, 'no attempt beyond the bound started');
    } finally {
      rx.respond = () => 200;
      rx.release(200);
    }
    await eventually(() => senders.every((s, i) => rx.acked().some((h) => h.body?.data?.message?.content === `cap-${i}`)),
      { what: 'every held message delivered after the release' });
  });
});
