// get_presence answers only for the users the asker may see (docs/protocol/presence.md):
// themselves, users who share a conversation with them, and mentors; the others are
// left out of `users`, without an error. presence-svc asks chat-svc who
// shares a conversation (shared_contacts) at the moment of the request, so a
// conversation created a moment ago counts, on any gateway. Two gateways and two
// presence-svc instances, so the asker, the contact and the service instance that
// answers are not necessarily on the same process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { eventually, login, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { createConversation } from './lib/chat.mjs';

let stack;
useStack(() => ({ gateways: 2, presences: 2, env: { RATE_LIMIT_PER_S: '0' } }), (s) => {
  stack = s;
});

const ids = (f) => f.users.map((u) => u.user_id);

async function presence(client, userIds) {
  const f = await client.request({ type: 'get_presence', user_ids: userIds });
  assert.equal(f.type, 'presence', JSON.stringify(f));
  return f;
}

describe('get_presence: only visible users', () => {
  it('oneself, a co-participant and a mentor are returned; a stranger is left out, without an error', async () => {
    const [me, peer, mentor, stranger, strangerMentorless] = ['me', 'peer', 'mentor', 'stranger', 'student'].map(uid);
    const c = await login(stack.url(0), me, 'student', { label: 'me' });
    const p = await login(stack.url(1), peer, 'student', { label: 'peer' });
    const m = await login(stack.url(1), mentor, 'mentor', { label: 'mentor' });
    const s = await login(stack.url(0), stranger, 'student', { label: 'stranger' });
    await createConversation(p, [me]); // created by the peer, on the other gateway
    await c.next('conversation_created');
    // the mentor's role reaches presence with its conn_open (a notification): wait for it
    await eventually(async () => ids(await presence(c, [mentor])).includes(mentor), { what: 'mentor visible' });
    const f = await presence(c, [stranger, me, peer, strangerMentorless, mentor]);
    assert.deepEqual(ids(f), [me, peer, mentor], 'in the order asked, strangers left out');
    assert.equal(f.users[0].status, 'online');
    assert.equal(f.users[2].role, 'mentor');
    // a stranger asking about me sees nothing; about the mentor, the mentor
    assert.deepEqual(ids(await presence(s, [me, peer])), []);
    assert.deepEqual(ids(await presence(s, [me, mentor])), [mentor]);
    // a mentor is no exception as an asker: strangers stay hidden from mentors too
    assert.deepEqual(ids(await presence(m, [me, stranger, mentor])), [mentor]);
  });

  it('after a new conversation is created with someone, they become visible, on both sides', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await login(stack.url(0), a, 'student', { label: 'a' });
    const cb = await login(stack.url(1), b, 'student', { label: 'b' });
    assert.deepEqual(ids(await presence(ca, [b])), []);
    assert.deepEqual(ids(await presence(cb, [a])), []);
    await createConversation(ca, [b]);
    // the creator asks right after its answer; the other side right after its event
    assert.deepEqual(ids(await presence(ca, [b])), [b]);
    await cb.next('conversation_created');
    assert.deepEqual(ids(await presence(cb, [a])), [a]);
    // a connection opened before the conversation existed sees it as well
    const cb2 = await login(stack.url(0), b, 'student', { label: 'b2' });
    assert.deepEqual(ids(await presence(cb2, [a])), [a]);
  });

  it('a group conversation makes every participant visible to every other', async () => {
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    const ca = await login(stack.url(0), a, 'student', { label: 'a' });
    const cc = await login(stack.url(1), c, 'student', { label: 'c' });
    await createConversation(ca, [b, c], { kind: 'group' });
    await cc.next('conversation_created');
    // b never connected: a contact all the same (role null, offline)
    const f = await presence(cc, [a, b]);
    assert.deepEqual(ids(f), [a, b]);
    assert.deepEqual(f.users[1], { user_id: b, role: null, status: 'offline', status_message: null, last_seen: null });
  });

  it('asking only about oneself needs no conversation at all; bad input is still bad_request', async () => {
    const me = uid('self');
    const c = await login(stack.url(0), me, 'student', { label: 'self' });
    assert.deepEqual(ids(await presence(c, [me])), [me]);
    assert.deepEqual(ids(await presence(c, [])), []);
    const f = await c.request({ type: 'get_presence', user_ids: ['x\u0000'] });
    assertError(f, 'bad_request', f.id);
  });

  it('chat-svc down: get_presence about others is unavailable, not a guess', async () => {
    const [me, other] = [uid('me'), uid('other')];
    const c = await login(stack.url(0), me, 'student', { label: 'me' });
    await stack.kill('chat', 'SIGKILL');
    try {
      const f = await c.request({ type: 'get_presence', user_ids: [other] });
      assertError(f, 'unavailable', f.id);
      // about oneself alone nothing is asked: answered as ever
      assert.deepEqual(ids(await presence(c, [me])), [me]);
    } finally {
      await stack.restart('chat');
    }
  });
});
