// tls.mjs: a throw-away certificate authority for tests, and HTTPS/TLS probes that
// trust only it.
//
// makeCa(dir) and makeCert(dir, ca, name, {keyType}) run the openssl command line, the
// way an operator would, and return file paths plus what a client sees of the
// certificate (SHA-256 fingerprint and serial in Node's spelling), so a test can tell
// which certificate a server presented.
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { DEFAULT_TIMEOUT_MS } from './client.mjs';

function openssl(args) {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

// What a TLS client sees of a PEM certificate: {fingerprint256, serialNumber}, and
// notAfter (Unix seconds).
export function certInfo(pemFile) {
  const x = new crypto.X509Certificate(fs.readFileSync(pemFile));
  return { fingerprint256: x.fingerprint256, serialNumber: x.serialNumber, notAfter: Date.parse(x.validTo) / 1000 };
}

function keyArgs(keyType) {
  if (keyType === 'rsa') return ['-newkey', 'rsa:2048'];
  if (keyType === 'ec') return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  throw new Error(`makeCert: keyType ec or rsa, not ${keyType}`);
}

// A self-signed CA: {cert, key, pem (the certificate's text, for clients' `ca`)}.
export function makeCa(dir, name = 'parley-test-ca') {
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  openssl(['req', '-x509', ...keyArgs('ec'), '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { cert, key, pem: fs.readFileSync(cert, 'utf8') };
}

// A server certificate for 127.0.0.1 and localhost signed by ca:
// {cert, key, fingerprint256, serialNumber}. keyType: 'ec' (default) or 'rsa'.
export function makeCert(dir, ca, name, { keyType = 'ec' } = {}) {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  openssl(['req', '-new', ...keyArgs(keyType), '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
    '-out', cert, '-days', '2', '-extfile', ext]);
  return { cert, key, ...certInfo(cert) };
}

// Replace a file the way a careful rotation does: write beside it, then rename over it.
export function replaceFile(target, fromFile) {
  const tmp = `${target}.new`;
  fs.copyFileSync(fromFile, tmp);
  fs.renameSync(tmp, target);
}

// One HTTPS request trusting only `ca`: {status, headers, body (text), peer: {fingerprint256,
// serialNumber}}. opts: method, headers, body, ca (required).
export function httpsRequest(url, { method = 'GET', headers = {}, body, ca } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca, agent: false, timeout: DEFAULT_TIMEOUT_MS }, (res) => {
      const cert = res.socket.getPeerCertificate();
      const peer = { fingerprint256: cert.fingerprint256, serialNumber: cert.serialNumber };
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text, peer }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${DEFAULT_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

// The certificate a TLS server on host:port presents to a new connection that trusts
// only `ca` (rejects when the handshake fails): {fingerprint256, serialNumber}.
export function peerCert(host, port, ca) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve({ fingerprint256: c.fingerprint256, serialNumber: c.serialNumber });
    });
    s.setTimeout(DEFAULT_TIMEOUT_MS, () => s.destroy(new Error(`TLS handshake with ${host}:${port} timed out`)));
    s.on('error', reject);
  });
}
