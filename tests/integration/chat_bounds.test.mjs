// chat-svc's own bounds on what one user can make it store: conversations created
// per user and minute (CREATE_CONVERSATIONS_PER_MIN, counted in the database, so two
// gateways and two chat-svc instances do not multiply it; returning an existing
// direct conversation does not count), the participant cap (256, the creator
// included), and the notification rows of users who never connect: at most
// NOTIFICATION_MAX_PER_USER each (the newest kept), none older than
// NOTIFICATION_RETENTION_DAYS (rows are backdated through psql to get there).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { eventually, login, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';

const PER_MIN = 5;
const NOTIF_MAX = 5;

let stack;
useStack(
  () => ({
    gateways: 2,
    chats: 2,
    env: {
      RATE_LIMIT_PER_S: '0',
      CREATE_CONVERSATIONS_PER_MIN: String(PER_MIN),
      NOTIFICATION_MAX_PER_USER: String(NOTIF_MAX),
      NOTIFICATION_RETENTION_DAYS: '1',
    },
  }),
  (s) => {
    stack = s;
  },
);

const create = (c, participants, extra = {}) => c.request({ type: 'create_conversation', participants, ...extra });

async function createdBy(user) {
  return Number(await stack.sql(`SELECT count(*) FROM chat.conversations WHERE created_by = '${user}'`));
}

describe('conversations created per user and minute', () => {
  it(`from two connections on two gateways at once: exactly ${PER_MIN} created, the rest rate_limited`, async () => {
    const a = uid('a');
    const conns = [await login(stack.url(0), a, 'student', { label: 'a1' }), await login(stack.url(1), a, 'student', { label: 'a2' })];
    const answers = await Promise.all(
      Array.from({ length: 2 * PER_MIN }, (_, i) => create(conns[i % 2], [uid('p'), uid('q')], { kind: 'group', title: `g${i}` })),
    );
    const made = answers.filter((f) => f.type === 'conversation_created');
    assert.equal(made.length, PER_MIN, JSON.stringify(answers.map((f) => f.code || f.type)));
    for (const f of answers) if (f.type !== 'conversation_created') assertError(f, 'rate_limited', f.id);
    assert.equal(await createdBy(a), PER_MIN);
    // another user is not affected
    const b = await login(stack.url(1), uid('b'), 'student', { label: 'b' });
    await createConversation(b, [uid('p')]);
  });

  it('asking again for an existing direct conversation does not count, and is answered at the limit too', async () => {
    const a = uid('a');
    const ca = await login(stack.url(0), a, 'student', { label: 'a' });
    const friend = uid('f');
    const first = await createConversation(ca, [friend]);
    for (let i = 0; i < 2 * PER_MIN; i++) {
      const again = await createConversation(ca, [friend], { kind: 'direct' });
      assert.equal(again.conversation_id, first.conversation_id);
    }
    for (let i = 1; i < PER_MIN; i++) await createConversation(ca, [uid('g')], { kind: 'group' });
    const refused = await create(ca, [uid('new')]);
    assertError(refused, 'rate_limited', refused.id);
    // at the limit, the existing one still comes back
    const again = await createConversation(ca, [friend]);
    assert.equal(again.conversation_id, first.conversation_id);
    assert.equal(await createdBy(a), PER_MIN);
  });

  it('the window slides: creations older than a minute no longer count', async () => {
    const a = uid('a');
    const ca = await login(stack.url(0), a, 'student', { label: 'a' });
    for (let i = 0; i < PER_MIN; i++) await createConversation(ca, [uid('g')], { kind: 'group' });
    const refused = await create(ca, [uid('g')], { kind: 'group' });
    assertError(refused, 'rate_limited', refused.id);
    await stack.sql(`UPDATE chat.conversations SET created_at = created_at - interval '61 seconds' WHERE created_by = '${a}'`);
    await createConversation(ca, [uid('g')], { kind: 'group' });
  });
});

describe('participant cap', () => {
  it('at most 256 participants, the creator included', async () => {
    const me = uid('me');
    const c = await login(stack.url(0), me, 'student', { label: 'me' });
    const others = Array.from({ length: 256 }, (_, i) => `cap-${i}-${uid('c')}`);
    const f = await create(c, others, { kind: 'group' });
    assertError(f, 'bad_request', f.id);
    assert.match(f.message, /256/);
    const withMe = await createConversation(c, [me, ...others.slice(0, 255)], { kind: 'group' });
    assert.equal(withMe.participants.length, 256);
    assert.equal(await stack.sql(`SELECT count(*) FROM chat.participants WHERE conversation_id = ${withMe.conversation_id}`), '256');
  });
});

describe('notification rows of users who never connect', () => {
  // "conversation:seq" of the user's rows, oldest first.
  const rowsOf = (user) =>
    stack.sql(`SELECT coalesce(string_agg(conversation_id || ':' || seq, ',' ORDER BY id), '') FROM chat.notifications WHERE user_id = '${user}'`);

  it(`at most ${NOTIF_MAX} per user, the oldest dropped first, over all conversations`, async () => {
    const victim = uid('never');
    const ca = await login(stack.url(0), uid('a'), 'student', { label: 'a' });
    const cb = await login(stack.url(1), uid('b'), 'student', { label: 'b' });
    const c1 = (await createConversation(ca, [victim])).conversation_id;
    const c2 = (await createConversation(cb, [victim], { kind: 'group' })).conversation_id;
    for (let i = 1; i <= 12; i++) await sendMessage(ca, c1, `a${i}`);
    const newest = (from, to, cid) => Array.from({ length: to - from + 1 }, (_, i) => `${cid}:${from + i}`);
    await eventually(async () => (await rowsOf(victim)) === newest(8, 12, c1).join(','), { what: `${victim}'s newest ${NOTIF_MAX} rows` });
    for (let i = 1; i <= 3; i++) await sendMessage(cb, c2, `b${i}`);
    const want = [...newest(11, 12, c1), ...newest(1, 3, c2)].join(',');
    await eventually(async () => (await rowsOf(victim)) === want, { what: `${victim}'s rows ${want}` });
    // what the user sees when they finally connect
    const v = await login(stack.url(0), victim, 'student', { label: 'victim' });
    assert.equal(v.auth.notification_count, NOTIF_MAX);
  });

  it('rows older than NOTIFICATION_RETENTION_DAYS are deleted; younger ones stay', async () => {
    const gone = uid('gone');
    const stays = uid('stays');
    const ca = await login(stack.url(0), uid('a'), 'student', { label: 'a' });
    const cid = (await createConversation(ca, [gone, stays], { kind: 'group' })).conversation_id;
    for (let i = 1; i <= 3; i++) await sendMessage(ca, cid, `m${i}`);
    assert.equal(await rowsOf(gone), `${cid}:1,${cid}:2,${cid}:3`);
    await stack.sql(`UPDATE chat.notifications SET created_at = now() - interval '25 hours' WHERE user_id = '${gone}' AND seq <= 2`);
    await stack.sql(`UPDATE chat.notifications SET created_at = now() - interval '23 hours' WHERE user_id = '${stays}'`);
    await eventually(async () => (await rowsOf(gone)) === `${cid}:3`, { what: 'the expired rows deleted' });
    assert.equal(await rowsOf(stays), `${cid}:1,${cid}:2,${cid}:3`);
  });
});
