// agent.mjs: a good client, as the protocol asks apps to behave, for one user.
//
// - Sends with a temp_id and retries the same temp_id on `unavailable`/`overloaded`,
//   a timeout or a closed connection, until `message_sent`.
// - Reconnects with exponential backoff to either gateway, and catches up every
//   conversation with `history {after_seq}` from the last seq it holds without a gap.
// - Mentors accept help requests and most incoming calls; students ask for help and
//   call mentors; whoever holds a live call or help session ends it after a while.
// Everything it sees is recorded so the checks can compare it with the truth.
import { login, sleep } from '../../integration/lib/client.mjs';

const REQ_TIMEOUT_MS = 6000;
const RETRYABLE = new Set(['unavailable', 'overloaded', 'rate_limited']);

export class Agent {
  constructor(h, user, role, rng) {
    this.h = h; // harness: {urls(), log(line), defect(text), round}
    this.user = user;
    this.role = role;
    this.rng = rng;
    this.convs = []; // conversation ids
    this.conn = null;
    this.connecting = null;
    this.wantOnline = true;
    this.sending = false; // the send loop runs
    this.active = false; // may start new work (messages, calls, help)
    this.seen = new Map(); // cid -> Map(seq -> message_id)
    this.acks = []; // {cid, temp_id, message_id, seq, content}
    this.ackByTemp = new Map(); // temp_id -> ack
    this.nSent = 0;
    this.liveDup = 0;
    this.terminal = new Map(); // `${kind}:${id}` -> count of terminal events for this user
    this.connections = 0;
    this.offlineSince = null;
    this.openCall = null; // {call_id, role: 'caller'|'callee'}
    this.openHelp = null; // request id (student: own; mentor: assigned)
    this.timers = new Set();
  }

  // ---- connection --------------------------------------------------------------

  async ensure() {
    if (this.conn && this.conn.isOpen) return this.conn;
    if (!this.wantOnline) return null;
    if (!this.connecting) {
      this.connecting = this._connectLoop().finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  async _connectLoop() {
    let backoff = 100;
    for (let attempt = 0; this.wantOnline && !this.h.stopping; attempt++) {
      const urls = this.h.urls();
      const url = urls[(this.rng.int(0, urls.length - 1) + attempt) % urls.length];
      try {
        const pending = login(url, this.user, this.role, { label: this.user });
        let c;
        try {
          c = await withTimeout(pending, REQ_TIMEOUT_MS);
        } catch (e) {
          // A login that completes after we gave up must not stay open as a phantom
          // device keeping the user online.
          pending.then((late) => late.terminate(), () => {});
          throw e;
        }
        if (!this.wantOnline) {
          c.terminate();
          return null;
        }
        this._attach(c);
        // Mentors are available, so help requests reach them (a chosen status is kept
        // across reconnects; asking again is harmless).
        if (this.role === 'mentor') c.request({ type: 'mentor_available' }, REQ_TIMEOUT_MS).catch(() => {});
        this.catchUp().catch(() => {}); // in the background; the checks catch up again
        return c;
      } catch {
        await sleep(backoff + this.rng.int(0, backoff));
        backoff = Math.min(backoff * 2, 2000);
      }
    }
    return null;
  }

  _attach(c) {
    this.conn = c;
    this.connections++;
    this.offlineSince = null;
    const liveIds = new Set(); // message ids this connection got live
    liveIds.presence = new Map(); // `${user}|${last_seen}` of user_offline heard here
    c.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let f;
      try {
        f = JSON.parse(data.toString('utf8'));
      } catch {
        return;
      }
      this._onFrame(f, liveIds);
    });
    // Frames are handled above; the inbox only keeps what no request consumed.
    const drain = setInterval(() => c.drain((f) => f.id === undefined || f.id === null), 500);
    c.closed.then(() => {
      clearInterval(drain);
      if (this.conn === c) {
        this.conn = null;
        this.offlineSince = Date.now();
      }
      if (this.wantOnline && !this.h.stopping) this.ensure();
    });
  }

  _onFrame(f, liveIds) {
    switch (f.type) {
      case 'new_message': {
        const m = f.message || {};
        if (liveIds.has(m.message_id)) this.liveDup++;
        liveIds.add(m.message_id);
        this._see(m.conversation_id, m.seq, m.message_id, 'live');
        break;
      }
      case 'user_offline': {
        // A grace timer fires once: one connection never hears the same going-offline
        // (same user, same last_seen) twice. (Two offlines in a row with different
        // last_seen are two episodes whose user_online was lost: presence events are
        // not delivered across a broker restart, clients ask get_presence.)
        const key = `${f.user_id}|${f.last_seen}`;
        if (liveIds.presence.has(key)) {
          this.h.defect(`${this.user}: user_offline for ${f.user_id} (last_seen ${f.last_seen}) announced twice on one connection`);
        }
        liveIds.presence.set(key, true);
        break;
      }
      case 'incoming_call':
        this._onIncomingCall(f);
        break;
      case 'call_accepted':
        if (this.openCall && this.openCall.call_id === f.call_id && this.openCall.role === 'caller') {
          this._later(this.rng.int(300, 2500), () => this._endCall(f.call_id));
        }
        break;
      case 'call_ended':
      case 'call_rejected':
        this._count(`call:${f.call_id}`);
        if (this.openCall && this.openCall.call_id === f.call_id) this.openCall = null;
        break;
      case 'help_request':
        if (this.role === 'mentor' && this.active && !this.openHelp && !this.openCall && this.rng.chance(0.6)) {
          this._acceptHelp(f.request_id);
        }
        break;
      case 'help_accepted':
        break;
      case 'help_expired':
      case 'help_declined':
      case 'help_ended':
        this._count(`help:${f.request_id}`);
        if (this.openHelp === f.request_id) this.openHelp = null;
        break;
      case 'help_request_closed':
        this._count(`offer:${f.request_id}`);
        break;
      default:
        break;
    }
  }

  _count(key) {
    this.terminal.set(key, (this.terminal.get(key) || 0) + 1);
  }

  _see(cid, seq, id, how) {
    if (!this.seen.has(cid)) this.seen.set(cid, new Map());
    const m = this.seen.get(cid);
    const had = m.get(seq);
    if (had !== undefined && had !== id) {
      this.h.defect(`${this.user}: conversation ${cid} seq ${seq} was message ${had}, now ${id} (${how})`);
    }
    m.set(seq, id);
  }

  // The highest seq up to which this client holds every message.
  contiguous(cid) {
    const m = this.seen.get(cid);
    let s = 0;
    while (m && m.has(s + 1)) s++;
    return s;
  }

  async goOffline() {
    // The message in flight is finished first (acknowledged), as an app would before
    // the user closes it; a send cut off by the close would wait for the next round.
    this.leaving = true;
    await this.idle();
    this.wantOnline = false;
    this.leaving = false;
    const c = this.conn;
    this.conn = null;
    if (c) {
      this.offlineSince = Date.now();
      await Promise.race([c.close(), sleep(2000).then(() => c.terminate())]);
    }
    if (this.openCall) this.openCall = null;
    if (this.role === 'mentor') this.openHelp = null;
  }

  goOnline() {
    this.wantOnline = true;
    return this.ensure();
  }

  // A request answered, retried over reconnects while the answer is retryable or
  // missing. `deadlineMs` bounds the whole thing; null when it never got an answer.
  async reliable(frame, deadlineMs = 60000) {
    const end = Date.now() + deadlineMs;
    let backoff = 100;
    while (Date.now() < end && !this.h.stopping) {
      const c = await this.ensure();
      if (!c) return null;
      let f = null;
      try {
        f = await c.request({ ...frame }, REQ_TIMEOUT_MS);
      } catch {
        f = null; // timeout or closed: outcome unknown, retry
      }
      if (f && !(f.type === 'error' && RETRYABLE.has(f.code))) return f;
      await sleep(backoff + this.rng.int(0, backoff));
      backoff = Math.min(backoff * 2, 1000);
    }
    return null;
  }

  // ---- chat --------------------------------------------------------------------

  async catchUp() {
    for (const cid of this.convs) {
      for (let page = 0; page < 1000; page++) {
        const after = this.contiguous(cid);
        const f = await this.reliable({ type: 'history', conversation_id: cid, after_seq: after, limit: 200 }, 30000);
        if (!f || f.type !== 'history') throw new Error(`${this.user}: history of ${cid}: ${JSON.stringify(f)}`);
        for (const m of f.messages) this._see(cid, m.seq, m.message_id, 'history');
        if (!f.has_more || f.messages.length === 0) break;
      }
    }
  }

  async sendOne(cid) {
    const n = ++this.nSent;
    const temp = `${this.user}-t${n}`;
    const content = `${temp} r${this.h.round}`;
    const t0 = Date.now();
    for (let attempt = 0; ; attempt++) {
      const f = await this.reliable({ type: 'message', conversation_id: cid, content, temp_id: temp }, 60000);
      if (!f) {
        if (this.h.stopping) return;
        this.h.defect(`${this.user}: message ${temp} not acknowledged within 60 s`);
        return;
      }
      if (f.type !== 'message_sent') {
        this.h.defect(`${this.user}: message ${temp} answered ${JSON.stringify(f).slice(0, 200)}`);
        return;
      }
      const prev = this.ackByTemp.get(temp);
      if (prev && (prev.message_id !== f.message_id || prev.seq !== f.seq)) {
        this.h.defect(`${this.user}: temp_id ${temp} acked as ${prev.message_id}@${prev.seq}, then ${f.message_id}@${f.seq}`);
      }
      const ack = { cid, temp_id: temp, message_id: f.message_id, seq: f.seq, content, ms: Date.now() - t0 };
      this.ackByTemp.set(temp, ack);
      this.acks.push(ack);
      this._see(cid, f.seq, f.message_id, 'ack');
      // Now and then the same temp_id again, as a client whose ack got lost would:
      // it must get the same message back.
      if (attempt === 0 && this.rng.chance(0.05)) continue;
      return;
    }
  }

  async sendLoop() {
    this.sending = true;
    while (!this.h.stopping) {
      if (!this.active || !this.wantOnline || this.leaving || this.convs.length === 0) {
        await sleep(50);
        continue;
      }
      this.inFlight = this.sendOne(this.rng.pick(this.convs));
      await this.inFlight;
      this.inFlight = null;
      await sleep(this.rng.int(30, 250));
      if (this.active && this.rng.chance(0.08)) this._tryCallOrHelp();
      if (this.active && this.rng.chance(0.03)) this._churn();
    }
    this.sending = false;
  }

  // A device reloads or loses its network: the connection goes (cleanly or not) and
  // the client reconnects at once, maybe to the other gateway. This is what makes
  // conn_open / conn_close meet the faults.
  _churn() {
    const c = this.conn;
    if (!c) return;
    if (this.rng.chance(0.5)) c.close();
    else c.terminate();
  }

  // Wait until nothing this agent started is still in flight.
  async idle() {
    while (this.inFlight) await this.inFlight;
  }

  // ---- calls and help ----------------------------------------------------------

  _later(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  _tryCallOrHelp() {
    const c = this.conn;
    if (!c || !c.isOpen || this.openCall || this.openHelp) return;
    if (this.role === 'student' && this.rng.chance(0.5)) {
      c.request({ type: 'student_request_help', topic: `chaos r${this.h.round}` }, REQ_TIMEOUT_MS)
        .then((f) => {
          if (f.type === 'help_requested') this.openHelp = f.request_id;
        })
        .catch(() => {});
      return;
    }
    const mentors = this.h.mentors().filter((m) => m !== this.user);
    if (!mentors.length) return;
    const callee = this.rng.pick(mentors);
    c.request({ type: 'initiate_call', callee_id: callee, media: 'audio' }, REQ_TIMEOUT_MS)
      .then((f) => {
        if (f.type === 'call_initiated') this.openCall = { call_id: f.call_id, role: 'caller' };
      })
      .catch(() => {});
  }

  _onIncomingCall(f) {
    const c = this.conn;
    if (!c) return;
    const r = this.rng.next();
    if (!this.active || r < 0.2) return; // let it ring out (missed)
    if (this.openCall || r < 0.35) {
      c.request({ type: 'reject_call', call_id: f.call_id }, REQ_TIMEOUT_MS).catch(() => {});
      return;
    }
    this.openCall = { call_id: f.call_id, role: 'callee' };
    c.request({ type: 'accept_call', call_id: f.call_id }, REQ_TIMEOUT_MS)
      .then((a) => {
        if (a.type !== 'call_accepted') {
          if (this.openCall && this.openCall.call_id === f.call_id) this.openCall = null;
          return;
        }
        this._later(this.rng.int(500, 3000), () => this._endCall(f.call_id));
      })
      .catch(() => {});
  }

  _endCall(callId) {
    const c = this.conn;
    if (!this.openCall || this.openCall.call_id !== callId) return;
    this.openCall = null;
    // Retried like a message: a lost end_call would leave a live call nobody holds.
    if (c) this.reliable({ type: 'end_call', call_id: callId }, 30000).catch(() => {});
  }

  _acceptHelp(requestId) {
    const c = this.conn;
    this.openHelp = requestId;
    c.request({ type: 'accept_help', request_id: requestId }, REQ_TIMEOUT_MS)
      .then((f) => {
        if (f.type !== 'help_assigned') {
          if (this.openHelp === requestId) this.openHelp = null;
          return;
        }
        this._later(this.rng.int(300, 2000), () => {
          if (this.openHelp !== requestId) return;
          this.openHelp = null;
          this.reliable({ type: 'end_help', request_id: requestId }, 30000).catch(() => {});
        });
      })
      .catch(() => {
        if (this.openHelp === requestId) this.openHelp = null;
      });
  }

  stop() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

export function withTimeout(p, ms) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timeout after ${ms} ms`)), ms);
    }),
  ]);
}
