// A real webhook receiver for the tests (node:http in the test process): records every
// attempt (headers, raw body, parsed body, arrival time) and answers with what
// `respond(hit)` says (a status, or 'hold' to never answer). verify() checks a
// Parley-Signature exactly as docs/api.md tells a receiver to.
import http from 'node:http';
import crypto from 'node:crypto';

export const SECRET = 'whsec_integration_0123456789';

export function verify(secret, header, rawBody, nowS = Math.floor(Date.now() / 1000)) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header || '');
  if (!m) return false;
  if (Math.abs(nowS - Number(m[1])) > 300) return false; // the 5-minute replay window
  const want = crypto.createHmac('sha256', secret).update(`${m[1]}.${rawBody}`).digest('hex');
  return crypto.timingSafeEqual(Buffer.from(want, 'hex'), Buffer.from(m[2], 'hex'));
}

export async function startReceiver() {
  const hits = [];
  const held = [];
  const rx = {
    hits,
    respond: () => 200,
    url: null,
    close: null,
    // every hit of one event id
    of: (id) => hits.filter((h) => h.body?.id === id),
    // hits answered 2xx
    acked: () => hits.filter((h) => h.status >= 200 && h.status < 300),
    // release held requests: they are answered `status`, and recorded so
    release(status = 200) {
      for (const { res, hit } of held.splice(0)) {
        hit.status = status;
        try {
          res.writeHead(status).end();
        } catch {
          /* the worker is gone */
        }
      }
    },
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body = null;
      try {
        body = JSON.parse(raw);
      } catch {
        /* recorded as null: a test will fail on it */
      }
      const hit = { at: Date.now(), method: req.method, headers: req.headers, raw, body, status: null };
      hits.push(hit);
      const s = rx.respond(hit);
      if (s === 'hold') {
        hit.status = 'held';
        held.push({ res, hit });
        return;
      }
      hit.status = s;
      res.writeHead(s, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  rx.url = `http://127.0.0.1:${server.address().port}/hooks`;
  rx.close = () =>
    new Promise((resolve) => {
      rx.release(503);
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
  return rx;
}

// The environment a stack needs to write and deliver webhooks to rx.
export function hookEnv(rx, extra = {}) {
  return {
    WEBHOOK_URL: rx.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_POLL_MS: '50',
    WEBHOOK_BACKOFF_BASE_MS: '100',
    WEBHOOK_BACKOFF_MAX_MS: '400',
    ...extra,
  };
}
