// stack.mjs: start a whole Parley stack (broker, services, gateways) for one test file.
//
// Each stack gets its own database in the test cluster (started by the ctest fixture
// it_pg_start, given here as PARLEY_TEST_PG), its own free ports and one log file with
// every process' output, line by line, prefixed with the process name. stop() fails
// the test when a process did not exit 0 on SIGTERM, died on its own, or printed a
// sanitizer report: a crash the client never saw is still a failure.
//
// The bus is CURVE, as in production: the stack makes a key pair per process with
// parley-keygen (under <log dir>/keys/<stack>), and the broker admits only those.
// Tests that need plain TCP pass env {BUS_INSECURE: '1'}; stack.makeKey() makes more.
//
// Environment (set by tests/integration/CMakeLists.txt):
//   PARLEY_BIN_DIR       where parley-* binaries are (required)
//   PARLEY_TEST_PG       libpq conninfo of the test cluster without dbname
//   PARLEY_TEST_LOG_DIR  where stack logs go (default: $TMPDIR/parley-it-logs)
//   PARLEY_SANITIZE      ON when the binaries are ASan/UBSan builds (longer waits)
import { spawn, execFile, execFileSync } from 'node:child_process';
import { before, after } from 'node:test';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_SECRET, closeAllClients, httpGet, sleep } from './client.mjs';
import { httpsRequest } from './tls.mjs';

const execFileP = promisify(execFile);

// The server API key a stack started with {api: true} accepts.
export const DEFAULT_API_KEY = 'parley-test-api-key';

export const SANITIZE = /^(1|on|yes|true)$/i.test(process.env.PARLEY_SANITIZE || '');
const SLOW = SANITIZE ? 2 : 1;
const HEALTH_TIMEOUT_MS = 20000 * SLOW;
const STOP_TIMEOUT_MS = 15000 * SLOW;

const KINDS = {
  broker: 'parley-broker',
  chat: 'parley-chat',
  presence: 'parley-presence',
  call: 'parley-call',
  gateway: 'parley-gateway',
  hooks: 'parley-hooks',
};

// Configuration variables of README.md and docs/internals.md: never inherited from the
// environment of whoever runs the tests, only set by the stack.
const CONFIG_VARS = [
  'PORT', 'JWT_SECRET', 'JWT_PUBLIC_KEY', 'CORS_ORIGIN', 'DB_CONNECTION_STRING', 'CHAT_DB_URL',
  'PRESENCE_DB_URL', 'CALL_DB_URL', 'BROKER_HOST', 'BROKER_PORT', 'BROKER_BIND', 'BROKER_IPC_DIR',
  'BROKER_ENDPOINTS',
  'AUTH_TIMEOUT_MS', 'TYPING_TTL_MS', 'OFFLINE_GRACE_MS', 'RING_TIMEOUT_MS', 'CALL_GRACE_MS',
  'HELP_TIMEOUT_MS', 'MAX_FRAME_BYTES', 'RATE_LIMIT_PER_S', 'RATE_LIMIT_BURST',
  'REQUEST_TIMEOUT_MS', 'LOG_LEVEL', 'LOG_FORMAT', 'JWT_ALG', 'JWT_PUBLIC_KEY_FILE',
  'OUT_QUEUE_MAX', 'WS_PING_INTERVAL_S', 'GW_LEASE_INTERVAL_MS', 'SIO_PING_INTERVAL_MS',
  'SIO_PING_TIMEOUT_MS', 'METRICS_PORT', 'METRICS_BIND', 'DEV_TOKENS', 'WEB_ROOT',
  'DB_CONNECT_TIMEOUT_MS', 'BATCH_INTERVAL_MS', 'BATCH_PACING', 'SHED_AFTER_MS', 'MAX_INFLIGHT_PER_SERVICE',
  'REQUEST_FLUSH_MS', 'CALL_ASK_TIMEOUT_MS', 'CALL_TICK_MS', 'PRESENCE_TICK_MS',
  'PRESENCE_LEASE_DEFAULT_MS', 'CHAT_PRESENCE_RESYNC_MS', 'MESSAGE_MAX_CHARS', 'STATUS_MESSAGE_MAX_CHARS',
  'SIGNAL_MAX_BYTES', 'OUT_QUEUE_MAX_BYTES', 'MAX_CONNECTIONS', 'MAX_CONNECTIONS_PER_IP',
  'MAX_CONNECTIONS_PER_USER', 'TRUSTED_PROXIES', 'CONNECT_RATE_PER_IP', 'CONNECT_BURST_PER_IP', 'CREATE_CONVERSATIONS_PER_MIN',
  'NOTIFICATION_RETENTION_DAYS', 'NOTIFICATION_MAX_PER_USER', 'HELP_OFFERS_PER_MENTOR',
  'API_PORT', 'API_BIND', 'API_KEYS', 'TLS_CERT_FILE', 'TLS_KEY_FILE',
  'WEBHOOK_URL', 'WEBHOOK_SECRET', 'WEBHOOK_MAX_ATTEMPTS', 'WEBHOOK_TIMEOUT_MS',
  'WEBHOOK_BACKOFF_BASE_MS', 'WEBHOOK_BACKOFF_MAX_MS', 'WEBHOOK_CONCURRENCY', 'WEBHOOK_POLL_MS',
  'WEBHOOK_DEAD_RETENTION_DAYS',
  'BUS_INSECURE', 'BUS_CERT_FILE', 'BUS_SERVER_KEY_FILE', 'BUS_CLIENT_KEYS_DIR',
];

const SANITIZER_RE =
  /ERROR: (AddressSanitizer|LeakSanitizer|MemorySanitizer|ThreadSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/;

const live = new Set(); // every child of every stack of this process, for the exit hook
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

function binDir() {
  const dir = process.env.PARLEY_BIN_DIR;
  if (!dir) throw new Error('PARLEY_BIN_DIR is not set (run the integration tests through ctest)');
  return dir;
}

function testName() {
  const f = process.argv[1] ? path.basename(process.argv[1]) : 'stack';
  return f.replace(/\.test\.mjs$/, '').replace(/[^A-Za-z0-9_]/g, '_');
}

async function canListen(port) {
  for (const host of ['::', '0.0.0.0', '127.0.0.1']) {
    const r = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', (e) => resolve(e.code));
      srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve('ok')));
    });
    if (r === 'ok') continue;
    if (r === 'EAFNOSUPPORT' || r === 'EADDRNOTAVAIL') continue; // no IPv6 here
    return false;
  }
  return true;
}

// n consecutive free TCP ports, below the kernel's ephemeral range (32768+) so that
// outgoing connections of other tests cannot take them between check and bind.
export async function freePorts(n) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (12000 - n));
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await canListen(p);
    if (ok) return Array.from({ length: n }, (_, i) => base + i);
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

export async function psql(conninfo, sql) {
  const { stdout } = await execFileP('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', conninfo, '-c', sql], {
    timeout: 30000,
  });
  return stdout.trim();
}

let stackCount = 0;

export class Stack {
  constructor(opts) {
    this.opts = opts;
    this.procs = new Map(); // name -> proc record
    this.failures = [];
    this.stopped = false;
  }

  // ws:// URL of gateway i (wss:// with opts.tls); http base is the same with http(s)://.
  url(i = 0) {
    return this.gateways[i].url;
  }

  log(line) {
    this.logStream.write(`[harness] ${line}\n`);
  }

  // Run SQL against this stack's database; its output, trimmed (tuples only).
  async sql(query) {
    return psql(this.dbConn, query);
  }

  async _init() {
    const { gateways = 1, chats = 1, presences = 1, calls = 1, hooks = 0, brokers = 1 } = this.opts;
    stackCount += 1;
    const name = `${testName()}_${stackCount}`;
    this.name = name;
    const logDir = process.env.PARLEY_TEST_LOG_DIR || path.join(os.tmpdir(), 'parley-it-logs');
    fs.mkdirSync(logDir, { recursive: true });
    this.logPath = path.join(logDir, `${name}.log`);
    this.logStream = fs.createWriteStream(this.logPath, { flags: 'w' });
    // Shown by ctest --output-on-failure; harmless otherwise.
    console.log(`# stack log: ${this.logPath}`);

    // Database: a fresh one per stack.
    const pgBase = process.env.PARLEY_TEST_PG;
    if (!pgBase) throw new Error('PARLEY_TEST_PG is not set (the it_pg_start fixture provides it)');
    this.dbName = `it_${name}_${process.pid}`.toLowerCase();
    await psql(`${pgBase} dbname=postgres`, `CREATE DATABASE "${this.dbName}"`);
    this.dbConn = `${pgBase} dbname=${this.dbName}`;

    // Ports: each broker's 8, then one per gateway. opts.tls ({cert, key, ca}: files
    // and the CA's PEM text): the gateways serve TLS, so the URLs are wss:// and https://.
    const brokerPorts = [];
    this.brokerPorts = []; // base port of each broker
    for (let i = 0; i < brokers; i++) {
      let ports = await freePorts(8);
      while (ports.some((p) => brokerPorts.includes(p))) ports = await freePorts(8);
      brokerPorts.push(...ports);
      this.brokerPorts.push(ports[0]);
    }
    this.brokerPort = this.brokerPorts[0];
    this.gateways = [];
    const [ws, http] = this.opts.tls ? ['wss', 'https'] : ['ws', 'http'];
    for (let i = 0; i < gateways; i++) {
      let [p] = await freePorts(1);
      while (brokerPorts.includes(p) || this.gateways.some((g) => g.port === p)) [p] = await freePorts(1);
      this.gateways.push({ port: p, url: `${ws}://127.0.0.1:${p}/`, http: `${http}://127.0.0.1:${p}` });
    }
    // The server API (opts.api: true or {keys}): one more port per gateway.
    if (this.opts.api) {
      const taken = () => [...brokerPorts, ...this.gateways.flatMap((g) => [g.port, g.apiPort])];
      for (const g of this.gateways) {
        let [p] = await freePorts(1);
        while (taken().includes(p)) [p] = await freePorts(1);
        g.apiPort = p;
        g.api = `${http}://127.0.0.1:${p}`;
      }
    }

    // The bus is CURVE: a key pair per process, the broker admitting exactly those
    // (opts.env / envFor BUS_INSECURE: '1' runs plain instead).
    this.keyDir = path.join(logDir, 'keys', `${name}_${process.pid}`);
    fs.rmSync(this.keyDir, { recursive: true, force: true });
    this.clientKeysDir = path.join(this.keyDir, 'clients');
    this.brokerCert = this.makeKey('broker', { allow: false });

    const base = { ...process.env };
    for (const k of CONFIG_VARS) delete base[k];
    base.ASAN_OPTIONS ??= 'detect_leaks=1:halt_on_error=1:abort_on_error=0:print_summary=1';
    base.UBSAN_OPTIONS ??= 'print_stacktrace=1:halt_on_error=1';
    base.LSAN_OPTIONS ??= fs.existsSync(new URL('../lsan.supp', import.meta.url))
      ? `suppressions=${new URL('../lsan.supp', import.meta.url).pathname}:print_suppressions=0`
      : 'print_suppressions=0';
    this.baseEnv = {
      ...base,
      BROKER_BIND: '127.0.0.1',
      BROKER_HOST: '127.0.0.1',
      BROKER_PORT: String(this.brokerPort),
      // One broker: the default (BROKER_HOST:BROKER_PORT). Several: every process
      // connects to each, as in docker-compose.yml.
      ...(brokers > 1 ? { BROKER_ENDPOINTS: this.brokerPorts.map((p) => `127.0.0.1:${p}`).join(',') } : {}),
      DB_CONNECTION_STRING: this.dbConn,
      JWT_SECRET: DEFAULT_SECRET,
      ...(this.opts.api ? { API_KEYS: this.opts.api.keys || DEFAULT_API_KEY } : {}),
      ...(this.opts.tls ? { TLS_CERT_FILE: this.opts.tls.cert, TLS_KEY_FILE: this.opts.tls.key } : {}),
      BUS_SERVER_KEY_FILE: this.brokerCert,
      // Every test client comes from 127.0.0.1: the per-address connect rate is off
      // unless a test sets it (edge_limits, edge_hostile test it).
      CONNECT_RATE_PER_IP: '0',
      // Shedding by queue age (50 ms by default) would refuse `overloaded` part of the
      // bursts that tests such as chat_batch send on purpose, more or less of it with
      // the load of this shared host: those tests are about other things. A budget
      // this long keeps shedding on, for a stuck queue only; overload.test.mjs sets
      // its own.
      SHED_AFTER_MS: '2000',
      ...(this.opts.env || {}),
    };

    for (let i = 0; i < brokers; i++) {
      this._add('broker', i === 0 ? 'broker' : `broker${i + 1}`, { BROKER_PORT: String(this.brokerPorts[i]) });
    }
    for (let i = 0; i < chats; i++) this._add('chat', i === 0 ? 'chat' : `chat${i + 1}`);
    for (let i = 0; i < presences; i++) this._add('presence', i === 0 ? 'presence' : `presence${i + 1}`);
    for (let i = 0; i < calls; i++) this._add('call', i === 0 ? 'call' : `call${i + 1}`);
    for (let i = 0; i < hooks; i++) this._add('hooks', i === 0 ? 'hooks' : `hooks${i + 1}`);
    for (let i = 0; i < gateways; i++) {
      const gname = i === 0 ? 'gateway' : `gateway${i + 1}`;
      const apiEnv = this.gateways[i].apiPort ? { API_PORT: String(this.gateways[i].apiPort) } : {};
      this._add('gateway', gname, { PORT: String(this.gateways[i].port), ...apiEnv });
      this.gateways[i].name = gname;
    }
    this.log(`database ${this.dbName}, brokers ${this.brokerPorts}, gateways ${this.gateways.map((g) => g.port)}`);

    for (const p of this.procs.values()) if (p.kind === 'broker') this._spawn(p);
    for (const p of this.procs.values()) if (p.kind !== 'broker' && p.kind !== 'gateway') this._spawn(p);
    for (const p of this.procs.values()) if (p.kind === 'gateway') this._spawn(p);
    await this.waitHealthy();
  }

  // Make a CURVE certificate with parley-keygen: <keyDir>/<name>.cert (+ _secret);
  // allow: also admit it (copy its public half into the broker's allow-list directory).
  // Returns the certificate's path, what BUS_CERT_FILE names.
  makeKey(name, { allow = true } = {}) {
    const file = path.join(this.keyDir, `${name}.cert`);
    const args = ['--name', name, ...(allow ? ['--allow', this.clientKeysDir] : []), file];
    if (!allow) fs.mkdirSync(this.clientKeysDir, { recursive: true });
    execFileSync(path.join(binDir(), 'parley-keygen'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return file;
  }

  _add(kind, name, env = {}) {
    const perName = (this.opts.envFor && (this.opts.envFor[name] || this.opts.envFor[kind])) || {};
    // parley-hooks is not on the bus: it only reads the outboxes and speaks HTTP.
    const keys =
      kind === 'broker'
        ? { BUS_CERT_FILE: this.brokerCert, BUS_CLIENT_KEYS_DIR: this.clientKeysDir }
        : kind === 'hooks'
          ? {}
          : { BUS_CERT_FILE: this.makeKey(name) };
    this.procs.set(name, {
      kind,
      name,
      bin: path.join(binDir(), KINDS[kind]),
      env: { ...this.baseEnv, ...keys, ...env, ...perName },
      child: null,
      exit: null, // promise of {code, signal} of the current incarnation
      expected: false, // the harness or the test ended this incarnation on purpose
      incarnation: 0,
      output: '',
    });
  }

  _spawn(p) {
    if (!fs.existsSync(p.bin)) throw new Error(`${p.bin} does not exist (build first)`);
    p.incarnation += 1;
    p.expected = false;
    const tag = p.incarnation > 1 ? `${p.name}#${p.incarnation}` : p.name;
    const child = spawn(p.bin, [], { env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    p.child = child;
    this.log(`started ${tag} pid ${child.pid}`);
    const pipe = (stream) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        p.output += chunk;
        const lines = (rest + chunk).split('\n');
        rest = lines.pop();
        for (const l of lines) this.logStream.write(`[${tag}] ${l}\n`);
      });
      stream.on('end', () => {
        if (rest) this.logStream.write(`[${tag}] ${rest}\n`);
      });
    };
    pipe(child.stdout);
    pipe(child.stderr);
    p.exit = new Promise((resolve) => {
      child.once('error', (e) => {
        this.log(`${tag}: spawn error ${e.message}`);
        live.delete(child);
        resolve({ code: -1, signal: null, error: e });
      });
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.log(`${tag} exited code=${code} signal=${signal}`);
        if (!p.expected && !this.stopped) {
          this.failures.push(`${tag} died unexpectedly (code=${code}, signal=${signal})`);
        }
        // Let stdout/stderr drain before anyone reads p.output.
        setTimeout(() => resolve({ code, signal }), 50);
      });
    });
    p.running = true;
    p.exit.then(() => {
      if (p.child === child) p.running = false;
    });
  }

  _proc(name) {
    const p = this.procs.get(name);
    if (!p) throw new Error(`no process named ${name} (have: ${[...this.procs.keys()].join(', ')})`);
    return p;
  }

  // Every gateway answers GET /healthz with 200 (timeout HEALTH_TIMEOUT_MS).
  async waitHealthy(timeoutMs = HEALTH_TIMEOUT_MS) {
    const end = Date.now() + timeoutMs;
    for (const g of this.gateways) {
      const gp = this._proc(g.name);
      let last = 'no answer';
      for (;;) {
        for (const p of this.procs.values()) {
          if (!p.running && !p.expected) {
            throw new Error(`${p.name} exited during start-up; log: ${this.logPath}\n${tail(p.output)}`);
          }
        }
        if (!gp.running) break;
        // Until our gateway says it listens, a 200 could come from another test's
        // gateway that took the same port first.
        const quiet = /^(warn|error)$/.test(gp.env.LOG_LEVEL || '');
        if (!quiet && !/gateway listening/.test(gp.output)) {
          if (Date.now() > end) throw new Error(`${g.name} did not start listening within ${timeoutMs} ms; log: ${this.logPath}`);
          await sleep(50);
          continue;
        }
        try {
          const r = this.opts.tls
            ? await httpsRequest(`${g.http}/healthz`, { ca: this.opts.tls.ca })
            : await httpGet(g.http, '/healthz');
          if (r.status === 200) break;
          last = `HTTP ${r.status} ${r.body.slice(0, 200)}`;
        } catch (e) {
          last = e.message;
        }
        if (Date.now() > end) {
          throw new Error(`${g.name} /healthz not 200 within ${timeoutMs} ms (${last}); log: ${this.logPath}`);
        }
        await sleep(100);
      }
    }
  }

  // Send a signal to one process and await its exit: {code, signal}.
  async kill(name, signal = 'SIGKILL') {
    const p = this._proc(name);
    if (!p.running) throw new Error(`${name} is not running`);
    p.expected = true;
    this.log(`test sends ${signal} to ${name}`);
    p.child.kill(signal);
    return p.exit;
  }

  // Send a signal the process is expected to live through (SIGHUP: reload).
  signal(name, signal) {
    const p = this._proc(name);
    if (!p.running) throw new Error(`${name} is not running`);
    this.log(`test sends ${signal} to ${name}`);
    p.child.kill(signal);
  }

  // Stop a process cleanly (SIGTERM, must exit 0) if it runs, then start it again.
  // Waits for the gateways' /healthz afterwards.
  async restart(name) {
    const p = this._proc(name);
    if (p.running) {
      const r = await this._term(p);
      if (r) this.failures.push(r);
    }
    this._spawn(p);
    await this.waitHealthy();
  }

  // SIGTERM one process; returns a failure string or null.
  async _term(p) {
    p.expected = true;
    p.child.kill('SIGTERM');
    let timer;
    const t = new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
    });
    let r = await Promise.race([p.exit, t]);
    clearTimeout(timer);
    if (r === 'timeout') {
      p.child.kill('SIGKILL');
      await p.exit;
      return `${p.name} did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM (killed)`;
    }
    if (r.code !== 0) return `${p.name} exited with code=${r.code} signal=${r.signal} on SIGTERM`;
    return null;
  }

  // Stop everything (gateways, then services, then the broker) and throw if any process
  // misbehaved during the test: non-zero exit, unexpected death, sanitizer report.
  async stop() {
    if (this.stopped) return;
    await closeAllClients();
    const phases = [['gateway'], ['chat', 'presence', 'call', 'hooks'], ['broker']];
    for (const kinds of phases) {
      const group = [...this.procs.values()].filter((p) => kinds.includes(p.kind) && p.running);
      const results = await Promise.all(group.map((p) => this._term(p)));
      for (const r of results) if (r) this.failures.push(r);
    }
    this.stopped = true;
    for (const p of this.procs.values()) {
      const m = p.output.match(SANITIZER_RE);
      if (m) this.failures.push(`${p.name}: sanitizer report (${m[0]}):\n${around(p.output, m.index)}`);
    }
    await new Promise((r) => this.logStream.end(r));
    if (this.failures.length) {
      throw new Error(`stack ${this.name} misbehaved (log: ${this.logPath}):\n- ${this.failures.join('\n- ')}`);
    }
    try {
      await psql(`${process.env.PARLEY_TEST_PG} dbname=postgres`, `DROP DATABASE IF EXISTS "${this.dbName}" WITH (FORCE)`);
    } catch {
      /* the cluster is recreated by the next run anyway */
    }
  }
}

function tail(s, n = 30) {
  return s.split('\n').slice(-n).join('\n');
}

function around(s, i) {
  return s.slice(Math.max(0, i - 200), i + 3000);
}

// Start a stack; see the top of this file. opts: {gateways, chats, presences, calls,
// hooks (parley-hooks workers, default none), brokers (default 1; each more broker is
// `broker<N>`, and every process then gets BROKER_ENDPOINTS), env (for every process),
// envFor: {gateway|chat|...|<name>: env}}.
// Ports are checked free before use, but a test running in parallel can bind one
// between the check and our bind: a stack whose broker or gateway could not listen is
// started again on other ports.
export async function startStack(opts = {}) {
  for (let attempt = 1; ; attempt++) {
    const s = new Stack(opts);
    try {
      await s._init();
      return s;
    } catch (e) {
      s.stopped = true;
      for (const p of s.procs.values()) if (p.running) p.child.kill('SIGKILL');
      const portTaken = [...s.procs.values()].some((p) => /cannot listen|cannot bind/.test(p.output));
      if (portTaken && attempt < 3) {
        s.log(`a port was taken by someone else (attempt ${attempt}); starting again on other ports`);
        await Promise.all([...s.procs.values()].map((p) => p.exit));
        continue;
      }
      e.message += s.logPath ? ` (stack log: ${s.logPath})` : '';
      throw e;
    }
  }
}

// The usual life of a test file's stack: started before its tests (opts, or a function
// returning them, read only then), handed to onReady, stopped after them.
export function useStack(opts, onReady) {
  let stack;
  before(async () => {
    stack = await startStack(typeof opts === 'function' ? opts() : opts);
    onReady(stack);
  });
  after(async () => {
    await stack?.stop();
  });
}
