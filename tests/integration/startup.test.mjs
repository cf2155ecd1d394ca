// Start-up errors a user meets: a gateway whose port (or API port) is taken says
// "cannot listen", naming the port, and exits 1, without a crash on the way out (it
// used to segfault in libwebsockets' teardown after a failed bind) or a sanitizer report.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { freePorts } from './lib/stack.mjs';
import { DEFAULT_TIMEOUT_MS } from './lib/client.mjs';

// Runs a binary alone with env until it exits; {code, signal, out}.
async function runAlone(binary, env) {
  const child = spawn(path.join(process.env.PARLEY_BIN_DIR, binary), [], {
    env: { PATH: process.env.PATH, ASAN_OPTIONS: 'detect_leaks=1', BUS_INSECURE: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), DEFAULT_TIMEOUT_MS);
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  return { code, signal, out };
}

const runGateway = (env) => runAlone('parley-gateway', { JWT_SECRET: 'x', ...env });

// A listener holding a port for the duration of fn.
async function holding(port, fn) {
  const srv = net.createServer();
  await new Promise((resolve, reject) => srv.once('error', reject).listen(port, '0.0.0.0', resolve));
  try {
    return await fn();
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
}

describe('a port that is taken', () => {
  it('the public port: "cannot listen" with the port, exit 1, no crash', async () => {
    const [port, broker] = await freePorts(2);
    const r = await holding(port, () => runGateway({ PORT: String(port), BROKER_PORT: String(broker) }));
    assert.equal(r.signal, null, `killed by ${r.signal}:\n${r.out}`);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`msg="cannot listen" port=${port}`));
    assert.doesNotMatch(r.out, /Sanitizer|runtime error/, r.out);
  });
});

describe('a service with a bad setting', () => {
  it('BATCH_PACING neither adaptive nor fixed: the variable is named at once (before the database), exit 2, no crash', async () => {
    const [broker] = await freePorts(1);
    const { code, signal, out } = await runAlone('parley-chat', {
      BROKER_PORT: String(broker), DB_CONNECTION_STRING: 'postgresql://127.0.0.1:1/none', BATCH_PACING: 'sometimes',
    });
    assert.equal(signal, null, `killed by ${signal}:\n${out}`);
    assert.equal(code, 2, out); // a configuration error, as for a missing DB_CONNECTION_STRING
    assert.match(out, /msg="bad configuration" var=BATCH_PACING value="sometimes"/);
    assert.doesNotMatch(out, /Sanitizer|runtime error/, out);
  });
});
