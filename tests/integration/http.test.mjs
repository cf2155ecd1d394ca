// The gateway's plain HTTP side and origin check: GET /healthz (JSON, 200 when the
// services answer), GET /metrics (Prometheus text with a connection gauge), CORS_ORIGIN.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { httpGet, login, open, refusedStatus, token, uid, eventually } from './lib/client.mjs';
import { scrape, value } from './lib/prom.mjs';

const ORIGINS = ['https://app.example.com', 'https://admin.example.com'];
let stack;
let url;
useStack(() => ({ env: { CORS_ORIGIN: ORIGINS.join(',') } }), (s) => ((stack = s), (url = s.url())));

describe('/healthz', () => {
  it('200 with a small JSON object body', async () => {
    const r = await httpGet(url, '/healthz');
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body);
    assert.equal(typeof body, 'object');
    assert.ok(body !== null && !Array.isArray(body));
    assert.ok(r.body.length < 4096, 'small');
  });
});

async function connectionGauge() {
  const { samples, types, body } = await scrape(url);
  const gauges = Object.keys(types).filter((n) => types[n] === 'gauge' && /connection/i.test(n));
  assert.ok(gauges.length >= 1, `no gauge named *connection* in /metrics:\n${body.slice(0, 2000)}`);
  const name = gauges.find((n) => /ws|websocket|open|active|current|connections$/i.test(n)) || gauges[0];
  return value(samples, name);
}

describe('/metrics', () => {
  it('Prometheus text format, content type text/plain', async () => {
    const { samples } = await scrape(url);
    assert.ok(samples.length > 0, 'some samples');
  });

  it('a connection gauge follows open WebSocket connections', async () => {
    const before0 = await connectionGauge();
    const cs = [];
    for (let i = 0; i < 3; i++) cs.push(await login(url, uid('m'), 'student'));
    await eventually(async () => (await connectionGauge()) >= before0 + 3, { what: 'gauge up by 3' });
    await Promise.all(cs.map((c) => c.close()));
    await eventually(async () => (await connectionGauge()) <= before0, { what: 'gauge back down' });
  });
});

describe('CORS_ORIGIN', () => {
  it('an upgrade from an origin not in the list → HTTP 403', async () => {
    const t = token(uid('o'), 'student');
    assert.equal(await refusedStatus(url, { token: t, origin: 'https://evil.example.com' }), 403);
    assert.equal(await refusedStatus(url, { origin: 'https://app.example.com.evil.com' }), 403);
    assert.equal(await refusedStatus(url, { origin: 'http://app.example.com' }), 403);
  });

  it('an upgrade from a listed origin is accepted (every entry of the list)', async () => {
    for (const origin of ORIGINS) {
      const c = await login(url, uid('o'), 'student', { origin });
      assert.equal(c.auth.type, 'auth_success');
      c.close();
    }
  });

  it('an upgrade without Origin is accepted', async () => {
    const c = await open(url);
    assert.equal((await c.request({ type: 'ping' })).type, 'pong');
    c.close();
  });
});
