// A gateway subscribes to a conversation's topic when it delivers
// conversation_created; a request sent right after (typing, which is never stored and
// so never caught up) must reach that gateway. The subscription travels gateway →
// broker → the service's PUB, and used to lose the race against the request: the
// broker forwarded requests before subscriptions in one pass, and a PUB applies
// subscriptions only when it processes its commands (about once a millisecond on
// send). Hidden while services waited BATCH_INTERVAL_MS before each batch; with
// adaptive pacing 30 of 40 first typings were lost.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { twoInConversation } from './lib/chat.mjs';

let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0' } }), (s) => (url = s.url()));

describe('a new conversation\'s first ephemeral event', () => {
  it('reaches the other participant every time (20 new conversations)', async () => {
    let lost = 0;
    for (let i = 0; i < 20; i++) {
      const { ca, cb, cid } = await twoInConversation(url);
      const ack = await ca.request({ type: 'typing_start', conversation_id: cid });
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
      try {
        const t = await cb.next('user_typing', 3000);
        assert.equal(t.conversation_id, cid);
      } catch {
        lost++;
      }
      ca.close();
      cb.close();
    }
    assert.equal(lost, 0, `${lost} of 20 first typings lost`);
  });
});
