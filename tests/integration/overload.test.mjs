// Past saturation Parley sheds instead of queueing (docs/design/overload.md):
// - a service refuses a client request that waited in the queues longer than
//   SHED_AFTER_MS with `overloaded` + retry_after_ms, at once and without acting on it
//   (nothing stored, nothing fanned out), so a retry with the same temp_id stores the
//   message exactly once; the server API hears 503 `overloaded`;
// - a gateway refuses at once, before sending anything, a request to a service kind
//   that already has MAX_INFLIGHT_PER_SERVICE of its requests in flight, and the
//   other kinds are not affected; a service's `overloaded` answers lower that limit
//   (gw_inflight.c); a session opening (`auth`) is neither bounded nor shed: it waits;
// - a Socket.IO client gets the same error object as the acknowledgement.
// The backlog is made by pausing chat-svc (SIGSTOP): what arrives meanwhile waits in
// the queues, and is old when chat-svc resumes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, freePorts } from './lib/stack.mjs';
import { eventually, login, open, sleep, token, uid } from './lib/client.mjs';
import { createConversation, fullHistory, twoInConversation } from './lib/chat.mjs';
import { api } from './lib/api.mjs';
import { presenceOf } from './lib/presence.mjs';
import { scrape, value } from './lib/prom.mjs';
import { connected, sio, sioLogin } from './lib/sio.mjs';

const SHED_AFTER_MS = 50;
const PAUSE_MS = 600; // well past SHED_AFTER_MS, even times PL_SHED_STALL_FACTOR (4)
// Long, so that an answer before it cannot be the gateway's `unavailable`.
const REQUEST_TIMEOUT_MS = 20000;
const INFLIGHT = 4; // gateway 2's bound
const [CHAT_METRICS] = await freePorts(1);

let stack;
useStack(
  () => ({
    gateways: 2,
    api: true,
    // GW_LEASE_INTERVAL_MS: no reconciliation (every 2nd lease) within a test, so a
    // lost conn_open would show
    env: {
      SHED_AFTER_MS: String(SHED_AFTER_MS),
      RATE_LIMIT_PER_S: '0',
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      GW_LEASE_INTERVAL_MS: '60000',
    },
    envFor: { chat: { METRICS_PORT: String(CHAT_METRICS) }, gateway2: { MAX_INFLIGHT_PER_SERVICE: String(INFLIGHT) } },
  }),
  (s) => {
    stack = s;
  },
);

const chat = () => stack.procs.get('chat').child;

// Run fn with chat-svc paused; it always resumes.
async function whileChatPaused(fn) {
  chat().kill('SIGSTOP');
  try {
    return await fn();
  } finally {
    chat().kill('SIGCONT');
  }
}

function assertOverloaded(f, what) {
  assert.equal(f.type, 'error', `${what}: ${JSON.stringify(f)}`);
  assert.equal(f.code, 'overloaded', `${what}: ${JSON.stringify(f)}`);
  assert.equal(typeof f.message, 'string');
  assert.ok(Number.isInteger(f.retry_after_ms) && f.retry_after_ms >= 100 && f.retry_after_ms <= 3000,
    `${what}: retry_after_ms ${f.retry_after_ms}`);
}

// A message sent as a good client does: again with the same temp_id, after
// retry_after_ms, while it is refused `overloaded`.
async function sendRetrying(c, cid, content, tempId) {
  for (let i = 0; i < 50; i++) {
    const f = await c.request({ type: 'message', conversation_id: cid, content, temp_id: tempId });
    if (f.type === 'message_sent') return f;
    assertOverloaded(f, `retry of ${tempId}`);
    await sleep(f.retry_after_ms);
  }
  throw new Error(`${tempId}: still overloaded after 50 tries`);
}

const chatShed = async () => value((await scrape(`http://127.0.0.1:${CHAT_METRICS}`)).samples, 'parley_service_shed_total');

describe('a service with a backlog older than SHED_AFTER_MS', () => {
  it('refuses it overloaded at once, stores none of it, and a retry stores each message once', async () => {
    const { ca, cb, cid } = await twoInConversation(stack.url(0));
    const shedBefore = await chatShed();
    const temps = Array.from({ length: 6 }, (_, i) => `t-${uid('x')}-${i}`);
    const sent = Date.now();
    const answers = await whileChatPaused(async () => {
      const waits = temps.map((t) => ca.request({ type: 'message', conversation_id: cid, content: `m ${t}`, temp_id: t }));
      await sleep(PAUSE_MS);
      return waits;
    });
    for (const [i, f] of (await Promise.all(answers)).entries()) assertOverloaded(await f, temps[i]);
    const took = Date.now() - sent;
    assert.ok(took < REQUEST_TIMEOUT_MS / 2, `answered after ${took} ms: the refusal is not at once`);
    // Not acted on: nobody heard of them, nothing is stored.
    await cb.expectNone((f) => f.type === 'new_message', 300);
    assert.deepEqual((await fullHistory(ca, cid)).map((m) => m.temp_id), []);
    assert.ok((await chatShed()) - shedBefore >= temps.length, 'parley_service_shed_total counts them');
    // The gateway heard it: its in-flight limit for chat came down from 4096 (the
    // default MAX_INFLIGHT_PER_SERVICE) to the floor (64), what was in flight being
    // little; the answers since then raise it a little (one each after a second).
    const gm = (await scrape(stack.gateways[0].http)).samples;
    assert.ok(value(gm, 'parley_gateway_inflight_cuts_total') >= 1);
    const limit = value(gm, 'parley_gateway_inflight_limit', { service: 'chat' });
    assert.ok(limit >= 64 && limit < 128, `chat's in-flight limit ${limit}`);
    assert.equal(value(gm, 'parley_gateway_inflight_limit', { service: 'call' }), 4096, 'other kinds keep theirs');

    // The good client's retry: each stored exactly once, heard once.
    const ids = [];
    for (const t of temps) ids.push((await sendRetrying(ca, cid, `m ${t}`, t)).message_id);
    const again = await sendRetrying(ca, cid, `m ${temps[0]}`, temps[0]); // a duplicate send
    assert.equal(again.message_id, ids[0], 'the same temp_id is the same message');
    const stored = await fullHistory(ca, cid);
    assert.deepEqual(stored.map((m) => m.temp_id), temps);
    assert.deepEqual(stored.map((m) => m.message_id), ids);
    const heard = [];
    for (let i = 0; i < temps.length; i++) heard.push((await cb.next((f) => f.type === 'new_message')).message.temp_id);
    assert.deepEqual(heard, temps);
  });

  it('the server API hears 503 overloaded, and nothing is stored', async () => {
    const { ca, cid } = await twoInConversation(stack.url(0));
    const base = stack.gateways[0].api;
    const { p } = await whileChatPaused(async () => {
      const p = api(base, 'POST', `/api/v1/conversations/${cid}/messages`, { body: { content: 'from the backend', temp_id: 'api-1' } });
      await sleep(PAUSE_MS);
      return { p }; // wrapped: awaited once chat-svc runs again
    });
    const res = await p;
    assert.equal(res.status, 503, res.text);
    assert.equal(res.body?.error?.code, 'overloaded', res.text);
    assert.deepEqual(await fullHistory(ca, cid), []);
  });

  it('a Socket.IO client gets the same error object as its acknowledgement', async () => {
    const a = uid('a');
    const ca = await login(stack.url(0), a, 'student', { label: 'a' });
    const conv = await createConversation(ca, [uid('b')]);
    const s = await sioLogin(stack.gateways[0].http, a);
    try {
      const { p } = await whileChatPaused(async () => {
        const p = s.ack('message', { conversation_id: conv.conversation_id, content: 'hi', temp_id: 'sio-1' });
        await sleep(PAUSE_MS);
        return { p };
      });
      assertOverloaded(await p, 'socket.io ack');
      assert.deepEqual(await fullHistory(ca, conv.conversation_id), []);
    } finally {
      s.close();
    }
  });
});

describe('internal notifications', () => {
  it('are never shed: a conn_open that waited behind a paused presence-svc still counts', async () => {
    const observer = await login(stack.url(0), uid('s'), 'student', { label: 'observer' });
    const m = uid('m');
    const presence = stack.procs.get('presence').child;
    let mentor;
    presence.kill('SIGSTOP');
    try {
      mentor = await login(stack.url(0), m, 'mentor', { label: 'm' }); // conn_open queues
      await sleep(PAUSE_MS);
    } finally {
      presence.kill('SIGCONT');
    }
    // Only conn_open can say so: the next reconciliation is a lease interval away.
    await eventually(async () => (await presenceOf(observer, m)).status !== 'offline', {
      what: 'the mentor online', timeoutMs: 5000, everyMs: 100,
    });
    mentor.close();
  });
});

describe('a gateway with MAX_INFLIGHT_PER_SERVICE requests in flight to a kind', () => {
  it('refuses more at once without sending them, and other kinds still answer', async () => {
    const gw2 = stack.gateways[1];
    const { ca, cid } = await twoInConversation(stack.url(1));
    const gwMetrics = async () => (await scrape(gw2.http)).samples;
    const refusedBefore = value(await gwMetrics(), 'parley_gateway_requests_overloaded_total');
    const N = INFLIGHT + 6;
    const s = await sioLogin(gw2.http, uid('s'));
    const sconv = await s.ack('create_conversation', { participants: [uid('t')] });
    assert.equal(sconv.type, 'conversation_created', JSON.stringify(sconv));
    const { first, sessions, c, sc } = await whileChatPaused(async () => {
      const waits = [];
      for (let i = 0; i < N; i++) {
        waits.push(ca.request({ type: 'message', conversation_id: cid, content: `b ${i}`, temp_id: `b-${i}` }));
      }
      // The ones past the bound are answered while chat-svc is still paused: by the gateway.
      const early = await Promise.all(waits.slice(INFLIGHT));
      for (const f of early) assertOverloaded(f, 'past the bound');
      const m = await gwMetrics();
      assert.equal(value(m, 'parley_gateway_requests_inflight', { service: 'chat' }), INFLIGHT);
      assert.equal(value(m, 'parley_gateway_requests_overloaded_total') - refusedBefore, N - INFLIGHT);
      // call-svc is another kind: not refused (presence would ask chat-svc, paused)
      const h = await ca.request({ type: 'call_history' });
      assert.equal(h.type, 'call_history', JSON.stringify(h));
      // A new session needs chat-svc too (session_open), but it is neither bounded
      // here (the connection caps bound sessions, one each) nor shed: it waits for
      // chat-svc and opens once it runs, where refusing it would turn a reconnect
      // storm into a storm of retries.
      const c = await open(stack.url(1), { label: 'late' });
      const late = c.request({ type: 'auth', token: token(uid('l'), 'student') });
      assert.equal((await c.request({ type: 'ping' })).type, 'pong');
      // Socket.IO: the same refusal as the acknowledgement; a namespace connect waits too
      const ack = await s.ack('message', { conversation_id: sconv.conversation.conversation_id, content: 'x', temp_id: 's-1' });
      assertOverloaded(ack, 'socket.io past the bound');
      const sc = sio(gw2.http, { auth: { token: token(uid('r'), 'student') } });
      const sioUp = connected(sc);
      // the ones in flight get their answer once chat-svc runs (shed: they are old)
      await sleep(PAUSE_MS);
      return { first: Promise.all(waits.slice(0, INFLIGHT)), sessions: Promise.all([late, sioUp]), c, sc };
    });
    for (const f of await first) assertOverloaded(f, 'queued while paused');
    const [auth] = await sessions;
    assert.equal(auth.type, 'auth_success', `the session waited and opened: ${JSON.stringify(auth)}`);
    c.close();
    sc.close();
    s.close();
    await eventually(async () => value(await gwMetrics(), 'parley_gateway_requests_inflight', { service: 'chat' }) === 0, {
      what: 'nothing in flight any more',
    });
    assert.deepEqual(await fullHistory(ca, cid), [], 'no refused message was stored');
    const ok = await sendRetrying(ca, cid, 'after', 'b-0');
    assert.equal(ok.type, 'message_sent');
  });
});
