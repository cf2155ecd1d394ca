// Logs: with LOG_FORMAT=json every line every process prints is one JSON object with
// ts, level, svc and msg; and at any level (debug included) no message content, no
// token and no secret appears in any process's output.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.mjs';
import { DEFAULT_SECRET, login, open, token, uid } from './lib/client.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';

const CONTENT = `secret-content-${Date.now().toString(36)}-do-not-log`;
let stack;
let tokens = [];
useStack(() => ({ gateways: 1, env: { LOG_FORMAT: 'json', LOG_LEVEL: 'debug' } }), (s) => {
  stack = s;
});

describe('database connections', () => {
  // before the logs tests below, which stop the stack
  it('each service names itself in pg_stat_activity (application_name parley-<service>)', async () => {
    const names = await stack.sql(
      "SELECT string_agg(n, ',' ORDER BY n) FROM (SELECT DISTINCT application_name AS n FROM pg_stat_activity" +
        " WHERE datname = current_database() AND application_name LIKE 'parley-%') x",
    );
    assert.equal(names, 'parley-call,parley-chat,parley-presence');
  });
});

describe('logs', () => {
  it('carry no message content, tokens or secrets, at debug level', async () => {
    const ua = uid('la');
    const ub = uid('lb');
    const ta = token(ua, 'student');
    tokens.push(ta);
    const a = await login(stack.url(), ua, 'student');
    const b = await login(stack.url(), ub, 'mentor');
    tokens.push(token(ub, 'mentor'));
    const conv = await createConversation(a, [ub]);
    await sendMessage(a, conv.conversation_id, CONTENT);
    await a.request({ type: 'edit_message', message_id: 1, content: `${CONTENT}-edit` });
    await a.request({ type: 'typing_start', conversation_id: conv.conversation_id });
    await a.request({ type: 'set_status', status: 'away', status_message: `${CONTENT}-status` });
    // A bad token, by frame and at the upgrade: refusals are logged, tokens are not.
    const bad = token(ua, 'student', { secret: 'wrong-secret' });
    tokens.push(bad);
    const c = await open(stack.url());
    const r = await c.request({ type: 'auth', token: bad });
    assert.equal(r.type, 'error');
    await c.close();
    await open(stack.url(), { token: bad }).catch(() => {});
    // Content that is not valid for the protocol still must not be echoed to logs.
    await a.request({ type: 'message', conversation_id: conv.conversation_id, content: '' });
    await a.close();
    await b.close();
    await stack.stop(); // every process logs its shutdown too

    for (const p of stack.procs.values()) {
      for (const t of tokens) {
        assert.ok(!p.output.includes(t), `${p.name} logged a token`);
        assert.ok(!p.output.includes(t.split('.')[2]), `${p.name} logged a token signature`);
      }
      assert.ok(!p.output.includes(CONTENT), `${p.name} logged message content:\n${p.output.split('\n').filter((l) => l.includes(CONTENT)).join('\n')}`);
      assert.ok(!p.output.includes(DEFAULT_SECRET), `${p.name} logged the JWT secret`);
    }
  });

  it('LOG_FORMAT=json: every line of every process is a JSON object with ts, level, svc, msg', () => {
    let lines = 0;
    for (const p of stack.procs.values()) {
      for (const line of p.output.split('\n')) {
        if (!line.trim()) continue;
        lines += 1;
        let rec;
        assert.doesNotThrow(() => {
          rec = JSON.parse(line);
        }, `${p.name}: not JSON: ${line}`);
        assert.equal(typeof rec, 'object');
        assert.match(rec.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${p.name}: ts in ${line}`);
        assert.ok(['debug', 'info', 'warn', 'error'].includes(rec.level), `${p.name}: level in ${line}`);
        assert.equal(typeof rec.svc, 'string');
        assert.equal(typeof rec.msg, 'string');
      }
    }
    assert.ok(lines >= 10, `expected some log lines, got ${lines}`);
  });
});
