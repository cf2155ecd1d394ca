// sio.mjs: a Socket.IO test client (socket.io-client underneath) that keeps every event,
// and its disconnect, in an inbox until a test takes it, the way client.mjs does for
// raw WebSocket clients.
import { io } from 'socket.io-client';
import { DEFAULT_TIMEOUT_MS, sleep, token } from './client.mjs';

const sockets = new Set();

// Closes every Socket.IO client still open (for after() hooks).
export function closeAllSio() {
  for (const s of sockets) s.close();
  sockets.clear();
}

// A matcher on {event, arg}: `want` is a predicate on the argument, or an object whose
// every key/value the argument must have.
function eventMatcher(event, want) {
  if (typeof want === 'function') return (it) => it.event === event && want(it.arg);
  const fields = Object.entries(want);
  return (it) => it.event === event && fields.every(([k, v]) => JSON.stringify(it.arg?.[k]) === JSON.stringify(v));
}

export class SioClient {
  constructor(socket, label) {
    this.socket = socket;
    this.label = label;
    this.inbox = []; // {event, arg}
    this.waiters = [];
    sockets.add(socket);
    socket.onAny((event, arg) => this._deliver({ event, arg }));
    socket.on('disconnect', (reason) => this._deliver({ event: 'disconnect', arg: reason }));
  }

  _deliver(item) {
    const i = this.waiters.findIndex((w) => w.match(item));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(item);
    else this.inbox.push(item);
  }

  // The first event named `event` matching `want` (a predicate or fields, see
  // eventMatcher; a number is taken as timeoutMs); resolves to its argument.
  next(event, want = {}, timeoutMs = DEFAULT_TIMEOUT_MS) {
    if (typeof want === 'number') [want, timeoutMs] = [{}, want];
    const match = eventMatcher(event, want);
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0].arg);
    return new Promise((resolve, reject) => {
      const w = {
        match,
        resolve: (it) => {
          clearTimeout(w.timer);
          resolve(it.arg);
        },
      };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.label}: no "${event}" event within ${timeoutMs} ms; inbox: ${JSON.stringify(this.inbox).slice(0, 1000)}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  async expectNone(event, ms = 500) {
    await sleep(ms);
    const found = this.inbox.find((it) => it.event === event);
    if (found) throw new Error(`${this.label}: unexpected "${event}" ${JSON.stringify(found.arg).slice(0, 300)}`);
  }

  // emit with an acknowledgement callback; resolves to the ack's argument.
  ack(event, arg) {
    const s = this.socket.timeout(DEFAULT_TIMEOUT_MS);
    return arg === undefined ? s.emitWithAck(event) : s.emitWithAck(event, arg);
  }

  emit(event, arg) {
    this.socket.emit(event, arg);
  }

  close() {
    sockets.delete(this.socket);
    this.socket.close();
  }
}

// A Socket.IO client for the gateway at base (http://host:port), websocket transport,
// no reconnection unless opts say otherwise; opts.path is appended to base (a namespace).
export function sio(base, opts = {}) {
  const { path = '', label = 'sio', ...rest } = opts;
  const socket = io(base + path, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: DEFAULT_TIMEOUT_MS,
    ...rest,
  });
  return new SioClient(socket, label);
}

// Resolves on 'connect'; rejects with the connect_error's Error (err.data = its data).
export function connected(c) {
  return new Promise((resolve, reject) => {
    c.socket.once('connect', () => resolve(c));
    c.socket.once('connect_error', (err) => reject(err));
  });
}

// The connect_error a refused connect gets (the client is closed either way).
export async function refusal(c) {
  try {
    await connected(c);
  } catch (err) {
    c.close();
    return err;
  }
  c.close();
  throw new Error('the connect was accepted, expected CONNECT_ERROR');
}

// A connected Socket.IO client for user (token in the auth payload), with c.auth the
// auth_success event.
export async function sioLogin(base, user, role = 'student', opts = {}) {
  const c = sio(base, { auth: { token: token(user, role) }, label: user, ...opts });
  await connected(c);
  c.auth = await c.next('auth_success');
  return c;
}
