// Socket.IO and raw WebSocket clients together (docs/protocol/socketio.md):
// the same conversation, presence and calls seen from both endpoints, in both
// directions; and reconnection: the gateway goes away, the socket.io-client reconnects
// on its own, re-authenticates with its auth payload and carries on.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './lib/stack.mjs';
import { DEFAULT_TIMEOUT_MS, login, sleep, token, uid, waitOnline } from './lib/client.mjs';
import { closeAllSio, sioLogin as sioLoginAt } from './lib/sio.mjs';

let stack;
let http;
let url;

before(async () => {
  stack = await startStack({ env: { RATE_LIMIT_PER_S: '0' } });
  http = stack.gateways[0].http;
  url = stack.url();
});
after(async () => {
  closeAllSio();
  await stack?.stop();
});

const sioLogin = (user, role = 'student', opts = {}) => sioLoginAt(http, user, role, { label: `sio-${user}`, ...opts });


// A raw student and a Socket.IO mentor sharing a direct conversation.
async function pair() {
  const [r, s] = [uid('raw'), uid('sio')];
  const raw = await login(url, r, 'student', { label: 'raw' });
  const sio = await sioLogin(s, 'mentor');
  const created = await sio.ack('create_conversation', { participants: [r], kind: 'direct' });
  assert.equal(created.type, 'conversation_created', JSON.stringify(created));
  const cid = created.conversation.conversation_id;
  await raw.next({ type: 'conversation_created' });
  return { r, s, raw, sio, cid };
}

// ---------------------------------------------------------------------------------

describe('a raw and a Socket.IO client in one conversation', () => {
  it('messages both ways: message_sent to the sender, new_message to the other', async () => {
    const { r, s, raw, sio, cid } = await pair();
    const a = await sio.ack('send_message', { conversation_id: cid, content: 'from socket.io', temp_id: 'x1' });
    assert.equal(a.type, 'message_sent');
    const ev = await raw.next({ type: 'new_message' });
    assert.equal(ev.message.message_id, a.message_id);
    assert.equal(ev.message.sender_id, s);
    assert.equal(ev.message.temp_id, 'x1');

    const b = await raw.request({ type: 'message', conversation_id: cid, content: 'from raw' });
    assert.equal(b.type, 'message_sent');
    const ev2 = await sio.next('new_message');
    assert.equal(ev2.message.message_id, b.message_id);
    assert.equal(ev2.message.sender_id, r);
    assert.equal(ev2.message.seq, 2);

    const h = await sio.ack('history', { conversation_id: cid });
    assert.deepEqual(h.messages.map((m) => m.content), ['from socket.io', 'from raw']);
    raw.close();
    sio.close();
  });

  it('typing, read receipts, edits and reactions cross over', async () => {
    const { r, s, raw, sio, cid } = await pair();
    assert.deepEqual(await sio.ack('typing_start', { conversation_id: cid }), { type: 'ack', of: 'typing_start' });
    const t = await raw.next({ type: 'user_typing' });
    assert.deepEqual([t.conversation_id, t.user_id, t.is_typing], [cid, s, true]);
    raw.send({ type: 'typing_start', conversation_id: cid });
    const t2 = await sio.next('user_typing', { is_typing: true });
    assert.equal(t2.user_id, r);

    const m = await raw.request({ type: 'message', conversation_id: cid, content: 'read me' });
    await sio.next('new_message');
    assert.deepEqual(await sio.ack('mark_read', { conversation_id: cid, seq: m.seq }), { type: 'ack', of: 'mark_read' });
    const rr = await raw.next({ type: 'read_receipt' });
    assert.deepEqual([rr.user_id, rr.seq], [s, m.seq]);

    const edited = await raw.request({ type: 'edit_message', message_id: m.message_id, content: 'edited' });
    assert.equal(edited.type, 'message_updated');
    assert.equal((await sio.next('message_updated')).message.content, 'edited');

    const re = await sio.ack('react', { message_id: m.message_id, emoji: '👍' });
    assert.equal(re.type, 'reaction');
    const re2 = await raw.next({ type: 'reaction' });
    assert.deepEqual([re2.user_id, re2.emoji, re2.added], [s, '👍', true]);
    raw.close();
    sio.close();
  });

  it('presence: status changes cross over both ways', async () => {
    const { r, s, raw, sio } = await pair();
    await waitOnline(raw, s);
    await waitOnline(raw, r);
    const own = await sio.ack('set_status', { status: 'busy', status_message: 'in a session' });
    assert.equal(own.type, 'status_change', JSON.stringify(own));
    assert.equal(own.status, 'busy');
    const seen = await raw.next({ type: 'status_change', user_id: s, status: 'busy' });
    assert.equal(seen.status_message, 'in a session');

    const ans = await raw.request({ type: 'set_status', status: 'away' });
    assert.equal(ans.type, 'status_change', JSON.stringify(ans));
    const heard = await sio.next('status_change', { user_id: r, status: 'away' });
    assert.equal(heard.role, 'student');
    const p = await sio.ack('get_presence', { user_ids: [r] });
    assert.equal(p.type, 'presence');
    assert.equal(p.users[0].status, 'away');
    raw.close();
    sio.close();
  });

  it('calls: a raw caller rings a Socket.IO callee; accept, signals both ways, hang up', async () => {
    const [r, s] = [uid('caller'), uid('callee')];
    const raw = await login(url, r, 'student', { label: 'caller' });
    const sio = await sioLogin(s, 'mentor');
    await waitOnline(raw, s);
    const init = await raw.request({ type: 'initiate_call', callee_id: s, media: 'video' });
    assert.equal(init.type, 'call_initiated', JSON.stringify(init));
    const ring = await sio.next('incoming_call', { call_id: init.call_id });
    assert.equal(ring.caller_id, r);
    assert.equal(ring.media, 'video');

    const acc = await sio.ack('accept_call', { call_id: init.call_id });
    assert.equal(acc.type, 'call_accepted', JSON.stringify(acc));
    await raw.next({ type: 'call_accepted', call_id: init.call_id });

    const offer = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
    raw.send({ type: 'call_signal', call_id: init.call_id, signal: offer });
    const got = await sio.next('call_signal', { call_id: init.call_id });
    assert.deepEqual(got.signal, offer);
    assert.equal(got.from, r);
    const answer = { type: 'answer', sdp: 'v=0\r\n', candidates: [{ candidate: 'candidate:1 1 udp 1 10.0.0.1 9 typ host' }] };
    assert.deepEqual(await sio.ack('call_signal', { call_id: init.call_id, signal: answer }), { type: 'ack', of: 'call_signal' });
    assert.deepEqual((await raw.next({ type: 'call_signal' })).signal, answer);

    assert.deepEqual(await sio.ack('end_call', { call_id: init.call_id }), { type: 'ack', of: 'end_call' });
    const ended = await raw.next({ type: 'call_ended', call_id: init.call_id });
    assert.equal(ended.reason, 'hangup');
    raw.close();
    sio.close();
  });
});

describe('reconnection', () => {
  // Last in this file: it restarts the gateway under every client of the file.
  it('the gateway goes away: the client reconnects, re-authenticates and carries on', async () => {
    const u = uid('re');
    const c = await sioLogin(u, 'student', { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000 });
    const firstSession = c.auth.session_id;
    let disconnects = 0;
    c.socket.on('disconnect', () => disconnects++);
    await stack.restart('gateway');
    const again = await c.next('auth_success', {}, DEFAULT_TIMEOUT_MS * 3);
    assert.equal(again.user_id, u);
    const gateway = (sid) => sid.split('-')[0];
    assert.notEqual(gateway(again.session_id), gateway(firstSession), 'a session on the new gateway process');
    assert.equal(disconnects, 1, 'one disconnect: a stopping gateway takes no new connections');
    assert.equal(c.socket.connected, true);
    assert.deepEqual(await c.ack('ping'), { type: 'pong' });

    // and it is reachable again: a raw user's message arrives
    const other = uid('raw');
    const raw = await login(url, other, 'student');
    const conv = await raw.request({ type: 'create_conversation', participants: [u] });
    await c.next('conversation_created');
    await raw.request({ type: 'message', conversation_id: conv.conversation.conversation_id, content: 'welcome back' });
    assert.equal((await c.next('new_message')).message.content, 'welcome back');
    await sleep(10);
    raw.close();
    c.close();
  });
});
