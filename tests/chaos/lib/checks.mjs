// checks.mjs: the promises checked after every chaos round. Each check returns a list
// of failure strings (empty: the promise held).
import { createHash } from 'node:crypto';
import { psql } from '../../integration/lib/stack.mjs';
import { sleep } from '../../integration/lib/client.mjs';

// Every acknowledged message is stored exactly once under the seq it was acknowledged
// with; every conversation's seq is 1..n without gap or duplicate; no temp_id of a
// sender is stored twice in a conversation. Read straight from the database (not
// through the services) so the check does not depend on what it checks.
export async function checkStored(db, convs, agents) {
  const out = [];
  const stored = new Map(); // cid -> Map(seq -> {id, content})
  for (const cid of convs) {
    const rows = await psql(
      db,
      `SELECT seq, id, sender_id, coalesce(temp_id, ''), md5(content) FROM chat.messages WHERE conversation_id = ${Number(cid)} ORDER BY seq, id`,
    );
    const m = new Map();
    const temps = new Set();
    let expect = 1;
    for (const line of rows ? rows.split('\n') : []) {
      const [seq, id, sender, temp, md5] = line.split('|');
      const s = Number(seq);
      if (m.has(s)) out.push(`conversation ${cid}: seq ${s} stored twice (messages ${m.get(s).id} and ${id})`);
      else if (s !== expect) out.push(`conversation ${cid}: seq ${expect} missing (next is ${s})`);
      expect = s + 1;
      m.set(s, { id: Number(id), md5 });
      if (temp) {
        const k = `${sender}|${temp}`;
        if (temps.has(k)) out.push(`conversation ${cid}: temp_id ${temp} of ${sender} stored twice`);
        temps.add(k);
      }
    }
    stored.set(cid, m);
  }
  for (const a of agents) {
    for (const ack of a.acks) {
      const m = stored.get(ack.cid)?.get(ack.seq);
      if (!m) out.push(`acknowledged ${ack.temp_id} (message ${ack.message_id}, seq ${ack.seq}) is not stored`);
      else if (m.id !== ack.message_id) out.push(`acknowledged ${ack.temp_id}: seq ${ack.seq} holds message ${m.id}, acked ${ack.message_id}`);
      else if (m.md5 !== createHash('md5').update(ack.content).digest('hex')) out.push(`acknowledged ${ack.temp_id}: content differs`);
    }
  }
  return { out, stored };
}

// Every connected client, after catching up, holds exactly the stored messages of its
// conversations (same seq → same message), and no connection got a message live twice.
export async function checkClients(agents, stored) {
  const out = [];
  await Promise.all(
    agents
      .filter((a) => a.wantOnline)
      .map(async (a) => {
        try {
          await a.catchUp();
        } catch (e) {
          out.push(`${a.user}: catch-up failed: ${e.message.slice(0, 200)}`);
          return;
        }
        for (const cid of a.convs) {
          const truth = stored.get(cid) || new Map();
          const seen = a.seen.get(cid) || new Map();
          for (const [seq, id] of seen) {
            const t = truth.get(seq);
            if (!t) out.push(`${a.user}: saw seq ${seq} (message ${id}) of ${cid}, which is not stored`);
            else if (t.id !== id) out.push(`${a.user}: seq ${seq} of ${cid} is message ${t.id}, client has ${id}`);
          }
          // The workload is quiet during the checks: the client must hold all of it.
          const max = truth.size ? Math.max(...truth.keys()) : 0;
          if (a.contiguous(cid) < max) {
            out.push(`${a.user}: after catch-up holds ${cid} up to seq ${a.contiguous(cid)} of ${max}`);
          }
        }
        if (a.liveDup) out.push(`${a.user}: ${a.liveDup} messages delivered live twice on one connection`);
        a.liveDup = 0;
      }),
  );
  return out;
}

// Presence converges: as `observer` sees it, every user the harness holds a connection
// for is not offline and every user it holds none for is offline. Polls until that
// holds; returns {ms, out} with ms measured from `since`.
export async function presenceConverges(observer, agents, since, boundMs) {
  const ids = agents.map((a) => a.user);
  let last = '';
  while (Date.now() - since < boundMs) {
    const f = await observer.reliable({ type: 'get_presence', user_ids: ids }, 5000);
    if (f && f.type === 'presence') {
      const st = new Map(f.users.map((u) => [u.user_id, u.status]));
      const wrong = agents.filter((a) => {
        const s = st.get(a.user);
        const online = a.wantOnline && a.conn && a.conn.isOpen;
        return online ? !s || s === 'offline' : s !== 'offline';
      });
      if (!wrong.length) return { ms: Date.now() - since, out: [] };
      last = wrong.map((a) => `${a.user}=${st.get(a.user)} (client ${a.wantOnline ? 'online' : 'offline'})`).join(', ');
    }
    await sleep(200);
  }
  return { ms: null, out: [`presence did not converge within ${boundMs} ms: ${last}`] };
}

// No call or help request is stuck once its timers are due: ringing calls past their
// ring timeout, waiting requests past their expiry, active calls whose grace ran out,
// active calls with a party the harness holds no connection for (past the grace).
// Waits up to waitMs for open ones to settle first. And every timer fired once: no
// user got two terminal events for the same call or request.
export async function checkCallsAndHelp(db, agents, { waitMs, graceMs }) {
  const out = [];
  const online = new Set(agents.filter((a) => a.wantOnline && a.conn).map((a) => a.user));
  const end = Date.now() + waitMs;
  let rows = [];
  for (;;) {
    const r = await psql(
      db,
      `SELECT 'call', id, state, caller_id, callee_id,
              (state = 'ringing' AND ring_due < now() - interval '2 s') OR
              (state = 'active' AND grace_due IS NOT NULL AND grace_due < now() - interval '2 s')
         FROM call.calls WHERE state IN ('ringing', 'active')
       UNION ALL
       SELECT 'help', id, state, student_id, coalesce(accepted_by, ''), state = 'waiting' AND expires_at < now() - interval '2 s'
         FROM call.help_requests WHERE state IN ('waiting', 'accepted')`,
    );
    rows = r ? r.split('\n').map((l) => l.split('|')) : [];
    const open = rows.filter(([k, , state]) => state === 'ringing' || state === 'waiting' || k === 'call');
    if (!open.length || Date.now() > end) break;
    await sleep(300);
  }
  for (const [k, id, state, a, b, overdue] of rows) {
    if (overdue === 't') out.push(`${k} ${id} stuck in ${state} past its timer`);
    else if (k === 'call' && state === 'active' && (!online.has(a) || !online.has(b))) {
      out.push(`call ${id} still active ${waitMs} ms on though ${online.has(a) ? b : a} is gone (grace ${graceMs} ms)`);
    } else if (k === 'call' && state === 'ringing') out.push(`call ${id} still ringing after ${waitMs} ms`);
  }
  for (const a of agents) {
    for (const [key, n] of a.terminal) {
      if (n > 1) out.push(`${a.user} got ${n} terminal events for ${key}`);
    }
  }
  return out;
}
