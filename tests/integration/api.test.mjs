// The server API's listener: API_PORT apart from the public port, API_KEYS (list,
// @FILE with sha256: lines), 401/404/405/413 JSON errors, the OpenAPI document served
// without a key and equal to docs/openapi.json, and the route table in the code and
// the document naming the same routes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePorts, startStack } from './lib/stack.mjs';
import { api, call, openapi } from './lib/api.mjs';
import { httpGet } from './lib/client.mjs';

const KEY_PLAIN = 'plain-key-one';
const KEY_HASHED = 'hashed-key-two';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-api-'));
const keyFile = path.join(dir, 'keys');
fs.writeFileSync(
  keyFile,
  `# comment\n${KEY_PLAIN}\n\nsha256:${crypto.createHash('sha256').update(KEY_HASHED).digest('hex')}\n`,
);

let stack;
let base;
before(async () => {
  stack = await startStack({ api: { keys: `@${keyFile}` }, env: { REQUEST_TIMEOUT_MS: '1500' } });
  base = stack.gateways[0].api;
});
after(async () => {
  await stack?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

// One HTTP/1.1 request, headers and body in one write on a raw socket; resolves to
// everything the server sent before closing (or after 5 s).
function splitRequest(port, method, path, key, body) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    const done = () => (clearTimeout(timer), sock.destroy(), resolve(got));
    const timer = setTimeout(done, 5000);
    sock.on('data', (d) => {
      got += d;
      if (/\r\n\r\n[\s\S]*\}\s*$/.test(got)) done();
    });
    sock.on('end', done);
    sock.on('error', (e) => (got ? done() : reject(e))); // a reset after the answer is fine
    const auth = key ? `Authorization: Bearer ${key}\r\n` : '';
    sock.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
}

describe('keys', () => {
  it('no key, a wrong key, another scheme: 401 unauthenticated with a JSON error', async () => {
    for (const key of [null, 'wrong', `${KEY_PLAIN}x`, KEY_PLAIN.slice(0, -1), `sha256:${'0'.repeat(64)}`]) {
      const r = await call(base, 'GET', '/api/v1/conversations/1/messages', { key });
      assert.equal(r.status, 401, `key ${key}`);
      assert.equal(r.body.error.code, 'unauthenticated');
    }
    const r = await api(base, 'GET', '/api/v1/conversations/1/messages', {
      key: null,
      headers: { authorization: `Basic ${Buffer.from(KEY_PLAIN).toString('base64')}` },
    });
    assert.equal(r.status, 401);
  });
  it('a request with a body is refused the same way: 401 without a key, 404/405 with one', async () => {
    // Headers and body in one write, as curl sends a small body: lws hands over the
    // body right after the headers, before the refusal can be written, and the refusal
    // must still be answered.
    const { port } = new URL(base);
    for (const [method, path, key, want] of [
      ['POST', '/api/v1/conversations/1/messages', null, 401],
      ['POST', '/api/v1/nothing', null, 401],
      ['POST', '/api/v1/nothing', KEY_PLAIN, 404],
      ['PUT', '/api/v1/mentors', KEY_PLAIN, 405],
    ]) {
      const r = await splitRequest(Number(port), method, path, key, JSON.stringify({ content: 'hi' }));
      assert.match(r, new RegExp(`^HTTP/1.1 ${want} `), `${method} ${path}: ${r.slice(0, 200)}`);
      assert.match(r, /"error":\{"code":"/);
    }
    // and the listener serves the next request
    assert.equal((await api(base, 'GET', '/api/v1/mentors', { key: KEY_PLAIN })).status, 200);
  });
  it('an unknown route without a key is 401 too; with a key 404 not_found', async () => {
    assert.equal((await api(base, 'GET', '/api/v1/nothing', { key: null })).status, 401);
    const r = await api(base, 'GET', '/api/v1/nothing', { key: KEY_PLAIN });
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'not_found');
  });
  it('a plain key and a key given by its sha256 both pass', async () => {
    for (const key of [KEY_PLAIN, KEY_HASHED]) {
      const r = await api(base, 'GET', '/api/v1/conversations/999999/messages', { key });
      assert.equal(r.status, 404, `key ${key}: ${r.text}`);
      assert.equal(r.body.error.code, 'not_found');
    }
  });
  it('a known route with another method: 405 with a JSON error', async () => {
    const r = await api(base, 'DELETE', '/api/v1/conversations/1/messages', { key: KEY_PLAIN });
    assert.equal(r.status, 405);
    assert.equal(r.body.error.code, 'bad_request');
  });
});

describe('bodies', () => {
  it('over 1 MiB: 413 too_large', async () => {
    const r = await api(base, 'POST', '/api/v1/conversations/1/messages', {
      key: KEY_PLAIN,
      raw: JSON.stringify({ content: 'x'.repeat(1024 * 1024 + 10) }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, 'too_large');
  });
  it('over 1 MiB on a raw socket, and refused without a key: the answer comes after the whole body, never a reset', async () => {
    const { port } = new URL(base);
    const big = JSON.stringify({ content: 'x'.repeat(3 * 1024 * 1024) });
    for (let i = 0; i < 3; i++) {
      const tooLarge = await splitRequest(Number(port), 'POST', '/api/v1/conversations/1/messages', KEY_PLAIN, big);
      assert.match(tooLarge, /^HTTP\/1.1 413 /, tooLarge.slice(0, 200));
      const noKey = await splitRequest(Number(port), 'POST', '/api/v1/conversations/1/messages', null, big);
      assert.match(noKey, /^HTTP\/1.1 401 /, noKey.slice(0, 200));
    }
  });
  it('not JSON, not an object, a field of the wrong type: 400 bad_request', async () => {
    for (const raw of ['{', '[1]', '"x"', JSON.stringify({ content: 5 }), JSON.stringify({})]) {
      const r = await call(base, 'POST', '/api/v1/conversations/1/messages', {
        key: KEY_PLAIN,
        raw,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 400, raw);
      assert.equal(r.body.error.code, 'bad_request');
    }
  });
  it('the listener keeps serving after refusals (keep-alive, several requests)', async () => {
    const rs = await Promise.all(
      Array.from({ length: 20 }, () => api(base, 'GET', '/api/v1/conversations/1/messages', { key: KEY_PLAIN })),
    );
    for (const r of rs) assert.equal(r.status, 404);
  });
});

describe('the document', () => {
  it('GET /api/v1/openapi.json needs no key and is docs/openapi.json, OpenAPI 3.1', async () => {
    const r = await api(base, 'GET', '/api/v1/openapi.json', { key: null });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /application\/json/);
    assert.deepEqual(r.body, openapi);
    assert.match(r.body.openapi, /^3\.1\./);
  });
  it('every route of the code (gateway/gw_api_routes.c) is in the document, and no other', () => {
    const src = fs.readFileSync(new URL('../../gateway/gw_api_routes.c', import.meta.url), 'utf8');
    const table = src.slice(src.indexOf('s_routes[] = {'));
    const routes = [...table.matchAll(/\{"(GET|POST|DELETE|PUT|PATCH)", "(\/api\/v1\/[^"]*)"/g)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    assert.ok(routes.length >= 3, `route rows found: ${routes}`);
    const documented = [];
    for (const [p, item] of Object.entries(openapi.paths)) {
      for (const m of ['get', 'post', 'delete', 'put', 'patch']) if (item[m]) documented.push(`${m.toUpperCase()} ${p}`);
    }
    assert.deepEqual([...routes].sort(), [...documented].sort());
  });
  it('every documented operation has responses with a schema for its errors', () => {
    for (const item of Object.values(openapi.paths)) {
      for (const [m, op] of Object.entries(item)) {
        if (m === 'parameters') continue;
        assert.ok(op.responses && Object.keys(op.responses).length, `${m}: responses`);
      }
    }
  });
});

describe('separate listener', () => {
  it('the public port does not serve the API, the API port does not upgrade WebSockets', async () => {
    const pub = await httpGet(stack.url(), '/api/v1/openapi.json');
    assert.equal(pub.status, 404);
    const ws = await api(base, 'GET', '/', {
      key: KEY_PLAIN,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    }).catch((e) => ({ status: 0, error: e }));
    assert.notEqual(ws.status, 101);
  });
});

describe('API_KEYS as a list; bad configurations stop the gateway with one clear line', () => {
  it('a comma-separated list: each key passes', async () => {
    const s2 = await startStack({ api: { keys: 'list-one, list-two' } });
    try {
      for (const key of ['list-one', 'list-two']) {
        const r = await api(s2.gateways[0].api, 'GET', '/api/v1/conversations/1/messages', { key });
        assert.equal(r.status, 404, `${key}: ${r.text}`);
      }
      assert.equal((await api(s2.gateways[0].api, 'GET', '/api/v1/mentors', { key: 'list-three' })).status, 401);
    } finally {
      await s2.stop();
    }
  });
  it('API_PORT without API_KEYS, a bad sha256 line, a missing file: exit non-zero naming API_KEYS', async () => {
    const [port, apiPort] = await freePorts(2);
    const bad = path.join(dir, 'bad');
    fs.writeFileSync(bad, 'sha256:1234\n');
    for (const keys of [undefined, `@${bad}`, `@${path.join(dir, 'missing')}`]) {
      const env = { ...process.env, JWT_SECRET: 'x', PORT: String(port), API_PORT: String(apiPort), BROKER_PORT: '1', BUS_INSECURE: '1' };
      delete env.API_KEYS;
      if (keys) env.API_KEYS = keys;
      const err = await promisify(execFile)(path.join(process.env.PARLEY_BIN_DIR, 'parley-gateway'), [], { env, timeout: 10000 }).then(
        () => null,
        (e) => e,
      );
      assert.ok(err && err.code !== 0, `gateway started with API_KEYS=${keys}`);
      assert.match(err.stderr, /var=API_KEYS/);
    }
  });
});

describe('a service that does not answer', () => {
  it('503 unavailable at REQUEST_TIMEOUT_MS', async () => {
    await stack.kill('chat');
    const t0 = Date.now();
    const r = await call(base, 'GET', '/api/v1/conversations/1/messages', { key: KEY_PLAIN });
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'unavailable');
    assert.ok(Date.now() - t0 >= 1000, 'waited for the timeout');
  });
});
