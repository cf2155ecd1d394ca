// Authentication: where the token may come from, what a bad one gets, what is allowed
// before authenticating, and the auth timeout (docs/protocol/basics.md "Authentication"
// and "Envelope").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { open, connect, token, uid, refusedStatus, sleep } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';

const AUTH_TIMEOUT_MS = 2000;
let stack;
let url;

useStack(() => ({ env: { AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS) } }), (s) => {
  stack = s;
  url = s.url();
});

function assertAuthSuccess(f, user, role) {
  assert.equal(f.type, 'auth_success', JSON.stringify(f));
  assert.equal(f.user_id, user);
  assert.equal(f.role, role);
  assert.ok(f.session_id !== undefined && f.session_id !== null && f.session_id !== '', 'session_id');
  assert.ok(Array.isArray(f.conversations), 'conversations is a list');
  assert.ok(Number.isInteger(f.notification_count) && f.notification_count >= 0, 'notification_count');
  // exactly the fields docs/protocol/basics.md lists (id only when the auth frame had one)
  const fields = ['type', 'user_id', 'role', 'session_id', 'conversations', 'notification_count'];
  assert.deepEqual(Object.keys(f).filter((k) => k !== 'id').sort(), fields.sort(), JSON.stringify(f));
}

const past = () => Math.floor(Date.now() / 1000) - 3600;

// Tokens that must be refused, each built for a fresh user.
const BAD_TOKENS = {
  expired: (u) => token(u, 'student', { exp: past() }),
  'wrong secret': (u) => token(u, 'student', { secret: 'not-the-secret' }),
  'alg none (unsigned)': (u) => token(u, 'student', { alg: 'none' }),
  'alg none with a signature': (u) => token(u, 'student', { alg: 'none', signature: 'abc' }),
  'HS512 instead of HS256': (u) => token(u, 'student', { alg: 'HS512' }),
  'missing role': (u) => token(u, null), // null: undefined would take token()'s default role
  'unknown role': (u) => token(u, 'superuser'),
  'tampered payload': (u) => {
    const [h, , s] = token(u, 'student').split('.');
    const p = Buffer.from(JSON.stringify({ sub: u, role: 'admin', exp: past() + 7200 })).toString('base64url');
    return `${h}.${p}.${s}`;
  },
  garbage: () => 'not-a-jwt',
};

describe('token at the upgrade', () => {
  it('?token= query: auth_success is the first frame, unasked', async () => {
    const u = uid('q');
    const c = await open(url, { token: token(u, 'student') });
    const f = await c.next();
    assertAuthSuccess(f, u, 'student');
    assert.ok(!('id' in f), 'an unsolicited auth_success has no id');
    assert.deepEqual(f.conversations, [], 'a new user has no conversations');
    c.close();
  });

  it('Authorization: Bearer header: auth_success is the first frame', async () => {
    const u = uid('h');
    const c = await open(url, { token: token(u, 'mentor'), tokenIn: 'header' });
    assertAuthSuccess(await c.next(), u, 'mentor');
    c.close();
  });

  it('the WebSocket endpoint is served on GET /ws as well as GET /', async () => {
    const u = uid('ws');
    const c = await open(url, { token: token(u, 'student'), path: '/ws' });
    assertAuthSuccess(await c.next(), u, 'student');
    c.close();
  });

  it('role "user" is accepted as student; admin and mentor kept; name is optional', async () => {
    const cases = [
      ['user', 'student', undefined],
      ['admin', 'admin', 'Ada'],
      ['mentor', 'mentor', 'Mo'],
      ['student', 'student', 'Stu'],
    ];
    for (const [claim, role, name] of cases) {
      const u = uid('r');
      const c = await open(url, { token: token(u, claim, { name }) });
      assertAuthSuccess(await c.next(), u, role);
      c.close();
    }
  });

  it('a numeric sub is used as its decimal string', async () => {
    const n = 1000000 + Math.floor(Math.random() * 1000000000);
    const c = await open(url, { token: token(n, 'student') });
    const f = await c.next();
    assertAuthSuccess(f, String(n), 'student');
    c.close();
  });

  for (const [what, make] of Object.entries(BAD_TOKENS)) {
    it(`bad token (${what}) → HTTP 401 at the upgrade, query and header`, async () => {
      const t = make(uid('bad'));
      assert.equal(await refusedStatus(url, { token: t }), 401, 'token in query');
      assert.equal(await refusedStatus(url, { token: t, tokenIn: 'header' }), 401, 'Bearer header');
    });
  }

  it('bad token (no sub claim) → HTTP 401 at the upgrade', async () => {
    const t = token(uid('nosub'), 'student', { claims: { sub: undefined } });
    assert.equal(await refusedStatus(url, { token: t }), 401);
  });
});

describe('auth frame', () => {
  it('{type:"auth", token} → auth_success carrying the request id', async () => {
    const u = uid('f');
    const c = await open(url);
    const f = await c.request({ type: 'auth', token: token(u, 'student'), id: 'auth-1' });
    assertAuthSuccess(f, u, 'student');
    assert.equal(f.id, 'auth-1');
    c.close();
  });

  it('auth without id → auth_success without id', async () => {
    const u = uid('f');
    const c = await open(url);
    c.send({ type: 'auth', token: token(u, 'mentor') });
    const f = await c.next();
    assertAuthSuccess(f, u, 'mentor');
    assert.ok(!('id' in f));
    c.close();
  });

  for (const [what, make] of Object.entries(BAD_TOKENS)) {
    it(`bad token (${what}) in the auth frame → unauthenticated, connection kept`, async () => {
      const c = await open(url);
      const f = await c.request({ type: 'auth', token: make(uid('badf')) });
      assertError(f, 'unauthenticated', f.id);
      assert.equal((await c.request({ type: 'ping' })).type, 'pong', 'connection still usable');
      c.close();
    });
  }

  it('auth frame with a missing or ill-typed token → bad_request, an empty one → unauthenticated; connection kept', async () => {
    const c = await open(url);
    for (const frame of [{ type: 'auth' }, { type: 'auth', token: 42 }, { type: 'auth', token: null }]) {
      const f = await c.request(frame);
      assert.equal(f.type, 'error', JSON.stringify(f));
      assert.equal(f.code, 'bad_request', JSON.stringify(f));
    }
    const empty = await c.request({ type: 'auth', token: '' });
    assert.equal(empty.type, 'error', JSON.stringify(empty));
    assert.equal(empty.code, 'unauthenticated', 'an empty token is a bad token');
    assert.equal((await c.request({ type: 'ping' })).type, 'pong');
    c.close();
  });

  it('a good auth after a refused one succeeds', async () => {
    const u = uid('retry');
    const c = await open(url);
    const f = await c.request({ type: 'auth', token: token(u, 'student', { exp: past() }) });
    assertError(f, 'unauthenticated', f.id);
    assertAuthSuccess(await c.request({ type: 'auth', token: token(u, 'student') }), u, 'student');
    c.close();
  });

  it('second auth → conflict (after an auth frame and after an upgrade token)', async () => {
    const u = uid('twice');
    const a = await open(url);
    assertAuthSuccess(await a.request({ type: 'auth', token: token(u, 'student') }), u, 'student');
    const f = await a.request({ type: 'auth', token: token(u, 'student') });
    assertError(f, 'conflict', f.id);
    assert.equal((await a.request({ type: 'ping' })).type, 'pong', 'connection kept');

    const b = await connect(url, { token: token(u, 'student') });
    const g = await b.request({ type: 'auth', token: token(u, 'student') });
    assertError(g, 'conflict', g.id);
    a.close();
    b.close();
  });
});

describe('before authentication', () => {
  it('any event other than auth/ping → unauthenticated, unknown types included', async () => {
    const c = await open(url);
    const frames = [
      { type: 'message', conversation_id: 1, content: 'hi' },
      { type: 'send_message', conversation_id: 1, content: 'hi' },
      { type: 'create_conversation', participants: ['x'] },
      { type: 'history', conversation_id: 1 },
      { type: 'subscribe_conversation', conversation_id: 1 },
      { type: 'set_status', status: 'away' },
      { type: 'no_such_event' },
      { type: 'pong' },
    ];
    for (const frame of frames) {
      const f = await c.request(frame);
      assertError(f, 'unauthenticated', f.id);
    }
    c.send({ type: 'no_such_event_without_id' });
    assertError(await c.next('error'), 'unauthenticated', undefined);
    assert.ok(c.isOpen);
    c.close();
  });

  it('a frame that is not a JSON object → bad_request, before auth too', async () => {
    const c = await open(url);
    for (const raw of ['not json', '[1,2]', '"auth"', '42', 'null']) {
      c.send(raw);
      assertError(await c.next('error'), 'bad_request', undefined);
    }
    assert.equal((await c.request({ type: 'ping' })).type, 'pong');
    c.close();
  });

  it('ping → pong before auth, id echoed', async () => {
    const c = await open(url);
    c.send({ type: 'ping' });
    const p = await c.next();
    assert.equal(p.type, 'pong');
    assert.ok(!('id' in p));
    const q = await c.request({ type: 'ping', id: 'p-7' });
    assert.deepEqual(q, { ...q, type: 'pong', id: 'p-7' });
    c.close();
  });
});

describe('auth timeout', () => {
  it(`no auth within AUTH_TIMEOUT_MS (${AUTH_TIMEOUT_MS}) → close 1008`, async () => {
    const c = await open(url);
    const info = await c.waitClose(AUTH_TIMEOUT_MS + 15000);
    assert.equal(info.code, 1008);
  });

  it('pings do not count as authentication: still closed 1008', async () => {
    const c = await open(url);
    const timer = setInterval(() => c.isOpen && c.send({ type: 'ping' }), 300);
    try {
      const info = await c.waitClose(AUTH_TIMEOUT_MS + 15000);
      assert.equal(info.code, 1008);
    } finally {
      clearInterval(timer);
    }
  });

  it('an authenticated connection outlives the auth timeout', async () => {
    const u = uid('live');
    const a = await open(url);
    assertAuthSuccess(await a.request({ type: 'auth', token: token(u, 'student') }), u, 'student');
    const b = await connect(url, { token: token(uid('live'), 'student') });
    await sleep(AUTH_TIMEOUT_MS * 2);
    assert.ok(a.isOpen && b.isOpen, 'still open');
    assert.equal((await a.request({ type: 'ping' })).type, 'pong');
    assert.equal((await b.request({ type: 'ping' })).type, 'pong');
    a.close();
    b.close();
  });
});
