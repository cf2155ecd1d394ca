// The hostile neighbour: 100 normal users exchange messages while, one at a time, a
// hostile client runs each attack the hardening issue names for a few seconds. The
// normal users lose nothing (every message acknowledged and delivered once), the
// gateway's memory stays bounded and /healthz stays 200 throughout.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startStack, SANITIZE } from './lib/stack.mjs';
import { open, login, uid, httpGet, sleep } from './lib/client.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';

const ATTACK_MS = 3000;
const PAIRS = 50;
// ASan keeps freed memory in quarantine (256 MiB by default): allow for it there.
const RSS_GROWTH_MAX_MIB = SANITIZE ? 400 : 150;

let stack;
let url;
before(async () => {
  stack = await startStack({});
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

// ---- the attacks ---------------------------------------------------------------------

const controls = String.fromCharCode(...Array.from({ length: 128 }, (_, i) => 1 + (i % 31)));

// Keep opening connections that flood until the attack ends (each is closed for it).
async function floodLoop(until, frame, localAddress) {
  let conns = 0;
  while (Date.now() < until) {
    let c;
    try {
      c = await open(url, { localAddress, label: 'flood' });
    } catch {
      await sleep(50); // the address is at its cap: that is the defence working
      continue;
    }
    conns += 1;
    for (let i = 0; i < 200 && c.isOpen; i++) c.send(frame());
    await Promise.race([c.waitClose(), sleep(1000)]);
    c.terminate();
  }
  return conns;
}

const attacks = {
  'ping-id overflow before login': (until) =>
    Promise.all([0, 1, 2].map(() => floodLoop(until, () => JSON.stringify({ type: 'ping', id: controls }), '127.0.0.21'))),
  'garbage frames': (until) =>
    Promise.all([0, 1, 2].map(() => floodLoop(until, () => '{"type":"message",,,', '127.0.0.22'))),
  'a connection flood from one address': async (until) => {
    const held = [];
    let refused = 0;
    while (Date.now() < until && held.length + refused < 600) {
      try {
        held.push(await open(url, { localAddress: '127.0.0.23', label: 'hog' }));
      } catch {
        refused += 1;
      }
    }
    assert.ok(refused > 0, 'the per-address cap refused some');
    for (const c of held) c.terminate();
  },
  'a slow reader asking for big history pages': async (until) => {
    const me = await login(url, uid('slow'), 'student', { localAddress: '127.0.0.24' });
    const friend = await login(url, uid('friend'), 'student', { localAddress: '127.0.0.24' });
    const conv = await createConversation(me, [friend.auth.user_id]);
    const big = 'y'.repeat(16000);
    for (let i = 0; i < 20; i++) await sendMessage(friend, conv.conversation_id, `${i} ${big}`);
    me.ws._socket.pause();
    let i = 0;
    while (Date.now() < until && me.isOpen) {
      me.send({ type: 'history', conversation_id: conv.conversation_id, limit: 200, id: `h${i++}` });
      await sleep(40); // within the rate limit: only the queue cap can stop it
    }
    me.terminate();
    await friend.close();
  },
  'conversations of 256 strangers, and typing in them': async (until) => {
    const me = await login(url, uid('spam'), 'student', { localAddress: '127.0.0.25' });
    const convs = [];
    while (Date.now() < until && me.isOpen) {
      const participants = Array.from({ length: 255 }, () => uid('ghost'));
      const f = await me.request({ type: 'create_conversation', participants, kind: 'group' }).catch(() => null);
      if (f?.type === 'conversation_created') convs.push(f.conversation.conversation_id);
      for (const cid of convs.slice(-5)) me.send({ type: 'typing_start', conversation_id: cid });
      await sleep(60);
    }
    me.terminate();
  },
};

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
      await attack(until);
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
