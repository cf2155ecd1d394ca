// Socket.IO clients (docs/protocol/socketio.md), driven by the real
// socket.io-client package with transports: ['websocket'], plus a raw WebSocket speaking
// Engine.IO/Socket.IO by hand where the exact wire form or hostile input is the point:
// connect with a token (auth payload or ?token=), CONNECT_ERROR for bad tokens and other
// namespaces, emit with ack (answer and error objects, `ack` for requests without a named
// answer), answers and server events as Socket.IO events, binary packets, heartbeat and
// its timeout, the polling transport refused with HTTP 400, rate and frame limits.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './lib/stack.mjs';
import { DEFAULT_TIMEOUT_MS, login, open, refusedStatus, sleep, token, uid } from './lib/client.mjs';
import { createConversation } from './lib/chat.mjs';
import { closeAllSio, connected, refusal, sio as sioAt, sioLogin as sioLoginAt } from './lib/sio.mjs';

const PING_INTERVAL_MS = 300;
const PING_TIMEOUT_MS = 1500;
const AUTH_TIMEOUT_MS = 3000;

let stack;
let http; // http://127.0.0.1:<port>: what a Socket.IO app is given
let url; // ws://…/ for raw clients

before(async () => {
  stack = await startStack({
    env: {
      SIO_PING_INTERVAL_MS: String(PING_INTERVAL_MS),
      SIO_PING_TIMEOUT_MS: String(PING_TIMEOUT_MS),
      AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS),
    },
  });
  http = stack.gateways[0].http;
  url = stack.url();
});
after(async () => {
  closeAllSio();
  await stack?.stop();
});

// Socket.IO clients of this file's gateway (lib/sio.mjs).
const sio = (opts = {}) => sioAt(http, opts);
const sioLogin = (user, role = 'student', opts = {}) => sioLoginAt(http, user, role, opts);

// A raw WebSocket on the Engine.IO endpoint; frames are not JSON, so they arrive as
// {__unparsable: text}. Returns the client and the open packet's JSON.
// ("2" and "3" are valid JSON, so the harness hands them over as numbers)
const text = (f) => (typeof f === 'number' ? String(f) : f && typeof f.__unparsable === 'string' ? f.__unparsable : null);
const packet = (prefix) => (f) => text(f) !== null && text(f).startsWith(prefix);

// Pings are answered like a real client does unless opts.pong === false.
async function rawEio(opts = {}) {
  const c = await open(url, { path: '/socket.io/', query: { EIO: '4', transport: 'websocket', ...(opts.query || {}) }, label: opts.label || 'raw-eio' });
  if (opts.pong !== false) {
    c.ws.on('message', (d, isBinary) => {
      if (!isBinary && d.length === 1 && d[0] === 0x32 && c.isOpen) c.ws.send('3');
    });
  }
  const f = await c.next(packet('0'));
  return { c, open: JSON.parse(text(f).slice(1)) };
}

// A raw Engine.IO client connected to "/" as user: returns it after 40 and auth_success.
async function rawSio(user, role = 'student', opts = {}) {
  const r = await rawEio({ label: `raw-${user}`, ...opts });
  r.c.send(`40${JSON.stringify({ token: token(user, role) })}`);
  await r.c.next(packet('40{'));
  await r.c.next(packet('42["auth_success"'));
  return r.c;
}

const eventOf = (f) => JSON.parse(text(f).slice(2));

// ---------------------------------------------------------------------------------

describe('connect', () => {
  it('token in the auth payload: connect, then auth_success as an event without type', async () => {
    const u = uid('s');
    const c = await sioLogin(u, 'mentor');
    assert.equal(c.socket.connected, true);
    assert.equal(c.auth.user_id, u);
    assert.equal(c.auth.role, 'mentor');
    assert.ok(!('type' in c.auth), `auth_success argument without type: ${JSON.stringify(c.auth)}`);
    assert.ok(Array.isArray(c.auth.conversations));
    assert.equal(c.socket.id, c.auth.session_id, 'the Socket.IO id is the session id');
    c.close();
  });

  it('token in the ?token= query', async () => {
    const u = uid('q');
    const c = sio({ query: { token: token(u, 'student') } });
    await connected(c);
    assert.equal((await c.next('auth_success')).user_id, u);
    c.close();
  });

  it('"Bearer <token>" in the auth payload is accepted', async () => {
    const u = uid('b');
    const c = sio({ auth: { token: `Bearer ${token(u, 'student')}` } });
    await connected(c);
    assert.equal((await c.next('auth_success')).user_id, u);
    c.close();
  });

  it('the wire: open packet, 40{"sid"}, 42["auth_success",{…}]', async () => {
    const { c, open: o } = await rawEio();
    assert.equal(typeof o.sid, 'string');
    assert.deepEqual(o.upgrades, []);
    assert.equal(o.pingInterval, PING_INTERVAL_MS);
    assert.equal(o.pingTimeout, PING_TIMEOUT_MS);
    assert.equal(o.maxPayload, 131072);
    const u = uid('w');
    c.send(`40{"token":"${token(u, 'student')}"}`);
    const ok = JSON.parse(text(await c.next(packet('40'))).slice(2));
    assert.equal(typeof ok.sid, 'string');
    const [name, arg] = eventOf(await c.next(packet('42')));
    assert.equal(name, 'auth_success');
    assert.equal(arg.user_id, u);
    assert.equal(arg.session_id, ok.sid);
    c.close();
  });
});

describe('refused connects: CONNECT_ERROR', () => {
  const bad = {
    expired: (u) => token(u, 'student', { exp: Math.floor(Date.now() / 1000) - 60 }),
    'wrong secret': (u) => token(u, 'student', { secret: 'nope' }),
    'alg none': (u) => token(u, 'student', { alg: 'none' }),
    garbage: () => 'not-a-jwt',
  };
  for (const [what, make] of Object.entries(bad)) {
    it(`bad token in the auth payload (${what}) → data.code unauthenticated`, async () => {
      const err = await refusal(sio({ auth: { token: make(uid('x')) } }));
      assert.equal(err.data?.code, 'unauthenticated', JSON.stringify(err.data));
      assert.match(err.message, /token/);
    });
  }

  it('bad token in the ?token= query → data.code unauthenticated (no HTTP 401)', async () => {
    const err = await refusal(sio({ query: { token: bad.expired(uid('x')) } }));
    assert.equal(err.data?.code, 'unauthenticated', JSON.stringify(err.data));
  });

  it('no token at all → unauthenticated, with a message that says how', async () => {
    const err = await refusal(sio());
    assert.equal(err.data?.code, 'unauthenticated');
    assert.match(err.message, /token/);
  });

  it('a token that is not a string → unauthenticated', async () => {
    const err = await refusal(sio({ auth: { token: 42 } }));
    assert.equal(err.data?.code, 'unauthenticated');
  });

  it('another namespace → CONNECT_ERROR for that namespace', async () => {
    const err = await refusal(sio({ path: '/admin', auth: { token: token(uid('n'), 'admin') } }));
    assert.ok(err.data?.code, JSON.stringify(err.data));
    assert.match(err.message, /namespace/i);
  });

  it('after a refusal the same engine connection may CONNECT again', async () => {
    const { c } = await rawEio();
    c.send('40{"token":"bad"}');
    const e = JSON.parse(text(await c.next(packet('44'))).slice(2));
    assert.equal(e.data.code, 'unauthenticated');
    const u = uid('again');
    c.send(`40{"token":"${token(u, 'student')}"}`);
    await c.next(packet('40'));
    assert.equal(eventOf(await c.next(packet('42')))[1].user_id, u);
    c.close();
  });

  it('no CONNECT within the auth timeout → closed 1008', async () => {
    const { c } = await rawEio();
    const info = await c.waitClose(AUTH_TIMEOUT_MS + DEFAULT_TIMEOUT_MS);
    assert.equal(info.code, 1008);
  });
});

describe('emit with an ack: the answer object, with its type', () => {
  it('named answer: create_conversation → conversation_created, send_message → message_sent', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await sioLogin(a);
    const cb = await sioLogin(b, 'mentor');
    const created = await ca.ack('create_conversation', { participants: [b], kind: 'direct' });
    assert.equal(created.type, 'conversation_created', JSON.stringify(created));
    assert.ok(!('id' in created), 'the ack carries no correlation id');
    const cid = created.conversation.conversation_id;
    const ev = await cb.next('conversation_created');
    assert.equal(ev.conversation.conversation_id, cid);
    const sent = await ca.ack('send_message', { conversation_id: cid, content: 'hello', temp_id: 't1' });
    assert.equal(sent.type, 'message_sent', JSON.stringify(sent));
    assert.equal(sent.seq, 1);
    assert.equal(sent.temp_id, 't1');
    const nm = await cb.next('new_message');
    assert.equal(nm.message.content, 'hello');
    assert.equal(nm.message.message_id, sent.message_id);
    const h = await cb.ack('history', { conversation_id: cid });
    assert.equal(h.type, 'history');
    assert.deepEqual(h.messages.map((m) => m.content), ['hello']);
    ca.close();
    cb.close();
  });

  it('errors come back as the ack argument: {type:"error", code, message}', async () => {
    const c = await sioLogin(uid('e'));
    const missing = await c.ack('send_message', { conversation_id: 1 });
    assert.equal(missing.type, 'error');
    assert.equal(missing.code, 'bad_request');
    assert.equal(typeof missing.message, 'string');
    const unknown = await c.ack('no_such_event', {});
    assert.equal(unknown.type, 'error');
    assert.equal(unknown.code, 'bad_request');
    const foreign = await c.ack('history', { conversation_id: 2147483000 });
    assert.equal(foreign.type, 'error');
    assert.ok(['forbidden', 'not_found'].includes(foreign.code), JSON.stringify(foreign));
    const second = await c.ack('auth', { token: token(uid('z'), 'student') });
    assert.equal(second.code, 'conflict', 'auth on a connected socket is a second auth');
    const notObject = await c.ack('ping', 'text');
    assert.equal(notObject.code, 'bad_request');
    c.close();
  });

  it('requests without a named answer: {type:"ack", of:<event as sent>}', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await sioLogin(a);
    const rb = await login(url, b, 'student');
    const conv = await ca.ack('create_conversation', { participants: [b] });
    await rb.next('conversation_created');
    const cid = conv.conversation.conversation_id;
    assert.deepEqual(await ca.ack('typing_start', { conversation_id: cid }), { type: 'ack', of: 'typing_start' });
    assert.deepEqual(await ca.ack('user_stopped_typing', { conversation_id: cid }), { type: 'ack', of: 'user_stopped_typing' });
    assert.deepEqual(await ca.ack('ping'), { type: 'pong' });
    ca.close();
    rb.close();
  });

  it('without an ack the answer arrives as an event (and errors as an `error` event)', async () => {
    const c = await sioLogin(uid('n'));
    c.emit('ping');
    assert.deepEqual(await c.next('pong'), {});
    c.emit('send_message', { conversation_id: 1 });
    const e = await c.next('error');
    assert.equal(e.code, 'bad_request');
    assert.ok(!('id' in e) && !('type' in e), JSON.stringify(e));
    c.close();
  });

  it('ack ids of every size the parser accepts round-trip (raw wire)', async () => {
    const c = await rawSio(uid('ids'));
    for (const id of [0, 7, 1234567, 999999999999999]) {
      c.send(`42${id}["ping"]`);
      const f = await c.next(packet(`43${id}[`));
      assert.deepEqual(JSON.parse(text(f).slice(2 + String(id).length)), [{ type: 'pong' }]);
    }
    c.close();
  });
});

describe('server events', () => {
  it('new_message from a raw WebSocket user arrives as 42["new_message",{message}]', async () => {
    const [a, b] = [uid('raw'), uid('sio')];
    const ra = await login(url, a, 'student');
    const cb = await sioLogin(b, 'mentor');
    const conv = await createConversation(ra, [b]);
    const created = await cb.next('conversation_created');
    assert.equal(created.conversation.conversation_id, conv.conversation_id);
    assert.ok(!('type' in created));
    const sent = await ra.request({ type: 'message', conversation_id: conv.conversation_id, content: 'from raw' });
    const ev = await cb.next('new_message');
    assert.equal(ev.message.message_id, sent.message_id);
    assert.equal(ev.message.sender_id, a);
    assert.equal(ev.message.content, 'from raw');
    ra.close();
    cb.close();
  });
});

describe('hostile and unsupported input', () => {
  it('a binary event gets a clear error, and the socket keeps working', async () => {
    const c = await sioLogin(uid('bin'));
    const ans = await c.ack('send_message', { conversation_id: 1, content: Buffer.from('hi') });
    assert.equal(ans.type, 'error');
    assert.equal(ans.code, 'bad_request');
    assert.match(ans.message, /binary/);
    c.socket.emit('upload', Buffer.from([1, 2, 3]), new Uint8Array([4, 5]));
    const ev = await c.next('error');
    assert.match(ev.message, /binary/);
    assert.deepEqual(await c.ack('ping'), { type: 'pong' });
    assert.equal(c.socket.connected, true);
    c.close();
  });

  it('malformed packets cost an `error` event, never the connection', async () => {
    const c = await rawSio(uid('junk'));
    // each of these is one `error` event (Engine.IO upgrade/noop packets are ignored)
    const junk = ['4', '42', '42[', '42{}', '42[1,{}]', '42[""]', '42["ping",1]', '42["ping",{},{}]',
      '4x', '9', 'hello', '{"type":"ping"}', '42["ping",{"a":"\\ud800"}]', `42[${'['.repeat(100)}`,
      `42${'9'.repeat(40)}["ping"]`, `4${'9'.repeat(40)}["ping"]`, '451-', '45999-[]',
      `40/${'n'.repeat(300)},`];
    for (const j of [...junk, '5', '6', '5garbage']) c.send(j);
    const errors = [];
    for (let i = 0; i < junk.length; i++) {
      const [name, arg] = eventOf(await c.next(packet('42["error"')));
      assert.equal(name, 'error');
      assert.equal(arg.code, 'bad_request', JSON.stringify(arg));
      errors.push(arg.message);
    }
    c.send('423["ping"]');
    await c.next(packet('433[{"type":"pong"}]'));
    assert.equal(c.isOpen, true);
    c.close();
  });

  it('a binary WebSocket frame: bad_request first, the second closes 1003', async () => {
    const c = await rawSio(uid('bf'));
    c.sendBinary([1, 2, 3]);
    assert.equal(eventOf(await c.next(packet('42["error"')))[1].code, 'bad_request');
    c.sendBinary([4]);
    assert.equal((await c.waitClose()).code, 1003);
  });

  it('a frame over MAX_FRAME_BYTES → close 1009', async () => {
    const c = await rawSio(uid('big'));
    c.send(`42["ping",{"x":"${'a'.repeat(140000)}"}]`);
    assert.equal((await c.waitClose()).code, 1009);
  });

  it('the rate limit applies to emits (rate_limited in the ack)', async () => {
    const c = await sioLogin(uid('rl'));
    const answers = await Promise.all(Array.from({ length: 50 }, () => c.ack('ping')));
    const limited = answers.filter((a) => a.type === 'error' && a.code === 'rate_limited');
    assert.ok(limited.length >= 1, `some of 50 pings in a burst are rate limited: ${JSON.stringify(answers.slice(-3))}`);
    assert.ok(answers.some((a) => a.type === 'pong'));
    c.close();
  });
});

describe('transports and versions', () => {
  it('HTTP long-polling → 400 telling to use transports: [\'websocket\']', async () => {
    const res = await fetch(`${http}/socket.io/?EIO=4&transport=polling&t=x`, { signal: AbortSignal.timeout(DEFAULT_TIMEOUT_MS) });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.code, 3);
    assert.match(body.message, /transports: \['websocket'\]/);
  });

  it('a socket.io-client left on its default transports fails to connect (clearly, not silently)', async () => {
    const c = sio({ transports: ['polling'] });
    const err = await refusal(c);
    assert.ok(err instanceof Error);
  });

  it('EIO=3 at the WebSocket upgrade → HTTP 400', async () => {
    assert.equal(await refusedStatus(url, { path: '/socket.io/', query: { EIO: '3', transport: 'websocket' } }), 400);
    assert.equal(await refusedStatus(url, { path: '/socket.io/', query: { transport: 'websocket' } }), 400);
    assert.equal(await refusedStatus(url, { path: '/socket.io/', query: { EIO: '4', transport: 'polling' } }), 400);
  });
});

describe('heartbeat', () => {
  it('a socket.io-client stays connected across several ping intervals', async () => {
    const c = await sioLogin(uid('hb'));
    let pings = 0;
    c.socket.io.engine.on('ping', () => pings++);
    let dropped = null;
    c.socket.on('disconnect', (why) => (dropped = why));
    await sleep(PING_INTERVAL_MS * 8);
    assert.equal(dropped, null, `disconnected: ${dropped}`);
    assert.ok(pings >= 4, `pings seen: ${pings}`);
    assert.deepEqual(await c.ack('ping'), { type: 'pong' });
    c.close();
  });

  it('the server pings with "2"; a client that stops answering "3" is closed', async () => {
    const c = await rawSio(uid('mute'), 'student', { pong: false });
    await c.next((f) => text(f) === '2');
    const info = await c.waitClose(PING_TIMEOUT_MS + DEFAULT_TIMEOUT_MS);
    assert.equal(info.code, 1008);
    assert.match(info.reason, /ping timeout/);
  });

  it('a client ping "2probe" is answered "3probe"', async () => {
    const { c } = await rawEio();
    c.send('2probe');
    await c.next((f) => text(f) === '3probe');
    c.close();
  });

  it('41 (DISCONNECT) and 1 (close) end the connection normally', async () => {
    const a = await rawSio(uid('d'));
    a.send('41');
    assert.equal((await a.waitClose()).code, 1000);
    const b = await rawSio(uid('d'));
    b.send('1');
    assert.equal((await b.waitClose()).code, 1000);
  });
});
