// A session lives no longer than its token (docs/protocol/basics.md "Session
// lifetime", docs/protocol/socketio.md "Token expiry and refresh"): `token_expiring
// {exp}` some time before exp, close 4001 "token expired" at exp, unless `refresh
// {token}` brought a newer token for the same user (`refreshed {exp}`); another user's
// token is `forbidden`, a bad one `unauthenticated`, and either leaves the session as
// it was. The same over Socket.IO. And JWT_ISSUER / JWT_AUDIENCE, enforced at the
// upgrade, in `auth`, at the Socket.IO connect and in `refresh`.
//
// Tokens expire a few seconds ahead (JWT exp has 1 s resolution: `exp = now_s + 3` is
// 2 to 3 s away) with TOKEN_EXPIRING_NOTICE_S=2. The timed cases run concurrently.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './lib/stack.mjs';
import {
  DEFAULT_TIMEOUT_MS,
  httpGet,
  open,
  connect,
  refusedStatus,
  sleep,
  token,
  uid,
} from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { closeAllSio, connected, refusal, sio } from './lib/sio.mjs';

const NOTICE_S = 2;
const ISSUER = 'https://idp.parley.test/';
const AUDIENCE = 'parley-gw';

let stack;
let url; // JWT_ISSUER / JWT_AUDIENCE unset
let strictUrl; // both set

before(async () => {
  stack = await startStack({
    gateways: 2,
    env: { TOKEN_EXPIRING_NOTICE_S: String(NOTICE_S) },
    envFor: { gateway2: { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE } },
  });
  url = stack.url(0);
  strictUrl = stack.url(1);
});
after(async () => {
  closeAllSio();
  await stack?.stop();
});

const nowS = () => Math.floor(Date.now() / 1000);
const iso = (expS) => new Date(expS * 1000).toISOString();
// Resolves once the wall clock has passed exp (plus ms).
const until = (expS, ms = 0) => sleep(Math.max(0, expS * 1000 + ms - Date.now()));

// A session on the raw endpoint whose token expires at exp (null: none).
async function session(user, exp, role = 'student') {
  return connect(url, { token: token(user, role, { exp }), label: user });
}

// The connection is closed 4001 "token expired", and not before exp.
async function assertExpiredAt(c, exp) {
  const info = await c.waitClose(DEFAULT_TIMEOUT_MS + 4000);
  const at = Date.now();
  assert.deepEqual(info, { code: 4001, reason: 'token expired' });
  assert.ok(at >= exp * 1000, `closed ${exp * 1000 - at} ms before exp`);
}

async function assertAlive(c) {
  assert.ok(c.isOpen, 'the connection is still open');
  const f = await c.request({ type: 'ping' });
  assert.equal(f.type, 'pong');
}

describe('expiry on the raw endpoint', { concurrency: true }, () => {
  it('token_expiring {exp} some time before exp, then close 4001 "token expired" at exp', async () => {
    const exp = nowS() + 3;
    const c = await session(uid('exp'), exp);
    const notice = await c.next('token_expiring');
    assert.ok(Date.now() < exp * 1000, 'the notice comes before exp');
    assert.deepEqual(notice, { type: 'token_expiring', exp: iso(exp) });
    await assertExpiredAt(c, exp);
  });

  it('a token given in `auth` expires the same way', async () => {
    const exp = nowS() + 3;
    const u = uid('auth');
    const c = await open(url, { label: u });
    assert.equal((await c.request({ type: 'auth', token: token(u, 'mentor', { exp }) })).type, 'auth_success');
    assert.equal((await c.next('token_expiring')).exp, iso(exp));
    await assertExpiredAt(c, exp);
  });

  it('refresh with a newer token: refreshed {exp}, no close at the old exp, expiry at the new one', async () => {
    const exp1 = nowS() + 3;
    const u = uid('ref');
    const c = await session(u, exp1);
    await c.next('token_expiring');
    const exp2 = exp1 + 3;
    const f = await c.request({ type: 'refresh', token: token(u, 'student', { exp: exp2 }) });
    assert.deepEqual(f, { type: 'refreshed', exp: iso(exp2), id: f.id });
    await until(exp1, 700);
    await assertAlive(c);
    assert.equal((await c.next('token_expiring')).exp, iso(exp2), 'a new notice before the new exp');
    await assertExpiredAt(c, exp2);
  });

  it("refresh with another user's token: forbidden, the session still ends at the old exp", async () => {
    const exp = nowS() + 3;
    const c = await session(uid('own'), exp);
    const f = await c.request({ type: 'refresh', token: token(uid('other'), 'student') });
    assertError(f, 'forbidden', f.id);
    await c.next('token_expiring');
    await assertExpiredAt(c, exp);
  });

  it('refresh with a bad token: unauthenticated, the session still ends at the old exp', async () => {
    const exp = nowS() + 3;
    const u = uid('bad');
    const c = await session(u, exp);
    const f = await c.request({ type: 'refresh', token: token(u, 'student', { secret: 'not-the-secret' }) });
    assertError(f, 'unauthenticated', f.id);
    await assertExpiredAt(c, exp);
  });

  it('refresh with an earlier exp is accepted: the session ends at that exp', async () => {
    const u = uid('earlier');
    const c = await session(u, nowS() + 3600);
    const exp = nowS() + 3;
    const f = await c.request({ type: 'refresh', token: token(u, 'student', { exp }) });
    assert.deepEqual(f, { type: 'refreshed', exp: iso(exp), id: f.id });
    assert.equal((await c.next('token_expiring')).exp, iso(exp));
    await assertExpiredAt(c, exp);
  });

  it('refresh with a token without exp: refreshed {exp: null}, the session no longer expires', async () => {
    const exp = nowS() + 3;
    const u = uid('noexp');
    const c = await session(u, exp);
    const f = await c.request({ type: 'refresh', token: token(u, 'student', { exp: null }) });
    assert.deepEqual(f, { type: 'refreshed', exp: null, id: f.id });
    await until(exp, 700);
    await assertAlive(c);
    c.drain('token_expiring'); // one may have left before the refresh
    await c.expectNone('token_expiring', 300);
    c.close();
  });

  it('many sessions, exps in random order, some refreshed either way, some closed early: each ends at its own exp', async () => {
    const pick = () => nowS() + 3 + Math.floor(Math.random() * 4); // 2 to 6 s away
    const clients = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const u = uid(`many${i}`);
        const s = { u, exp: pick(), c: null, gone: i % 7 === 3 };
        s.c = await session(u, s.exp);
        return s;
      }),
    );
    // some swap their token for one with another exp: earlier, later or the same
    const later = nowS() + 4;
    await Promise.all(
      clients.filter((s, i) => i % 3 === 0 && s.exp >= later).map(async (s) => {
        const exp = pick();
        const f = await s.c.request({ type: 'refresh', token: token(s.u, 'student', { exp }) });
        assert.equal(f.exp, iso(exp));
        s.exp = exp;
      }),
    );
    for (const s of clients.filter((x) => x.gone)) s.c.close(); // leave the heap mid-way
    await Promise.all(
      clients.filter((s) => !s.gone).map((s) => assertExpiredAt(s.c, s.exp)),
    );
  });

  it('a token without exp: no notice, no expiry', async () => {
    const c = await session(uid('forever'), null);
    await c.expectNone((f) => f.type === 'token_expiring', 3000);
    await assertAlive(c);
    c.close();
  });
});

describe('refresh', () => {
  it('before authentication: unauthenticated, and auth still works after', async () => {
    const u = uid('pre');
    const c = await open(url, { label: u });
    const f = await c.request({ type: 'refresh', token: token(u, 'student') });
    assertError(f, 'unauthenticated', f.id);
    assert.equal((await c.request({ type: 'auth', token: token(u, 'student') })).type, 'auth_success');
    c.close();
  });

  it('bad tokens: unauthenticated each time; the session goes on', async () => {
    const u = uid('bads');
    const c = await session(u, nowS() + 3600);
    const bad = {
      expired: token(u, 'student', { exp: nowS() - 60 }),
      'wrong secret': token(u, 'student', { secret: 'nope' }),
      'alg none': token(u, 'student', { alg: 'none' }),
      'HS512': token(u, 'student', { alg: 'HS512' }),
      garbage: 'not-a-jwt',
      empty: '',
    };
    for (const [what, t] of Object.entries(bad)) {
      const f = await c.request({ type: 'refresh', token: t });
      assertError(f, 'unauthenticated', f.id);
      assert.match(f.message, /token/, what);
    }
    await assertAlive(c);
    c.close();
  });

  it('a missing or non-string token is bad_request', async () => {
    const c = await session(uid('shape'), nowS() + 3600);
    assertError(await c.request({ type: 'refresh', id: 'a' }), 'bad_request', 'a');
    assertError(await c.request({ type: 'refresh', id: 'b', token: 42 }), 'bad_request', 'b');
    c.close();
  });

  it('a token for the same user with another role: forbidden', async () => {
    const u = uid('role');
    const c = await session(u, nowS() + 3600, 'student');
    const f = await c.request({ type: 'refresh', token: token(u, 'mentor') });
    assertError(f, 'forbidden', f.id);
    await assertAlive(c);
    c.close();
  });

  it('the answer echoes the id exactly; without an id it still comes, without one', async () => {
    const u = uid('ids');
    const c = await session(u, nowS() + 3600);
    const exp = nowS() + 7200;
    c.send({ type: 'refresh', id: 7, token: token(u, 'student', { exp }) });
    assert.deepEqual(await c.next((f) => f.id === 7), { type: 'refreshed', exp: iso(exp), id: 7 });
    c.send({ type: 'refresh', id: 'r-"x"', token: token(u, 'student', { exp }) });
    assert.equal((await c.next('refreshed')).id, 'r-"x"');
    c.send({ type: 'refresh', token: token(u, 'student', { exp }) });
    assert.deepEqual(await c.next('refreshed'), { type: 'refreshed', exp: iso(exp) });
    c.close();
  });
});

describe('JWT_ISSUER and JWT_AUDIENCE', () => {
  const good = (u, claims = {}) => token(u, 'student', { claims: { iss: ISSUER, aud: AUDIENCE, ...claims } });
  const bad = {
    'missing iss': (u) => good(u, { iss: undefined }),
    'wrong iss': (u) => good(u, { iss: 'https://evil.test/' }),
    'missing aud': (u) => good(u, { aud: undefined }),
    'wrong aud': (u) => good(u, { aud: 'billing' }),
    'aud list without ours': (u) => good(u, { aud: ['billing', 'crm'] }),
  };

  it('a token with both is accepted (aud as a string or in a list)', async () => {
    const u = uid('iss');
    const c = await connect(strictUrl, { token: good(u) });
    assert.equal(c.auth.user_id, u);
    c.close();
    const d = await connect(strictUrl, { token: good(u, { aud: ['billing', AUDIENCE] }) });
    assert.equal(d.auth.user_id, u);
    d.close();
  });

  for (const [what, make] of Object.entries(bad)) {
    it(`${what}: HTTP 401 at the upgrade, unauthenticated in auth`, async () => {
      const u = uid('iss');
      assert.equal(await refusedStatus(strictUrl, { token: make(u) }), 401);
      const c = await open(strictUrl, { label: u });
      const f = await c.request({ type: 'auth', token: make(u) });
      assertError(f, 'unauthenticated', f.id);
      assert.match(f.message, /iss|aud/);
      c.close();
    });
  }

  it('a refresh must meet them too', async () => {
    const u = uid('iss');
    const c = await connect(strictUrl, { token: good(u) });
    const f = await c.request({ type: 'refresh', token: token(u, 'student') });
    assertError(f, 'unauthenticated', f.id);
    assert.equal((await c.request({ type: 'refresh', token: good(u) })).type, 'refreshed');
    c.close();
  });

  it('Socket.IO: CONNECT_ERROR unauthenticated without them', async () => {
    const c = sio(stack.gateways[1].http, { auth: { token: token(uid('iss'), 'student') } });
    const err = await refusal(c);
    assert.equal(err.data?.code, 'unauthenticated');
    assert.match(err.message, /iss/);
  });

  it('the gateway without them accepts tokens with or without iss/aud', async () => {
    const u = uid('lax');
    (await connect(url, { token: good(u) })).close();
    (await connect(url, { token: token(u, 'student') })).close();
  });
});

// ---- Socket.IO ------------------------------------------------------------------------

async function sioSession(user, exp) {
  const c = sio(stack.gateways[0].http, { auth: { token: token(user, 'student', { exp }) } });
  await connected(c);
  await c.next('auth_success');
  return c;
}

// At exp: an `error` event (unauthenticated, "token expired"), then a server disconnect.
async function assertSioExpiredAt(c, exp) {
  const e = await c.next('error', DEFAULT_TIMEOUT_MS + 4000);
  assert.deepEqual(e, { code: 'unauthenticated', message: 'token expired' });
  const reason = await c.next('disconnect');
  assert.equal(reason, 'io server disconnect');
  assert.ok(Date.now() >= exp * 1000, 'not before exp');
  c.close();
}

describe('Socket.IO', { concurrency: true }, () => {
  it('token_expiring event, then at exp an error event and a server disconnect', async () => {
    const exp = nowS() + 3;
    const c = await sioSession(uid('sexp'), exp);
    assert.deepEqual(await c.next('token_expiring'), { exp: iso(exp) });
    await assertSioExpiredAt(c, exp);
  });

  it('emit refresh with an ack: {type: refreshed, exp}; the session lives on to the new exp', async () => {
    const exp1 = nowS() + 3;
    const u = uid('sref');
    const c = await sioSession(u, exp1);
    await c.next('token_expiring');
    const exp2 = exp1 + 3;
    assert.deepEqual(await c.ack('refresh', { token: token(u, 'student', { exp: exp2 }) }), {
      type: 'refreshed',
      exp: iso(exp2),
    });
    await until(exp1, 700);
    assert.equal(c.socket.connected, true, 'still connected after the old exp');
    assert.equal((await c.ack('ping')).type, 'pong');
    assert.deepEqual(await c.next('token_expiring'), { exp: iso(exp2) });
    await assertSioExpiredAt(c, exp2);
  });

  it('emit refresh without an ack: a refreshed event', async () => {
    const u = uid('snoack');
    const c = await sioSession(u, nowS() + 3600);
    const exp = nowS() + 7200;
    c.socket.emit('refresh', { token: token(u, 'student', { exp }) });
    assert.deepEqual(await c.next('refreshed'), { exp: iso(exp) });
    c.close();
  });

  it("another user's token: forbidden in the ack; a bad one unauthenticated; still ends at the old exp", async () => {
    const exp = nowS() + 3;
    const u = uid('sforb');
    const c = await sioSession(u, exp);
    const a = await c.ack('refresh', { token: token(uid('sother'), 'student') });
    assert.equal(a.type, 'error');
    assert.equal(a.code, 'forbidden');
    const b = await c.ack('refresh', { token: token(u, 'student', { secret: 'nope' }) });
    assert.equal(b.type, 'error');
    assert.equal(b.code, 'unauthenticated');
    await assertSioExpiredAt(c, exp);
  });
});

describe('metrics', () => {
  it('expiries and refreshes are counted', async () => {
    const { body } = await httpGet(stack.gateways[0].http, '/metrics');
    const value = (name) => Number((body.match(new RegExp(`^${name} (\\d+)$`, 'm')) || [])[1]);
    assert.ok(value('parley_gateway_tokens_expired_total') >= 9, body.slice(0, 200));
    assert.ok(value('parley_gateway_token_refreshes_total') >= 7);
    assert.ok(value('parley_gateway_frames_out_total\\{type="token_expiring"\\}') >= 9);
    assert.ok(value('parley_gateway_frames_out_total\\{type="refreshed"\\}') >= 1);
    assert.ok(value('parley_gateway_frames_in_total\\{type="refresh"\\}') >= 10);
  });
});
