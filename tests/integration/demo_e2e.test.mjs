// The demo page (web/) end to end in headless Chromium, driven by playwright-core:
// a student and a mentor log in through the gateway's dev tokens, the student sees the
// mentor directory change live, they chat (typing indicator, read receipt), the student
// asks for help and the mentor accepts, then the student places a video call that the
// mentor accepts, with real WebRTC media (Chromium's fake camera and microphone) flowing
// between the two pages. Screenshots go to <PARLEY_TEST_LOG_DIR>/demo/.
//
// Needs Debian's chromium (/usr/bin/chromium, or PARLEY_CHROMIUM); without it every
// test here is skipped with a message saying so.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, SANITIZE } from './lib/stack.mjs';
import { httpGet, uid } from './lib/client.mjs';

const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
const SKIP = HAVE_CHROMIUM ? false : `no Chromium at ${CHROMIUM}: apt-get install chromium (or set PARLEY_CHROMIUM)`;
const WAIT = 20000 * (SANITIZE ? 2 : 1);
const OUT = path.join(process.env.PARLEY_TEST_LOG_DIR || path.join(os.tmpdir(), 'parley-it-logs'), 'demo');

// The flags the machine notes give for Chromium here, plus fake media devices.
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
];

let stack;
let browser;
let base;
const student = { id: uid('stu'), name: 'Sam Student' };
const mentor = { id: uid('men'), name: 'Maria Mentor' };
let sp; // student page
let mp; // mentor page

async function shot(page, name) {
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
}

async function openLoggedIn(who, role) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`# [${who.id}] page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && console.log(`# [${who.id}] console: ${m.text()}`));
  await page.goto(`${base}/`);
  await page.fill('[data-testid=login-user]', who.id);
  await page.fill('[data-testid=login-name]', who.name);
  await page.check(`[data-testid=role-${role}]`);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=conn-state][data-state=online]', { timeout: WAIT });
  return page;
}

// The text of the last error the page showed (toast), for assertion messages.
async function toastText(page) {
  return page.locator('[data-testid=toast]').textContent().catch(() => '');
}

before(async () => {
  if (SKIP) return;
  stack = await startStack({ env: { DEV_TOKENS: '1' } });
  base = `http://127.0.0.1:${stack.gateways[0].port}`;
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('demo page', { skip: SKIP }, () => {
  it('GET / is the page, its files have their content types', async () => {
    const page = await httpGet(base, '/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.match(page.body, /<title>Parley demo<\/title>/);
    const js = await httpGet(base, '/web/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
    const css = await httpGet(base, '/static/style.css');
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type'), /^text\/css/);
  });

  it('a student and a mentor log in; the student sees the mentor arrive live', async () => {
    sp = await openLoggedIn(student, 'student');
    mp = await openLoggedIn(mentor, 'mentor');
    await mp.selectOption('[data-testid=status-select]', 'available');
    await mp.click('[data-testid=status-submit]');
    const entry = `[data-testid=mentor-list] [data-user="${mentor.id}"][data-status=available]`;
    await sp.waitForSelector(entry, { timeout: WAIT }).catch(async (e) => {
      throw new Error(`the mentor never appeared available in the student's directory (${await toastText(sp)}): ${e.message}`);
    });
    assert.match(await sp.locator(entry).textContent(), /Maria Mentor/);
    await shot(sp, '1-student-directory');
  });

  it('they chat: message, typing indicator, read receipt, reply', async () => {
    await sp.click(`[data-testid=mentor-list] [data-user="${mentor.id}"] [data-testid=mentor-chat]`);
    await sp.waitForSelector('[data-testid=composer-input]:not([disabled])', { timeout: WAIT });
    // The mentor learns of the conversation live and opens it.
    const conv = mp.locator('[data-testid=conv-list] li .name', { hasText: 'Sam Student' }).or(
      mp.locator('[data-testid=conv-list] li .name', { hasText: student.id }));
    await conv.first().waitFor({ timeout: WAIT });
    await conv.first().click();

    await sp.type('[data-testid=composer-input]', 'Hello, can you help me with recursion?', { delay: 5 });
    await mp.waitForSelector('[data-testid=typing]:has-text("typing")', { timeout: WAIT });
    await sp.click('[data-testid=send]');
    await mp.waitForSelector('[data-testid=messages] li:has-text("recursion")', { timeout: WAIT });
    // The mentor has the conversation open, so it marks it read: the student sees it.
    await sp.waitForSelector('[data-testid=messages] li.mine[data-read=true]', { timeout: WAIT });
    await mp.fill('[data-testid=composer-input]', 'Of course! What is the base case?');
    await mp.click('[data-testid=send]');
    await sp.waitForSelector('[data-testid=messages] li:has-text("base case")', { timeout: WAIT });
    await shot(sp, '2-student-chat');
    await shot(mp, '2-mentor-chat');
  });

  it('the student requests help and the mentor accepts it', async () => {
    await sp.fill('[data-testid=help-topic]', 'Recursion');
    await sp.click('[data-testid=help-submit]');
    await sp.waitForSelector('[data-testid=help-item][data-state=waiting]', { timeout: WAIT }).catch(async (e) => {
      throw new Error(`help request not accepted by the server (${await toastText(sp)}): ${e.message}`);
    });
    await mp.waitForSelector('[data-testid=help-item][data-state=offered] [data-testid=help-accept]', { timeout: WAIT });
    await mp.click('[data-testid=help-item][data-state=offered] [data-testid=help-accept]');
    await sp.waitForSelector('[data-testid=help-item][data-state=accepted]', { timeout: WAIT });
    await mp.waitForSelector('[data-testid=help-item][data-state=accepted]', { timeout: WAIT });
    await shot(mp, '3-mentor-help');
    // End it, so the mentor is not busy for the call.
    await mp.click('[data-testid=help-item][data-state=accepted] [data-testid=help-end]');
    await sp.waitForSelector('[data-testid=help-item][data-state=ended]', { timeout: WAIT });
  });

  it('the student places a video call; media flows both ways over WebRTC', async () => {
    await sp.click(`[data-testid=mentor-list] [data-user="${mentor.id}"] [data-testid=mentor-video]`);
    await mp.waitForSelector('[data-testid=incoming-call]:not(.hidden)', { timeout: WAIT }).catch(async (e) => {
      throw new Error(`no incoming call on the mentor's page (student: ${await toastText(sp)}): ${e.message}`);
    });
    await shot(mp, '4-mentor-incoming-call');
    await mp.click('[data-testid=accept-call]');
    for (const p of [sp, mp]) {
      await p.waitForSelector('[data-testid=call-state][data-state=connected]', { timeout: WAIT });
    }
    // Real frames arrive: the remote <video> knows the fake camera's size and plays.
    for (const p of [sp, mp]) {
      await p.waitForFunction(() => {
        const v = document.querySelector('[data-testid=remote-video]');
        return v && v.videoWidth > 0 && v.readyState >= 2 && v.currentTime > 0;
      }, null, { timeout: WAIT });
    }
    await shot(sp, '5-student-in-call');
    await shot(mp, '5-mentor-in-call');
    await sp.click('[data-testid=hangup]');
    await mp.waitForSelector('[data-testid=call-state][data-state=ended]', { timeout: WAIT });
  });
});
