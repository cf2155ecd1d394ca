// The internal bus is authenticated and encrypted (CURVE, docs/design/topology.md "Who
// may use the bus"). parley-bus-probe (tests/bus_probe) connects to the broker the way
// an intruder on the network would, with a key the broker admits (the control: the
// attempt must work, so the probe is known to be able to do harm), with a key it does
// not know, with no key at all (plain TCP), and with the wrong broker key. Each attempt
// is judged where it would land: the database, the other clients, the requests the
// real services answer; and the broker's refused-handshake counter.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startStack, freePorts } from './lib/stack.mjs';
import { eventually, httpGet, login, sleep, uid } from './lib/client.mjs';
import { twoInConversation, sendMessage } from './lib/chat.mjs';

const execFileP = promisify(execFile);
const BIN = process.env.PARLEY_BIN_DIR;

let stack;
let metricsPort;
let ids; // name -> env of a probe identity
before(async () => {
  [metricsPort] = await freePorts(1);
  stack = await startStack({ envFor: { broker: { METRICS_PORT: String(metricsPort) } } });
  const bus = { BROKER_HOST: '127.0.0.1', BROKER_PORT: String(stack.brokerPort), LOG_LEVEL: 'warn' };
  // Made after the broker started: zauth re-reads its directory, so a key added to it
  // is admitted without a restart (what a key rotation relies on).
  const admitted = stack.makeKey('probe-admitted');
  const rogue = stack.makeKey('probe-rogue', { allow: false });
  ids = {
    admitted: { ...bus, BUS_CERT_FILE: admitted, BUS_SERVER_KEY_FILE: stack.brokerCert },
    unknown: { ...bus, BUS_CERT_FILE: rogue, BUS_SERVER_KEY_FILE: stack.brokerCert },
    none: { ...bus, BUS_INSECURE: '1' },
    wrongServer: { ...bus, BUS_CERT_FILE: admitted, BUS_SERVER_KEY_FILE: rogue },
  };
});
after(async () => {
  await stack?.stop();
});

// Run the probe; resolves {out, lines} when it exits. onLine(line) sees stdout lines.
function probe(id, args, onLine = () => {}) {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env.PATH, ...ids[id] };
    for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) if (process.env[k]) env[k] = process.env[k];
    const child = spawn(path.join(BIN, 'parley-bus-probe'), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let rest = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const lines = (rest + d).split('\n');
      rest = lines.pop();
      lines.forEach(onLine);
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      stack.log(`probe ${id} ${args[0]}: exit ${code}\n${out}${err}`);
      if (code !== 0) reject(new Error(`probe exited ${code}: ${err}`));
      else resolve({ out, lines: out.split('\n').filter(Boolean) });
    });
  });
}

// Start a receiving probe (sub/pull) and wait until its handshake is decided.
// `lines` fills as the probe prints.
async function receiver(id, args) {
  let decided;
  const lines = [];
  const handshake = new Promise((r) => (decided = r));
  const done = probe(id, args, (l) => {
    lines.push(l);
    if (l.startsWith('handshake')) decided(l);
  });
  const first = await Promise.race([handshake, done.then(() => 'exited')]);
  return { handshake: first, done, lines };
}

const handshakeOf = (r) => r.lines.find((l) => l.startsWith('handshake'));

async function refused() {
  const r = await httpGet(`http://127.0.0.1:${metricsPort}`, '/metrics');
  assert.equal(r.status, 200);
  const get = (reason) => Number((r.body.match(new RegExp(`parley_broker_handshakes_refused_total\\{reason="${reason}"\\} (\\d+)`)) || [])[1]);
  return { key: get('key'), protocol: get('protocol'), aborted: get('aborted'), body: r.body };
}

describe('who may use the bus', () => {
  it('push: only an admitted key can store a message as someone else', async () => {
    const { a, cb, cid } = await twoInConversation(stack.url());
    const forged = (id) => JSON.stringify({ conversation_id: cid, content: `forged by ${id}`, temp_id: `forged-${id}` });
    for (const id of ['unknown', 'none', 'wrongServer']) {
      const r = await probe(id, ['push', 'chat', 'message', a, forged(id)]);
      assert.match(r.lines[0], /^handshake (failed|none)/, `${id}: ${r.out}`);
    }
    const r = await probe('admitted', ['push', 'chat', 'message', a, forged('admitted')]);
    assert.equal(r.lines[0], 'handshake ok', r.out);
    // The control lands: a message stored as `a`, delivered to b. Then the refused
    // ones have had every chance to land too.
    const ev = await cb.next((f) => f.type === 'new_message' && f.message.content === 'forged by admitted');
    assert.equal(ev.message.sender_id, a);
    await sleep(300);
    const rows = await stack.sql(`SELECT content FROM chat.messages WHERE conversation_id = ${cid} ORDER BY id`);
    assert.deepEqual(rows.split('\n').filter(Boolean), ['forged by admitted']);
    await cb.expectNone((f) => f.type === 'new_message' && f.message.content !== 'forged by admitted', 300);
  });

  it('sub: only an admitted key receives events', async () => {
    const { ca, cid } = await twoInConversation(stack.url());
    const subs = {};
    for (const id of ['admitted', 'unknown', 'none', 'wrongServer']) subs[id] = await receiver(id, ['sub', '', '4000']);
    assert.equal(subs.admitted.handshake, 'handshake ok');
    for (const id of ['unknown', 'none', 'wrongServer']) assert.match(subs[id].handshake, /^handshake (failed|none)/, id);
    // Send until the control has seen one: its subscription travels to the publishers
    // a moment after the handshake.
    for (let i = 0; i < 10 && !subs.admitted.lines.includes(`got c${cid}`); i++) {
      await sendMessage(ca, cid, `secret ${i}`);
      await sleep(200);
    }
    const got = {};
    for (const [id, s] of Object.entries(subs)) got[id] = (await s.done).lines.filter((l) => l.startsWith('got '));
    assert.ok(got.admitted.includes(`got c${cid}`), `the control saw the conversation's events: ${got.admitted}`);
    for (const id of ['unknown', 'none', 'wrongServer']) assert.deepEqual(got[id], [], `${id} received events`);
  });

  it('pull: an unknown key takes no share of a service\'s requests', async () => {
    const { a, ca, cb, cid } = await twoInConversation(stack.url());
    const thieves = [];
    for (const id of ['unknown', 'none']) thieves.push(await receiver(id, ['pull', 'chat', '2000']));
    for (const t of thieves) assert.match(t.handshake, /^handshake (failed|none)/);
    // Round-robin would hand a thief every other request: all six are answered.
    for (let i = 0; i < 6; i++) await sendMessage(ca, cid, `mine ${i}`);
    for (let i = 0; i < 6; i++) await cb.next('new_message');
    for (const t of thieves) assert.deepEqual((await t.done).lines.filter((l) => l.startsWith('got ')), []);
    // The control: an admitted puller does get requests (the probe can steal).
    const ctl = await receiver('admitted', ['pull', 'chat', '2000']);
    assert.equal(ctl.handshake, 'handshake ok');
    await sleep(200);
    for (let i = 0; i < 4; i++) ca.send({ type: 'message', id: 900 + i, conversation_id: cid, content: `stolen? ${i}` });
    const stolen = (await ctl.done).lines.filter((l) => l === `got message ${a}`);
    assert.ok(stolen.length >= 1, 'the admitted probe took a share of the requests');
    ca.drain();
  });

  it('pub: an unknown key cannot inject an event to a user', async () => {
    const victim = uid('victim');
    const c = await login(stack.url(), victim);
    const fake = JSON.stringify({ type: 'notification', text: 'click here' });
    for (const id of ['unknown', 'none', 'wrongServer']) await probe(id, ['pub', `u${victim}`, fake]);
    await c.expectNone((f) => f.type === 'notification', 500);
    await probe('admitted', ['pub', `u${victim}`, fake]);
    const f = await c.next((x) => x.type === 'notification');
    assert.equal(f.text, 'click here', 'the control reaches the user');
  });

  it('the broker counts refused handshakes by reason, and logs them', async () => {
    const before = await refused();
    await probe('unknown', ['sub', '', '300']);
    await probe('wrongServer', ['sub', '', '300']);
    await probe('none', ['sub', '', '300']);
    // A plain client is seen as `protocol` when the broker notices the mismatch first,
    // as `aborted` when the client does and hangs up: both sides check.
    await eventually(async () => {
      const now = await refused();
      return now.key > before.key && now.protocol > before.protocol && now.protocol + now.aborted >= before.protocol + before.aborted + 2;
    }, { what: 'refusals counted' });
    assert.match(stack.procs.get('broker').output, /bus handshake refused.*reason=key/);
    assert.match((await refused()).body, /parley_broker_bus_secure 1/);
  });

  it('a key removed from the allow-list is refused from then on', async () => {
    const cert = stack.makeKey('probe-leaving');
    ids.leaving = { ...ids.admitted, BUS_CERT_FILE: cert };
    assert.equal(handshakeOf(await probe('leaving', ['sub', '', '100'])), 'handshake ok');
    fs.rmSync(path.join(stack.clientKeysDir, 'probe-leaving.cert'));
    await eventually(async () => /^handshake failed auth/.test(handshakeOf(await probe('leaving', ['sub', '', '100']))), {
      what: 'the removed key refused',
    });
  });
});

describe('configuration', () => {
  const base = () => ({ PATH: process.env.PATH, BROKER_PORT: '1', LOG_FORMAT: 'text', JWT_SECRET: 'x', DB_CONNECTION_STRING: stack.dbConn });
  for (const bin of ['parley-broker', 'parley-gateway', 'parley-chat']) {
    it(`${bin} without keys and without BUS_INSECURE=1 exits non-zero with one line`, async () => {
      const err = await execFileP(path.join(BIN, bin), [], { env: base(), timeout: 20000 }).then(
        () => null,
        (e) => e,
      );
      assert.ok(err && err.code !== 0 && typeof err.code === 'number', `${bin} exited ${err && err.code}`);
      const lines = err.stderr.split('\n').filter((l) => /level=(error|warn)/.test(l));
      assert.equal(lines.length, 1, err.stderr);
      assert.match(lines[0], /BUS_CERT_FILE.*BUS_INSECURE=1/);
    });
  }
});

describe('BUS_INSECURE=1', () => {
  let plain;
  before(async () => {
    plain = await startStack({ env: { BUS_INSECURE: '1' } });
  });
  after(async () => {
    await plain?.stop();
  });
  it('runs a plain bus, and every process says so at start', async () => {
    const { ca, cb, cid } = await twoInConversation(plain.url());
    await sendMessage(ca, cid, 'in the clear');
    await cb.next('new_message');
    for (const p of plain.procs.values()) assert.match(p.output, /level=warn .*msg="bus is not secured"/, p.name);
  });
});
