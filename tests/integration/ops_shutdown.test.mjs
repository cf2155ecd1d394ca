// Graceful shutdown and rolling restarts.
//
// SIGTERM makes a gateway close its clients with 1001 ("going away") and exit 0, and a
// service finish its batch and exit 0 (the harness fails the test on any other exit).
// While clients keep sending, chat-svc instances are restarted one by one and then a
// gateway: no acknowledged message may be lost. Clients do what a real client does:
// on `unavailable`, a timeout or a dropped connection they reconnect (to any gateway)
// and resend with the same temp_id, which the server stores once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, SANITIZE } from './lib/stack.mjs';
import { login, uid, sleep } from './lib/client.mjs';
import { createConversation, fullHistory, assertGapless } from './lib/chat.mjs';

const SLOW = SANITIZE ? 2 : 1;
let stack;
useStack(() => ({ gateways: 2, chats: 2, env: { REQUEST_TIMEOUT_MS: String(2000 * SLOW), RATE_LIMIT_PER_S: '0' } }), (s) => {
  stack = s;
});

describe('SIGTERM', () => {
  it('a gateway closes its clients with 1001 and exits 0', async () => {
    const c = await login(stack.url(1), uid('sd'), 'student');
    await stack.restart('gateway2'); // SIGTERM; the harness asserts exit code 0
    const info = await c.waitClose();
    assert.equal(info.code, 1001, `close code ${info.code} ${info.reason}`);
  });

  it('a chat-svc instance exits 0 and the other keeps serving', async () => {
    const r = await stack.kill('chat2', 'SIGTERM');
    assert.equal(r.code, 0, `chat2 exit: ${JSON.stringify(r)}`);
    const c = await login(stack.url(0), uid('sd2'), 'student');
    const pong = await c.request({ type: 'ping' });
    assert.equal(pong.type, 'pong');
    await c.close();
    await stack.restart('chat2');
  });
});

// One sender: a user who sends `message` after `message` into one conversation, each
// with its own temp_id, until told to stop; retries the same temp_id until it is
// acknowledged. Returns the acknowledgements.
async function sender(user, convId, stop, stats) {
  const acks = [];
  let client = null;
  let gw = 0;
  for (let i = 0; !stop.now; i++) {
    const tempId = `${user}-${i}`;
    for (let attempt = 0; ; attempt++) {
      if (stop.hard) return acks;
      try {
        if (!client || !client.isOpen) {
          gw = (gw + 1) % 2; // reconnect to the other gateway: the first may be restarting
          client = await login(stack.url(gw), user, 'student');
        }
        const f = await client.request({ type: 'message', conversation_id: convId, content: `m ${tempId}`, temp_id: tempId }, 8000 * SLOW);
        if (f.type === 'message_sent') {
          assert.equal(f.temp_id, tempId);
          acks.push({ tempId, seq: f.seq, message_id: f.message_id });
          await sleep(20);
          break;
        }
        assert.equal(f.type, 'error', JSON.stringify(f));
        assert.equal(f.code, 'unavailable', `only unavailable is expected during a restart: ${JSON.stringify(f)}`);
        stats.unavailable += 1;
      } catch (e) {
        if (e.code === 'ERR_ASSERTION') throw e;
        stats.dropped += 1; // connection closed or timed out: reconnect and retry
        client?.terminate();
        client = null;
      }
      await sleep(100 * Math.min(attempt + 1, 5));
    }
  }
  await client?.close();
  return acks;
}

describe('rolling restart', () => {
  it('no acknowledged message is lost while chat-svc instances and a gateway restart', async () => {
    const users = [uid('ra'), uid('rb'), uid('rc'), uid('rd')];
    const owner = await login(stack.url(0), users[0], 'student');
    const conv = await createConversation(owner, users.slice(1), { kind: 'group', title: 'rolling' });
    const stop = { now: false, hard: false };
    const stats = { unavailable: 0, dropped: 0 };
    const senders = users.map((u) => sender(u, conv.conversation_id, stop, stats));

    await sleep(800);
    await stack.restart('chat');
    await sleep(800);
    await stack.restart('chat2');
    await sleep(800);
    await stack.restart('gateway2');
    await sleep(800);
    await stack.restart('gateway');
    await sleep(800);
    stop.now = true;
    const timer = setTimeout(() => (stop.hard = true), 30000 * SLOW);
    const acks = (await Promise.all(senders)).flat();
    clearTimeout(timer);
    console.log(`# ${acks.length} messages acknowledged; ${stats.unavailable} unavailable, ${stats.dropped} dropped connections retried`);
    assert.ok(acks.length >= 20, `only ${acks.length} messages acknowledged`);

    const reader = await login(stack.url(0), users[0], 'student');
    const all = await fullHistory(reader, conv.conversation_id);
    const bySeq = new Map(all.map((m) => [m.seq, m]));
    for (const a of acks) {
      const m = bySeq.get(a.seq);
      assert.ok(m, `acknowledged seq ${a.seq} (${a.tempId}) is missing from history`);
      assert.equal(m.message_id, a.message_id, `seq ${a.seq} holds another message`);
      assert.equal(m.temp_id, a.tempId);
    }
    // Retries stored nothing twice, and seq has no gap.
    const temps = all.map((m) => m.temp_id);
    assert.equal(new Set(temps).size, temps.length, 'a temp_id was stored twice');
    assertGapless(all, all.length);
    await reader.close();
    await owner.close();
  });
});
