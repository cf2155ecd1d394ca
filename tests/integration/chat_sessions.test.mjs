// Sessions opening together (chat-svc/chat_sessions.c): when a batch holds several
// session_opens, chat-svc marks their users connected and reads every answer with
// three set-based statements, and each auth_success must be exactly what the user
// would get alone: their conversations and no one else's, with participants, unread
// counts and read positions, their notification count, and a subscription to each
// listed conversation. A long fixed batch interval makes the logins below share
// batches; the service's own metrics show they did.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, freePorts } from './lib/stack.mjs';
import { batchSizes } from './lib/prom.mjs';
import { login, uid } from './lib/client.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';

let stack, url, metricsPort;
before(async () => {
  [metricsPort] = await freePorts(1);
  stack = await startStack({
    env: { RATE_LIMIT_PER_S: '0', BATCH_INTERVAL_MS: '150', BATCH_PACING: 'fixed', CREATE_CONVERSATIONS_PER_MIN: '0' },
    envFor: { chat: { METRICS_PORT: String(metricsPort) } },
  });
  url = stack.url();
});
after(async () => {
  await stack?.stop();
});


const byId = (convs) => new Map(convs.map((c) => [c.conversation_id, c]));

describe('session_opens in one batch', () => {
  it('each auth_success is the user\'s own: conversations, unread, read positions, notifications, subscriptions', async () => {
    // Users 0..11: user k is in k group conversations with the host; while they are
    // away the host sends one message to each, so user k has k notifications and
    // k unread messages. User 0 has none.
    const host = await login(url, uid('host'), 'mentor', { label: 'host' });
    const users = Array.from({ length: 12 }, (_, k) => uid(`s${k}`));
    const convsOf = new Map(users.map((u) => [u, []]));
    const wanted = [];
    for (let k = 1; k < users.length; k++) for (let j = 0; j < k; j++) wanted.push(k);
    const created = await Promise.all(wanted.map((k, j) => createConversation(host, [users[k]], { kind: 'group', title: `t${k}.${j}` })));
    created.forEach((c, j) => convsOf.get(users[wanted[j]]).push(c.conversation_id));
    await Promise.all(created.map((c, j) => sendMessage(host, c.conversation_id, `hello ${j}`)));
    const before = await batchSizes(metricsPort);
    // All at once, twice each for two of them: the same user twice in one batch.
    const who = [...users, users[3], users[7]];
    const clients = await Promise.all(who.map((u, i) => login(url, u, 'student', { label: `c${i}` })));
    const after = await batchSizes(metricsPort);
    assert.ok(after.count - before.count < after.sum - before.sum,
      `logins shared batches: ${after.sum - before.sum} requests in ${after.count - before.count} batches`);

    for (const [i, c] of clients.entries()) {
      const u = who[i];
      const k = users.indexOf(u);
      const got = byId(c.auth.conversations);
      assert.equal(c.auth.user_id, u);
      assert.deepEqual([...got.keys()].sort((a, b) => a - b), [...convsOf.get(u)].sort((a, b) => a - b), `${u}'s conversations`);
      for (const conv of got.values()) {
        assert.deepEqual([...conv.participants].sort(), [host.auth.user_id, u].sort());
        assert.equal(conv.unread_count, 1, `${u}: one unread in ${conv.conversation_id}`);
        assert.equal(conv.read_positions[u], 0);
        assert.equal(conv.read_positions[host.auth.user_id], 1);
      }
      assert.equal(c.auth.notification_count, k, `${u}: ${k} notifications`);
    }
    // Subscribed to each listed conversation: a new message reaches every connection.
    const k = 5;
    const target = convsOf.get(users[k])[0];
    await sendMessage(host, target, 'after the storm');
    for (const [i, c] of clients.entries()) {
      if (who[i] !== users[k]) continue;
      const f = await c.next('new_message');
      assert.equal(f.message.content, 'after the storm');
    }
    // And they are marked connected for notifications: a message now makes no row.
    const rows = await stack.sql(`SELECT count(*) FROM chat.online WHERE user_id IN (${users.map((u) => `'${u}'`).join(',')})`);
    assert.equal(Number(rows), users.length);
  });
});
