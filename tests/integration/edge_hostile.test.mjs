// The hostile neighbour: 100 normal users exchange messages while, one at a time, a
// hostile client runs each attack the hardening issue names for a few seconds. The
// normal users lose nothing (every message acknowledged and delivered once), the
// gateway's memory stays bounded and /healthz stays 200 throughout.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startStack, SANITIZE } from './lib/stack.mjs';
import { login, uid, httpGet, sleep } from './lib/client.mjs';
import { createConversation } from './lib/chat.mjs';
import { attacks } from './lib/attacks.mjs';

const ATTACK_MS = 3000;
const PAIRS = 50;
// ASan keeps freed memory in quarantine (256 MiB by default): allow for it there.
const RSS_GROWTH_MAX_MIB = SANITIZE ? 400 : 150;

let stack;
let url;
before(async () => {
  // the gateway's defaults for the per-address connect rate (the harness turns it off)
  stack = await startStack({ env: { CONNECT_RATE_PER_IP: '50', CONNECT_BURST_PER_IP: '200' } });
  url = stack.url();
});
after(async () => stack?.stop());

function gatewayRssMiB() {
  const pid = stack.procs.get('gateway').child.pid;
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

// ---- the normal users --------------------------------------------------------------

// 50 pairs in direct conversations; each user sends a message a second with a temp_id
// and checks its peer gets every message of the other exactly once.
async function startNormalUsers() {
  const pairs = [];
  for (let i = 0; i < PAIRS; i++) {
    const a = await login(url, uid(`n${i}a`), 'student', { label: `n${i}a` });
    const b = await login(url, uid(`n${i}b`), 'mentor', { label: `n${i}b` });
    const conv = await createConversation(a, [b.auth.user_id], { kind: 'direct' });
    await b.next('conversation_created');
    pairs.push({ a, b, cid: conv.conversation_id });
  }
  const state = { running: true, sent: 0, errors: [], loops: [] };
  const sender = async (me, peer, cid, tag) => {
    let n = 0;
    while (state.running) {
      n += 1;
      const temp = `${tag}-${n}`;
      const t0 = Date.now();
      try {
        const ack = await me.request({ type: 'message', conversation_id: cid, content: temp, temp_id: temp });
        if (ack.type !== 'message_sent') state.errors.push(`${temp}: ${JSON.stringify(ack).slice(0, 200)}`);
        else state.sent += 1;
      } catch (e) {
        state.errors.push(`${temp}: ${e.message.slice(0, 200)}`);
      }
      await sleep(Math.max(0, 1000 - (Date.now() - t0)));
    }
    return n;
  };
  for (const [i, p] of pairs.entries()) {
    state.loops.push(sender(p.a, p.b, p.cid, `p${i}a`), sender(p.b, p.a, p.cid, `p${i}b`));
  }
  state.stop = async () => {
    state.running = false;
    const counts = await Promise.all(state.loops);
    // Every message of each side reached the other side once.
    for (const [i, p] of pairs.entries()) {
      for (const [to, from, count] of [[p.b, 'a', counts[2 * i]], [p.a, 'b', counts[2 * i + 1]]]) {
        const want = new Set(Array.from({ length: count }, (_, k) => `p${i}${from}-${k + 1}`));
        const got = [];
        for (const f of to.drain((f) => f.type === 'new_message')) got.push(f.message.temp_id);
        for (const t of want) {
          if (!got.includes(t)) {
            // the last one may still be on its way
            const late = await to.next((f) => f.type === 'new_message' && f.message.temp_id === t, 5000).catch(() => null);
            if (late) got.push(t);
          }
        }
        const missing = [...want].filter((t) => !got.includes(t));
        assert.deepEqual(missing, [], `pair ${i}: messages of ${from} never delivered`);
        assert.equal(got.length, new Set(got).size, `pair ${i}: a message delivered twice`);
      }
    }
    await Promise.all(pairs.flatMap((p) => [p.a.close(), p.b.close()]));
  };
  return state;
}

describe('a hostile neighbour cannot hurt the other users', () => {
  it('100 users exchange messages through every attack, one after the other', async () => {
    const users = await startNormalUsers();
    await sleep(1500);
    const rss0 = gatewayRssMiB();
    const report = [];
    for (const [name, attack] of Object.entries(attacks)) {
      const errorsBefore = users.errors.length;
      const until = Date.now() + ATTACK_MS;
      let healthy = true;
      const health = (async () => {
        while (Date.now() < until) {
          const r = await httpGet(url, '/healthz').catch((e) => ({ status: e.message }));
          if (r.status !== 200) healthy = r.status;
          await sleep(250);
        }
      })();
      await attack(url, until);
      await health;
      const rss = gatewayRssMiB();
      report.push(`${name}: gateway RSS ${rss.toFixed(1)} MiB (start ${rss0.toFixed(1)})`);
      assert.equal(healthy, true, `${name}: /healthz answered ${healthy}`);
      assert.deepEqual(users.errors.slice(errorsBefore), [], `${name}: normal users saw errors`);
      assert.ok(rss - rss0 < RSS_GROWTH_MAX_MIB, `${name}: gateway RSS grew from ${rss0} to ${rss} MiB`);
    }
    console.log(`# ${report.join('\n# ')}`);
    await users.stop();
    assert.ok(users.sent > 0);
    assert.deepEqual(users.errors, []);
  });
});
