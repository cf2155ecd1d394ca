// Parley demo page. Plain JavaScript, no build step, no library.
//
// One WebSocket to the gateway (/ws) carries everything: chat, presence, help requests
// and call signaling (docs/protocol.md). Media flows browser to browser over WebRTC;
// the offer, answer and ICE candidates travel as `call_signal` frames.
//
// Reading guide: `send`/`request` talk to the gateway; `onFrame` dispatches every
// server event to a small handler; `render*` functions redraw one part of the page from
// `state` (always with textContent: nothing a user typed becomes HTML).
//
// A reload keeps the session: the token, who we are, the open conversation, this tab's
// help requests and its call live in sessionStorage (per tab, gone when the tab closes).
// A call survives a reload when the page comes back within the server's grace period
// (CALL_GRACE_MS): call_history says whether it is still active, and a fresh offer from
// the new connection makes it our side of the call again (docs/protocol/calls.md).
'use strict';

const CONFIG = Object.assign({ iceServers: [], wsPath: '/ws' }, window.PARLEY_CONFIG || {});
const $ = (id) => document.getElementById(id);
const SESSION_KEY = 'parley.session';
const EMOJI = ['👍', '❤️', '😂', '🎉', '🤔'];

const state = {
  token: null,
  devLogin: false, // the token came from GET /dev/token: renew it there before it expires
  me: null, // {user_id, role, name}
  ws: null,
  wantOpen: false, // reconnect when the socket drops
  retryMs: 500,
  nextId: 1,
  pending: new Map(), // request id -> {resolve, reject}
  conversations: new Map(), // id -> conversation (+ last_at, preview: what the list shows)
  messages: new Map(), // conversation id -> [message] ascending seq
  hasOlder: new Map(), // conversation id -> true when history has more before the oldest loaded
  current: null, // open conversation id
  mentors: new Map(), // user id -> {user_id, name, status, status_message, last_seen}
  presence: new Map(), // user id -> {status, status_message, last_seen}
  names: new Map(), // user id -> display name
  typing: new Map(), // conversation id -> Map(user id -> expiry timer)
  reads: new Map(), // conversation id -> Map(user id -> seq)
  help: new Map(), // request id -> {request_id, side: 'student'|'mentor', state, ...}
  calls: [], // call_history, newest first
  call: null, // see startCall/acceptIncoming
  resumeCall: null, // {call_id, peer, media, role} from before a reload
  incoming: null, // incoming_call frame waiting for an answer
  compose: null, // {mode: 'reply'|'edit', message}
  chosen: null, // our chosen status, which returns after a help session or call (renderMyStatus)
  attachments: [], // [{url, name}] to go with the next message
  typingSent: 0,
  typingStopTimer: null,
};

// ---- small helpers ---------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

function toast(text, kind = 'error') {
  const t = $('toast');
  t.textContent = text;
  t.dataset.kind = kind;
  t.classList.remove('hidden');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.add('hidden'), 6000);
}

function logEvent(text) {
  const log = $('event-log');
  log.prepend(el('li', { text: `${new Date().toLocaleTimeString()} ${text}` }));
  while (log.children.length > 60) log.lastChild.remove();
}

function nameOf(uid) {
  if (state.me && uid === state.me.user_id) return 'you';
  return state.names.get(uid) || uid;
}

// Remember a display name the server sent with an event (help requests and calls carry
// the other side's token name); kept across reloads with the session.
function learnName(uid, name) {
  if (!uid || !name || state.names.get(uid) === name) return;
  state.names.set(uid, name);
  saveSession();
}

function setConnState(s) {
  const p = $('conn-state');
  p.textContent = s;
  p.dataset.state = s;
}

function timeOf(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
}

function whenOf(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toDateString() === new Date().toDateString() ? timeOf(iso) : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

function durationOf(s) {
  if (s === null || s === undefined) return '';
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function clip(text, n) {
  const s = String(text || '');
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

// ---- the session survives a reload (sessionStorage: this tab only) ------------------

function saveSession() {
  if (!state.token) return;
  const call = state.call && state.call.call_id
    ? { call_id: state.call.call_id, peer: state.call.peer, media: state.call.media, role: state.call.role }
    : null;
  try {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({
      token: state.token, devLogin: state.devLogin, me: state.me, current: state.current, call,
      help: [...state.help.values()].filter((h) => ['waiting', 'offered', 'accepted'].includes(h.state)),
      tab: document.querySelector('.app').dataset.tab,
      callMini: $('call').classList.contains('mini'),
      chosen: state.chosen,
      names: [...state.names].slice(-500), // the newest 500 learnt
    }));
  } catch { /* storage full or disabled: the session just won't survive a reload */ }
}

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    return null;
  }
}

// ---- errors a person can read ------------------------------------------------------

const FIELD_LABELS = {
  topic: 'The topic', message: 'The message', content: 'The message', status_message: 'The status message',
  title: 'The title', emoji: 'The reaction', attachments: 'The attachment', participants: 'The user list',
  mentor_id: 'The mentor', callee_id: 'The person called', reply_to_id: 'The message replied to',
};

// `what` names the action ("Sending", "Help request"); `conflict` says what a conflict
// means for it. The raw code still goes to the event log for developers.
function friendly(e, what, conflict) {
  const msg = String(e.message || '');
  logEvent(`${what} failed: ${e.code || 'error'}: ${msg}`);
  switch (e.code) {
    case 'bad_request': case 'too_large': {
      const m = /^([a-z_]+)(?:\[\d+\])?(?:\.([a-z_]+))?: (.+)$/.exec(msg);
      if (m) {
        const label = FIELD_LABELS[m[1]] || m[1].replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
        return `${label}${m[2] ? ` (${m[2]})` : ''} ${m[3].replace(/^must/, 'must')}.`;
      }
      return e.code === 'too_large' ? `${what}: that is too long.` : `${what}: that was not accepted (${msg}).`;
    }
    case 'conflict': return conflict || `${what}: that is no longer possible.`;
    case 'forbidden': return `${what}: you are not allowed to do that.`;
    case 'not_found': return `${what}: it no longer exists.`;
    case 'rate_limited': return 'Slow down a little: too many actions at once.';
    case 'overloaded': return 'The server is busy right now; try again in a moment.';
    case 'unavailable': case 'timeout': case 'closed':
      return `${what}: the server did not answer in time. Try again.`;
    case 'unauthenticated': return 'Your session has ended; log in again.';
    case 'internal': return `${what}: something went wrong on the server.`;
    default: return `${what}: ${msg || 'failed'}.`;
  }
}

function fail(what, conflict) {
  return (e) => toast(friendly(e, what, conflict));
}

// ---- talking to the gateway ------------------------------------------------------

function send(obj) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(obj));
}

// Send with an id and resolve with the answer (its named event or ack); reject on error.
function request(obj, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      reject(Object.assign(new Error('not connected'), { code: 'unavailable' }));
      return;
    }
    const id = state.nextId++;
    const timer = setTimeout(() => {
      state.pending.delete(id);
      reject(Object.assign(new Error('no answer'), { code: 'timeout' }));
    }, timeoutMs);
    state.pending.set(id, {
      resolve: (f) => { clearTimeout(timer); resolve(f); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    });
    send({ ...obj, id });
  });
}

function connect() {
  state.wantOpen = true;
  setConnState('connecting');
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}${CONFIG.wsPath}`);
  state.ws = ws;
  ws.onopen = () => {
    // The token goes in the first frame, not the URL: URLs end up in access logs.
    request({ type: 'auth', token: state.token })
      .then(onAuthenticated)
      .catch((e) => {
        if (e.code === 'closed' || e.code === 'timeout') return; // onclose retries
        $('login-error').textContent = tokenExpired(state.token)
          ? 'Your session ended: the token expired. Log in again.'
          : state.restoring
          ? 'Your session has ended (the token is no longer valid): log in again.'
          : `Login refused: ${e.message}`;
        logout();
      });
  };
  ws.onmessage = (ev) => {
    let f;
    try {
      f = JSON.parse(ev.data);
    } catch {
      return;
    }
    onFrame(f);
  };
  ws.onclose = (ev) => {
    for (const p of state.pending.values()) p.reject(Object.assign(new Error('connection closed'), { code: 'closed' }));
    state.pending.clear();
    if (state.ws !== ws) return;
    state.ws = null;
    setConnState('offline');
    if (ev.code === 1008 && !state.me?.authed) return; // refused before auth: wrong token
    // The token expired (4001; a browser may report the close as 1006 instead, so the
    // token's own exp is checked too): reconnecting with it would be refused.
    if (ev.code === 4001 || tokenExpired(state.token)) {
      $('login-error').textContent = 'Your session ended: the token expired. Log in again.';
      logout();
      return;
    }
    if (ev.code === 4002) {
      $('login-error').textContent = `The server closed this session${ev.reason ? `: ${ev.reason}` : ''}.`;
      logout();
      return;
    }
    if (state.wantOpen) {
      logEvent(`connection closed (${ev.code}); reconnecting`);
      setTimeout(() => state.wantOpen && connect(), state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 8000);
    }
  };
}

// The token's exp claim (read, not verified: the gateway verifies) has passed.
function tokenExpired(token) {
  try {
    const p = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return typeof p.exp === 'number' && p.exp * 1000 <= Date.now();
  } catch {
    return false;
  }
}

async function mintDevToken(userId, name, role) {
  const q = new URLSearchParams({ sub: userId, role });
  if (name) q.set('name', name);
  const r = await fetch(`/dev/token?${q}`);
  if (r.status === 404) {
    throw new Error('this gateway does not mint dev tokens (DEV_TOKENS is off): paste a token below');
  }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body.token;
}

function useToken(token) {
  state.token = token;
  connect();
}

function logout() {
  state.wantOpen = false;
  state.restoring = false;
  if (state.call) endCall('hangup', false);
  if (state.ws) state.ws.close(1000);
  state.ws = null;
  state.me = null;
  state.token = null;
  state.help.clear();
  state.messages.clear();
  state.chosen = null;
  state.current = null;
  sessionStorage.removeItem(SESSION_KEY);
  document.body.classList.remove('restoring');
  $('app').classList.add('hidden');
  $('login').classList.remove('hidden');
  $('logout').classList.add('hidden');
  $('me').textContent = '';
  setConnState('offline');
}

// ---- session ---------------------------------------------------------------------

async function onAuthenticated(f) {
  state.retryMs = 500;
  const restored = state.restoring;
  state.restoring = false;
  document.body.classList.remove('restoring');
  state.me = { user_id: f.user_id, role: f.role, name: state.me?.name, authed: true };
  if (state.me.name) state.names.set(f.user_id, state.me.name);
  setConnState('online');
  $('login').classList.add('hidden');
  $('app').classList.remove('hidden');
  $('logout').classList.remove('hidden');
  $('me').textContent = `${state.me.name || f.user_id} (${f.role})`;
  document.body.dataset.role = f.role;
  for (const e of document.querySelectorAll('.mentor-only')) e.classList.toggle('hidden', f.role === 'student');
  for (const e of document.querySelectorAll('.student-only')) e.classList.toggle('hidden', f.role !== 'student');
  state.conversations.clear();
  for (const c of f.conversations || []) addConversation(c);
  renderConversations();
  renderHelp();
  logEvent(`authenticated as ${f.user_id}${restored ? ' (session restored)' : ''}`);
  loadMentors();
  loadPresence();
  loadPreviews();
  await loadCalls();
  resumeCallIfAny();
  if (state.current && state.conversations.has(state.current)) openConversation(state.current, { keepTab: true });
  else renderChatHeader();
  saveSession();
}

// A conversation from auth_success or conversation_created; `read_positions`
// ({user_id: seq}, when the server sends it) restores read receipts after a reload.
function addConversation(c) {
  const old = state.conversations.get(c.conversation_id);
  state.conversations.set(c.conversation_id, { ...(old || {}), ...c });
  if (c.read_positions && typeof c.read_positions === 'object') {
    const m = state.reads.get(c.conversation_id) || new Map();
    for (const [uid, seq] of Object.entries(c.read_positions)) m.set(uid, Math.max(m.get(uid) || 0, Number(seq) || 0));
    state.reads.set(c.conversation_id, m);
  }
}

// The list is ordered by last activity: the newest message's time. auth_success gives
// only last_seq (per conversation, not comparable), so fetch each one's newest message.
function loadPreviews() {
  const convs = [...state.conversations.values()].filter((c) => c.last_seq > 0 && !c.last_at)
    .sort((a, b) => b.conversation_id - a.conversation_id).slice(0, 15); // stay well under the rate limit
  for (const c of convs) {
    request({ type: 'history', conversation_id: c.conversation_id, limit: 1 })
      .then((h) => {
        const m = h.messages?.at(-1);
        if (m) notePreview(m);
        renderConversations();
      })
      .catch(() => {});
  }
}

function notePreview(m) {
  const c = state.conversations.get(m.conversation_id);
  if (!c || !m.seq) return;
  if (!c.preview_seq || m.seq >= c.preview_seq) {
    c.preview_seq = m.seq;
    c.last_at = m.created_at;
    c.preview = m.deleted ? '(deleted)' : `${m.sender_id === state.me.user_id ? 'You: ' : ''}${m.content}`;
  }
}

function loadMentors() {
  request({ type: 'list_mentors', available_only: $('available-only').checked })
    .then((r) => {
      state.mentors.clear();
      for (const m of r.mentors || []) {
        state.mentors.set(m.user_id, m);
        if (m.name) state.names.set(m.user_id, m.name);
        state.presence.set(m.user_id, m);
      }
      renderMentors();
      renderConversations();
      renderHelp();
      renderCalls();
      renderChatHeader();
      if (state.call) showCall(state.call.peer, state.call.media); // the name may be new
    })
    .catch(fail('Mentor directory'));
}

function loadPresence() {
  const ids = new Set();
  for (const c of state.conversations.values()) for (const p of c.participants || []) ids.add(p);
  ids.delete(state.me.user_id);
  return request({ type: 'get_presence', user_ids: [state.me.user_id, ...[...ids].slice(0, 99)] })
    .then((r) => {
      for (const u of r.users || []) {
        state.presence.set(u.user_id, u);
        if (u.user_id === state.me.user_id) renderMyStatus(u);
      }
      renderConversations();
      renderChatHeader();
    })
    .catch(fail('Presence'));
}

function loadCalls() {
  return request({ type: 'call_history', limit: 20 })
    .then((r) => {
      state.calls = r.calls || [];
      renderCalls();
    })
    .catch(fail('Call history'));
}

// ---- dispatch --------------------------------------------------------------------

const handlers = {
  // A session ends with its token. One from GET /dev/token is renewed the same way and
  // handed over with `refresh`; a pasted token cannot be renewed here.
  token_expiring: async (f) => {
    if (!state.devLogin) {
      logEvent(`token expires at ${f.exp}: log in again to stay`);
      toast(`Your session ends at ${timeOf(f.exp)}: log in again with a new token to stay.`, 'info');
      return;
    }
    try {
      const t = await mintDevToken(state.me.user_id, state.me.name, state.me.role);
      await request({ type: 'refresh', token: t });
      state.token = t;
      saveSession();
      logEvent('token refreshed');
    } catch (e) {
      fail('Renewing the session')(e);
    }
  },
  conversation_created: (f) => {
    addConversation(f.conversation);
    renderConversations();
    loadPresence();
  },
  new_message: (f) => addMessage(f.message),
  message_updated: (f) => addMessage(f.message),
  message_deleted: (f) => addMessage(f.message),
  reaction: (f) => onReaction(f),
  user_typing: (f) => showTyping(f.conversation_id, f.user_id, f.is_typing),
  read_receipt: (f) => {
    if (!state.reads.has(f.conversation_id)) state.reads.set(f.conversation_id, new Map());
    const m = state.reads.get(f.conversation_id);
    m.set(f.user_id, Math.max(m.get(f.user_id) || 0, f.seq));
    if (f.user_id === state.me.user_id) {
      const c = state.conversations.get(f.conversation_id);
      if (c) c.unread_count = Math.max(0, (c.last_seq || 0) - f.seq);
      renderConversations();
    }
    if (f.conversation_id === state.current) renderMessages({ keepScroll: true });
  },
  participants_changed: (f) => {
    const c = state.conversations.get(f.conversation_id);
    if (!c) return;
    const set = new Set(c.participants || []);
    for (const u of f.added || []) set.add(u);
    for (const u of f.removed || []) set.delete(u);
    c.participants = [...set];
    renderConversations();
    renderChatHeader();
  },
  status_change: (f) => {
    state.presence.set(f.user_id, f);
    if (f.user_id === state.me.user_id) renderMyStatus(f);
    if (f.role === 'mentor' || f.role === 'admin') {
      const known = state.mentors.get(f.user_id);
      state.mentors.set(f.user_id, { ...(known || { user_id: f.user_id }), ...f });
      if (!known) loadMentors(); // a new mentor: fetch the directory for their name
    }
    renderMentors();
    renderConversations();
    renderChatHeader();
  },
  user_online: (f) => {
    const p = state.presence.get(f.user_id) || {};
    if (!p.status || p.status === 'offline') state.presence.set(f.user_id, { ...p, status: 'online', last_seen: null });
    renderMentors();
    renderConversations();
    renderChatHeader();
  },
  user_offline: (f) => {
    state.presence.set(f.user_id, { ...(state.presence.get(f.user_id) || {}), status: 'offline', last_seen: f.last_seen });
    const m = state.mentors.get(f.user_id);
    if (m) Object.assign(m, { status: 'offline', last_seen: f.last_seen });
    renderMentors();
    renderConversations();
    renderChatHeader();
  },
  help_request: (f) => {
    learnName(f.student_id, f.student_name);
    state.help.set(f.request_id, { ...f, side: 'mentor', state: 'offered' });
    renderHelp();
    flagTab('help');
    toast(`Help request from ${nameOf(f.student_id)}: ${f.topic}`, 'info');
  },
  help_accepted: (f) => {
    learnName(f.mentor_id, f.mentor_name);
    updateHelp(f.request_id, { state: 'accepted', mentor_id: f.mentor_id });
  },
  help_declined: (f) => updateHelp(f.request_id, { state: 'declined', mentor_id: f.mentor_id }),
  help_expired: (f) => updateHelp(f.request_id, { state: 'expired' }),
  help_request_closed: (f) => updateHelp(f.request_id, { state: f.reason || 'closed' }),
  help_ended: (f) => updateHelp(f.request_id, { state: 'ended', ended_by: f.ended_by }),
  incoming_call: (f) => {
    learnName(f.caller_id, f.caller_name);
    onIncomingCall(f);
  },
  call_accepted: (f) => onCallAccepted(f),
  call_rejected: (f) => onCallGone(f, f.reason === 'busy' ? 'busy' : 'rejected'),
  call_ended: (f) => onCallGone(f, f.reason || 'hangup'),
  call_signal: (f) => onSignal(f),
};

function onFrame(f) {
  if (f.id !== undefined && state.pending.has(f.id)) {
    const p = state.pending.get(f.id);
    state.pending.delete(f.id);
    if (f.type === 'error') p.reject(Object.assign(new Error(f.message), { code: f.code, retryAfterMs: f.retry_after_ms }));
    else p.resolve(f);
    // An answer may also be an event the page shows (status_change, call_accepted …).
    if (['status_change', 'call_accepted', 'message_updated', 'message_deleted', 'reaction'].includes(f.type)) {
      handlers[f.type](f);
    }
    return;
  }
  if (f.type === 'error') {
    toast(friendly(f, 'The server'));
    return;
  }
  const h = handlers[f.type];
  if (h) {
    if (!['user_typing', 'call_signal'].includes(f.type)) logEvent(f.type);
    h(f);
  }
}

// ---- conversations and messages --------------------------------------------------

function convTitle(c) {
  if (c.title) return c.title;
  const others = (c.participants || []).filter((p) => p !== state.me.user_id);
  return others.map(nameOf).join(', ') || 'just you';
}

function statusOf(uid) {
  const p = state.presence.get(uid);
  return (p && p.status) || 'offline';
}

// Known to presence, offline, and no last_seen: this user id has never connected.
function neverSeen(uid) {
  const p = state.presence.get(uid);
  return !!p && p.status === 'offline' && !p.last_seen;
}

function typingIn(conv) {
  const m = state.typing.get(conv);
  return m ? [...m.keys()] : [];
}

function renderConversations() {
  const list = $('conv-list');
  list.replaceChildren();
  const at = (c) => (c.last_at ? Date.parse(c.last_at) : 0);
  const convs = [...state.conversations.values()].sort((a, b) => at(b) - at(a) || b.conversation_id - a.conversation_id);
  for (const c of convs) {
    const others = (c.participants || []).filter((p) => p !== state.me.user_id);
    const typers = typingIn(c.conversation_id);
    const sub = typers.length ? `${typers.map(nameOf).join(', ')} typing…` : c.preview ? clip(c.preview, 60) : 'no messages yet';
    const li = el('li', { class: c.conversation_id === state.current ? 'active' : '', 'data-conversation': c.conversation_id,
      'data-testid': 'conv', onclick: () => openConversation(c.conversation_id) },
    others.length === 1 ? el('span', { class: `dot ${statusOf(others[0])}`, title: statusOf(others[0]) }) : null,
    el('span', { class: 'name', text: convTitle(c) }),
    el('span', { class: 'when', text: whenOf(c.last_at) }),
    c.unread_count ? el('span', { class: 'badge', 'data-testid': 'unread', text: String(c.unread_count) }) : null,
    el('span', { class: `sub${typers.length ? ' typing-now' : ''}`, 'data-testid': 'conv-sub', text: sub }));
    list.append(li);
  }
  $('conv-empty').textContent = state.me?.role === 'student'
    ? 'No conversations yet. Pick a mentor above and press Chat.'
    : 'No conversations yet. Students who write to you appear here.';
  $('conv-empty').classList.toggle('hidden', convs.length > 0);
  let unread = 0;
  for (const c of convs) if (c.conversation_id !== state.current) unread += c.unread_count || 0;
  $('tab-people').dataset.flag = unread ? 'true' : 'false';
}

function renderChatHeader() {
  const c = state.conversations.get(state.current);
  const sub = $('chat-sub');
  const warn = $('chat-warn');
  if (!c) {
    $('chat-title').textContent = 'No conversation open';
    sub.textContent = state.me?.role === 'student' ? 'Choose a mentor or a conversation to start.' : 'Choose a conversation to start.';
    warn.classList.add('hidden');
    return;
  }
  $('chat-title').textContent = convTitle(c);
  const others = (c.participants || []).filter((p) => p !== state.me.user_id);
  if (others.length === 1) {
    const p = state.presence.get(others[0]) || {};
    const s = statusOf(others[0]);
    sub.textContent = s === 'offline'
      ? (p.last_seen ? `offline · last seen ${whenOf(p.last_seen)} ${timeOf(p.last_seen)}` : 'offline')
      : `${s}${p.status_message ? ` — ${p.status_message}` : ''}`;
  } else sub.textContent = `${others.length + 1} people: ${['you', ...others.map(nameOf)].join(', ')}`;
  const unseen = others.filter(neverSeen);
  warn.textContent = unseen.length
    ? `${unseen.map(nameOf).join(', ')} ${unseen.length > 1 ? 'have' : 'has'} never connected to Parley. Check the user id; messages wait until they log in.`
    : '';
  warn.classList.toggle('hidden', unseen.length === 0);
}

async function openConversation(id, opts = {}) {
  if (state.current !== id) setCompose(null);
  state.current = id;
  const c = state.conversations.get(id);
  if (c) c.unread_count = c.unread_count || 0;
  $('composer-input').disabled = false;
  $('send').disabled = false;
  $('attach').disabled = false;
  renderChatHeader();
  renderConversations();
  renderTyping();
  renderMessages();
  if (!opts.keepTab) showTab('chat');
  saveSession();
  try {
    const h = await request({ type: 'history', conversation_id: id, limit: 50 });
    mergeMessages(id, h.messages);
    if (!state.hasOlder.has(id) || (state.messages.get(id) || []).filter((m) => m.seq)[0]?.seq === h.messages[0]?.seq) {
      state.hasOlder.set(id, !!h.has_more);
    }
    if (state.current === id) {
      renderMessages();
      markRead();
    }
  } catch (e) {
    fail('Loading the conversation')(e);
  }
}

function mergeMessages(id, messages) {
  const have = state.messages.get(id) || [];
  const bySeq = new Map(have.filter((m) => m.seq).map((m) => [m.seq, m]));
  for (const m of messages) bySeq.set(m.seq, m);
  const pendings = have.filter((m) => !m.seq);
  const list = [...bySeq.values()].sort((a, b) => a.seq - b.seq).concat(pendings);
  state.messages.set(id, list);
  const last = list.filter((m) => m.seq).at(-1);
  if (last) notePreview(last);
}

async function loadOlder() {
  const id = state.current;
  const oldest = (state.messages.get(id) || []).find((m) => m.seq);
  if (!oldest) return;
  const btn = $('load-older');
  btn.disabled = true;
  try {
    const h = await request({ type: 'history', conversation_id: id, before_seq: oldest.seq, limit: 50 });
    mergeMessages(id, h.messages);
    state.hasOlder.set(id, !!h.has_more);
    if (state.current === id) {
      const ol = $('messages');
      const fromBottom = ol.scrollHeight - ol.scrollTop;
      renderMessages({ keepScroll: true });
      ol.scrollTop = ol.scrollHeight - fromBottom;
    }
  } catch (e) {
    fail('Loading older messages')(e);
  } finally {
    btn.disabled = false;
  }
}

function addMessage(m) {
  const list = state.messages.get(m.conversation_id) || [];
  const i = list.findIndex((x) => (x.message_id && x.message_id === m.message_id) || (m.temp_id && x.temp_id === m.temp_id && x.sender_id === m.sender_id));
  if (i >= 0) list[i] = { ...list[i], ...m };
  else list.push(m);
  list.sort((a, b) => (a.seq || Infinity) - (b.seq || Infinity));
  state.messages.set(m.conversation_id, list);
  const c = state.conversations.get(m.conversation_id);
  if (c && m.seq > (c.last_seq || 0)) {
    c.last_seq = m.seq;
    if (m.sender_id !== state.me.user_id && (m.conversation_id !== state.current || !chatVisible())) c.unread_count = (c.unread_count || 0) + 1;
  }
  if (m.seq) notePreview(m);
  else if (c) Object.assign(c, { last_at: m.created_at, preview: `You: ${m.content}` });
  if (m.sender_id !== state.me.user_id) showTyping(m.conversation_id, m.sender_id, false);
  renderConversations();
  if (m.conversation_id === state.current) {
    renderMessages({ keepScroll: i >= 0 });
    markRead();
  }
}

function onReaction(f) {
  const m = (state.messages.get(f.conversation_id) || []).find((x) => x.message_id === f.message_id);
  if (!m) return;
  const rs = (m.reactions || []).map((r) => ({ ...r, user_ids: [...(r.user_ids || [])] }));
  let r = rs.find((x) => x.emoji === f.emoji);
  if (f.added) {
    if (!r) rs.push(r = { emoji: f.emoji, count: 0, user_ids: [] });
    if (!r.user_ids.includes(f.user_id)) r.user_ids.push(f.user_id);
  } else if (r) r.user_ids = r.user_ids.filter((u) => u !== f.user_id);
  if (r) r.count = r.user_ids.length;
  m.reactions = rs.filter((x) => x.count > 0);
  if (f.conversation_id === state.current) renderMessages({ keepScroll: true });
}

// On a phone only one panel shows: the chat is "visible" when its tab is selected.
function chatVisible() {
  return document.visibilityState !== 'hidden' && (!isNarrow() || document.querySelector('.app').dataset.tab === 'chat');
}

function markRead() {
  const list = state.messages.get(state.current) || [];
  const last = list.filter((m) => m.seq).at(-1);
  if (!last || !chatVisible()) return;
  const c = state.conversations.get(state.current);
  if (c && c.read_seq >= last.seq) return;
  if (c) {
    c.read_seq = last.seq;
    c.unread_count = 0;
  }
  send({ type: 'mark_read', conversation_id: state.current, seq: last.seq });
  renderConversations();
}

function safeUrl(u) {
  try {
    const x = new URL(u);
    return x.protocol === 'http:' || x.protocol === 'https:' ? x.href : null;
  } catch {
    return null;
  }
}

function renderMessages(opts = {}) {
  const ol = $('messages');
  const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
  const list = state.messages.get(state.current) || [];
  const byId = new Map(list.filter((m) => m.message_id).map((m) => [m.message_id, m]));
  const reads = state.reads.get(state.current) || new Map();
  // Highest seq any other participant has read.
  let readUpTo = 0;
  for (const [uid, seq] of reads) if (uid !== state.me.user_id) readUpTo = Math.max(readUpTo, seq);
  ol.replaceChildren();
  $('load-older').classList.toggle('hidden', !state.hasOlder.get(state.current));
  $('messages-empty').classList.toggle('hidden', !state.current || list.length > 0);
  for (const m of list) {
    const mine = m.sender_id === state.me.user_id;
    const read = mine && m.seq && m.seq <= readUpTo;
    const meta = [mine ? 'you' : nameOf(m.sender_id), timeOf(m.created_at)];
    if (m.edited_at && !m.deleted) meta.push('edited');
    if (mine && !m.deleted) meta.push(!m.seq ? 'sending…' : read ? '✓✓ read' : '✓ sent');
    let quote = null;
    if (m.reply_to_id) {
      const q = byId.get(m.reply_to_id);
      quote = el('a', { class: 'quote', href: `#m${m.reply_to_id}`, 'data-testid': 'quote',
        text: q ? `↪ ${nameOf(q.sender_id)}: ${q.deleted ? '(deleted)' : clip(q.content, 80)}` : '↪ an earlier message' });
    }
    const atts = (m.attachments || []).map((a) => {
      const href = safeUrl(a.url);
      const label = `↗ ${a.name || a.url}`;
      return href ? el('a', { class: 'attachment', href, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'attachment', text: label })
        : el('span', { class: 'attachment', text: label });
    });
    const reactions = (m.reactions || []).filter((r) => r.count > 0).map((r) => {
      const mineR = (r.user_ids || []).includes(state.me.user_id);
      return el('button', { class: `reaction${mineR ? ' mine' : ''}`, type: 'button', 'data-testid': 'reaction', 'data-emoji': r.emoji,
        title: (r.user_ids || []).map(nameOf).join(', '), text: `${r.emoji} ${r.count}`,
        onclick: () => react(m, r.emoji, !mineR) });
    });
    const actions = m.deleted || !m.seq ? null : el('span', { class: 'msg-actions' },
      el('button', { class: 'link', type: 'button', text: 'Reply', 'data-testid': 'msg-reply', onclick: () => setCompose({ mode: 'reply', message: m }) }),
      el('button', { class: 'link', type: 'button', text: 'React', 'data-testid': 'msg-react', onclick: (ev) => togglePicker(ev.target, m) }),
      mine ? el('button', { class: 'link', type: 'button', text: 'Edit', 'data-testid': 'msg-edit', onclick: () => setCompose({ mode: 'edit', message: m }) }) : null,
      mine ? el('button', { class: 'link danger-text', type: 'button', text: 'Delete', 'data-testid': 'msg-delete', onclick: (ev) => deleteMessage(ev.target, m) }) : null);
    ol.append(el('li', {
      id: m.message_id ? `m${m.message_id}` : null,
      class: `${mine ? 'mine' : ''} ${m.seq ? '' : 'pending'} ${m.deleted ? 'deleted' : ''}`,
      'data-seq': m.seq || '',
      'data-read': read ? 'true' : 'false',
      'data-edited': m.edited_at ? 'true' : 'false',
      'data-deleted': m.deleted ? 'true' : 'false',
      'data-testid': 'message',
    },
    quote,
    el('span', { class: 'bubble', 'data-testid': 'bubble', text: m.deleted ? 'This message was deleted' : m.content }),
    atts.length ? el('div', { class: 'attachments' }, ...atts) : null,
    reactions.length ? el('div', { class: 'reactions' }, ...reactions) : null,
    el('div', { class: 'meta', 'data-testid': 'meta', text: meta.join(' · ') }),
    actions));
  }
  if (!opts.keepScroll || atBottom) ol.scrollTop = ol.scrollHeight;
}

function togglePicker(anchor, m) {
  const li = anchor.closest('li');
  const open = li.querySelector('.picker');
  if (open) return open.remove();
  const mineOf = (e) => (m.reactions || []).some((r) => r.emoji === e && (r.user_ids || []).includes(state.me.user_id));
  li.append(el('div', { class: 'picker', 'data-testid': 'picker' },
    ...EMOJI.map((e) => el('button', { class: 'small ghost', type: 'button', 'data-emoji': e, text: e,
      onclick: () => react(m, e, !mineOf(e)) }))));
}

function react(m, emoji, add) {
  request({ type: add ? 'react' : 'unreact', message_id: m.message_id, emoji })
    .catch(fail('Reacting', 'This message was deleted, or you have used every reaction you may.'));
}

function deleteMessage(btn, m) {
  // Two steps, no dialog: the first press asks, the second deletes.
  if (btn.dataset.armed !== 'true') {
    btn.dataset.armed = 'true';
    btn.textContent = 'Delete?';
    setTimeout(() => { btn.dataset.armed = 'false'; btn.textContent = 'Delete'; }, 4000);
    return;
  }
  request({ type: 'delete_message', message_id: m.message_id }).catch(fail('Deleting'));
}

// The composer answers, edits or writes a new message; the bar above it says which.
function setCompose(c) {
  state.compose = c;
  const bar = $('compose-bar');
  const input = $('composer-input');
  if (!c) {
    bar.classList.add('hidden');
    if ($('send').textContent === 'Save') input.value = '';
    $('send').textContent = 'Send';
    return;
  }
  bar.classList.remove('hidden');
  $('compose-what').textContent = c.mode === 'edit'
    ? 'Editing your message'
    : `Replying to ${nameOf(c.message.sender_id)}: ${clip(c.message.content, 60)}`;
  $('send').textContent = c.mode === 'edit' ? 'Save' : 'Send';
  if (c.mode === 'edit') input.value = c.message.content;
  input.focus();
}

function renderAttachments() {
  const box = $('attach-list');
  box.replaceChildren(...state.attachments.map((a, i) => el('span', { class: 'chip' }, `↗ ${a.name}`,
    el('button', { class: 'link', type: 'button', text: '×', title: 'remove', onclick: () => { state.attachments.splice(i, 1); renderAttachments(); } }))));
  box.classList.toggle('hidden', state.attachments.length === 0);
}

const MIME = { pdf: 'application/pdf', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif',
  txt: 'text/plain', md: 'text/markdown', zip: 'application/zip', mp4: 'video/mp4', mp3: 'audio/mpeg' };

function guessMime(name) {
  const ext = /\.([a-z0-9]+)$/i.exec(name);
  return (ext && MIME[ext[1].toLowerCase()]) || 'application/octet-stream';
}

function addAttachment() {
  const url = $('attach-url').value.trim();
  const href = safeUrl(url);
  if (!href || /\s/.test(url)) {
    toast('An attachment is a link: paste a full http:// or https:// address.');
    return;
  }
  if (state.attachments.length >= 10) {
    toast('At most 10 attachments per message.');
    return;
  }
  const name = decodeURIComponent(new URL(href).pathname.split('/').filter(Boolean).pop() || new URL(href).host).slice(0, 255);
  // The protocol wants {url, name, mime, size} (all four): a link has no known size
  // (0) and its type is guessed from the name.
  state.attachments.push({ url, name, mime: guessMime(name), size: 0 });
  $('attach-url').value = '';
  $('attach-row').classList.add('hidden');
  renderAttachments();
}

async function submitComposer() {
  const input = $('composer-input');
  const text = input.value;
  const c = state.compose;
  if (!state.current) return;
  if (c && c.mode === 'edit') {
    if (!text.trim()) return toast('The message cannot be empty: use Delete to remove it.');
    if (text === c.message.content) return setCompose(null);
    try {
      await request({ type: 'edit_message', message_id: c.message.message_id, content: text });
      input.value = '';
      setCompose(null);
    } catch (e) {
      fail('Editing', 'This message was deleted meanwhile.')(e);
    }
    return;
  }
  const atts = state.attachments.splice(0);
  renderAttachments();
  if (!text.trim() && !atts.length) return;
  input.value = '';
  const replyTo = c && c.mode === 'reply' ? c.message.message_id : null;
  setCompose(null);
  // content may not be empty: a message with only links says what it carries.
  sendMessage(text.trim() ? text : atts.map((a) => a.name).join(', '), replyTo, atts);
}

async function sendMessage(text, replyTo, attachments) {
  const conv = state.current;
  const tempId = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const extra = {};
  if (replyTo) extra.reply_to_id = replyTo;
  if (attachments && attachments.length) extra.attachments = attachments;
  const local = { conversation_id: conv, sender_id: state.me.user_id, content: text, temp_id: tempId,
    created_at: new Date().toISOString(), reply_to_id: replyTo || null, attachments: attachments || [], reactions: [] };
  addMessage(local);
  stopTyping();
  // Retrying with the same temp_id is safe: the server stores the message once.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const r = await request({ type: 'message', conversation_id: conv, content: text, temp_id: tempId, ...extra });
      addMessage({ ...local, message_id: r.message_id, seq: r.seq, created_at: r.created_at });
      const c = state.conversations.get(conv);
      if (c) c.read_seq = Math.max(c.read_seq || 0, r.seq);
      return;
    } catch (e) {
      if (!['unavailable', 'overloaded', 'timeout', 'closed'].includes(e.code)) {
        dropPending(conv, tempId);
        return fail('Sending')(e);
      }
      // overloaded: refused without being stored; the server says when to come back
      const wait = e.code === 'overloaded' && e.retryAfterMs > 0 ? e.retryAfterMs : 1000 * (attempt + 1);
      await new Promise((res) => setTimeout(res, wait));
    }
  }
  toast('Message not sent: the server is unavailable. Try again in a moment.');
}

function dropPending(conv, tempId) {
  state.messages.set(conv, (state.messages.get(conv) || []).filter((m) => m.seq || m.temp_id !== tempId));
  if (conv === state.current) renderMessages({ keepScroll: true });
}

// ---- typing ----------------------------------------------------------------------

function onComposerInput() {
  if (!state.current || state.compose?.mode === 'edit') return;
  const now = Date.now();
  if (now - state.typingSent > 3000) {
    send({ type: 'typing_start', conversation_id: state.current });
    state.typingSent = now;
  }
  clearTimeout(state.typingStopTimer);
  state.typingStopTimer = setTimeout(stopTyping, 2500);
}

function stopTyping() {
  clearTimeout(state.typingStopTimer);
  if (state.typingSent && state.current) send({ type: 'typing_stop', conversation_id: state.current });
  state.typingSent = 0;
}

function showTyping(conv, uid, on) {
  if (uid === state.me.user_id) return;
  if (!state.typing.has(conv)) state.typing.set(conv, new Map());
  const m = state.typing.get(conv);
  const had = m.has(uid);
  clearTimeout(m.get(uid));
  if (on) m.set(uid, setTimeout(() => showTyping(conv, uid, false), 8000)); // in case the stop is lost
  else m.delete(uid);
  if (conv === state.current) renderTyping();
  if (had !== !!on) renderConversations();
}

function renderTyping() {
  const who = typingIn(state.current).map(nameOf);
  $('typing').textContent = who.length ? `${who.join(', ')} ${who.length > 1 ? 'are' : 'is'} typing…` : '';
}

// ---- presence --------------------------------------------------------------------

// The form shows the status the server has for us, so "Set" changes only what was edited.
// A mentor in a help session or a call shows `busy` and gets their chosen status back
// afterwards (the server does that): the form keeps the chosen one (state.chosen, what
// this user last picked or last had other than busy), so Set does not make busy stick.
function renderMyStatus(f) {
  if (f.status !== 'busy' || !state.chosen) state.chosen = f.status;
  const auto = f.status === 'busy' && state.chosen !== 'busy' && state.me.role !== 'student';
  const text = f.status === 'offline'
    ? 'You are invisible: others see you offline'
    : auto ? `You are busy for now (in a session or call), then ${state.chosen === 'offline' ? 'invisible' : state.chosen} again`
      : `You are ${f.status}`;
  $('my-status').textContent = `${text}${f.status_message ? ` — ${f.status_message}` : ''}`;
  $('my-status').dataset.status = f.status;
  const sel = $('status-select');
  const show = auto ? state.chosen : f.status;
  if (document.activeElement !== sel && [...sel.options].some((o) => o.value === show && !o.classList.contains('hidden'))) sel.value = show;
  const msg = $('status-message');
  if (document.activeElement !== msg) msg.value = f.status_message || '';
  state.presence.set(f.user_id, { ...(state.presence.get(f.user_id) || {}), ...f });
  renderHelp(); // a mentor's empty list says whether they can receive requests
}

function setMyStatus(status, message) {
  // A status change without status_message clears it: the box holds the current one,
  // so an empty box means the user emptied it.
  const body = message ? { status_message: message } : {};
  let req;
  if (status === 'available') req = { type: 'mentor_available', ...body };
  else if (status === 'busy' && state.me.role !== 'student') req = { type: 'mentor_busy', ...body };
  else req = { type: 'set_status', status, ...body };
  request(req).then((r) => {
    state.chosen = r.status;
    renderMyStatus(r);
  }).catch(fail('Setting your status'));
}

function renderMentors() {
  const list = $('mentor-list');
  list.replaceChildren();
  const onlyAvailable = $('available-only').checked;
  const mentors = [...state.mentors.values()]
    .filter((m) => m.user_id !== state.me.user_id)
    .filter((m) => !onlyAvailable || m.status === 'available')
    .sort((a, b) => (a.status === 'offline') - (b.status === 'offline') || String(a.name || a.user_id).localeCompare(b.name || b.user_id));
  // Two mentors may share a name: then their ids tell them apart.
  const seen = new Map();
  for (const m of mentors) seen.set(m.name || m.user_id, (seen.get(m.name || m.user_id) || 0) + 1);
  const label = (m) => (m.name && seen.get(m.name) > 1 ? `${m.name} (${m.user_id})` : m.name || m.user_id);
  for (const m of mentors) {
    const status = m.status || 'offline';
    list.append(el('li', { 'data-user': m.user_id, 'data-status': status, 'data-testid': 'mentor' },
      el('span', { class: `dot ${status}`, title: status }),
      el('span', { class: 'name', text: label(m), onclick: () => chatWith([m.user_id]) }),
      el('span', { class: 'actions' },
        el('button', { class: 'small ghost', type: 'button', text: 'Chat', 'data-testid': 'mentor-chat', onclick: () => chatWith([m.user_id]) }),
        el('button', { class: 'small ghost', type: 'button', text: 'Audio', 'data-testid': 'mentor-audio', onclick: () => startCall(m.user_id, 'audio') }),
        el('button', { class: 'small ghost', type: 'button', text: 'Video', 'data-testid': 'mentor-video', onclick: () => startCall(m.user_id, 'video') })),
      el('span', { class: 'sub', 'data-testid': 'mentor-status', text: `${status}${m.status_message ? ` — ${m.status_message}` : ''}${status === 'offline' && m.last_seen ? ` · last seen ${whenOf(m.last_seen)} ${timeOf(m.last_seen)}` : ''}` })));
  }
  const mentor = state.me.role !== 'student';
  $('mentor-empty').textContent = onlyAvailable
    ? (mentor ? 'No other mentor is available right now.' : 'No mentor is available right now. Ask for help anyway: your request waits for one.')
    : (mentor ? 'No other mentor has connected yet.' : 'No mentor has connected yet.');
  $('mentor-empty').classList.toggle('hidden', mentors.length > 0);
  // The help form's mentor choice follows the directory.
  const sel = $('help-mentor');
  const chosen = sel.value;
  sel.replaceChildren(el('option', { value: '', text: 'any available mentor' }));
  for (const m of mentors) sel.append(el('option', { value: m.user_id, text: `${label(m)} (${m.status || 'offline'})` }));
  sel.value = [...sel.options].some((o) => o.value === chosen) ? chosen : '';
}

async function chatWith(userIds) {
  try {
    const r = await request({ type: 'create_conversation', participants: userIds, kind: userIds.length > 1 ? 'group' : 'direct' });
    const c = r.conversation;
    addConversation(c);
    openConversation(c.conversation_id);
    // Presence tells whether these ids ever connected (a typo is the usual reason not).
    await loadPresence();
    const unseen = userIds.filter(neverSeen);
    if (unseen.length) toast(`${unseen.join(', ')} ${unseen.length > 1 ? 'have' : 'has'} never connected: check the user id.`, 'info');
  } catch (e) {
    fail('Starting the conversation')(e);
  }
}

// ---- help requests ---------------------------------------------------------------

function updateHelp(id, changes) {
  const h = state.help.get(id) || { request_id: id, side: state.me.role === 'student' ? 'student' : 'mentor' };
  state.help.set(id, { ...h, ...changes });
  renderHelp();
  flagTab('help');
  saveSession();
}

const HELP_STATES = {
  waiting: 'waiting for a mentor', offered: 'waiting for you', accepted: 'in session', declined: 'declined',
  expired: 'expired: no mentor took it in time', taken: 'taken by another mentor', cancelled: 'cancelled', ended: 'ended', closed: 'closed',
};

function renderHelp() {
  if (!state.me) return;
  const list = $('help-list');
  list.replaceChildren();
  const items = [...state.help.values()].sort((a, b) => Number(b.request_id) - Number(a.request_id));
  for (const h of items) {
    const actions = el('span', { class: 'actions' });
    const btn = (text, testid, fn, cls = 'small') => actions.append(el('button', { class: cls, type: 'button', text, 'data-testid': testid, onclick: fn }));
    const other = h.side === 'student' ? h.mentor_id : h.student_id;
    if (h.side === 'mentor' && h.state === 'offered') {
      btn('Accept', 'help-accept', () => request({ type: 'accept_help', request_id: h.request_id })
        .then((r) => {
          learnName(r.student_id, r.student_name);
          updateHelp(h.request_id, { state: 'accepted', student_id: r.student_id || h.student_id });
        })
        .catch((e) => {
          fail('Accepting', 'Too late: another mentor took this request, or it was closed.')(e);
          if (e.code === 'conflict') updateHelp(h.request_id, { state: 'closed' });
        }));
      btn('Decline', 'help-decline', () => request({ type: 'decline_help', request_id: h.request_id })
        .then(() => updateHelp(h.request_id, { state: 'declined' })).catch(fail('Declining')), 'small ghost');
    }
    if (h.side === 'student' && h.state === 'waiting') {
      btn('Cancel', 'help-cancel', () => request({ type: 'cancel_help', request_id: h.request_id })
        .then(() => updateHelp(h.request_id, { state: 'cancelled' })).catch(fail('Cancelling', 'A mentor has just taken it.')), 'small ghost');
    }
    if (h.state === 'accepted') {
      if (other) btn('Chat', 'help-chat', () => chatWith([other]), 'small ghost');
      if (other) btn('Audio', 'help-audio', () => startCall(other, 'audio'), 'small ghost');
      if (other) btn('Video', 'help-call', () => startCall(other, 'video'), 'small ghost');
      btn('End', 'help-end', () => request({ type: 'end_help', request_id: h.request_id })
        .then(() => updateHelp(h.request_id, { state: 'ended' })).catch(fail('Ending the session', 'The session had already ended.')), 'small ghost');
    }
    const who = h.side === 'mentor' ? `from ${nameOf(h.student_id)}` : other ? `with ${nameOf(other)}` : '';
    list.append(el('li', { 'data-request': h.request_id, 'data-state': h.state, 'data-testid': 'help-item' },
      el('span', { class: 'name', text: h.topic || `request ${h.request_id}` }),
      actions,
      el('span', { class: 'sub', text: `${HELP_STATES[h.state] || h.state}${who ? ` · ${who}` : ''}${h.message ? ` — ${h.message}` : ''}` })));
  }
  const me = state.presence.get(state.me.user_id);
  $('help-empty').textContent = state.me.role === 'student'
    ? 'No help request yet. Ask above: an available mentor picks it up.'
    : me && me.status === 'available' ? 'No help requests waiting.' : 'No help requests. Set your status to available to receive them.';
  $('help-empty').classList.toggle('hidden', items.length > 0);
}

async function requestHelp(topic, message, mentorId) {
  if (!topic) return toast('Give your request a topic (up to 200 characters).');
  const body = { type: 'student_request_help', topic };
  if (message) body.message = message;
  if (mentorId) body.mentor_id = mentorId;
  try {
    const r = await request(body);
    state.help.set(r.request_id, { request_id: r.request_id, side: 'student', topic, message, mentor_id: mentorId || null, state: 'waiting' });
    renderHelp();
    saveSession();
    $('help-topic').value = '';
    $('help-message').value = '';
  } catch (e) {
    fail('Help request', 'You already have an open help request: cancel or end it first.')(e);
  }
}

// ---- calls (WebRTC) --------------------------------------------------------------
//
// The caller sends the offer once the call is accepted; the callee answers it. ICE
// candidates go both ways as they are found; those that arrive before the remote
// description is set wait in `call.early`. After a reload a side comes back with a new
// RTCPeerConnection and sends an offer marked `restart`: the other side replaces its
// peer connection and answers. If both offer at once the callee gives way ("polite").

function callReasonText(reason, peer) {
  const who = nameOf(peer);
  return {
    hangup: 'Call ended', disconnected: 'Call ended: the connection was lost', rejected: `${who} declined the call`,
    busy: `${who} is busy (in another call or session)`, offline: `${who} is offline`, missed: 'No answer',
    cancelled: 'Call cancelled', answered_elsewhere: 'Answered on another device',
  }[reason] || `Call ended (${reason})`;
}

function setCallState(s, text) {
  const p = $('call-state');
  p.dataset.state = s;
  p.textContent = text || s;
}

async function getMedia(media) {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: media === 'video' });
  } catch (e) {
    if (media === 'video') {
      try {
        return await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch { /* fall through */ }
    }
    toast(`No camera or microphone (${e.name}): you can hear and see, not be heard.`, 'info');
    return null;
  }
}

function showCall(peer, media) {
  const box = $('call');
  box.classList.remove('hidden');
  box.classList.toggle('audio', media === 'audio');
  box.dataset.media = media;
  $('hangup').textContent = 'Hang up';
  $('call-peer').textContent = `${media === 'video' ? 'Video' : 'Audio'} call with ${nameOf(peer)}`;
  $('call-avatar').textContent = (nameOf(peer) || '?').slice(0, 1).toUpperCase();
  $('call-avatar-name').textContent = nameOf(peer);
}

async function startCall(peer, media) {
  if (state.call) return toast('You are already in a call.');
  state.call = { call_id: null, peer, media, role: 'caller', pc: null, early: [], stream: null, restarts: new Set() };
  setCallMini(false);
  showCall(peer, media);
  setCallState('calling', 'calling…');
  const call = state.call;
  call.stream = await getMedia(media);
  if (state.call !== call) return stopStream(call.stream);
  $('local-video').srcObject = call.stream;
  try {
    const r = await request({ type: 'initiate_call', callee_id: peer, media });
    call.call_id = r.call_id;
    saveSession();
    if (state.call === call && $('call-state').dataset.state === 'calling') setCallState('ringing', 'ringing…');
  } catch (e) {
    fail('Calling', 'You are already in a call.')(e);
    endCall(null, true);
  }
}

function onIncomingCall(f) {
  if (state.call || (state.incoming && state.incoming.call_id !== f.call_id)) {
    send({ type: 'reject_call', call_id: f.call_id, reason: 'busy' });
    return;
  }
  state.incoming = f;
  $('incoming-text').textContent = `${f.media === 'video' ? 'Video' : 'Audio'} call from ${nameOf(f.caller_id)}${f.caller_role ? ` (${f.caller_role})` : ''}`;
  $('incoming').classList.remove('hidden');
}

async function acceptIncoming() {
  const f = state.incoming;
  state.incoming = null;
  $('incoming').classList.add('hidden');
  if (!f) return;
  state.call = { call_id: f.call_id, peer: f.caller_id, media: f.media, role: 'callee', pc: null, early: [], stream: null, restarts: new Set() };
  const call = state.call;
  setCallMini(false);
  showCall(f.caller_id, f.media);
  setCallState('connecting', 'connecting…');
  call.stream = await getMedia(f.media);
  $('local-video').srcObject = call.stream;
  // Ready for the caller's offer before we say yes.
  makePeer(call);
  try {
    await request({ type: 'accept_call', call_id: f.call_id });
    saveSession();
  } catch (e) {
    fail('Answering', 'The call was answered elsewhere or has ended.')(e);
    endCall(null, true);
  }
}

function rejectIncoming() {
  const f = state.incoming;
  state.incoming = null;
  $('incoming').classList.add('hidden');
  if (f) send({ type: 'reject_call', call_id: f.call_id, id: state.nextId++ });
}

function makePeer(call) {
  if (call.pc) call.pc.close();
  const pc = new RTCPeerConnection({ iceServers: CONFIG.iceServers });
  call.pc = pc;
  call.early = [];
  if (call.stream) for (const t of call.stream.getTracks()) pc.addTrack(t, call.stream);
  else {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    if (call.media === 'video') pc.addTransceiver('video', { direction: 'recvonly' });
  }
  pc.onicecandidate = (ev) => {
    if (ev.candidate && call.call_id && call.pc === pc) send({ type: 'call_signal', call_id: call.call_id, signal: { candidate: ev.candidate.toJSON() } });
  };
  pc.ontrack = (ev) => {
    const v = $('remote-video');
    if (v.srcObject !== ev.streams[0]) v.srcObject = ev.streams[0] || new MediaStream([ev.track]);
  };
  pc.onconnectionstatechange = () => {
    if (state.call !== call || call.pc !== pc) return;
    const s = pc.connectionState;
    if (s === 'connected') {
      if ($('call-state').dataset.state !== 'connected') loadCalls(); // shows it "in progress"
      setCallState('connected', 'connected');
    }
    else if (s === 'failed') setCallState('failed', 'media failed (no route between the browsers)');
    else if (s === 'disconnected') setCallState('connecting', 'reconnecting…');
  };
  return pc;
}

async function sendOffer(call, opts = {}) {
  const pc = call.pc;
  call.makingOffer = true;
  try {
    const offer = await pc.createOffer(opts.iceRestart ? { iceRestart: true } : {});
    await pc.setLocalDescription(offer);
    send({ type: 'call_signal', call_id: call.call_id, signal: { type: offer.type, sdp: offer.sdp, ...(opts.restart ? { restart: opts.restart } : {}) } });
  } finally {
    call.makingOffer = false;
  }
}

async function onCallAccepted(f) {
  const call = state.call;
  if (!call || call.call_id !== f.call_id || call.role !== 'caller' || call.pc) return;
  setCallState('connecting', 'connecting…');
  makePeer(call);
  await sendOffer(call);
  saveSession();
}

async function onSignal(f) {
  const call = state.call;
  if (!call || call.call_id !== f.call_id || !call.pc) return;
  const s = f.signal || {};
  try {
    if (s.type === 'offer') {
      const collision = call.makingOffer || call.pc.signalingState !== 'stable';
      if (collision && call.role === 'caller') return; // impolite: our offer wins
      // The other side came back with a new peer connection (a reload): start afresh,
      // once per restart (the offer is repeated until answered; see sendRestartOffer).
      if (s.restart && call.restarts.has(s.restart)) {
        const d = call.pc.localDescription;
        if (d && d.type === 'answer') send({ type: 'call_signal', call_id: call.call_id, signal: { type: d.type, sdp: d.sdp } });
        return;
      }
      if (s.restart) {
        call.restarts.add(s.restart);
        makePeer(call);
      }
      else if (collision) await call.pc.setLocalDescription({ type: 'rollback' });
      const pc = call.pc;
      await pc.setRemoteDescription({ type: 'offer', sdp: s.sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      send({ type: 'call_signal', call_id: call.call_id, signal: { type: answer.type, sdp: answer.sdp } });
      for (const c of call.early.splice(0)) await pc.addIceCandidate(c);
    } else if (s.type === 'answer') {
      const pc = call.pc;
      if (pc.signalingState !== 'have-local-offer') return;
      await pc.setRemoteDescription({ type: 'answer', sdp: s.sdp });
      for (const c of call.early.splice(0)) await pc.addIceCandidate(c);
    } else if (s.candidate) {
      if (call.pc.remoteDescription) await call.pc.addIceCandidate(s.candidate);
      else call.early.push(s.candidate);
    }
  } catch (e) {
    logEvent(`signal error: ${e.message}`);
  }
}

// After a reload (state.resumeCall) or a reconnect (state.call still up), the call we
// were in may still be active: call_history says. Our new connection becomes our side
// of the call once it signals, so send an offer from it.
async function resumeCallIfAny() {
  const live = state.call && state.call.call_id ? state.call : null;
  const want = live || state.resumeCall;
  state.resumeCall = null;
  // A call ringing for us whose incoming_call went to the previous page: ring again.
  const ringing = state.calls.find((c) => c.state === 'ringing' && c.callee_id === state.me.user_id);
  if (ringing && !state.call && !state.incoming) {
    onIncomingCall({ call_id: ringing.call_id, caller_id: ringing.caller_id, media: ringing.media, conversation_id: ringing.conversation_id });
  }
  if (!want) return;
  const h = state.calls.find((c) => c.call_id === want.call_id);
  const active = h && (h.state === 'active' || (h.end_reason == null && h.answered_at));
  if (!active) {
    if (live) endCall(null, true);
    if (h && h.end_reason) {
      setCallState('ended', callReasonText(h.end_reason, want.peer));
      toast(`${callReasonText(h.end_reason, want.peer)} while the page was away.`, 'info');
    }
    saveSession();
    return;
  }
  if (live && live.pc) {
    // Same page, new connection: an ICE restart re-establishes signalling and media paths.
    logEvent('rejoining the call after a reconnect');
    await sendOffer(live, { iceRestart: true });
    return;
  }
  logEvent(`rejoining call ${want.call_id} after a reload`);
  state.call = { call_id: want.call_id, peer: want.peer, media: want.media, role: want.role, pc: null, early: [], stream: null, restarts: new Set() };
  const call = state.call;
  showCall(call.peer, call.media);
  setCallState('connecting', 'rejoining…');
  call.stream = await getMedia(call.media);
  if (state.call !== call) return stopStream(call.stream);
  $('local-video').srcObject = call.stream;
  makePeer(call);
  await sendRestartOffer(call);
}

// Our new connection becomes our side only once it signals, so an offer sent before the
// other side's page is back went to its old connection and is lost: repeat it (same
// `restart` tag, so it is answered once) until an answer comes.
async function sendRestartOffer(call) {
  const tag = `r${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  await sendOffer(call, { restart: tag });
  let tries = 0;
  const again = () => {
    const pc = call.pc;
    if (state.call !== call || !pc || pc.signalingState !== 'have-local-offer' || ++tries > 10) return;
    send({ type: 'call_signal', call_id: call.call_id, signal: { type: 'offer', sdp: pc.localDescription.sdp, restart: tag } });
    setTimeout(again, 1500);
  };
  setTimeout(again, 1500);
}

function onCallGone(f, reason) {
  if (state.incoming && state.incoming.call_id === f.call_id) {
    state.incoming = null;
    $('incoming').classList.add('hidden');
    toast(callReasonText(reason, f.caller_id || f.ended_by), 'info');
    loadCalls();
    return;
  }
  const call = state.call;
  if (!call || (call.call_id && call.call_id !== f.call_id)) return;
  const text = callReasonText(reason, call.peer);
  toast(text, 'info');
  endCall(null, true);
  setCallState('ended', text);
  $('call-state').dataset.reason = reason;
}

function setCallMini(mini) {
  $('call').classList.toggle('mini', mini);
  $('call-min').setAttribute('aria-pressed', String(mini));
  $('call-min').textContent = mini ? '▢' : '▁';
  $('call-min').title = mini ? 'Show the video' : 'Minimise';
  saveSession();
}

function stopStream(stream) {
  if (stream) for (const t of stream.getTracks()) t.stop();
}

// End our side; tell the server unless `quiet` (it told us).
function endCall(reason, quiet) {
  const call = state.call;
  if (!call) return;
  state.call = null;
  if (!quiet && call.call_id) send({ type: 'end_call', call_id: call.call_id, ...(reason ? { reason } : {}), id: state.nextId++ });
  if (call.pc) call.pc.close();
  stopStream(call.stream);
  $('remote-video').srcObject = null;
  $('local-video').srcObject = null;
  setCallState('ended', 'Call ended');
  $('hangup').textContent = 'Close';
  saveSession();
  setTimeout(() => { if (state.me) loadCalls(); }, 500);
  setTimeout(() => { if (!state.call) $('call').classList.add('hidden'); }, 4000);
}

function renderCalls() {
  if (!state.me) return;
  const list = $('call-list');
  list.replaceChildren();
  for (const c of state.calls.slice(0, 10)) {
    const out = c.caller_id === state.me.user_id;
    const peer = out ? c.callee_id : c.caller_id;
    const what = `${c.media === 'video' ? 'Video' : 'Audio'} call ${out ? 'to' : 'from'} ${nameOf(peer)}`;
    const how = c.end_reason
      ? (c.answered_at ? `${durationOf(c.duration_s)} · ${c.end_reason === 'hangup' ? 'ended' : c.end_reason}` : { missed: out ? 'no answer' : 'missed', rejected: 'declined', cancelled: 'cancelled', offline: 'offline', busy: 'busy' }[c.end_reason] || c.end_reason)
      : c.answered_at ? 'in progress' : 'ringing';
    list.append(el('li', { 'data-testid': 'call-history-item', 'data-call': c.call_id, 'data-reason': c.end_reason || '' },
      el('span', { class: 'name' },
        el('span', { class: `dir ${out ? 'out' : 'in'}${!c.answered_at && c.end_reason ? ' missed' : ''}`, text: out ? '↗ ' : '↙ ' }), what),
      el('span', { class: 'when', text: `${whenOf(c.created_at)} ${whenOf(c.created_at) === timeOf(c.created_at) ? '' : timeOf(c.created_at)}`.trim() }),
      el('span', { class: 'sub', text: how })));
  }
  $('call-empty').classList.toggle('hidden', state.calls.length > 0);
}

// ---- phone layout: one panel at a time ----------------------------------------------

function isNarrow() {
  return window.matchMedia('(max-width: 900px)').matches;
}

function showTab(name) {
  const app = document.querySelector('.app');
  app.dataset.tab = name;
  for (const b of document.querySelectorAll('#tabs button')) {
    b.setAttribute('aria-selected', b.dataset.tab === name ? 'true' : 'false');
    if (b.dataset.tab === name) b.dataset.flag = 'false';
  }
  if (name === 'chat' && state.current) markRead();
  saveSession();
}

function flagTab(name) {
  if (document.querySelector('.app').dataset.tab !== name) $(`tab-${name}`).dataset.flag = 'true';
}

// ---- wiring ----------------------------------------------------------------------

function wire() {
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = $('login-user').value.trim();
    const name = $('login-name').value.trim();
    const role = document.querySelector('input[name=role]:checked').value;
    $('login-error').textContent = '';
    try {
      const token = await mintDevToken(user, name, role);
      state.me = { user_id: user, role, name };
      if (name) state.names.set(user, name);
      state.devLogin = true;
      useToken(token);
    } catch (e) {
      $('login-error').textContent = e.message;
      $('token-login').open = true;
    }
  });
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token-input').value.trim();
    state.devLogin = false;
    state.me = null;
    if (t) useToken(t);
  });
  $('logout').addEventListener('click', logout);
  $('status-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    setMyStatus($('status-select').value, $('status-message').value.trim());
  });
  $('available-only').addEventListener('change', loadMentors);
  $('new-chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const ids = $('new-chat-user').value.split(',').map((s) => s.trim()).filter(Boolean);
    if (ids.length) chatWith(ids);
    $('new-chat-user').value = '';
  });
  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitComposer();
  });
  $('composer-input').addEventListener('input', onComposerInput);
  $('composer-input').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') setCompose(null); });
  $('compose-cancel').addEventListener('click', () => setCompose(null));
  $('attach').addEventListener('click', () => {
    $('attach-row').classList.toggle('hidden');
    if (!$('attach-row').classList.contains('hidden')) $('attach-url').focus();
  });
  $('attach-add').addEventListener('click', addAttachment);
  $('attach-url').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); addAttachment(); } });
  $('load-older').addEventListener('click', loadOlder);
  $('help-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    requestHelp($('help-topic').value.trim(), $('help-message').value.trim(), $('help-mentor').value);
  });
  $('incoming-accept').addEventListener('click', acceptIncoming);
  $('incoming-reject').addEventListener('click', rejectIncoming);
  $('hangup').addEventListener('click', () => {
    if (state.call) endCall(null, false);
    else $('call').classList.add('hidden');
  });
  $('call-min').addEventListener('click', () => setCallMini(!$('call').classList.contains('mini')));
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));
  document.addEventListener('visibilitychange', () => state.current && markRead());
  // A reload is not a hang-up: the call stays up for CALL_GRACE_MS and the reloaded page
  // rejoins it. Closing the tab lets the server end it as `disconnected`.
  window.addEventListener('pagehide', saveSession);
}

// A session kept in this tab (a reload): reconnect with it instead of asking to log in.
function restore() {
  const s = loadSession();
  document.querySelector('.app').dataset.tab = (s && s.tab) || 'people';
  showTab(document.querySelector('.app').dataset.tab);
  if (!s || !s.token) return;
  state.token = s.token;
  state.devLogin = !!s.devLogin;
  state.me = s.me ? { ...s.me, authed: false } : null;
  for (const [uid, name] of Array.isArray(s.names) ? s.names : []) {
    if (typeof uid === 'string' && typeof name === 'string') state.names.set(uid, name);
  }
  if (state.me?.name) state.names.set(state.me.user_id, state.me.name);
  state.current = s.current || null;
  state.resumeCall = s.call || null;
  state.chosen = s.chosen || null;
  if (s.call && s.callMini) setCallMini(true);
  for (const h of s.help || []) state.help.set(h.request_id, h);
  state.restoring = true;
  document.body.classList.add('restoring');
  connect();
}

wire();
restore();
