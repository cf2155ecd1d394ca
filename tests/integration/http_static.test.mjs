// The demo page's files (WEB_ROOT): served with their types, in pieces as the socket
// takes them (a 20 MiB file arrives whole), and nothing outside WEB_ROOT: no `..`, no
// hidden file, no symlink.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import path from 'node:path';
import { startStack } from './lib/stack.mjs';

let stack;
let base;
let root;
const big = crypto.randomBytes(20 * 1024 * 1024);
before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-web-'));
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>t</title>');
  fs.writeFileSync(path.join(root, 'app.js'), 'console.log(1);');
  fs.mkdirSync(path.join(root, 'css'));
  fs.writeFileSync(path.join(root, 'css', 'site.css'), 'body{}');
  fs.writeFileSync(path.join(root, 'big.txt'), big);
  fs.writeFileSync(path.join(root, '.secret'), 'hidden');
  fs.symlinkSync('/etc/hostname', path.join(root, 'link.txt'));
  stack = await startStack({ env: { WEB_ROOT: root } });
  base = stack.gateways[0].http;
});
after(async () => {
  await stack?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

// The path as written: fetch() would resolve dot segments before sending.
function rawStatus(p) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: u.hostname, port: u.port, path: p }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
  });
}

async function get(p) {
  const r = await fetch(base + p);
  return { status: r.status, type: r.headers.get('content-type') || '', body: Buffer.from(await r.arrayBuffer()) };
}

describe('static files of the demo page', () => {
  it('serves the page and its files with their types', async () => {
    const page = await get('/');
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.equal(page.body.toString(), '<!doctype html><title>t</title>');
    const js = await get('/web/app.js');
    assert.equal(js.status, 200);
    assert.match(js.type, /^text\/javascript/);
    const css = await get('/static/css/site.css');
    assert.equal(css.status, 200);
    assert.match(css.type, /^text\/css/);
  });

  it('sends a large file whole', async () => {
    const r = await get('/web/big.txt');
    assert.equal(r.status, 200);
    assert.equal(r.body.length, big.length);
    assert.ok(r.body.equals(big));
  });

  it('names nothing outside WEB_ROOT: no dot segments, hidden files or symlinks', async () => {
    for (const p of ['/web/.secret', '/web/link.txt', '/web/../../etc/passwd', '/web/css/../../../etc/hostname', '/web/%2e%2e/%2e%2e/etc/passwd', '/web/nope.js']) {
      const status = await rawStatus(p);
      assert.equal(status, 404, `${p} answered ${status}`);
    }
  });
});
