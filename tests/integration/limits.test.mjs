// Configurable limits: RATE_LIMIT_PER_S / RATE_LIMIT_BURST (rate_limited, then close
// 1008 for flooding) and MAX_FRAME_BYTES (close 1009), set small through the environment
// as README.md's Configuration promises.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { login, uid, eventually } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';

const PER_S = 2;
const BURST = 5;
const MAX_FRAME = 4096;
let stack;
let url;
useStack(() => ({
    env: { RATE_LIMIT_PER_S: String(PER_S), RATE_LIMIT_BURST: String(BURST), MAX_FRAME_BYTES: String(MAX_FRAME) },
  }), (s) => ((stack = s), (url = s.url())));

// Wait until the bucket has refilled: a ping answered by pong.
async function refilled(c) {
  await eventually(async () => (await c.request({ type: 'ping' })).type === 'pong', {
    timeoutMs: 30000,
    everyMs: 1000,
    what: 'rate limit refill',
  });
}

describe('rate limit', () => {
  it('frames beyond the burst get rate_limited (with their id); the connection stays', async () => {
    const c = await login(url, uid('rl'), 'student');
    const n = BURST + 3;
    const ids = Array.from({ length: n }, (_, i) => `rl-${i}`);
    for (const id of ids) c.send({ type: 'ping', id });
    const answers = [];
    for (const id of ids) answers.push(await c.next({ id }));
    for (const a of answers) {
      assert.ok(a.type === 'pong' || (a.type === 'error' && a.code === 'rate_limited'), JSON.stringify(a));
    }
    const limited = answers.filter((a) => a.type === 'error');
    assert.ok(limited.length >= 1, `expected rate_limited among ${JSON.stringify(answers)}`);
    for (const a of limited) assertError(a, 'rate_limited', a.id);
    assert.ok(answers.slice(0, BURST).every((a) => a.type === 'pong'), 'the burst itself passes');
    assert.ok(c.isOpen, 'not closed: it did not keep flooding');
    await refilled(c);
  });

  it('a connection that keeps flooding while limited is closed 1008; others are unaffected', async () => {
    const other = await login(url, uid('calm'), 'student');
    const c = await login(url, uid('flood'), 'student');
    for (let i = 0; i < BURST * 6; i++) {
      if (!c.isOpen) break;
      c.send({ type: 'ping', id: `f-${i}` });
    }
    const info = await c.waitClose();
    assert.equal(info.code, 1008);
    assert.equal((await other.request({ type: 'ping' })).type, 'pong');
  });

  it('pings count against the limit before auth too', async () => {
    const { open } = await import('./lib/client.mjs');
    const c = await open(url);
    for (let i = 0; i < BURST + 3; i++) c.send({ type: 'ping', id: `pa-${i}` });
    const answers = [];
    for (let i = 0; i < BURST + 3; i++) answers.push(await c.next({ id: `pa-${i}` }));
    assert.ok(answers.some((a) => a.type === 'error' && a.code === 'rate_limited'), JSON.stringify(answers));
  });
});

describe('MAX_FRAME_BYTES', () => {
  it(`a frame under MAX_FRAME_BYTES (${MAX_FRAME}) is read`, async () => {
    const c = await login(url, uid('mf'), 'student');
    await refilled(c);
    const f = await c.request({ type: 'ping', id: 'small', pad: 'x'.repeat(MAX_FRAME - 200) });
    assert.ok(f.type === 'pong' || f.type === 'error', JSON.stringify(f).slice(0, 200));
    assert.ok(c.isOpen);
  });

  it(`a frame over MAX_FRAME_BYTES (${MAX_FRAME}) → close 1009`, async () => {
    const c = await login(url, uid('mf'), 'student');
    c.send({ type: 'ping', id: 'big', pad: 'x'.repeat(MAX_FRAME + 10) });
    const info = await c.waitClose();
    assert.equal(info.code, 1009);
  });
});
