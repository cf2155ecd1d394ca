// chat-svc's own bounds on what one user can make it store: conversations created
// per user and minute (CREATE_CONVERSATIONS_PER_MIN, counted in the database, so two
// gateways and two chat-svc instances do not multiply it; returning an existing
// direct conversation does not count) and the participant cap (256, the creator
// included).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './lib/stack.mjs';
import { login, uid } from './lib/client.mjs';
import { assertError } from './lib/expect.mjs';
import { createConversation } from './lib/chat.mjs';

const PER_MIN = 5;

let stack;
before(async () => {
  stack = await startStack({
    gateways: 2,
    chats: 2,
    env: { RATE_LIMIT_PER_S: '0', CREATE_CONVERSATIONS_PER_MIN: String(PER_MIN) },
  });
});
after(async () => {
  await stack?.stop();
});

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
