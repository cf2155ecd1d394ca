// Chat: who gets a notification row is read from participants.away, a flag that
// mirrors chat.online through two triggers (chat_schema.c, migration 3). These tests
// check that the mirror holds: through real connections and disconnections, and in the
// two races where a participant is added while that user connects or disconnects in
// another transaction (what two chat-svc instances do). The races are made
// deterministic: one transaction is held open in a psql session, and the other is
// only let go once PostgreSQL shows it waiting on the per-user lock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { useStack } from './lib/stack.mjs';
import { eventually, login, uid } from './lib/client.mjs';
import { createConversation, sendMessage } from './lib/chat.mjs';

let stack;
let url;
useStack(() => ({ env: { RATE_LIMIT_PER_S: '0' } }), (s) => ((stack = s), (url = s.url())));

// A psql session kept open: run() sends statements and resolves when they are done.
function session() {
  const child = spawn('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', stack.dbConn], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters = [];
  child.stdout.on('data', (d) => {
    out += d;
    for (const w of [...waiters]) {
      if (out.includes(w.mark)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  let n = 0;
  return {
    run(sql) {
      n += 1;
      const mark = `--done-${n}--`;
      const p = new Promise((resolve, reject) => {
        waiters.push({ mark, resolve });
        child.once('exit', () => reject(new Error(`psql exited: ${err}`)));
      });
      child.stdin.write(`${sql}\n\\echo ${mark}\n`);
      return p;
    },
    async close() {
      child.stdin.end();
      await new Promise((resolve) => child.once('exit', resolve));
      assert.equal(err, '', 'psql session reported no error');
    },
  };
}

// Resolves once some session waits on an advisory lock: the other side of the race
// has reached the per-user lock and must wait for the open transaction.
async function waitForLockWaiter() {
  await eventually(
    async () =>
      (await stack.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'",
      )) === '1',
    { timeoutMs: 10000, what: 'the second transaction waits on the per-user lock' },
  );
}

// Run `first` in a transaction held open, start `second` (it must wait for the
// per-user lock), then commit `first` and wait for `second` to finish.
async function race(first, second) {
  const s = session();
  await s.run(`BEGIN; ${first};`);
  const waiting = stack.sql(second);
  await waitForLockWaiter();
  await s.run('COMMIT;');
  await waiting;
  await s.close();
}

async function newConversation() {
  return stack.sql(
    "INSERT INTO chat.conversations(kind, created_by) VALUES ('group', 'test') RETURNING id",
  );
}

async function away(cid, user) {
  return stack.sql(`SELECT away FROM chat.participants WHERE conversation_id = ${cid} AND user_id = '${user}'`);
}

// Every participant row agrees with chat.online.
async function mismatches() {
  return stack.sql(
    'SELECT count(*) FROM chat.participants p' +
      ' WHERE p.away = EXISTS (SELECT 1 FROM chat.online o WHERE o.user_id = p.user_id)',
  );
}

describe('participants.away mirrors chat.online', () => {
  it('follows connections: added while connected, leaving, coming back', async () => {
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    const a1 = await login(url, a, 'student', { label: 'a1' });
    const b1 = await login(url, b, 'mentor', { label: 'b1' });
    const conv = await createConversation(a1, [b, c]);
    const cid = conv.conversation_id;
    assert.equal(await away(cid, a), 'f');
    assert.equal(await away(cid, b), 'f');
    assert.equal(await away(cid, c), 't', 'c never connected');
    await b1.close();
    await eventually(async () => (await away(cid, b)) === 't', { timeoutMs: 15000, what: 'b is marked away' });
    await sendMessage(a1, cid, 'while b is away');
    assert.equal(
      await stack.sql(`SELECT string_agg(user_id, ',' ORDER BY user_id) FROM chat.notifications WHERE conversation_id = ${cid}`),
      [b, c].sort().join(','),
    );
    const b2 = await login(url, b, 'mentor', { label: 'b2' });
    assert.equal(await away(cid, b), 'f', 'session_open marks b back in its own transaction');
    assert.equal(await mismatches(), '0');
    await b2.close();
  });

  // Each race: whether the user starts online, the statement held open, the one that
  // must wait for it, and the flag both leave behind.
  const add = (cid, user) => `INSERT INTO chat.participants(conversation_id, user_id) VALUES (${cid}, '${user}')`;
  const connect = (user) => `INSERT INTO chat.online(user_id) VALUES ('${user}')`;
  const disconnect = (user) => `DELETE FROM chat.online WHERE user_id = '${user}'`;
  const races = [
    ['a participant added while the user connects elsewhere ends up not away', false,
      (cid, u) => [add(cid, u), connect(u)], 'f'],
    ['a participant added while the user disconnects elsewhere ends up away', true,
      (cid, u) => [add(cid, u), disconnect(u)], 't'],
    ['a user who disconnects while being added ends up away', true,
      (cid, u) => [disconnect(u), add(cid, u)], 't'],
    ['a user who connects while being added ends up not away', false,
      (cid, u) => [connect(u), add(cid, u)], 'f'],
  ];
  for (const [name, onlineBefore, statements, expected] of races) {
    it(name, async () => {
      const user = uid('u');
      const cid = await newConversation();
      if (onlineBefore) await stack.sql(connect(user));
      const [first, second] = statements(cid, user);
      await race(first, second);
      assert.equal(await away(cid, user), expected);
      assert.equal(await mismatches(), '0');
    });
  }
});

// Last, because it stops chat-svc: a database of the previous release (migration 2,
// no flag, no triggers) gets the flag from chat.online when chat-svc upgrades it.
describe('migration 3 on an existing database', () => {
  it('sets away from chat.online for the participants already there, and the triggers work after', async () => {
    const users = ['on1', 'off1', 'on2', 'off2'].map((x) => uid(x));
    const [on1, off1, on2, off2] = users;
    await stack.kill('chat', 'SIGTERM');
    await stack.sql(
      'DROP TRIGGER participant_added ON chat.participants;' +
        ' DROP TRIGGER online_changed ON chat.online;' +
        ' DROP FUNCTION chat.participant_added(); DROP FUNCTION chat.online_changed();' +
        ' DROP FUNCTION chat.lock_user_online(text);' +
        ' ALTER TABLE chat.participants DROP COLUMN away;' +
        ' DELETE FROM chat.schema_migrations WHERE version >= 3', // 3 and every later one run again
    );
    const cid = await newConversation();
    await stack.sql(
      `INSERT INTO chat.participants(conversation_id, user_id) SELECT ${cid}, unnest(ARRAY['${users.join("','")}']);` +
        ` DELETE FROM chat.online WHERE user_id IN ('${off1}', '${off2}');` +
        ` INSERT INTO chat.online(user_id) VALUES ('${on1}'), ('${on2}') ON CONFLICT DO NOTHING`,
    );
    await stack.restart('chat');
    await eventually(async () => (await stack.sql('SELECT count(*) FROM chat.schema_migrations WHERE version = 3')) === '1', {
      what: 'chat-svc applies migration 3',
    });
    assert.deepEqual(
      await Promise.all(users.map((u) => away(cid, u))),
      ['f', 't', 'f', 't'],
    );
    assert.equal(await mismatches(), '0');
    await stack.sql(`DELETE FROM chat.online WHERE user_id = '${on1}'`);
    assert.equal(await away(cid, on1), 't', 'the trigger follows a disconnect');
  });
});
