// Call races, run many times against two call-svc instances (requests of one gateway
// are spread over both, so racing requests really meet in the database):
// - double accept from two devices of the callee: exactly one call_accepted, one conflict;
// - accept vs cancel: exactly one of them takes effect;
// - accept vs ring timeout: either the call is answered, or it is missed (once), never
//   both.
// Needs presence-svc answering presence_query.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SANITIZE, useStack } from './lib/stack.mjs';
import { login, sleep, uid, waitOnline } from './lib/client.mjs';
import { createConversation } from './lib/chat.mjs';

const SLOW = SANITIZE ? 2 : 1;
const ROUNDS = 20;
const RING_MS = 2000 * SLOW; // short, for the timeout race; long enough for the others
const QUIET_MS = 300 * SLOW;

let stack;
let url;
useStack(() => ({ calls: 2, env: { RATE_LIMIT_PER_S: '0', RING_TIMEOUT_MS: String(RING_MS) } }), (s) => ((stack = s), (url = s.url())));


// Caller a (one device) and callee b (two devices), connected once for many rounds.
async function parties() {
  const a = uid('a');
  const b = uid('b');
  const a1 = await login(url, a, 'student', { label: 'a1' });
  const b1 = await login(url, b, 'student', { label: 'b1' });
  const b2 = await login(url, b, 'student', { label: 'b2' });
  // a contact, so that a1 may see b's presence
  await createConversation(a1, [b]);
  for (const d of [b1, b2]) await d.next('conversation_created');
  await waitOnline(a1, b);
  return { a, b, a1, b1, b2 };
}

async function ring(p) {
  const init = await p.a1.request({ type: 'initiate_call', callee_id: p.b, media: 'audio' });
  assert.equal(init.type, 'call_initiated', JSON.stringify(init));
  for (const d of [p.b1, p.b2]) await d.next({ type: 'incoming_call', call_id: init.call_id });
  return init.call_id;
}

const forCall = (id, type) => (f) => f.call_id === id && f.type === type && !('id' in f);

// Every frame about call `id` that arrives on c within QUIET_MS (and is still unread).
async function settle(c, id) {
  await sleep(QUIET_MS);
  return c.drain((f) => f.call_id === id && !('id' in f));
}

describe('call races', () => {
  it(`double accept from two devices: exactly one call_accepted, one conflict (${ROUNDS} rounds)`, async () => {
    const p = await parties();
    for (let round = 0; round < ROUNDS; round++) {
      const id = await ring(p);
      const [r1, r2] = await Promise.all([
        p.b1.request({ type: 'accept_call', call_id: id }),
        p.b2.request({ type: 'accept_call', call_id: id }),
      ]);
      const answers = [r1, r2];
      const won = answers.filter((r) => r.type === 'call_accepted');
      const lost = answers.filter((r) => r.type === 'error');
      assert.equal(won.length, 1, `round ${round}: ${JSON.stringify(answers)}`);
      assert.equal(lost.length, 1, `round ${round}: ${JSON.stringify(answers)}`);
      assert.equal(lost[0].code, 'conflict');
      const winner = r1.type === 'call_accepted' ? p.b1 : p.b2;
      const loser = winner === p.b1 ? p.b2 : p.b1;
      // the caller hears of one answer, the losing device that it was answered elsewhere
      await p.a1.next(forCall(id, 'call_accepted'));
      assert.equal((await loser.next(forCall(id, 'call_ended'))).reason, 'answered_elsewhere');
      assert.deepEqual(await settle(p.a1, id), [], `round ${round}: caller got more`);
      assert.deepEqual(await settle(winner, id), [], `round ${round}: winner got more`);
      // hang up for the next round
      await p.a1.request({ type: 'end_call', call_id: id });
      assert.equal((await winner.next(forCall(id, 'call_ended'))).reason, 'hangup');
    }
  });

  it(`accept vs cancel: exactly one takes effect (${ROUNDS} rounds)`, async () => {
    const p = await parties();
    const seen = { cancelled: 0, accepted: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const id = await ring(p);
      const [acc, end] = await Promise.all([
        p.b1.request({ type: 'accept_call', call_id: id }),
        p.a1.request({ type: 'end_call', call_id: id }),
      ]);
      const callee = await settle(p.b1, id);
      const caller = await settle(p.a1, id);
      const why = `round ${round}: accept=${JSON.stringify(acc)} end=${JSON.stringify(end)} callee=${JSON.stringify(callee)} caller=${JSON.stringify(caller)}`;
      if (acc.type === 'call_accepted') {
        // The answer won. The cancel either lost (conflict) or came after the answer and
        // was a hangup; the caller heard of the answer either way.
        seen.accepted++;
        assert.equal(caller.filter((f) => f.type === 'call_accepted').length, 1, why);
        assert.ok(!callee.some((f) => f.type === 'call_ended' && f.reason === 'cancelled'), why);
        if (end.type === 'error') {
          assert.equal(end.code, 'conflict', why);
          await p.a1.request({ type: 'end_call', call_id: id });
          await p.b1.next(forCall(id, 'call_ended'));
        } else {
          assert.equal(end.type, 'ack', why);
          assert.deepEqual(callee.map((f) => f.reason), ['hangup'], why);
        }
      } else {
        // The cancel won: the answer got conflict, the callee's devices heard cancelled.
        seen.cancelled++;
        assert.equal(acc.code, 'conflict', why);
        assert.equal(end.type, 'ack', why);
        assert.deepEqual(callee.map((f) => [f.type, f.reason]), [['call_ended', 'cancelled']], why);
        assert.ok(!caller.some((f) => f.type === 'call_accepted'), why);
        assert.equal((await p.b2.next(forCall(id, 'call_ended'))).reason, 'cancelled');
      }
      p.b2.drain((f) => f.call_id === id);
    }
    assert.equal(seen.accepted + seen.cancelled, ROUNDS);
  });

  it(`accept vs ring timeout: answered or missed, never both; missed fires once (${ROUNDS / 2} rounds)`, async () => {
    const p = await parties();
    const outcome = { answered: 0, missed: 0 };
    for (let round = 0; round < ROUNDS / 2; round++) {
      const id = await ring(p);
      // accept around the moment the timer is due (early, on time, late)
      await sleep(RING_MS - 150 + (round % 5) * 75);
      const acc = await p.b1.request({ type: 'accept_call', call_id: id });
      await sleep(RING_MS / 2); // any pending tick has fired by now
      const caller = await settle(p.a1, id);
      const callee = await settle(p.b1, id);
      const why = `round ${round}: accept=${JSON.stringify(acc)} caller=${JSON.stringify(caller)} callee=${JSON.stringify(callee)}`;
      if (acc.type === 'call_accepted') {
        outcome.answered++;
        assert.deepEqual(caller.map((f) => f.type), ['call_accepted'], why);
        assert.deepEqual(callee, [], why);
        await p.a1.request({ type: 'end_call', call_id: id });
        await p.b1.next(forCall(id, 'call_ended'));
      } else {
        outcome.missed++;
        assert.equal(acc.code, 'conflict', why);
        assert.deepEqual(caller.map((f) => [f.type, f.reason]), [['call_ended', 'missed']], why);
        assert.deepEqual(callee.map((f) => [f.type, f.reason]), [['call_ended', 'missed']], why);
      }
      p.b2.drain((f) => f.call_id === id);
    }
    assert.equal(outcome.answered + outcome.missed, ROUNDS / 2);
  });
});
