// attacks.mjs: what a hostile client does to a gateway, one function per attack of the
// hardening issue, each running until `until` (ms since the epoch). Shared by the
// hostile-neighbour test (edge_hostile.test.mjs) and the benchmark that measures the
// other users' latency during each attack (bench/hostile.mjs). Hostile clients use
// their own 127.0.0.x source addresses, so per-address caps hit them, not the others.
import assert from 'node:assert/strict';
import { open, login, uid, sleep } from './client.mjs';
import { createConversation, sendMessage } from './chat.mjs';

const controls = String.fromCharCode(...Array.from({ length: 128 }, (_, i) => 1 + (i % 31)));

// Keep opening connections that flood until the attack ends (each is closed for it).
async function floodLoop(url, until, frame, localAddress) {
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

export const attacks = {
  'ping-id overflow before login': (url, until) =>
    Promise.all([0, 1, 2].map(() => floodLoop(url, until, () => JSON.stringify({ type: 'ping', id: controls }), '127.0.0.21'))),
  'garbage frames': (url, until) =>
    Promise.all([0, 1, 2].map(() => floodLoop(url, until, () => '{"type":"message",,,', '127.0.0.22'))),
  'a connection flood from one address': async (url, until) => {
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
  'a slow reader asking for big history pages': async (url, until) => {
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
  'conversations of 256 strangers, and typing in them': async (url, until) => {
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
