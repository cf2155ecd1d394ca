// BROKER_IPC_DIR: the broker listens on Unix sockets as well as TCP, and a process
// started with the setting connects through them (docs/design/topology.md). Here the
// gateway, presence and call use the Unix sockets while chat-svc uses TCP, so every
// chat message crosses both transports: gateway → broker (ipc) → chat-svc (tcp) →
// broker → gateway (ipc). /proc/net/unix shows who is connected to which socket file.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack } from './lib/stack.mjs';
import { sendMessage, twoInConversation } from './lib/chat.mjs';

const EVENTS_OUT = 1; // broker XPUB: gateways and services subscribe here
const CHAT_BACK = 3; // broker PUSH to chat-svc instances (proto.h: chat queue offset 2, back + 1)

let stack;
let tmp;
let dir;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pl-ipc-'));
  dir = path.join(tmp, 'zmq'); // not there yet: the broker creates it
  stack = await startStack({
    env: { RATE_LIMIT_PER_S: '0', BROKER_IPC_DIR: dir },
    envFor: { chat: { BROKER_IPC_DIR: '' } },
  });
});
after(async () => {
  await stack?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Connected (state 03) Unix sockets whose path is this socket file: both ends of an
// accepted connection carry the listener's path.
function connectedTo(file) {
  return fs
    .readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && f[5] === '03' && f[7] === file).length;
}

describe('BROKER_IPC_DIR', () => {
  it('the broker makes the directory, private to its user, with a socket file per port', () => {
    const st = fs.statSync(dir);
    assert.equal(st.mode & 0o777, 0o700);
    const files = fs.readdirSync(dir).sort();
    const want = Array.from({ length: 8 }, (_, i) => `broker-${stack.brokerPort + i}`).sort();
    assert.deepEqual(files, want);
    for (const f of files) assert.ok(fs.statSync(path.join(dir, f)).isSocket(), `${f} is a socket`);
  });

  it('messages flow with the gateway on Unix sockets and chat-svc on TCP', async () => {
    const file = (off) => path.join(dir, `broker-${stack.brokerPort + off}`);
    assert.ok(connectedTo(file(EVENTS_OUT)) >= 1, 'someone subscribes to events over the Unix socket');
    assert.equal(connectedTo(file(CHAT_BACK)), 0, 'chat-svc takes its requests over TCP');
    const { ca, cb, cid } = await twoInConversation(stack.url());
    const sent = await sendMessage(ca, cid, 'over two transports');
    const got = await cb.next('new_message');
    assert.equal(got.message.message_id, sent.message_id);
    assert.equal(got.message.content, 'over two transports');
  });

  it('the broker removes its socket files when it stops', async () => {
    await stack.stop();
    stack = null;
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
