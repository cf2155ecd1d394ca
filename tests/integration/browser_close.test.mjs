// A browser sees the close code the gateway chose. The gateway writes its close frame
// itself; when the browser answers, lws must not echo a second close frame, or
// Chromium reports 1006 ("close received after close") instead of 4001 or 1008.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startStack } from './lib/stack.mjs';
import { token } from './lib/client.mjs';

const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
const SKIP = fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}`;

let stack;
let browser;
let page;
before(async () => {
  if (SKIP) return;
  stack = await startStack({ env: { RATE_LIMIT_PER_S: '1', RATE_LIMIT_BURST: '3', TOKEN_EXPIRING_NOTICE_S: '1' } });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage();
  await page.goto(stack.gateways[0].http + '/healthz'); // a page of the gateway's origin
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

// Open a WebSocket in the page, send `frames` text frames at once when it opens,
// resolve to its close. (The gateway's pages forbid eval: no code goes in as text.)
function closeInBrowser(url, frames = 0) {
  return page.evaluate(
    ([u, n]) =>
      new Promise((resolve) => {
        const ws = new WebSocket(u);
        ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, clean: e.wasClean });
        ws.onopen = () => {
          for (let i = 0; i < n; i++) ws.send('{"type":"ping"}');
        };
      }),
    [url, frames],
  );
}

describe('close codes reach a browser', { skip: SKIP }, () => {
  it('4001 when the token expires', async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const url = `${stack.url()}?token=${token('browser-exp', 'student', { exp })}`;
    const c = await closeInBrowser(url);
    assert.equal(c.code, 4001, JSON.stringify(c));
    assert.equal(c.reason, 'token expired');
    assert.equal(c.clean, true);
  });

  it('1008 when a client floods', async () => {
    const c = await closeInBrowser(stack.url(), 50);
    assert.equal(c.code, 1008, JSON.stringify(c));
    assert.equal(c.reason, 'flooding');
  });
});
