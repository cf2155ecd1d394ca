// The demo page (web/) end to end in headless Chromium, driven by playwright-core. Two
// users walk the whole story, once at desktop width and once at a phone's 390 px:
// log in, the mentor goes available (and changes only the status message), the student
// sees it live, asks for help, the mentor accepts, the *student calls the mentor of the
// session* (real WebRTC media from Chromium's fake camera), they chat with typing in the
// list, edit, react, reply, an attachment and a delete, then both pages reload in the
// middle of the call: the session, the open conversation, its history and read
// receipts are back and the call is rejoined; the student's connection then drops and
// comes back (the new connection must carry the call: the mentor's hang-up reaches it);
// they find the call in the call history. Then: a long conversation pages back with
// "Load older messages", and an expiring pasted token ends at the login form.
// Screenshots go to <PARLEY_TEST_LOG_DIR>/demo/.
//
// Needs Debian's chromium (/usr/bin/chromium, or PARLEY_CHROMIUM); without it every
// test here is skipped with a message saying so.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, SANITIZE } from './lib/stack.mjs';
import { httpGet, login, sleep, uid, token } from './lib/client.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';

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
  '--autoplay-policy=no-user-gesture-required',
];

const SIZES = [
  { label: 'desktop', viewport: { width: 1280, height: 860 } },
  { label: 'phone', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
];

let stack;
let browser;
let base;

before(async () => {
  if (SKIP) return;
  // The gateway warns 86395 s before exp: a 24 h dev token gets `token_expiring` 5 s
  // after login, so the page's renewal (`refresh`) runs during the story.
  stack = await startStack({ env: { DEV_TOKENS: '1', TOKEN_EXPIRING_NOTICE_S: '86395' } });
  base = `http://127.0.0.1:${stack.gateways[0].port}`;
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

async function shot(page, name) {
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: false });
}

async function newPage(who, size) {
  const ctx = await browser.newContext({ viewport: size.viewport, isMobile: !!size.isMobile, hasTouch: !!size.hasTouch });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`# [${who.id}] page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && console.log(`# [${who.id}] console: ${m.text()}`));
  return page;
}

async function logIn(page, who, role) {
  await page.goto(`${base}/`);
  await page.fill('[data-testid=login-user]', who.id);
  await page.fill('[data-testid=login-name]', who.name);
  await page.check(`[data-testid=role-${role}]`);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=conn-state][data-state=online]', { timeout: WAIT });
}

// The text of the last toast the page showed, for assertion messages.
async function toastText(page) {
  return page.locator('[data-testid=toast]').textContent().catch(() => '');
}

async function waitOr(page, selector, what, other) {
  await page.waitForSelector(selector, { timeout: WAIT }).catch(async (e) => {
    const toasts = `${await toastText(page)}${other ? ` / other page: ${await toastText(other)}` : ''}`;
    const events = await page.$$eval('[data-testid=event-log] li', (l) => l.slice(0, 8).map((x) => x.textContent).join(' | ')).catch(() => '');
    throw new Error(`${what} (toast: ${toasts}; call: ${await page.locator('[data-testid=call-state]').textContent().catch(() => '')}; events: ${events}): ${e.message}`);
  });
}

// On a phone one panel shows at a time: switch to it (a no-op at desktop width).
async function tab(page, name) {
  if (page.viewportSize().width <= 900) await page.click(`[data-testid=tab-${name}]`);
}

async function mediaFlows(page) {
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=remote-video]');
    return v && v.videoWidth > 0 && v.readyState >= 2 && v.currentTime > 0;
  }, null, { timeout: WAIT });
}

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

  for (const size of SIZES) {
    describe(`the whole story at ${size.label} width`, () => {
      const L = size.label;
      const student = { id: uid('stu'), name: 'Sam Student' };
      const mentor = { id: uid('men'), name: 'Maria Mentor' };
      let sp; // student page
      let mp; // mentor page
      const mine = '[data-testid=message].mine';
      const theirs = '[data-testid=message]:not(.mine)';

      it('both log in; the status form shows the current status and Set keeps it', async () => {
        sp = await newPage(student, size);
        mp = await newPage(mentor, size);
        await logIn(sp, student, 'student');
        await logIn(mp, mentor, 'mentor');
        await mp.waitForSelector('[data-testid=my-status]:has-text("You are online")', { timeout: WAIT });
        assert.equal(await mp.inputValue('[data-testid=status-select]'), 'online');
        // A mentor is not told that "no mentor has connected" (they have).
        assert.doesNotMatch(await mp.locator('#mentor-empty').textContent(), /^No mentor/);
        assert.match(await mp.locator('[data-testid=help-empty]').textContent(), /available/);

        await mp.selectOption('[data-testid=status-select]', 'available');
        await mp.fill('[data-testid=status-message]', 'Ask me about algorithms');
        await mp.click('[data-testid=status-submit]');
        await mp.waitForSelector('[data-testid=my-status]:has-text("You are available — Ask me about algorithms")', { timeout: WAIT });
        // Change only the message: the status stays available.
        await mp.fill('[data-testid=status-message]', 'Back in 5');
        await mp.click('[data-testid=status-submit]');
        await mp.waitForSelector('[data-testid=my-status]:has-text("You are available — Back in 5")', { timeout: WAIT });
        assert.equal(await mp.inputValue('[data-testid=status-select]'), 'available');

        const entry = `[data-testid=mentor-list] [data-user="${mentor.id}"][data-status=available]`;
        await waitOr(sp, entry, 'the mentor never appeared available in the student\'s directory');
        assert.match(await sp.locator(entry).textContent(), /Maria Mentor.*Back in 5/s);
        await shot(sp, `${L}-1-student-directory`);
        await shot(mp, `${L}-1-mentor-status`);
      });

      it('a conversation with a user id that never connected gets a warning', async () => {
        await sp.fill('[data-testid=new-chat-user]', uid('nobody'));
        await sp.click('[data-testid=new-chat-submit]');
        await waitOr(sp, '[data-testid=chat-warn]:not(.hidden)', 'no never-connected warning');
        assert.match(await sp.locator('[data-testid=chat-warn]').textContent(), /never connected/);
        await shot(sp, `${L}-2-student-never-seen`);
        await tab(sp, 'people');
      });

      it('the student asks for help, the mentor accepts; a second request is refused in words', async () => {
        await tab(sp, 'help');
        await tab(mp, 'help');
        await sp.fill('[data-testid=help-topic]', 'Recursion');
        await sp.click('[data-testid=help-submit]');
        await waitOr(sp, '[data-testid=help-item][data-state=waiting]', 'help request not accepted by the server');
        await sp.fill('[data-testid=help-topic]', 'Again');
        await sp.click('[data-testid=help-submit]');
        await sp.waitForSelector('[data-testid=toast]:not(.hidden):has-text("already have an open help request")', { timeout: WAIT });
        assert.doesNotMatch(await toastText(sp), /conflict/);

        await waitOr(mp, '[data-testid=help-item][data-state=offered] [data-testid=help-accept]', 'no offer on the mentor\'s page');
        // The mentor is shown the student's name, not their id.
        assert.match(await mp.locator('[data-testid=help-item][data-state=offered]').textContent(), /Sam Student/);
        await mp.click('[data-testid=help-item][data-state=offered] [data-testid=help-accept]');
        await sp.waitForSelector('[data-testid=help-item][data-state=accepted]', { timeout: WAIT });
        await mp.waitForSelector('[data-testid=help-item][data-state=accepted]', { timeout: WAIT });
        // In the session the mentor shows busy, but the form keeps the chosen status:
        // Set (to change the message) must not make busy stick after the session.
        await mp.waitForSelector('[data-testid=my-status]:has-text("busy for now")', { state: 'attached', timeout: WAIT });
        assert.equal(await mp.inputValue('[data-testid=status-select]'), 'available');
        await shot(mp, `${L}-3-mentor-help`);
      });

      it('the student calls the mentor of the session; media flows both ways', async () => {
        await sp.click('[data-testid=help-item][data-state=accepted] [data-testid=help-call]');
        await waitOr(mp, '[data-testid=incoming-call]:not(.hidden)', 'no incoming call on the mentor\'s page', sp);
        assert.match(await mp.locator('[data-testid=incoming-call]').textContent(), /call from Sam Student/);
        await shot(mp, `${L}-4-mentor-incoming-call`);
        await mp.click('[data-testid=accept-call]');
        for (const p of [sp, mp]) await waitOr(p, '[data-testid=call-state][data-state=connected]', 'call not connected');
        for (const p of [sp, mp]) await mediaFlows(p);
        await shot(sp, `${L}-5-student-in-call`);
        await shot(mp, `${L}-5-mentor-in-call`);
      });

      it('they chat during the call: typing in the list, edit, react, reply, attachment, delete, receipts', async () => {
        // Minimise the call so the chat underneath is usable (when the call is up).
        for (const p of [sp, mp]) if (await p.locator('[data-testid=call]:not(.hidden)').count()) await p.click('[data-testid=call-min]');
        await sp.click('[data-testid=help-item][data-state=accepted] [data-testid=help-chat]');
        await sp.waitForSelector('[data-testid=composer-input]:not([disabled])', { timeout: WAIT });
        // The mentor sees the conversation, with the student typing, in the list.
        await tab(mp, 'people');
        const conv = mp.locator('[data-testid=conv-list] [data-testid=conv]', { hasText: student.name });
        await conv.waitFor({ timeout: WAIT });
        await sp.type('[data-testid=composer-input]', 'Hello, can you help me with recursion?', { delay: 5 });
        await mp.locator('[data-testid=conv-list] [data-testid=conv] [data-testid=conv-sub]', { hasText: 'typing' }).waitFor({ timeout: WAIT });
        await sp.click('[data-testid=send]');
        await mp.locator('[data-testid=conv-list] [data-testid=conv] [data-testid=conv-sub]', { hasText: 'recursion' }).waitFor({ timeout: WAIT });
        await conv.click();
        await mp.waitForSelector(`${theirs}:has-text("recursion")`, { timeout: WAIT });
        await sp.waitForSelector(`${mine}[data-read=true]`, { timeout: WAIT });

        await mp.fill('[data-testid=composer-input]', 'Of course! What is the base case?');
        await mp.click('[data-testid=send]');
        await sp.waitForSelector(`${theirs}:has-text("base case")`, { timeout: WAIT });

        // Edit: the mentor sees the new text, marked edited.
        const first = sp.locator(mine, { hasText: 'recursion' });
        await first.hover();
        await first.locator('[data-testid=msg-edit]').click();
        await sp.fill('[data-testid=composer-input]', 'Hello, can you help me with recursion in Python?');
        await sp.click('[data-testid=send]');
        await mp.waitForSelector(`${theirs}[data-edited=true]:has-text("in Python")`, { timeout: WAIT });
        assert.match(await mp.locator(`${theirs}[data-edited=true] [data-testid=meta]`).textContent(), /edited/);

        // React: the student sees the mentor's 👍.
        const asked = mp.locator(theirs, { hasText: 'in Python' });
        await asked.hover();
        await asked.locator('[data-testid=msg-react]').click();
        await asked.locator('[data-testid=picker] button[data-emoji="👍"]').click();
        await sp.waitForSelector(`${mine} [data-testid=reaction][data-emoji="👍"]:has-text("1")`, { timeout: WAIT });

        // Reply with a quote.
        const q = sp.locator(theirs, { hasText: 'base case' });
        await q.hover();
        await q.locator('[data-testid=msg-reply]').click();
        await sp.fill('[data-testid=composer-input]', 'When n is 0, I think');
        await sp.click('[data-testid=send]');
        await mp.waitForSelector(`${theirs}:has-text("When n is 0") [data-testid=quote]:has-text("base case")`, { timeout: WAIT });

        // An attachment is a link.
        await sp.click('[data-testid=attach]');
        await sp.fill('[data-testid=attach-url]', 'https://example.org/notes/recursion-notes.pdf');
        await sp.click('[data-testid=attach-add]');
        await sp.fill('[data-testid=composer-input]', 'My notes');
        await sp.click('[data-testid=send]');
        await mp.waitForSelector(`${theirs} [data-testid=attachment][href="https://example.org/notes/recursion-notes.pdf"]`, { timeout: WAIT });

        // The mentor sends a slip and deletes it.
        await mp.fill('[data-testid=composer-input]', 'oops, wrong window');
        await mp.click('[data-testid=send]');
        const slip = mp.locator(`${mine}[data-seq]:not([data-seq=""])`, { hasText: 'oops' });
        await slip.waitFor({ timeout: WAIT });
        await slip.hover();
        await slip.locator('[data-testid=msg-delete]').click();
        await slip.locator('[data-testid=msg-delete]').click();
        await sp.waitForSelector(`${theirs}[data-deleted=true]`, { timeout: WAIT });

        await sp.waitForFunction(() => [...document.querySelectorAll('[data-testid=message].mine')].every((m) => m.dataset.read === 'true'), null, { timeout: WAIT });
        await shot(sp, `${L}-6-student-chat`);
        await shot(mp, `${L}-6-mentor-chat`);
      });

      it('both pages reload during the call: session, history, receipts and the call are back', async () => {
        await Promise.all([sp.reload(), mp.reload()]);
        for (const p of [sp, mp]) {
          await waitOr(p, '[data-testid=conn-state][data-state=online]', 'the session did not survive the reload');
          assert.equal(await p.locator('[data-testid=login]').isVisible(), false);
        }
        assert.match(await sp.locator('[data-testid=me]').textContent(), /Sam Student/);
        // The names the mentor's page learnt survive the reload too (the list may be on
        // another tab at phone width: attached is enough).
        await mp.locator('[data-testid=conv-list] [data-testid=conv]', { hasText: student.name }).waitFor({ state: 'attached', timeout: WAIT });
        // The open conversation comes back with its history: edit, reaction, quote, attachment.
        await sp.waitForSelector(`${mine}[data-edited=true]:has-text("in Python") [data-testid=reaction][data-emoji="👍"]`, { timeout: WAIT });
        await sp.waitForSelector(`${mine}:has-text("When n is 0") [data-testid=quote]`, { timeout: WAIT });
        await mp.waitForSelector(`${theirs} [data-testid=attachment]`, { timeout: WAIT });
        await mp.waitForSelector(`${mine}[data-deleted=true]`, { timeout: WAIT });
        // The call is rejoined and media flows again.
        for (const p of [sp, mp]) await waitOr(p, '[data-testid=call-state][data-state=connected]', 'the call was not rejoined after the reload');
        for (const p of [sp, mp]) await mediaFlows(p);
        await shot(sp, `${L}-7-student-after-reload`);
        await shot(mp, `${L}-7-mentor-after-reload`);
        // Read receipts: they need `read_positions` in auth_success (without it the page
        // cannot know what the mentor read before the reload).
        const receipts = await sp.waitForFunction(() => {
          const m = [...document.querySelectorAll('[data-testid=message].mine')];
          return m.length > 0 && m.every((x) => x.dataset.read === 'true');
        }, null, { timeout: 5000 }).then(() => true, () => false);
        assert.ok(receipts, 'read receipts were lost across the reload (does auth_success carry read_positions?)');
      });

      it('the student\'s connection drops mid-call: the page reconnects and its new connection carries the call', async () => {
        await sp.evaluate(() => state.ws.close(4000)); // eslint-disable-line no-undef -- the page's own state
        // (the event log is folded away: attached, not visible)
        await sp.waitForSelector('[data-testid=event-log] li:has-text("rejoining the call after a reconnect")', { state: 'attached', timeout: WAIT });
        await waitOr(sp, '[data-testid=conn-state][data-state=online]', 'no reconnect');
        await sp.waitForSelector('[data-testid=call-state][data-state=connected]', { timeout: WAIT });
        await mediaFlows(sp);
      });

      it('the mentor hangs up (it reaches the student\'s new connection); both find the call in the history', async () => {
        await mp.click('[data-testid=hangup]');
        await waitOr(sp, '[data-testid=call-state][data-state=ended]', 'the hang-up did not reach the student');
        for (const p of [sp, mp]) {
          await tab(p, 'help');
          await p.waitForSelector('[data-testid=call-history-item][data-reason=hangup]', { timeout: WAIT });
        }
        // An audio call shows who is on it, not empty video boxes.
        await sp.click('[data-testid=help-item][data-state=accepted] [data-testid=help-audio]');
        await waitOr(mp, '[data-testid=incoming-call]:not(.hidden)', 'no incoming audio call', sp);
        await mp.click('[data-testid=accept-call]');
        await sp.waitForSelector('[data-testid=call-state][data-state=connected]', { timeout: WAIT });
        assert.equal(await sp.locator('#call .audio-face').isVisible(), true);
        assert.ok((await sp.locator('[data-testid=remote-video]').boundingBox()).width <= 1, 'an audio call shows a video box');
        await shot(sp, `${L}-8-student-audio-call`);
        await mp.click('[data-testid=hangup]');
        await sp.waitForSelector('[data-testid=call-state][data-state=ended]', { timeout: WAIT });
        await shot(sp, `${L}-8-student-call-ended`);
        await mp.click('[data-testid=help-item][data-state=accepted] [data-testid=help-end]');
        await sp.waitForSelector('[data-testid=help-item][data-state=ended]', { timeout: WAIT });
        await tab(mp, 'people');
        await mp.waitForSelector('[data-testid=my-status]:has-text("You are available — Back in 5")', { timeout: WAIT });
        await tab(mp, 'help');
        await shot(mp, `${L}-9-mentor-history`);
        // The dev token was renewed with `refresh` (the gateway warned 5 s after login).
        await sp.waitForFunction(() => /token refreshed/.test(document.querySelector('[data-testid=event-log]').textContent), null, { timeout: WAIT });
      });

      it('invisible says so, and logging out ends the session', async () => {
        await tab(sp, 'people');
        await sp.selectOption('[data-testid=status-select]', 'offline');
        await sp.click('[data-testid=status-submit]');
        await sp.waitForSelector('[data-testid=my-status]:has-text("invisible")', { timeout: WAIT });
        for (const p of [sp, mp]) {
          await p.click('#logout');
          await p.waitForSelector('[data-testid=login]:visible', { timeout: WAIT });
          await p.reload();
          await p.waitForSelector('[data-testid=login]:visible', { timeout: WAIT });
          await p.context().close();
        }
      });
    });
  }

  it('a long conversation loads its newest 50 messages, then older ones on demand', async () => {
    const who = { id: uid('long'), name: 'Lena Long' };
    const other = uid('chatty');
    const c = await login(stack.url(), other, 'mentor');
    const conv = await createConversation(c, [who.id]);
    for (let i = 1; i <= 60; i++) { // paced under the rate limit (20 frames/s)
      await sendMessage(c, conv.conversation_id, `message number ${i}`);
      await sleep(60);
    }
    c.terminate();
    const page = await newPage(who, SIZES[0]);
    await logIn(page, who, 'student');
    await page.click(`[data-testid=conv][data-conversation="${conv.conversation_id}"]`);
    await page.waitForSelector('[data-testid=message]:has-text("message number 60")', { timeout: WAIT });
    assert.equal(await page.locator('[data-testid=message]').count(), 50);
    await page.click('[data-testid=load-older]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=message]').length === 60, null, { timeout: WAIT });
    assert.equal(await page.locator('[data-testid=bubble]').first().textContent(), 'message number 1');
    assert.equal(await page.locator('[data-testid=load-older]').isVisible(), false);
    await page.context().close();
  });

  it('a session whose token expires ends at the login form with a reason', async () => {
    const who = { id: uid('exp'), name: 'Short' };
    const page = await newPage(who, SIZES[0]);
    await page.goto(`${base}/`);
    await page.click('#token-login summary');
    const now = Math.floor(Date.now() / 1000);
    await page.fill('[data-testid=token-input]', token(who.id, 'student', { exp: now + 3 }));
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('[data-testid=conn-state][data-state=online]', { timeout: WAIT });
    await page.waitForSelector('[data-testid=login-error]:has-text("token expired")', { timeout: WAIT }).catch(async (e) => {
      throw new Error(`no expiry message (events: ${await page.locator('[data-testid=event-log]').textContent()}): ${e.message}`);
    });
    assert.equal(await page.locator('[data-testid=login]').isVisible(), true);
    await page.context().close();
  });
});
