// Deployment files against the code: docker-compose.yml runs every server binary,
// .env.example and docker-compose.yml name every environment variable the C code reads,
// the Dockerfile copies every source directory CMake builds, and deploy/nginx.conf
// proxies WebSocket upgrades and plain HTTP across several gateways, in the clear and
// with TLS it terminates (a certificate made by scripts/tls-dev-cert.sh, as compose's
// tlscert service makes it).
//
// There is no Docker engine here, so no image is built and no container runs. What is
// checked instead: the files by reading them; `docker-compose config` (Debian's
// docker-compose package) when it is installed; `nginx -t` and a real nginx in front of
// two real gateways when nginx is installed. Each of those is skipped, with the package
// to install, when its tool is missing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startStack, freePorts } from './lib/stack.mjs';
import { httpGet, login, uid, eventually, sleep } from './lib/client.mjs';
import { httpsRequest } from './lib/tls.mjs';

const execFileP = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (f) => fs.readFileSync(path.join(ROOT, f), 'utf8');
const SRC_DIRS = ['common', 'proto', 'service', 'broker', 'gateway', 'chat-svc', 'presence-svc', 'call-svc', 'hooks', 'bench'];

function which(cmd) {
  for (const d of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    const p = path.join(d, cmd);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function cFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...cFiles(rel));
    else if (/\.[ch]$/.test(e.name)) out.push(rel);
  }
  return out;
}

// Every environment variable the C code reads: pl_env_int/pl_env_str/getenv with a
// literal name, and the per-service database variables handed to pl_service_main.
function codeVariables() {
  const vars = new Map(); // name -> files
  const re = /\b(?:pl_env_int|pl_env_str|getenv|secure_getenv)\(\s*"([A-Z][A-Z0-9_]*)"/g;
  const reDb = /\bpl_service_main\(\s*"[^"]*",\s*"([A-Z][A-Z0-9_]*)"/g;
  for (const dir of SRC_DIRS) {
    for (const f of cFiles(dir)) {
      const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
      for (const r of [re, reDb]) {
        for (const m of text.matchAll(r)) vars.set(m[1], [...(vars.get(m[1]) || []), f]);
      }
    }
  }
  return vars;
}

// Every executable target named parley-* (tests/ excluded).
function binaries() {
  const out = [];
  for (const dir of SRC_DIRS) {
    const f = path.join(ROOT, dir, 'CMakeLists.txt');
    if (!fs.existsSync(f)) continue;
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/add_executable\(\s*(parley-[a-z0-9-]+)/g)) out.push(m[1]);
  }
  return out;
}

const SERVERS = ['parley-broker', 'parley-gateway', 'parley-chat', 'parley-presence', 'parley-call', 'parley-hooks'];
// Measuring tools (bench/): built with the rest, never run by compose.
const TOOLS = ['parley-bench', 'parley-relay', 'parley-bench-edge'];
// One-shot tools compose runs with arguments before the servers start.
const ONE_SHOT = ['parley-keygen'];
// One-shot services (run once at start, exit 0): no restart policy, no healthcheck.
const ONE_SHOT_SERVICES = ['keygen', 'tlscert'];

describe('compose, image and configuration files name what the code has', () => {
  const compose = read('docker-compose.yml');
  const envExample = read('.env.example');
  const dockerfile = read('Dockerfile');

  it('the code reads environment variables (sanity of the scan)', () => {
    const vars = codeVariables();
    for (const v of ['PORT', 'JWT_SECRET', 'DB_CONNECTION_STRING', 'CHAT_DB_URL', 'BROKER_HOST', 'METRICS_PORT', 'LOG_FORMAT']) {
      assert.ok(vars.has(v), `scan missed ${v}`);
    }
  });

  it('.env.example lists every variable the binaries read', () => {
    const missing = [...codeVariables().keys()].filter((v) => !new RegExp(`^#?\\s*${v}=`, 'm').test(envExample));
    assert.deepEqual(missing, [], `add to .env.example: ${missing.join(', ')}`);
  });

  it('docker-compose.yml passes every variable the binaries read', () => {
    const missing = [...codeVariables().keys()].filter((v) => !new RegExp(`^\\s+${v}:`, 'm').test(compose));
    assert.deepEqual(missing, [], `add to an environment: block of docker-compose.yml: ${missing.join(', ')}`);
  });

  it('docker-compose.yml runs every server binary; the Dockerfile builds and copies all', () => {
    const bins = binaries();
    for (const b of SERVERS) assert.ok(bins.includes(b), `CMake no longer builds ${b}?`);
    for (const b of bins.filter((x) => !TOOLS.includes(x) && !ONE_SHOT.includes(x))) {
      assert.match(compose, new RegExp(`command: \\["${b}"\\]`), `no compose service runs ${b}`);
    }
    for (const b of ONE_SHOT) assert.match(compose, new RegExp(`command: \\["${b}", `), `no compose service runs ${b}`);
    assert.match(dockerfile, /COPY --from=build \/build\/bin\/parley-\* /, 'the image copies every parley-* binary');
    const top = read('CMakeLists.txt');
    for (const m of top.matchAll(/^add_subdirectory\(([^)\s]+)\)/gm)) {
      const dir = m[1];
      const copied = dir === 'tests' ? /COPY tests\/CMakeLists\.txt/.test(dockerfile) : new RegExp(`COPY ${dir}/ ${dir}/`).test(dockerfile);
      assert.ok(copied, `the Dockerfile's build stage does not copy ${dir}/ (CMake adds it)`);
    }
    assert.match(dockerfile, /^FROM debian:bookworm AS build/m);
    assert.match(dockerfile, /^FROM debian:bookworm-slim AS runtime/m);
    assert.match(dockerfile, /^USER parley/m, 'the image runs as a non-root user');
  });

  it('docker-compose config accepts the file (Debian docker-compose)', async (t) => {
    const dc = which('docker-compose');
    if (!dc) return t.skip('docker-compose is not installed (apt-get install docker-compose)');
    const env = { ...process.env, JWT_SECRET: 'x', POSTGRES_PASSWORD: 'x' };
    const { stdout } = await execFileP(dc, ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '--services'], { env, cwd: os.tmpdir() });
    const services = stdout.trim().split('\n').sort();
    assert.deepEqual(services, ['broker', 'broker2', 'call-svc', 'chat-svc', 'gateway', 'hooks', 'keygen', 'nginx', 'postgres', 'presence-svc', 'tlscert']);
    // Structure, from the normalised file (anchors and merges resolved).
    const py = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    const full = await execFileP(dc, ['-f', path.join(ROOT, 'docker-compose.yml'), 'config'], { env, cwd: os.tmpdir() });
    let doc;
    try {
      const r = await new Promise((resolve, reject) => {
        const p = spawn(py, ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))']);
        let out = '';
        let err = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (err += d));
        p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(err))));
        p.stdin.end(full.stdout);
      });
      doc = JSON.parse(r);
    } catch (e) {
      return t.skip(`no PyYAML to read the normalised file (${e.message.split('\n')[0]})`);
    }
    for (const [name, s] of Object.entries(doc.services)) {
      if (ONE_SHOT_SERVICES.includes(name)) continue; // checked below
      assert.ok(s.restart, `${name}: restart policy`);
      assert.ok(s.healthcheck && s.healthcheck.test, `${name}: healthcheck`);
      assert.ok(!s.container_name, `${name}: container_name would prevent --scale`);
      if (name !== 'nginx') assert.ok(!s.ports, `${name}: a published port would prevent --scale`);
    }
    assert.match(JSON.stringify(doc.services.gateway.healthcheck.test), /\/healthz/);
    for (const name of ['chat-svc', 'presence-svc', 'call-svc', 'gateway']) {
      assert.equal(doc.services[name].environment.BROKER_HOST, 'broker', `${name} finds the broker by its service name`);
      assert.equal(doc.services[name].environment.BROKER_ENDPOINTS, 'broker:5550,broker2:5550', `${name} connects to both brokers`);
      for (const b of ['broker', 'broker2']) assert.ok(doc.services[name].depends_on[b], `${name} starts after ${b}`);
    }
    for (const b of ['broker', 'broker2']) {
      assert.equal(doc.services[b].environment.BROKER_BIND, '0.0.0.0');
      assert.deepEqual(doc.services[b].command, ['parley-broker'], `${b} runs the broker`);
    }
    assert.equal(String(doc.services.gateway.environment.DEV_TOKENS), '0', 'no dev tokens in production');
    // The bus is CURVE: keygen fills the key volume before any Parley process starts,
    // each reads its own pair from it, and none runs insecure by default.
    assert.equal(doc.services.keygen.restart, 'no');
    const keys = { broker: 'broker', broker2: 'broker', 'chat-svc': 'chat', 'presence-svc': 'presence', 'call-svc': 'call', gateway: 'gateway' };
    for (const [name, key] of Object.entries(keys)) {
      const s = doc.services[name];
      assert.equal(s.depends_on.keygen.condition, 'service_completed_successfully', `${name} waits for keygen`);
      assert.equal(s.environment.BUS_CERT_FILE, `/var/lib/parley/keys/${key}.cert`, `${name}: its own key`);
      assert.ok(!s.environment.BUS_INSECURE, `${name}: BUS_INSECURE off by default`);
      assert.ok(JSON.stringify(s.volumes).includes('/var/lib/parley/keys'), `${name} mounts the keys`);
      assert.match(JSON.stringify(doc.services.keygen.command), new RegExp(`"${key}"`), `keygen makes ${key}'s key`);
    }
    assert.equal(doc.services.broker.environment.BUS_CLIENT_KEYS_DIR, '/var/lib/parley/keys/clients');
    // TLS ends at nginx: tlscert makes its certificate into a volume nginx mounts, before
    // nginx starts; the gateways behind it serve plain HTTP by default.
    const tc = doc.services.tlscert;
    assert.equal(tc.restart, 'no');
    assert.equal(tc.command[0], 'parley-tls-dev-cert');
    assert.match(dockerfile, /COPY scripts\/tls-dev-cert\.sh \/usr\/local\/bin\/parley-tls-dev-cert/);
    assert.equal(doc.services.nginx.depends_on.tlscert.condition, 'service_completed_successfully');
    const tlsVolume = (s, where) => (s.volumes || []).find((v) => (v.target || String(v).split(':')[1]) === where);
    assert.ok(tlsVolume(tc, tc.command[1]), 'tlscert writes into a volume');
    assert.ok(tlsVolume(doc.services.nginx, '/etc/nginx/tls'), 'nginx mounts the certificate volume');
    assert.ok(JSON.stringify(doc.services.nginx.ports).includes('8443'), 'nginx publishes its TLS port');
    assert.ok(!doc.services.gateway.environment.TLS_CERT_FILE, 'gateways behind nginx speak plain HTTP by default');
    // The webhook worker is not on the bus and runs only with its profile.
    assert.deepEqual(doc.services.hooks.profiles, ['webhooks']);
    assert.ok(!doc.services.hooks.environment.BUS_CERT_FILE);
  });
});

// ---- nginx -----------------------------------------------------------------------

// deploy/nginx.conf with its Docker-specific parts pointed at this machine: the listen
// port, the temp and pid paths, and the gateways (an upstream of local ports instead of
// the compose service name).
function localNginxConf(dir, listenPort, gatewayPorts, tlsPort, tlsDir) {
  let conf = read('deploy/nginx.conf');
  conf = conf.replaceAll('/tmp/nginx', path.join(dir, 'nginx'));
  conf = conf.replace(/listen 8080;/, `listen 127.0.0.1:${listenPort};`);
  assert.match(conf, /listen 8443 ssl;/, 'nginx.conf has its TLS listener');
  conf = conf.replace(/listen 8443 ssl;/, `listen 127.0.0.1:${tlsPort} ssl;`);
  conf = conf.replaceAll('/etc/nginx/tls/', `${tlsDir}/`);
  assert.match(conf, /set \$parley_gateway gateway:8080;/, 'nginx.conf names its gateways with `set $parley_gateway`');
  conf = conf.replace(/set \$parley_gateway gateway:8080;/, 'set $parley_gateway parley_local;');
  const upstream = `upstream parley_local {\n${gatewayPorts.map((p) => `        server 127.0.0.1:${p};`).join('\n')}\n    }\n    server {`;
  conf = conf.replace(/\n    server \{/, `\n    ${upstream}`);
  conf = conf.replace('access_log /dev/stdout parley;', `access_log ${path.join(dir, 'access.log')} parley;`);
  conf = conf.replace('error_log /dev/stderr warn;', `error_log ${path.join(dir, 'error.log')} warn;`);
  const f = path.join(dir, 'nginx.conf');
  fs.writeFileSync(f, conf);
  return f;
}

const NGINX = which('nginx');

describe('nginx in front of two gateways', { skip: NGINX ? false : 'nginx is not installed (apt-get install nginx-light)' }, () => {
  let stack;
  let dir;
  let nginx;
  let port;
  let tlsPort;
  let tlsDir;
  before(async () => {
    stack = await startStack({ gateways: 2 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-nginx-'));
    [port, tlsPort] = await freePorts(2);
    // The development certificate as compose's tlscert service makes it.
    tlsDir = path.join(dir, 'tls');
    await execFileP(path.join(ROOT, 'scripts/tls-dev-cert.sh'), [tlsDir]);
    const conf = localNginxConf(dir, port, stack.gateways.map((g) => g.port), tlsPort, tlsDir);
    await execFileP(NGINX, ['-t', '-p', dir, '-c', conf]);
    nginx = spawn(NGINX, ['-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: 'ignore' });
    await eventually(async () => (await httpGet(`http://127.0.0.1:${port}`, '/nginx-health')).status === 200, { what: 'nginx up' });
  });
  after(async () => {
    if (nginx) {
      nginx.kill('SIGTERM');
      await new Promise((r) => nginx.once('exit', r));
    }
    await stack?.stop();
  });

  it('plain HTTP reaches a gateway (/healthz, the demo page)', async () => {
    const h = await httpGet(`http://127.0.0.1:${port}`, '/healthz');
    assert.equal(h.status, 200);
    assert.equal(JSON.parse(h.body).status, 'ok');
  });

  it('TLS ends at nginx: https:// and wss:// with the development CA reach the gateways', async () => {
    const ca = fs.readFileSync(path.join(tlsDir, 'ca.pem'), 'utf8');
    const h = await httpsRequest(`https://localhost:${tlsPort}/healthz`, { ca });
    assert.equal(h.status, 200, h.body);
    assert.equal(JSON.parse(h.body).status, 'ok');
    const c = await login(`wss://localhost:${tlsPort}/ws`, uid('ngxtls'), 'student', { ca });
    assert.equal((await c.request({ type: 'ping' })).type, 'pong');
    await c.close();
  });

  it('WebSocket upgrades pass through and are spread over both gateways', async () => {
    const url = `ws://127.0.0.1:${port}/ws`;
    const clients = [];
    for (let i = 0; i < 6; i++) clients.push(await login(url, uid('ngx'), 'student'));
    const a = await login(url, uid('ngxa'), 'student');
    const pong = await a.request({ type: 'ping' });
    assert.equal(pong.type, 'pong');
    // Both gateways hold connections (nginx round-robins the upgrades).
    const open = async (g) => {
      const r = await httpGet(g.http, '/metrics');
      const m = r.body.match(/^parley_gateway_connections_open (\d+)/m);
      return Number(m[1]);
    };
    const counts = await Promise.all(stack.gateways.map(open));
    assert.ok(counts.every((n) => n >= 1), `connections per gateway: ${counts}`);
    const log = fs.readFileSync(path.join(dir, 'access.log'), 'utf8');
    assert.ok(!/token=/.test(log), 'the access log never carries a query string');
    for (const c of [...clients, a]) await c.close();
    await sleep(50);
  });
});
