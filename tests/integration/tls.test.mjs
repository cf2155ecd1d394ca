// The gateway's own TLS (TLS_CERT_FILE, TLS_KEY_FILE; docs/design/tls.md): a test CA
// and server certificates made with openssl here, a stack whose gateway serves them,
// and real clients that trust only that CA: raw WebSocket (`ws`) and socket.io-client
// over wss://, https:// for the plain HTTP routes and the server API. A plain ws:// or
// http:// client on the TLS port gets an error and the gateway keeps serving; SIGHUP
// with new files serves the new certificate to new connections (checked by fingerprint,
// across a change of key type) while open connections go on; bad new files keep the old
// certificate; bad files at start are a clear start-up error.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { io } from 'socket.io-client';
import { startStack, freePorts, DEFAULT_API_KEY } from './lib/stack.mjs';
import { DEFAULT_TIMEOUT_MS, eventually, login, open, token, uid } from './lib/client.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';
import { certInfo, httpsRequest, makeCa, makeCert, peerCert, replaceFile } from './lib/tls.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-tls-'));
const ca = makeCa(dir);
const first = makeCert(dir, ca, 'server-a', { keyType: 'ec' });
// What the gateway is pointed at; rotations replace these two files.
const CERT = path.join(dir, 'server.pem');
const KEY = path.join(dir, 'server.key');
fs.copyFileSync(first.cert, CERT);
fs.copyFileSync(first.key, KEY);

let stack;
let url; // wss://127.0.0.1:<port>/
let base; // https://127.0.0.1:<port>
let port;
const sockets = new Set();

before(async () => {
  stack = await startStack({ tls: { cert: CERT, key: KEY, ca: ca.pem }, api: true, env: { DEV_TOKENS: '1' } });
  url = stack.url();
  base = stack.gateways[0].http;
  port = stack.gateways[0].port;
});
after(async () => {
  for (const s of sockets) s.close();
  await stack?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const wssLogin = (user, role = 'student', opts = {}) => login(url, user, role, { ca: ca.pem, ...opts });

// The gateway's TLS metrics over https://: {notAfter, ok, failed}.
async function tlsMetrics() {
  const r = await httpsRequest(`${base}/metrics`, { ca: ca.pem });
  assert.equal(r.status, 200);
  const num = (re) => Number((r.body.match(re) || [])[1]);
  return {
    notAfter: num(/^parley_gateway_tls_certificate_not_after_seconds (\d+)$/m),
    ok: num(/^parley_gateway_tls_reloads_total\{result="ok"\} (\d+)$/m),
    failed: num(/^parley_gateway_tls_reloads_total\{result="failed"\} (\d+)$/m),
  };
}

// A Socket.IO client over wss:// trusting the test CA; resolves once auth_success came.
function sioLogin(user, role = 'student') {
  const socket = io(base, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: DEFAULT_TIMEOUT_MS,
    ca: ca.pem,
    auth: { token: token(user, role) },
  });
  sockets.add(socket);
  const events = [];
  const waiters = [];
  socket.onAny((event, arg) => {
    const i = waiters.findIndex((w) => w.event === event);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(arg);
    else events.push({ event, arg });
  });
  const next = (event) => {
    const i = events.findIndex((e) => e.event === event);
    if (i >= 0) return Promise.resolve(events.splice(i, 1)[0].arg);
    return new Promise((resolve, reject) => {
      const w = { event, resolve };
      waiters.push(w);
      setTimeout(() => reject(new Error(`sio ${user}: no ${event} within ${DEFAULT_TIMEOUT_MS} ms`)), DEFAULT_TIMEOUT_MS);
    });
  };
  const ack = (event, arg) => socket.timeout(DEFAULT_TIMEOUT_MS).emitWithAck(event, arg);
  return new Promise((resolve, reject) => {
    socket.once('connect_error', reject);
    socket.once('connect', async () => {
      try {
        const auth = await next('auth_success');
        resolve({ socket, next, ack, auth });
      } catch (e) {
        reject(e);
      }
    });
  });
}

// A plain TCP connection that sends `bytes` and resolves with what came back and how
// it ended, so a test sees the TLS port's answer to a client speaking plaintext.
function plainExchange(bytes) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(bytes));
    let got = Buffer.alloc(0);
    s.on('data', (d) => (got = Buffer.concat([got, d])));
    s.on('error', (e) => resolve({ got, error: e.code || e.message }));
    s.on('close', () => resolve({ got, error: null }));
    s.setTimeout(DEFAULT_TIMEOUT_MS, () => reject(new Error('the TLS port neither answered nor closed a plaintext client')));
  });
}

describe('wss:// and https:// on the gateway port', () => {
  it('raw WebSocket clients trusting the test CA log in and chat', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca1 = await wssLogin(a);
    const cb1 = await wssLogin(b);
    assert.equal(ca1.ws._socket.getPeerCertificate().fingerprint256, first.fingerprint256);
    const conv = await createConversation(ca1, [b]);
    await cb1.next('conversation_created');
    const sent = await sendMessage(ca1, conv.conversation_id, 'over tls', { temp_id: 't1' });
    const nm = await cb1.next('new_message');
    assert.equal(nm.message.content, 'over tls');
    assert.equal(nm.message.message_id, sent.message_id);
    ca1.close();
    cb1.close();
  });

  it('socket.io-client over wss:// with the CA: connect, emit with ack, receive events', async () => {
    const [a, b] = [uid('sa'), uid('sb')];
    const sa = await sioLogin(a);
    assert.equal(sa.auth.user_id, a);
    const rb = await wssLogin(b);
    const created = await sa.ack('create_conversation', { participants: [b] });
    assert.equal(created.type, 'conversation_created', JSON.stringify(created));
    await rb.next('conversation_created');
    const cid = created.conversation.conversation_id;
    const sent = await sa.ack('send_message', { conversation_id: cid, content: 'sio over tls', temp_id: 's1' });
    assert.equal(sent.type, 'message_sent', JSON.stringify(sent));
    assert.equal((await rb.next('new_message')).message.content, 'sio over tls');
    await sendMessage(rb, cid, 'back to sio');
    assert.equal((await sa.next('new_message')).message.content, 'back to sio');
    sa.socket.close();
    rb.close();
  });

  it('the plain HTTP routes answer over https://: /healthz, the demo page and its files, /dev/token', async () => {
    const h = await httpsRequest(`${base}/healthz`, { ca: ca.pem });
    assert.equal(h.status, 200, h.body);
    assert.equal(JSON.parse(h.body).status, 'ok');
    assert.equal(h.peer.fingerprint256, first.fingerprint256);
    const page = await httpsRequest(`${base}/`, { ca: ca.pem });
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'], /text\/html/);
    assert.ok(page.body.length > 500, 'the whole demo page arrived');
    const script = page.body.match(/src="([^"]+\.js)"/);
    if (script) {
      const js = await httpsRequest(new URL(script[1], `${base}/`).toString(), { ca: ca.pem });
      assert.equal(js.status, 200, `${script[1]}: ${js.status}`);
      assert.ok(js.body.length > 0);
    }
    assert.deepEqual(await tlsMetrics(), { notAfter: first.notAfter, ok: 0, failed: 0 }, '/metrics');
    const dev = await httpsRequest(`${base}/dev/token?sub=tls-dev&role=student`, { ca: ca.pem });
    assert.equal(dev.status, 200, dev.body);
    const tok = JSON.parse(dev.body).token;
    const c = await open(url, { token: tok, ca: ca.pem, label: 'dev' });
    assert.equal((await c.next('auth_success')).user_id, 'tls-dev');
    c.close();
  });

  it('the server API listener serves the same certificate', async () => {
    const api = stack.gateways[0].api;
    assert.match(api, /^https:/);
    const doc = await httpsRequest(`${api}/api/v1/openapi.json`, { ca: ca.pem });
    assert.equal(doc.status, 200);
    assert.equal(doc.peer.fingerprint256, first.fingerprint256);
    const u = uid('p');
    const pres = await httpsRequest(`${api}/api/v1/presence/query`, {
      ca: ca.pem,
      method: 'POST',
      headers: { authorization: `Bearer ${DEFAULT_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_ids: [u] }),
    });
    assert.equal(pres.status, 200, pres.body);
    assert.equal(JSON.parse(pres.body).users[0].user_id, u);
    const noKey = await httpsRequest(`${api}/api/v1/mentors`, { ca: ca.pem });
    assert.equal(noKey.status, 401);
  });

  it('a client that does not trust the CA is refused by its own TLS check', async () => {
    await assert.rejects(open(url, { token: token(uid('n'), 'student') }), (e) => {
      assert.match(e.code || e.message, /VERIFY|CERT|SELF_SIGNED/i);
      return true;
    });
  });
});

// A handshake with the given client options: resolves {protocol, alpn} or rejects.
function handshake(opts) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: ca.pem, servername: 'localhost', ...opts }, () => {
      const r = { protocol: s.getProtocol(), alpn: s.alpnProtocol };
      s.end();
      resolve(r);
    });
    s.on('error', reject);
  });
}

describe('what the TLS port offers', () => {
  it('TLS 1.2 and 1.3; TLS 1.1 gets a protocol_version alert', async () => {
    assert.equal((await handshake({ maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
    assert.equal((await handshake({ minVersion: 'TLSv1.3' })).protocol, 'TLSv1.3');
    await assert.rejects(
      handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
      (e) => e.code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' || assert.fail(`${e.code}: ${e.message}`),
    );
  });

  it('ALPN: HTTP/1.1 only, even to a client that offers h2 first', async () => {
    assert.equal((await handshake({ ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'http/1.1');
  });
});

describe('plaintext on the TLS port', () => {
  it('ws:// fails with an error for the client, not a hang or an HTTP answer', async () => {
    const plainUrl = `ws://127.0.0.1:${port}/`;
    const err = await open(plainUrl, { token: token(uid('p'), 'student') }).then(
      (c) => {
        c.terminate();
        return null;
      },
      (e) => e,
    );
    assert.ok(err, 'the plaintext upgrade must not succeed');
    assert.equal(err.status, undefined, `no HTTP answer in plaintext (got ${err.status})`);
  });

  it('http:// and raw garbage get no plaintext answer; the gateway keeps serving TLS clients', async () => {
    const http = await plainExchange('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.ok(!http.got.toString('latin1').startsWith('HTTP/'), 'no plaintext HTTP answer');
    const junk = await plainExchange(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2, 3]));
    assert.ok(junk.got.length < 64, 'at most a TLS alert for a broken handshake');
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(DEFAULT_TIMEOUT_MS) }));
    const c = await wssLogin(uid('after'));
    assert.ok(c.isOpen);
    c.close();
    const h = await httpsRequest(`${base}/healthz`, { ca: ca.pem });
    assert.equal(h.status, 200);
  });
});

describe('SIGHUP reloads the certificate', () => {
  it('new connections get the new certificate (another key type), open ones go on', async () => {
    const [x, y] = [uid('x'), uid('y')];
    const cx = await wssLogin(x);
    const sy = await sioLogin(y);
    const conv = await createConversation(cx, [y]);
    await sy.next('conversation_created');
    const cid = conv.conversation_id;
    assert.equal((await peerCert('127.0.0.1', port, ca.pem)).fingerprint256, first.fingerprint256);

    // ECDSA → RSA: an SSL_CTX keeps one certificate per key type, so a reload that
    // only added the new one would go on serving the old one to most clients.
    const second = makeCert(dir, ca, 'server-b', { keyType: 'rsa' });
    assert.notEqual(second.fingerprint256, first.fingerprint256);
    replaceFile(CERT, second.cert);
    replaceFile(KEY, second.key);
    stack.signal('gateway', 'SIGHUP');
    await eventually(async () => (await peerCert('127.0.0.1', port, ca.pem)).fingerprint256 === second.fingerprint256, {
      what: 'the gateway port presents the new certificate',
    });
    const apiPort = Number(new URL(stack.gateways[0].api).port);
    assert.equal((await peerCert('127.0.0.1', apiPort, ca.pem)).fingerprint256, second.fingerprint256, 'API port');
    const h = await httpsRequest(`${base}/healthz`, { ca: ca.pem });
    assert.equal(h.peer.serialNumber, second.serialNumber);
    assert.deepEqual(await tlsMetrics(), { notAfter: second.notAfter, ok: 1, failed: 0 });

    // The connections opened before the reload: still the old certificate, still served.
    assert.equal(cx.ws._socket.getPeerCertificate().fingerprint256, first.fingerprint256);
    assert.ok(cx.isOpen && sy.socket.connected, 'open connections survive the reload');
    await sendMessage(cx, cid, 'after the rotation');
    assert.equal((await sy.next('new_message')).message.content, 'after the rotation');
    const back = await sy.ack('send_message', { conversation_id: cid, content: 'sio after the rotation' });
    assert.equal(back.type, 'message_sent', JSON.stringify(back));
    assert.equal((await cx.next('new_message')).message.content, 'sio after the rotation');

    // And a new connection with the new certificate chats with them.
    const cz = await wssLogin(uid('z'));
    assert.equal(cz.ws._socket.getPeerCertificate().fingerprint256, second.fingerprint256);
    cz.close();
    cx.close();
    sy.socket.close();
  });

  it('bad new files (a key of another certificate) keep the current certificate serving', async () => {
    const current = certInfo(CERT);
    const other = makeCert(dir, ca, 'server-c');
    const goodKey = path.join(dir, 'good.key');
    fs.copyFileSync(KEY, goodKey);
    replaceFile(KEY, other.key);
    const gw = stack.procs.get('gateway');
    const before = (gw.output.match(/tls reload failed/g) || []).length;
    stack.signal('gateway', 'SIGHUP');
    await eventually(() => (gw.output.match(/tls reload failed/g) || []).length > before, {
      what: 'the gateway logs the refused reload',
    });
    assert.match(gw.output, /tls reload failed.*var=TLS_KEY_FILE.*does not belong to the certificate/);
    assert.equal((await peerCert('127.0.0.1', port, ca.pem)).fingerprint256, current.fingerprint256);
    assert.deepEqual(await tlsMetrics(), { notAfter: current.notAfter, ok: 1, failed: 1 });
    const c = await wssLogin(uid('still'));
    c.close();
    replaceFile(KEY, goodKey);
  });
});

describe('start-up with bad TLS files', () => {
  // The gateway alone: TLS is checked before it reaches for the broker.
  async function startGateway(env) {
    const [p] = await freePorts(1);
    const child = spawn(path.join(process.env.PARLEY_BIN_DIR, 'parley-gateway'), [], {
      env: {
        PATH: process.env.PATH,
        ASAN_OPTIONS: 'detect_leaks=1',
        PORT: String(p),
        JWT_SECRET: 'x',
        BUS_INSECURE: '1',
        BROKER_HOST: '127.0.0.1',
        BROKER_PORT: String(p + 1),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), DEFAULT_TIMEOUT_MS);
    const code = await new Promise((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(timer);
    assert.doesNotMatch(out, /Sanitizer|runtime error/, out);
    return { code, out };
  }

  it('a missing certificate file: one line naming TLS_CERT_FILE, exit 1', async () => {
    const r = await startGateway({ TLS_CERT_FILE: path.join(dir, 'nope.pem'), TLS_KEY_FILE: KEY });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /bad configuration.*var=TLS_CERT_FILE.*cannot open/);
  });

  it('a key file that is not a key: TLS_KEY_FILE named, exit 1', async () => {
    const r = await startGateway({ TLS_CERT_FILE: CERT, TLS_KEY_FILE: CERT });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /bad configuration.*var=TLS_KEY_FILE.*no unencrypted PEM private key/);
  });

  it('a passphrase-protected key is refused, not prompted for', async () => {
    const enc = path.join(dir, 'enc.key');
    const { execFileSync } = await import('node:child_process');
    execFileSync('openssl', ['pkey', '-in', KEY, '-out', enc, '-aes256', '-passout', 'pass:secret']);
    const r = await startGateway({ TLS_CERT_FILE: CERT, TLS_KEY_FILE: enc });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /var=TLS_KEY_FILE/);
  });

  it('only one of the two variables: a configuration error, exit 2', async () => {
    const r = await startGateway({ TLS_CERT_FILE: CERT });
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /bad configuration.*var=TLS_KEY_FILE.*required when TLS_CERT_FILE is set/);
  });
});
