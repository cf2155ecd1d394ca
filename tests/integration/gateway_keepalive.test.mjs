// Server WebSocket pings (gateway/gw_keepalive.c): every WS_PING_INTERVAL_S the gateway
// pings each connection; one that answers neither with a pong nor with any frame within
// 10 s is closed with 1008 "ping timeout". The gateway does this itself instead of with
// lws' idle policy, whose timer list cost O(N) per connection (docs/design/gateway.md).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { useStack } from './lib/stack.mjs';
import { token, uid, eventually } from './lib/client.mjs';

let stack;
useStack({ env: { WS_PING_INTERVAL_S: '1' } }, (s) => (stack = s));

// An authenticated raw connection; autoPong false: it does not answer pings by itself.
function rawLogin(autoPong) {
  const url = new URL(stack.url());
  url.searchParams.set('token', token(uid('ka')));
  const ws = new WebSocket(url, { autoPong, perMessageDeflate: false });
  const c = { ws, pings: [], closed: null, authed: false };
  ws.on('ping', () => c.pings.push(Date.now()));
  ws.on('message', (d) => {
    if (JSON.parse(d.toString()).type === 'auth_success') c.authed = true;
  });
  ws.on('close', (code, reason) => (c.closed = { code, reason: reason.toString(), at: Date.now() }));
  return c;
}

describe('server WebSocket pings', () => {
  it('pings every interval; a client that answers stays connected', async () => {
    const c = rawLogin(true);
    await eventually(() => c.authed, { what: 'auth_success' });
    await eventually(() => c.pings.length >= 3, { timeoutMs: 15000, what: 'three pings' });
    const gaps = c.pings.slice(1).map((t, i) => t - c.pings[i]);
    assert.ok(gaps.every((g) => g >= 700 && g <= 2500), `ping gaps ${gaps} ms, interval 1 s`);
    assert.equal(c.closed, null);
    c.ws.close();
  });

  it('closes a client that does not answer within 10 s; any frame counts as an answer', async () => {
    const silent = rawLogin(false);
    const talker = rawLogin(false);
    // the talker answers each ping with an application frame instead of a pong
    talker.ws.on('ping', () => talker.ws.send(JSON.stringify({ type: 'ping' })));
    await eventually(() => silent.authed && talker.authed, { what: 'auth_success' });
    await eventually(() => silent.closed, { timeoutMs: 20000, what: 'the silent client closed' });
    assert.equal(silent.closed.code, 1008);
    assert.equal(silent.closed.reason, 'ping timeout');
    const waited = silent.closed.at - silent.pings[0];
    assert.ok(waited >= 9000 && waited < 14000, `closed ${waited} ms after the first ping`);
    assert.equal(silent.pings.length, 1, 'no second ping while the first is unanswered');
    assert.equal(talker.closed, null, 'the talker answered with frames: still connected');
    assert.ok(talker.pings.length >= 8, `talker pinged ${talker.pings.length} times`);
    talker.ws.close();
  });
});
