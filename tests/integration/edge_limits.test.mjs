// A single client cannot take more than its share of a gateway:
// - every frame costs a rate-limit token before it is parsed (bad JSON, unusable ids,
//   frames before auth included), and a flood of them is closed 1008;
// - the outgoing queue is capped in bytes (OUT_QUEUE_MAX_BYTES), not only in frames;
// - connections are capped per gateway (503), per client address and per user (429),
//   and X-Forwarded-For is believed only from TRUSTED_PROXIES.
// Distinct client addresses are real: clients bind 127.0.0.x source addresses.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './lib/stack.mjs';
import { open, login, token, uid, eventually, httpGet, refusedStatus } from './lib/client.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';

async function metric(url, name) {
  const r = await httpGet(url, '/metrics');
  const line = r.body.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ').pop()) : NaN;
}
async function labelled(url, name, label) {
  const r = await httpGet(url, '/metrics');
  const line = r.body.split('\n').find((l) => l.startsWith(`${name}{${label}}`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('every frame costs a token before it is parsed', () => {
  let stack;
  let url;
  before(async () => {
    stack = await startStack({ env: { RATE_LIMIT_PER_S: '1', RATE_LIMIT_BURST: '4' } });
    url = stack.url();
  });
  after(async () => stack?.stop());

  const floods = {
    'unparsable JSON': () => '{"type": "ping", oops',
    'an unusable id': () => JSON.stringify({ type: 'ping', id: { not: 'an id' } }),
    'frames before auth': () => JSON.stringify({ type: 'message', conversation_id: 1, content: 'x', id: 'pre' }),
    'binary-looking garbage': () => '\u0000\u0001\u0002',
  };
  for (const [what, frame] of Object.entries(floods)) {
    it(`a flood of ${what} is limited, then closed 1008`, async () => {
      const c = await open(url, { label: what });
      for (let i = 0; i < 40 && c.isOpen; i++) c.send(frame());
      const info = await c.waitClose();
      assert.equal(info.code, 1008, JSON.stringify(info));
      const limited = c.all.filter((f) => f.type === 'error' && f.code === 'rate_limited');
      assert.ok(limited.length >= 1, `rate_limited among ${JSON.stringify(c.all).slice(0, 400)}`);
      // The first frames of the burst were answered for what they were.
      assert.ok(c.all.slice(0, 4).every((f) => f.type === 'error' && f.code !== 'rate_limited'));
    });
  }

  it('a limited frame with a usable id still gets its one answer, with that id', async () => {
    const c = await open(url, { label: 'ids' });
    const ids = Array.from({ length: 7 }, (_, i) => `p${i}`);
    for (const id of ids) c.send({ type: 'ping', id });
    const answers = [];
    for (const id of ids) answers.push(await c.next({ id }));
    assert.deepEqual(answers.slice(0, 4).map((a) => a.type), ['pong', 'pong', 'pong', 'pong']);
    assert.ok(answers.slice(4).every((a) => a.type === 'error' && a.code === 'rate_limited'));
    await c.close();
  });
});

describe('the outgoing queue is capped in bytes', () => {
  let stack;
  let url;
  before(async () => {
    stack = await startStack({
      env: { RATE_LIMIT_PER_S: '0', OUT_QUEUE_MAX: '1000000', OUT_QUEUE_MAX_BYTES: String(256 * 1024) },
    });
    url = stack.url();
  });
  after(async () => stack?.stop());

  it('a client that stops reading while asking for big history pages is cut off; others are not', async () => {
    const writer = await login(url, uid('writer'));
    const reader = await login(url, uid('reader'));
    const conv = await createConversation(writer, [reader.auth.user_id]);
    const big = 'x'.repeat(16000);
    for (let i = 0; i < 20; i++) await sendMessage(writer, conv.conversation_id, `${i} ${big}`);
    const before = await metric(url, 'parley_gateway_slow_consumers_total');
    // The reader stops reading: its socket is paused, the kernel buffers fill, then
    // the gateway's queue grows by ~320 KB per page until the byte cap cuts it off.
    reader.ws._socket.pause();
    for (let i = 0; i < 200; i++) {
      reader.send({ type: 'history', conversation_id: conv.conversation_id, limit: 200, id: `h${i}` });
    }
    await eventually(async () => (await metric(url, 'parley_gateway_slow_consumers_total')) > before, {
      what: 'the slow consumer cut off',
      timeoutMs: 30000,
    });
    reader.ws._socket.resume();
    const info = await reader.waitClose();
    assert.ok([1008, 1006].includes(info.code), JSON.stringify(info));
    // The writer's connection is untouched.
    await sendMessage(writer, conv.conversation_id, 'still here');
    assert.equal((await httpGet(url, '/healthz')).status, 200);
    await writer.close();
  });
});

describe('connection caps', () => {
  let stack;
  let url;
  before(async () => {
    stack = await startStack({
      env: {
        MAX_CONNECTIONS: '6',
        MAX_CONNECTIONS_PER_IP: '2',
        MAX_CONNECTIONS_PER_USER: '2',
        TRUSTED_PROXIES: '127.0.0.9, 10.1.0.0/16',
        CONNECT_RATE_PER_IP: '2',
        CONNECT_BURST_PER_IP: '3',
      },
    });
    url = stack.url();
  });
  after(async () => stack?.stop());

  it('per address: the third connection from one address gets HTTP 429, another address is served', async () => {
    const a1 = await open(url, { localAddress: '127.0.0.2' });
    const a2 = await open(url, { localAddress: '127.0.0.2' });
    assert.equal(await refusedStatus(url, { localAddress: '127.0.0.2' }), 429);
    // Socket.IO upgrades count too.
    assert.equal(
      await refusedStatus(url, {
        localAddress: '127.0.0.2',
        path: '/socket.io/',
        query: { EIO: '4', transport: 'websocket' },
      }),
      429,
    );
    // X-Forwarded-For from a client that is not a trusted proxy changes nothing.
    assert.equal(await refusedStatus(url, { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '10.9.9.9' } }), 429);
    const b1 = await open(url, { localAddress: '127.0.0.3' });
    assert.ok(b1.isOpen);
    assert.ok((await labelled(url, 'parley_gateway_connections_refused_total', 'cap="per_address"')) >= 3);
    // A closed connection frees its slot.
    await a1.close();
    await eventually(async () => {
      try {
        const again = await open(url, { localAddress: '127.0.0.2' });
        await again.close();
        return true;
      } catch {
        return false;
      }
    }, { what: 'the freed slot' });
    await Promise.all([a2.close(), b1.close()]);
  });

  it('behind a trusted proxy the client is the rightmost untrusted X-Forwarded-For hop', async () => {
    const via = (xff) => ({ localAddress: '127.0.0.9', headers: { 'X-Forwarded-For': xff } });
    // Two clients behind the proxy, each with its own cap, though one TCP peer.
    const c1 = await open(url, via('192.0.2.1'));
    const c2 = await open(url, via('192.0.2.1'));
    assert.equal(await refusedStatus(url, via('192.0.2.1')), 429);
    // A forged left part does not help: 192.0.2.1 is still the rightmost untrusted hop.
    assert.equal(await refusedStatus(url, via('198.51.100.7, 192.0.2.1')), 429);
    // Another trusted proxy on the way is skipped.
    assert.equal(await refusedStatus(url, via('192.0.2.1, 10.1.2.3')), 429);
    const d = await open(url, via('192.0.2.2'));
    await Promise.all([c1.close(), c2.close(), d.close()]);
  });

  it('per user: a third connection of one user is 429 at the upgrade, rate_limited after auth', async () => {
    const user = uid('many');
    const t = token(user, 'student');
    const s1 = await login(url, user, 'student', { localAddress: '127.0.0.4' });
    const s2 = await login(url, user, 'student', { localAddress: '127.0.0.5' });
    assert.equal(await refusedStatus(url, { token: t, localAddress: '127.0.0.6' }), 429);
    const late = await open(url, { localAddress: '127.0.0.6' });
    late.send({ type: 'auth', token: t, id: 'a1' });
    const answer = await late.next({ id: 'a1' });
    assert.equal(answer.type, 'error');
    assert.equal(answer.code, 'rate_limited');
    const info = await late.waitClose();
    assert.equal(info.code, 1008);
    // Another user is served.
    const other = await login(url, uid('other'), 'student', { localAddress: '127.0.0.6' });
    assert.equal(other.auth.type, 'auth_success');
    assert.ok((await labelled(url, 'parley_gateway_connections_refused_total', 'cap="per_user"')) >= 2);
    await Promise.all([s1.close(), s2.close(), other.close()]);
  });

  it('per address, new connections are rate-limited: HTTP 429 past the burst, then at the rate', async () => {
    const from = { localAddress: '127.0.0.8' };
    for (let i = 0; i < 3; i++) await (await open(url, from)).close(); // the burst of 3
    assert.equal(await refusedStatus(url, from), 429);
    assert.ok((await labelled(url, 'parley_gateway_connections_refused_total', 'cap="connect_rate"')) >= 1);
    // Another address is not affected; after 1 s (2 a second) this one may connect again.
    await (await open(url, { localAddress: '127.0.0.9' })).close();
    await new Promise((r) => setTimeout(r, 1100));
    await (await open(url, from)).close();
  });

  it('an address whose connection was closed for flooding pays for it: its next connections wait longer (429)', async () => {
    const from = { localAddress: '127.0.0.12' };
    const c = await open(url, from); // 1 of the burst of 3
    for (let i = 0; i < 100 && c.isOpen; i++) c.send({ type: 'ping', id: `f${i}` });
    assert.equal((await c.waitClose()).code, 1008);
    // Without the penalty two more connections would pass (burst 3); with it, none.
    assert.equal(await refusedStatus(url, from), 429);
    await (await open(url, { localAddress: '127.0.0.13' })).close(); // others are not affected
  });

  it('per gateway: past MAX_CONNECTIONS the upgrade gets HTTP 503; /healthz still answers', async () => {
    const held = [];
    for (let i = 0; i < 6; i++) held.push(await open(url, { localAddress: `127.0.1.${i + 1}` }));
    assert.equal(await refusedStatus(url, { localAddress: '127.0.1.50' }), 503);
    assert.equal((await httpGet(url, '/healthz')).status, 200);
    assert.ok((await labelled(url, 'parley_gateway_connections_refused_total', 'cap="gateway_full"')) >= 1);
    await held.pop().close();
    await eventually(async () => {
      try {
        held.push(await open(url, { localAddress: '127.0.1.50' }));
        return true;
      } catch {
        return false;
      }
    }, { what: 'a slot after a close' });
    await Promise.all(held.map((c) => c.close()));
  });
});
