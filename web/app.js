// Parley demo page. Plain JavaScript, no build step, no library.
//
// One WebSocket to the gateway (/ws) carries everything: chat, presence, help requests
// and call signaling (docs/protocol.md). Media flows browser to browser over WebRTC;
// the offer, answer and ICE candidates travel as `call_signal` frames.
//
// Reading guide: `send`/`request` talk to the gateway; `onFrame` dispatches every
// server event to a small handler; `render*` functions redraw one part of the page from
// `state` (always with textContent: nothing a user typed becomes HTML).
'use strict';

const CONFIG = Object.assign({ iceServers: [], wsPath: '/ws' }, window.PARLEY_CONFIG || {});
const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  devLogin: false, // the token came from GET /dev/token: renew it there before it expires
  me: null, // {user_id, role, name}
  ws: null,
  wantOpen: false, // reconnect when the socket drops
  retryMs: 500,
  nextId: 1,
  pending: new Map(), // request id -> {resolve, reject}
  conversations: new Map(), // id -> conversation
  messages: new Map(), // conversation id -> [message] ascending seq
  current: null, // open conversation id
  mentors: new Map(), // user id -> {user_id, name, status, status_message, last_seen}
  presence: new Map(), // user id -> {status, status_message, last_seen}
  names: new Map(), // user id -> display name
  typing: new Map(), // conversation id -> Map(user id -> expiry timer)
  reads: new Map(), // conversation id -> Map(user id -> seq)
  help: new Map(), // request id -> {request_id, role: 'student'|'mentor', ...}
  call: null, // see startCall/acceptIncoming
  incoming: null, // incoming_call frame waiting for an answer
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
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.classList.remove('hidden');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.add('hidden'), 5000);
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

function setConnState(s) {
  const p = $('conn-state');
  p.textContent = s;
  p.dataset.state = s;
}

function timeOf(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
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

function fail(what) {
  return (e) => toast(`${what}: ${e.code ? `${e.code}: ` : ''}${e.message}`);
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
        $('login-error').textContent = `Login refused: ${e.message}`;
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
    if (ev.code === 1008 && !state.me) return; // refused before auth: wrong token
    if (ev.code === 4001) { // the token expired: reconnecting with it would be refused
      $('login-error').textContent = 'Session ended: the token expired';
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

async function login(userId, name, role) {
  $('login-error').textContent = '';
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
  if (state.call) endCall('hangup', true);
  if (state.ws) state.ws.close(1000);
  state.ws = null;
  state.me = null;
  state.token = null;
  $('app').classList.add('hidden');
  $('login').classList.remove('hidden');
  $('logout').classList.add('hidden');
  $('me').textContent = '';
  setConnState('offline');
}

// ---- session ---------------------------------------------------------------------

async function onAuthenticated(f) {
  state.retryMs = 500;
  state.me = { user_id: f.user_id, role: f.role, name: state.me?.name };
  setConnState('online');
  $('login').classList.add('hidden');
  $('app').classList.remove('hidden');
  $('logout').classList.remove('hidden');
  $('me').textContent = `${f.user_id} (${f.role})`;
  document.body.dataset.role = f.role;
  for (const e of document.querySelectorAll('.mentor-only')) e.classList.toggle('hidden', f.role === 'student');
  for (const e of document.querySelectorAll('.student-only')) e.classList.toggle('hidden', f.role !== 'student');
  state.conversations.clear();
  for (const c of f.conversations || []) state.conversations.set(c.conversation_id, c);
  renderConversations();
  logEvent(`authenticated as ${f.user_id}`);
  loadMentors();
  loadPresence();
  if (state.current && state.conversations.has(state.current)) openConversation(state.current);
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
    })
    .catch(fail('mentor directory'));
}

function loadPresence() {
  const ids = new Set();
  for (const c of state.conversations.values()) for (const p of c.participants || []) ids.add(p);
  ids.delete(state.me.user_id);
  request({ type: 'get_presence', user_ids: [state.me.user_id, ...[...ids].slice(0, 99)] })
    .then((r) => {
      for (const u of r.users || []) {
        state.presence.set(u.user_id, u);
        if (u.user_id === state.me.user_id) renderMyStatus(u);
      }
      renderConversations();
    })
    .catch(fail('presence'));
}

// ---- dispatch --------------------------------------------------------------------

const handlers = {
  // A session ends with its token. One from GET /dev/token is renewed the same way and
  // handed over with `refresh`; a pasted token cannot be renewed here.
  token_expiring: async (f) => {
    if (!state.devLogin) {
      logEvent(`token expires at ${f.exp}: log in again to stay`);
      return;
    }
    try {
      const t = await login(state.me.user_id, state.me.name, state.me.role);
      await request({ type: 'refresh', token: t });
      state.token = t;
      logEvent('token refreshed');
    } catch (e) {
      fail('token refresh')(e);
    }
  },
  conversation_created: (f) => {
    const c = f.conversation;
    state.conversations.set(c.conversation_id, c);
    renderConversations();
    loadPresence();
  },
  new_message: (f) => addMessage(f.message),
  message_updated: (f) => addMessage(f.message),
  message_deleted: (f) => addMessage(f.message),
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
    if (f.conversation_id === state.current) renderMessages();
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
  },
  user_online: (f) => {
    const p = state.presence.get(f.user_id) || {};
    if (!p.status || p.status === 'offline') state.presence.set(f.user_id, { ...p, status: 'online' });
    renderMentors();
    renderConversations();
  },
  user_offline: (f) => {
    state.presence.set(f.user_id, { ...(state.presence.get(f.user_id) || {}), status: 'offline', last_seen: f.last_seen });
    const m = state.mentors.get(f.user_id);
    if (m) Object.assign(m, { status: 'offline', last_seen: f.last_seen });
    renderMentors();
    renderConversations();
  },
  help_request: (f) => {
    state.help.set(f.request_id, { ...f, side: 'mentor', state: 'offered' });
    renderHelp();
    toast(`Help request from ${nameOf(f.student_id)}: ${f.topic}`);
  },
  help_accepted: (f) => updateHelp(f.request_id, { state: 'accepted', mentor_id: f.mentor_id }),
  help_declined: (f) => updateHelp(f.request_id, { state: 'declined', mentor_id: f.mentor_id }),
  help_expired: (f) => updateHelp(f.request_id, { state: 'expired' }),
  help_request_closed: (f) => updateHelp(f.request_id, { state: f.reason || 'closed' }),
  help_ended: (f) => updateHelp(f.request_id, { state: 'ended', ended_by: f.ended_by }),
  incoming_call: (f) => onIncomingCall(f),
  call_accepted: (f) => onCallAccepted(f),
  call_rejected: (f) => onCallGone(f, `rejected${f.reason ? ` (${f.reason})` : ''}`),
  call_ended: (f) => onCallGone(f, `ended (${f.reason || 'hangup'})`),
  call_signal: (f) => onSignal(f),
};

function onFrame(f) {
  if (f.id !== undefined && state.pending.has(f.id)) {
    const p = state.pending.get(f.id);
    state.pending.delete(f.id);
    if (f.type === 'error') p.reject(Object.assign(new Error(f.message), { code: f.code }));
    else p.resolve(f);
    // An answer may also be an event the page shows (status_change, call_accepted …).
    if (['status_change', 'call_accepted', 'message_updated', 'message_deleted'].includes(f.type)) {
      handlers[f.type](f);
    }
    return;
  }
  if (f.type === 'error') {
    toast(`${f.code}: ${f.message}`);
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

function renderConversations() {
  const list = $('conv-list');
  list.replaceChildren();
  const convs = [...state.conversations.values()].sort((a, b) => (b.last_seq || 0) - (a.last_seq || 0) || b.conversation_id - a.conversation_id);
  for (const c of convs) {
    const others = (c.participants || []).filter((p) => p !== state.me.user_id);
    const li = el('li', { class: c.conversation_id === state.current ? 'active' : '', 'data-conversation': c.conversation_id },
      others.length === 1 ? el('span', { class: `dot ${statusOf(others[0])}`, title: statusOf(others[0]) }) : null,
      el('span', { class: 'name', text: convTitle(c), onclick: () => openConversation(c.conversation_id) }),
      c.unread_count ? el('span', { class: 'badge', 'data-testid': 'unread', text: String(c.unread_count) }) : null);
    list.append(li);
  }
}

async function openConversation(id) {
  state.current = id;
  const c = state.conversations.get(id);
  $('chat-title').textContent = c ? convTitle(c) : `Conversation ${id}`;
  $('composer-input').disabled = false;
  $('send').disabled = false;
  renderConversations();
  renderTyping();
  try {
    const h = await request({ type: 'history', conversation_id: id, limit: 50 });
    const have = state.messages.get(id) || [];
    const bySeq = new Map(have.filter((m) => m.seq).map((m) => [m.seq, m]));
    for (const m of h.messages) bySeq.set(m.seq, m);
    const pendings = have.filter((m) => !m.seq);
    state.messages.set(id, [...bySeq.values()].sort((a, b) => a.seq - b.seq).concat(pendings));
    renderMessages();
    markRead();
  } catch (e) {
    fail('history')(e);
  }
}

function addMessage(m) {
  const list = state.messages.get(m.conversation_id) || [];
  const i = list.findIndex((x) => (x.message_id && x.message_id === m.message_id) || (m.temp_id && x.temp_id === m.temp_id && x.sender_id === m.sender_id));
  if (i >= 0) list[i] = m;
  else list.push(m);
  list.sort((a, b) => (a.seq || Infinity) - (b.seq || Infinity));
  state.messages.set(m.conversation_id, list);
  const c = state.conversations.get(m.conversation_id);
  if (c && m.seq > (c.last_seq || 0)) {
    c.last_seq = m.seq;
    if (m.sender_id !== state.me.user_id && m.conversation_id !== state.current) c.unread_count = (c.unread_count || 0) + 1;
  }
  if (m.sender_id !== state.me.user_id) showTyping(m.conversation_id, m.sender_id, false);
  renderConversations();
  if (m.conversation_id === state.current) {
    renderMessages();
    markRead();
  }
}

function markRead() {
  const list = state.messages.get(state.current) || [];
  const last = list.filter((m) => m.seq).at(-1);
  if (!last || document.visibilityState === 'hidden') return;
  const c = state.conversations.get(state.current);
  if (c && c.read_seq >= last.seq) return;
  if (c) {
    c.read_seq = last.seq;
    c.unread_count = 0;
  }
  send({ type: 'mark_read', conversation_id: state.current, seq: last.seq });
  renderConversations();
}

function renderMessages() {
  const ol = $('messages');
  const list = state.messages.get(state.current) || [];
  const reads = state.reads.get(state.current) || new Map();
  // Highest seq any other participant has read.
  let readUpTo = 0;
  for (const [uid, seq] of reads) if (uid !== state.me.user_id) readUpTo = Math.max(readUpTo, seq);
  ol.replaceChildren();
  for (const m of list) {
    const mine = m.sender_id === state.me.user_id;
    const read = mine && m.seq && m.seq <= readUpTo;
    const meta = [mine ? 'you' : nameOf(m.sender_id), timeOf(m.created_at)];
    if (mine) meta.push(!m.seq ? 'sending…' : read ? '✓✓ read' : '✓ sent');
    ol.append(el('li', {
      class: `${mine ? 'mine' : ''} ${m.seq ? '' : 'pending'}`,
      'data-seq': m.seq || '',
      'data-read': read ? 'true' : 'false',
      'data-testid': 'message',
    },
    el('span', { class: 'bubble', text: m.deleted ? '(deleted)' : m.content }),
    el('div', { class: 'meta', text: meta.join(' · ') })));
  }
  ol.scrollTop = ol.scrollHeight;
}

async function sendMessage(text) {
  const conv = state.current;
  const tempId = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  addMessage({ conversation_id: conv, sender_id: state.me.user_id, content: text, temp_id: tempId, created_at: new Date().toISOString() });
  stopTyping();
  // Retrying with the same temp_id is safe: the server stores the message once.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const r = await request({ type: 'message', conversation_id: conv, content: text, temp_id: tempId });
      addMessage({ conversation_id: conv, sender_id: state.me.user_id, content: text, temp_id: tempId,
        message_id: r.message_id, seq: r.seq, created_at: r.created_at });
      const c = state.conversations.get(conv);
      if (c) c.read_seq = Math.max(c.read_seq || 0, r.seq);
      return;
    } catch (e) {
      if (!['unavailable', 'timeout', 'closed'].includes(e.code)) return fail('send')(e);
      await new Promise((res) => setTimeout(res, 1000 * (attempt + 1)));
    }
  }
  toast('message not sent: the service is unavailable');
}

// ---- typing ----------------------------------------------------------------------

function onComposerInput() {
  if (!state.current) return;
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
  clearTimeout(m.get(uid));
  if (on) m.set(uid, setTimeout(() => showTyping(conv, uid, false), 8000)); // in case the stop is lost
  else m.delete(uid);
  if (conv === state.current) renderTyping();
}

function renderTyping() {
  const m = state.typing.get(state.current);
  const who = m ? [...m.keys()].map(nameOf) : [];
  $('typing').textContent = who.length ? `${who.join(', ')} ${who.length > 1 ? 'are' : 'is'} typing…` : '';
}

// ---- presence --------------------------------------------------------------------

function renderMyStatus(f) {
  $('my-status').textContent = `You are ${f.status}${f.status_message ? ` — ${f.status_message}` : ''}`;
}

function setMyStatus(status, message) {
  const body = message ? { status_message: message } : {};
  let req;
  if (status === 'available') req = { type: 'mentor_available', ...body };
  else if (status === 'busy' && state.me.role !== 'student') req = { type: 'mentor_busy', ...body };
  else req = { type: 'set_status', status, ...body };
  request(req).then(renderMyStatus).catch(fail('status'));
}

function renderMentors() {
  const list = $('mentor-list');
  list.replaceChildren();
  const onlyAvailable = $('available-only').checked;
  const mentors = [...state.mentors.values()]
    .filter((m) => m.user_id !== state.me.user_id)
    .filter((m) => !onlyAvailable || m.status === 'available')
    .sort((a, b) => (a.status === 'offline') - (b.status === 'offline') || String(a.name || a.user_id).localeCompare(b.name || b.user_id));
  for (const m of mentors) {
    const status = m.status || 'offline';
    list.append(el('li', { 'data-user': m.user_id, 'data-status': status, 'data-testid': 'mentor' },
      el('span', { class: `dot ${status}`, title: status }),
      el('span', { class: 'name', text: m.name || m.user_id, onclick: () => chatWith([m.user_id]) }),
      el('span', { class: 'actions' },
        el('button', { class: 'small ghost', type: 'button', text: 'Chat', 'data-testid': 'mentor-chat', onclick: () => chatWith([m.user_id]) }),
        el('button', { class: 'small ghost', type: 'button', text: 'Audio', 'data-testid': 'mentor-audio', onclick: () => startCall(m.user_id, 'audio') }),
        el('button', { class: 'small ghost', type: 'button', text: 'Video', 'data-testid': 'mentor-video', onclick: () => startCall(m.user_id, 'video') })),
      el('span', { class: 'sub', 'data-testid': 'mentor-status', text: `${status}${m.status_message ? ` — ${m.status_message}` : ''}${status === 'offline' && m.last_seen ? ` · last seen ${timeOf(m.last_seen)}` : ''}` })));
  }
  $('mentor-empty').classList.toggle('hidden', mentors.length > 0);
  // The help form's mentor choice follows the directory.
  const sel = $('help-mentor');
  const chosen = sel.value;
  sel.replaceChildren(el('option', { value: '', text: 'any available mentor' }));
  for (const m of mentors) sel.append(el('option', { value: m.user_id, text: `${m.name || m.user_id} (${m.status || 'offline'})` }));
  sel.value = [...sel.options].some((o) => o.value === chosen) ? chosen : '';
}

async function chatWith(userIds) {
  try {
    const r = await request({ type: 'create_conversation', participants: userIds, kind: userIds.length > 1 ? 'group' : 'direct' });
    const c = r.conversation;
    state.conversations.set(c.conversation_id, c);
    openConversation(c.conversation_id);
  } catch (e) {
    fail('new conversation')(e);
  }
}

// ---- help requests ---------------------------------------------------------------

function updateHelp(id, changes) {
  const h = state.help.get(id) || { request_id: id, side: state.me.role === 'student' ? 'student' : 'mentor' };
  state.help.set(id, { ...h, ...changes });
  renderHelp();
}

function renderHelp() {
  const list = $('help-list');
  list.replaceChildren();
  const items = [...state.help.values()].sort((a, b) => String(b.request_id).localeCompare(String(a.request_id)));
  for (const h of items) {
    const actions = el('span', { class: 'actions' });
    const btn = (text, testid, fn, cls = 'small') => actions.append(el('button', { class: cls, type: 'button', text, 'data-testid': testid, onclick: fn }));
    const other = h.side === 'student' ? h.mentor_id : h.student_id;
    if (h.side === 'mentor' && h.state === 'offered') {
      btn('Accept', 'help-accept', () => request({ type: 'accept_help', request_id: h.request_id })
        .then((r) => updateHelp(h.request_id, { state: 'accepted', student_id: r.student_id || h.student_id }))
        .catch(fail('accept help')));
      btn('Decline', 'help-decline', () => request({ type: 'decline_help', request_id: h.request_id })
        .then(() => updateHelp(h.request_id, { state: 'declined' })).catch(fail('decline help')), 'small ghost');
    }
    if (h.side === 'student' && h.state === 'waiting') {
      btn('Cancel', 'help-cancel', () => request({ type: 'cancel_help', request_id: h.request_id })
        .then(() => updateHelp(h.request_id, { state: 'cancelled' })).catch(fail('cancel help')), 'small ghost');
    }
    if (h.state === 'accepted') {
      if (other) btn('Chat', 'help-chat', () => chatWith([other]), 'small ghost');
      if (other) btn('Call', 'help-call', () => startCall(other, 'video'), 'small ghost');
      btn('End', 'help-end', () => request({ type: 'end_help', request_id: h.request_id })
        .then(() => updateHelp(h.request_id, { state: 'ended' })).catch(fail('end help')), 'small ghost');
    }
    const who = h.side === 'mentor' ? `from ${nameOf(h.student_id)}` : other ? `with ${nameOf(other)}` : '';
    list.append(el('li', { 'data-request': h.request_id, 'data-state': h.state, 'data-testid': 'help-item' },
      el('span', { class: 'name', text: h.topic || `request ${h.request_id}` }),
      actions,
      el('span', { class: 'sub', text: `${h.state} ${who}${h.message ? ` — ${h.message}` : ''}` })));
  }
  $('help-empty').classList.toggle('hidden', items.length > 0);
}

async function requestHelp(topic, message, mentorId) {
  const body = { type: 'student_request_help', topic };
  if (message) body.message = message;
  if (mentorId) body.mentor_id = mentorId;
  try {
    const r = await request(body);
    state.help.set(r.request_id, { request_id: r.request_id, side: 'student', topic, message, state: 'waiting' });
    renderHelp();
  } catch (e) {
    fail('help request')(e);
  }
}

// ---- calls (WebRTC) --------------------------------------------------------------
//
// The caller sends the offer once the call is accepted; the callee answers it. ICE
// candidates go both ways as they are found; those that arrive before the remote
// description is set wait in `call.early`.

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
    toast(`no camera/microphone (${e.name}): receiving only`);
    return null;
  }
}

function showCall(peer, media) {
  $('call').classList.remove('hidden');
  $('call-peer').textContent = `${media} call with ${nameOf(peer)}`;
}

async function startCall(peer, media) {
  if (state.call) return toast('already in a call');
  state.call = { call_id: null, peer, media, role: 'caller', pc: null, early: [], stream: null };
  showCall(peer, media);
  setCallState('calling', 'calling…');
  const call = state.call;
  call.stream = await getMedia(media);
  if (state.call !== call) return stopStream(call.stream);
  $('local-video').srcObject = call.stream;
  try {
    const r = await request({ type: 'initiate_call', callee_id: peer, media });
    call.call_id = r.call_id;
    if (state.call === call && $('call-state').dataset.state === 'calling') setCallState('ringing', 'ringing…');
  } catch (e) {
    fail('call')(e);
    endCall(null, true);
  }
}

function onIncomingCall(f) {
  if (state.call || state.incoming) {
    send({ type: 'reject_call', call_id: f.call_id, reason: 'busy' });
    return;
  }
  state.incoming = f;
  $('incoming-text').textContent = `${f.media === 'video' ? 'Video' : 'Audio'} call from ${nameOf(f.caller_id)} (${f.caller_role || 'user'})`;
  $('incoming').classList.remove('hidden');
}

async function acceptIncoming() {
  const f = state.incoming;
  state.incoming = null;
  $('incoming').classList.add('hidden');
  if (!f) return;
  state.call = { call_id: f.call_id, peer: f.caller_id, media: f.media, role: 'callee', pc: null, early: [], stream: null };
  const call = state.call;
  showCall(f.caller_id, f.media);
  setCallState('connecting', 'connecting…');
  call.stream = await getMedia(f.media);
  $('local-video').srcObject = call.stream;
  // Ready for the caller's offer before we say yes.
  makePeer(call);
  try {
    await request({ type: 'accept_call', call_id: f.call_id });
  } catch (e) {
    fail('accept')(e);
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
  const pc = new RTCPeerConnection({ iceServers: CONFIG.iceServers });
  call.pc = pc;
  if (call.stream) for (const t of call.stream.getTracks()) pc.addTrack(t, call.stream);
  else {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    if (call.media === 'video') pc.addTransceiver('video', { direction: 'recvonly' });
  }
  pc.onicecandidate = (ev) => {
    if (ev.candidate && call.call_id) send({ type: 'call_signal', call_id: call.call_id, signal: { candidate: ev.candidate.toJSON() } });
  };
  pc.ontrack = (ev) => {
    const v = $('remote-video');
    if (v.srcObject !== ev.streams[0]) v.srcObject = ev.streams[0] || new MediaStream([ev.track]);
  };
  pc.onconnectionstatechange = () => {
    if (state.call !== call) return;
    const s = pc.connectionState;
    if (s === 'connected') setCallState('connected', 'connected');
    else if (s === 'failed') setCallState('failed', 'media failed (no route between the browsers)');
    else if (s === 'disconnected') setCallState('connecting', 'reconnecting…');
  };
  return pc;
}

async function onCallAccepted(f) {
  const call = state.call;
  if (!call || call.call_id !== f.call_id || call.role !== 'caller' || call.pc) return;
  setCallState('connecting', 'connecting…');
  const pc = makePeer(call);
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  send({ type: 'call_signal', call_id: call.call_id, signal: { type: offer.type, sdp: offer.sdp } });
}

async function onSignal(f) {
  const call = state.call;
  if (!call || call.call_id !== f.call_id || !call.pc) return;
  const s = f.signal || {};
  const pc = call.pc;
  try {
    if (s.type === 'offer' || s.type === 'answer') {
      await pc.setRemoteDescription({ type: s.type, sdp: s.sdp });
      if (s.type === 'offer') {
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        send({ type: 'call_signal', call_id: call.call_id, signal: { type: answer.type, sdp: answer.sdp } });
      }
      for (const c of call.early.splice(0)) await pc.addIceCandidate(c);
    } else if (s.candidate) {
      if (pc.remoteDescription) await pc.addIceCandidate(s.candidate);
      else call.early.push(s.candidate);
    }
  } catch (e) {
    logEvent(`signal error: ${e.message}`);
  }
}

function onCallGone(f, text) {
  if (state.incoming && state.incoming.call_id === f.call_id) {
    state.incoming = null;
    $('incoming').classList.add('hidden');
    toast(`call ${text}`);
    return;
  }
  const call = state.call;
  if (!call || (call.call_id && call.call_id !== f.call_id)) return;
  toast(`call ${text}`);
  endCall(null, true);
  setCallState('ended', text);
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
  setCallState('ended', 'call ended');
  setTimeout(() => { if (!state.call) $('call').classList.add('hidden'); }, 3000);
}

// ---- wiring ----------------------------------------------------------------------

function wire() {
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = $('login-user').value.trim();
    const name = $('login-name').value.trim();
    const role = document.querySelector('input[name=role]:checked').value;
    try {
      const token = await login(user, name, role);
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
    const input = $('composer-input');
    const text = input.value;
    if (!text.trim() || !state.current) return;
    input.value = '';
    sendMessage(text);
  });
  $('composer-input').addEventListener('input', onComposerInput);
  $('help-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    requestHelp($('help-topic').value.trim(), $('help-message').value.trim(), $('help-mentor').value);
    $('help-topic').value = '';
    $('help-message').value = '';
  });
  $('incoming-accept').addEventListener('click', acceptIncoming);
  $('incoming-reject').addEventListener('click', rejectIncoming);
  $('hangup').addEventListener('click', () => {
    if (state.call) endCall(null, false);
    else $('call').classList.add('hidden');
  });
  document.addEventListener('visibilitychange', () => state.current && markRead());
  window.addEventListener('beforeunload', () => state.call && endCall(null, false));
}

wire();
