// client.mjs: a WebSocket client for Parley's JSON protocol, made for tests.
//
// Every frame the server sends is kept in an inbox until a test consumes it with
// next()/request(); nothing is lost between two awaits. Tokens are minted here with
// node:crypto (HS256 and friends), so tests can also forge bad ones on purpose.
import crypto from 'node:crypto';
import WebSocket from 'ws';

export const DEFAULT_SECRET = process.env.PARLEY_TEST_JWT_SECRET || 'parley-integration-secret';
export const DEFAULT_TIMEOUT_MS = Number(process.env.PARLEY_TEST_WAIT_MS || 10000);

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// Mint a JWT. opts: secret, alg ('HS256' | 'HS384' | 'HS512' | 'none'), exp (epoch s;
// default now + 1 h; null = no exp), name, claims (merged last, undefined deletes),
// header (merged into the JOSE header), signature (override the signature part).
// role === undefined leaves the claim out.
export function token(user, role = 'student', opts = {}) {
  const alg = opts.alg || 'HS256';
  const header = { alg, typ: 'JWT', ...(opts.header || {}) };
  const now = Math.floor(Date.now() / 1000);
  const payload = { sub: user, iat: now };
  if (role !== undefined) payload.role = role;
  if (opts.exp !== null) payload.exp = opts.exp ?? now + 3600;
  if (opts.name !== undefined) payload.name = opts.name;
  for (const [k, v] of Object.entries(opts.claims || {})) {
    if (v === undefined) delete payload[k];
    else payload[k] = v;
  }
  const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  let sig = '';
  if (opts.signature !== undefined) {
    sig = opts.signature;
  } else if (alg !== 'none') {
    const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
    if (!hash) throw new Error(`token(): cannot sign ${alg}`);
    sig = b64url(crypto.createHmac(hash, opts.secret ?? DEFAULT_SECRET).update(signing).digest());
  }
  return `${signing}.${sig}`;
}

let uniq = 0;
// A user id nobody else in this test run uses.
export function uid(prefix = 'u') {
  uniq += 1;
  return `${prefix}-${process.pid}-${uniq}-${crypto.randomBytes(3).toString('hex')}`;
}

function wsUrl(base, query) {
  const u = new URL(base);
  for (const [k, v] of Object.entries(query || {})) u.searchParams.set(k, v);
  return u.toString();
}

// Turn a predicate shorthand into a function: a string matches `type`; an object
// matches when every key of it equals (deep, JSON-wise) the frame's key.
export function matcher(pred) {
  if (typeof pred === 'function') return pred;
  if (typeof pred === 'string') return (f) => f && f.type === pred;
  if (pred && typeof pred === 'object') {
    return (f) =>
      f && typeof f === 'object' && Object.entries(pred).every(([k, v]) => deepEq(f[k], v));
  }
  throw new Error('matcher: predicate must be a function, a type string or an object');
}

function deepEq(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function describe(pred) {
  if (typeof pred === 'function') return pred.toString().slice(0, 120);
  return JSON.stringify(pred);
}

const openClients = new Set();

// Close every client still open (stack.stop() calls this before stopping the gateways,
// so no test leaves a socket that would keep node alive).
export async function closeAllClients() {
  const all = [...openClients];
  await Promise.all(all.map((c) => Promise.race([c.close(), sleep(2000).then(() => c.terminate())])));
}

export class Client {
  constructor(ws, label) {
    openClients.add(this);
    this.ws = ws;
    this.label = label;
    this.inbox = []; // parsed frames not consumed yet
    this.all = []; // every frame received, for debugging
    this.waiters = [];
    this.nextId = 1;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        openClients.delete(this);
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.onClose(this.closeInfo);
      });
    });
    ws.on('message', (data, isBinary) => {
      let frame;
      if (isBinary) {
        frame = { __binary: true, data };
      } else {
        try {
          frame = JSON.parse(data.toString('utf8'));
        } catch {
          frame = { __unparsable: data.toString('utf8') };
        }
      }
      this.all.push(frame);
      const i = this.waiters.findIndex((w) => w.match(frame));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        w.resolve(frame);
      } else {
        this.inbox.push(frame);
      }
    });
    ws.on('error', () => {}); // surfaced through close / timeouts
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  // Send a JS value as one JSON text frame (a string or Buffer is sent as is).
  send(obj) {
    const data = typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj);
    this.ws.send(data, { binary: false });
  }

  sendBinary(buf) {
    this.ws.send(Buffer.from(buf), { binary: true });
  }

  // Await the first frame (already received or still to come) matching pred; it is
  // consumed. Rejects on timeout or when the connection closes first.
  next(pred = () => true, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const match = matcher(pred);
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const fail = (why) => {
        const err = new Error(
          `${this.label}: ${why} waiting for ${describe(pred)}; unconsumed frames: ` +
            JSON.stringify(this.inbox).slice(0, 1500),
        );
        reject(err);
      };
      const w = {
        match,
        resolve: (f) => {
          clearTimeout(w.timer);
          resolve(f);
        },
        onClose: (info) => {
          clearTimeout(w.timer);
          fail(`connection closed (${info.code} ${info.reason})`);
        },
      };
      if (this.closeInfo) return fail(`connection closed (${this.closeInfo.code})`);
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        fail(`timeout after ${timeoutMs} ms`);
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  // Send obj with a fresh id (unless it has one) and await the frame carrying that id.
  async request(obj, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const msg = { ...obj };
    if (!('id' in msg)) msg.id = `${this.label}-${this.nextId++}`;
    this.send(msg);
    return this.next((f) => f && f.id === msg.id, timeoutMs);
  }

  // Resolve when no frame matching pred arrives (or sits in the inbox) within ms;
  // reject with the frame otherwise. The matched frame is left in the inbox.
  async expectNone(pred, ms = 500) {
    const match = matcher(pred);
    const found = this.inbox.find(match);
    if (found) throw new Error(`${this.label}: unexpected frame ${JSON.stringify(found).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, ms));
    const late = this.inbox.find(match);
    if (late) throw new Error(`${this.label}: unexpected frame ${JSON.stringify(late).slice(0, 500)}`);
  }

  // Drop every unconsumed frame matching pred (default: all); returns them.
  drain(pred = () => true) {
    const match = matcher(pred);
    const out = [];
    this.inbox = this.inbox.filter((f) => (match(f) ? (out.push(f), false) : true));
    return out;
  }

  // Await the close; rejects if it has not closed within timeoutMs.
  async waitClose(timeoutMs = DEFAULT_TIMEOUT_MS) {
    let timer;
    const t = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.label}: still open after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.closed, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(code = 1000) {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(code);
    }
    return this.closed;
  }

  terminate() {
    this.ws.terminate();
    return this.closed;
  }
}

// Open a WebSocket. opts: token (sent as ?token= unless tokenIn: 'header'), query,
// headers, origin, path ('/' default), label, localAddress, ca (wss://: the only CA trusted). Resolves once open (frames that arrive
// are buffered). Rejects with err.status set when the server refuses the upgrade.
export function open(baseUrl, opts = {}) {
  const query = { ...(opts.query || {}) };
  const headers = { ...(opts.headers || {}) };
  if (opts.token !== undefined) {
    if (opts.tokenIn === 'header') headers.Authorization = `Bearer ${opts.token}`;
    else query.token = opts.token;
  }
  const base = new URL(baseUrl);
  if (opts.path) base.pathname = opts.path;
  const url = wsUrl(base.toString(), query);
  const wsOpts = { headers, handshakeTimeout: DEFAULT_TIMEOUT_MS, perMessageDeflate: false };
  if (opts.origin) wsOpts.origin = opts.origin;
  if (opts.maxPayload) wsOpts.maxPayload = opts.maxPayload;
  if (opts.localAddress) wsOpts.localAddress = opts.localAddress; // e.g. 127.0.0.7: another client address
  if (opts.ca) wsOpts.ca = opts.ca;
  const ws = new WebSocket(url, wsOpts);
  const client = new Client(ws, opts.label || 'client');
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        const err = new Error(`upgrade refused: HTTP ${res.statusCode} ${body.slice(0, 200)}`);
        err.status = res.statusCode;
        err.body = body;
        reject(err);
        req.destroy();
      });
      res.on('error', () => {});
    });
    ws.once('error', (e) => reject(e));
  });
}

// Open a connection for `user` (token in the query by default) and await auth_success.
// Returns the client with client.auth = the auth_success frame.
export async function connect(baseUrl, opts = {}) {
  const c = await open(baseUrl, opts);
  if (opts.token !== undefined && !opts.noAuthWait) {
    c.auth = await c.next('auth_success');
  }
  return c;
}

// Shorthand: a connected, authenticated client for user/role on gateway url.
export async function login(baseUrl, user, role = 'student', opts = {}) {
  return connect(baseUrl, {
    ...opts,
    token: token(user, role, opts.tokenOpts || {}),
    label: opts.label || `${user}`,
  });
}

// Expect the upgrade to be refused; resolves to the HTTP status.
export async function refusedStatus(baseUrl, opts = {}) {
  try {
    const c = await open(baseUrl, opts);
    c.terminate();
  } catch (e) {
    if (e.status) return e.status;
    throw e;
  }
  throw new Error('upgrade was accepted, expected a refusal');
}

// Plain HTTP GET on the gateway: {status, headers, body}.
export async function httpGet(baseUrl, path, headers = {}) {
  const u = new URL(baseUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = path;
  u.search = '';
  const res = await fetch(u, { headers, signal: AbortSignal.timeout(DEFAULT_TIMEOUT_MS) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

export const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$/;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Retry fn until it returns a truthy value; fn may throw (retried). Rejects after timeoutMs.
export async function eventually(fn, { timeoutMs = 20000, everyMs = 250, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`${what} not reached within ${timeoutMs} ms${last ? `: ${last.message}` : ''}`);
    }
    await sleep(everyMs);
  }
}

// Wait until presence counts `user` as connected, as `observer` (who must be allowed
// to see them) asks: conn_open reaches presence as a notification that races with a
// test's next request.
export async function waitOnline(observer, user) {
  await eventually(
    async () => {
      const f = await observer.request({ type: 'get_presence', user_ids: [user] });
      return f.type === 'presence' && f.users?.[0]?.status && f.users[0].status !== 'offline';
    },
    { what: `presence sees ${user} online` },
  );
}
