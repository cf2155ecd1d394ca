// `make run`'s script, scripts/run-stack.sh, as a user meets it: it starts every
// process, says "ready", carries messages, and Ctrl-C (SIGINT) stops everything and
// exits 0. Its processes talk over Unix sockets in <run dir>/zmq (BROKER_IPC_DIR), and
// nothing is left there afterwards. The database is the test cluster's (a fresh
// database), so this test does not start a second PostgreSQL. A second gateway serves
// wss:// on TLS_PORT with a development certificate made under <run dir>/tls.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, psql } from './lib/stack.mjs';
import { DEFAULT_SECRET, eventually, httpGet, login, uid } from './lib/client.mjs';
import { httpsRequest } from './lib/tls.mjs';
import { sendMessage, twoInConversation } from './lib/chat.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let tmp;
let run; // { child, out, exited }
let port;
let brokerPort;
let apiPort;
let tlsPort;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pl-run-'));
  const db = `it_ops_run_${process.pid}`;
  const pg = process.env.PARLEY_TEST_PG;
  await psql(`${pg} dbname=postgres`, `CREATE DATABASE "${db}"`);
  [port] = await freePorts(1);
  let ports = await freePorts(8);
  while (ports.includes(port)) ports = await freePorts(8);
  brokerPort = ports[0];
  [apiPort] = await freePorts(1);
  while (apiPort === port || ports.includes(apiPort)) [apiPort] = await freePorts(1);
  [tlsPort] = await freePorts(1);
  while ([port, apiPort, ...ports].includes(tlsPort)) [tlsPort] = await freePorts(1);
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(BROKER_|BUS_|PORT$|DB_|CHAT_DB|PRESENCE_DB|CALL_DB|JWT_|API_|TLS_)/.test(k)) delete env[k];
  Object.assign(env, {
    PARLEY_BIN_DIR: process.env.PARLEY_BIN_DIR,
    PARLEY_RUN_DIR: tmp,
    PORT: String(port),
    BROKER_PORT: String(brokerPort),
    API_PORT: String(apiPort),
    TLS_PORT: String(tlsPort),
    DB_CONNECTION_STRING: `${pg} dbname=${db}`,
    JWT_SECRET: DEFAULT_SECRET,
    RATE_LIMIT_PER_S: '0',
  });
  const child = spawn('bash', [path.join(ROOT, 'scripts/run-stack.sh')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  run = { child, out: '' };
  child.stdout.on('data', (d) => (run.out += d));
  child.stderr.on('data', (d) => (run.out += d));
  run.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await eventually(async () => /\[run\] ready:/.test(run.out), { timeoutMs: 60000, what: `run-stack.sh ready; output:\n${run.out}` });
});

after(async () => {
  if (run && run.child.exitCode === null) {
    run.child.kill('SIGKILL');
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('make run (scripts/run-stack.sh)', () => {
  it('is healthy and carries a message; its processes use Unix sockets in <run dir>/zmq and a CURVE bus', async () => {
    const h = await httpGet(`http://127.0.0.1:${port}`, '/healthz');
    assert.equal(h.status, 200, h.body);
    const zmq = path.join(tmp, 'zmq');
    assert.deepEqual(
      fs.readdirSync(zmq).sort(),
      Array.from({ length: 8 }, (_, i) => `broker-${brokerPort + i}`).sort(),
    );
    assert.match(run.out, /broker ready.*ipc_dir=\S*zmq/);
    // The bus is CURVE with keys made under <run dir>/keys on this first start.
    assert.match(run.out, /made CURVE keys for the bus/);
    assert.match(run.out, /broker ready.*bus=curve/);
    for (const n of ['chat', 'presence', 'call']) assert.match(run.out, new RegExp(`\\[${n}\\].*service started.*bus=curve`));
    assert.deepEqual(fs.readdirSync(path.join(tmp, 'keys', 'clients')).sort(), ['call.cert', 'chat.cert', 'gateway.cert', 'presence.cert']);
    assert.equal(fs.statSync(path.join(tmp, 'keys', 'chat.cert_secret')).mode & 0o077, 0, 'secret keys are private');
    const url = `ws://127.0.0.1:${port}/`;
    const { ca, cb, cid } = await twoInConversation(url);
    const sent = await sendMessage(ca, cid, 'hello from make run');
    const got = await cb.next('new_message');
    assert.equal(got.message.message_id, sent.message_id);
    await ca.close();
    await cb.close();
  });

  it('prints a sample server API call with the dev key it generated, and the call works', async () => {
    const m = run.out.match(/curl -s -H 'Authorization: Bearer ([0-9a-f]+)' (http:\/\/\S+)/);
    assert.ok(m, `no sample API call printed:\n${run.out.slice(-2000)}`);
    assert.equal(m[2], `http://127.0.0.1:${apiPort}/api/v1/mentors`);
    assert.equal(fs.readFileSync(path.join(tmp, 'api-key'), 'utf8').trim(), m[1]);
    const r = await fetch(m[2], { headers: { authorization: `Bearer ${m[1]}` } });
    assert.equal(r.status, 200);
    assert.ok(Array.isArray((await r.json()).mentors));
  });

  it('serves wss:// and https:// on TLS_PORT with a development CA made under <run dir>/tls', async () => {
    const dir = path.join(tmp, 'tls');
    assert.match(run.out, /made a development CA/);
    assert.match(run.out, new RegExp(`wss://localhost:${tlsPort}/`));
    assert.equal(fs.statSync(path.join(dir, 'key.pem')).mode & 0o077, 0, 'the key is private');
    const ca = fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8');
    const h = await httpsRequest(`https://localhost:${tlsPort}/healthz`, { ca });
    assert.equal(h.status, 200, h.body);
    // A client on the TLS gateway talks with one on the plain gateway: one stack.
    const [a, b] = [uid('tls'), uid('plain')];
    const ta = await login(`wss://localhost:${tlsPort}/`, a, 'student', { ca });
    const pb = await login(`ws://127.0.0.1:${port}/`, b, 'student');
    const created = await ta.request({ type: 'create_conversation', participants: [b] });
    assert.equal(created.type, 'conversation_created', JSON.stringify(created));
    await pb.next('conversation_created');
    const cid = created.conversation.conversation_id;
    await eventually(async () => {
      await sendMessage(ta, cid, 'from wss');
      return pb.next('new_message', 1000).then(() => true, () => false);
    }, { what: 'a message from the TLS gateway reaches the plain one' });
    await ta.close();
    await pb.close();
  });

  it('Ctrl-C stops every process, exits 0 and leaves no socket files', async () => {
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 0, run.out.slice(-3000));
    assert.match(run.out, /\[run\] stopped/);
    assert.deepEqual(fs.readdirSync(path.join(tmp, 'zmq')), []);
    assert.doesNotMatch(run.out, /level=error/, 'no process logged an error');
  });
});
