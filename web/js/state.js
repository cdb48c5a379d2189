// The signed-in session: connection, resume and reconnect, conversations,
// messages, presence, the outbox. The UI listens to its 'change' events.

import { Conn, apiError, variant } from './conn.js';
import { Outbox, uuid } from './outbox.js';

const TOKEN_KEY = 'natter.session';
const PAGE = 50;
const MAX_BACKOFF_MS = 4000;
/** `max_body` until the server says (older servers do not). */
const DEFAULT_MAX_BODY = 16 * 1024;
/** Typing: send a start at most this often; forget one after (ms). */
const TYPING_INTERVAL_MS = 3000;
const TYPING_EXPIRY_MS = 6000;
const TYPING_KEY = 'natter.typing';

/** What a user reads for an error code. */
export function explain(e) {
  switch (e.code) {
    case 'bad_credentials': return 'Wrong name or password.';
    case 'name_taken': return 'That name is taken.';
    case 'invalid_name': return 'Names are 1–32 letters, digits, _ or -.';
    case 'weak_password': return 'The password is too short: at least 8 characters.';
    case 'password_too_long': return 'The password is too long.';
    case 'too_many_attempts':
      return `Too many failed attempts: try again in ${Math.ceil((e.detail?.retry_after_ms ?? 0) / 1000)} s.`;
    case 'rate_limited': return 'Slow down a little.';
    case 'unreachable': case 'disconnected': return 'Cannot reach the server.';
    case 'forbidden': return `Only the group's ${e.detail?.needs === 'owner' ? 'owner' : 'admins'} may do that.`;
    case 'banned': return 'That user is banned from the group.';
    case 'muted': return 'You are muted in this group.';
    case 'not_author': return 'That is not your message.';
    case 'message_deleted': return 'That message was deleted.';
    case 'edit_window_closed': return 'Too late to edit that message.';
    case 'no_such_message': return 'No such message.';
    default: return e.message || 'Something went wrong.';
  }
}

/** One conversation as the client knows it. */
class Conv {
  constructor(info) {
    this.id = info.id;
    this.msgs = new Map();
    this.oldest = null;
    this.hasOlder = true;
    this.loaded = false;
    this.delivered = 0;
    this.acked = 0;
    this.watermark = 0;
    this.lastTs = 0;
    this.preview = '';
    this.seen = 0;
    this.typing = new Map();
    this.myRole = null;
    this.update(info);
  }

  update(info) {
    const [kind, v] = variant(info.kind);
    this.kind = kind;
    this.peer = kind === 'direct' ? v.peer : null;
    this.title = kind === 'lobby' ? 'Lobby' : kind === 'direct' ? v.peer.name : v.name;
    this.public = kind === 'group' ? v.public : null;
    this.lastSeq = Math.max(this.lastSeq ?? 0, info.last_seq);
    this.read = Math.max(this.read ?? 0, info.read);
    this.delivered = Math.max(this.delivered, info.delivered);
    this.lastTs = Math.max(this.lastTs, info.last_ts_ms ?? 0);
    // End-to-end encrypted directs (Olm) are read and written in natter chat.
    this.e2e = Boolean(this.e2e || info.e2e);
  }

  unread() { return Math.max(0, this.lastSeq - this.read); }

  /** Messages in seq order. */
  sorted() { return [...this.msgs.values()].sort((a, b) => a.seq - b.seq); }

  /** Applies an edit or delete entry to the message it names, if held. */
  apply(entry) {
    const m = this.msgs.get(entry.action?.edit?.seq ?? entry.action?.delete?.seq);
    if (!m || (!entry.body && !entry.deleted) || m.deleted) return null;
    if (entry.deleted) Object.assign(m, { body: '', deleted: true });
    else Object.assign(m, { body: entry.body, edited_ms: entry.edited_ms ?? entry.ts_ms });
    return m;
  }
}

export class Chat extends EventTarget {
  constructor() {
    super();
    this.conn = null;
    this.me = null;
    this.token = null;
    this.convs = new Map();
    this.presence = new Map();
    this.online = false;
    this.inflight = new Set();
    this.failed = new Map();
    this.parts = [];
    this.backoff = 250;
    this.stopped = true;
    this.maxBody = DEFAULT_MAX_BODY;
  }

  emit(what, detail = {}) { this.dispatchEvent(new CustomEvent(what, { detail })); }

  /** A stored session to resume, if any. */
  static saved() {
    const raw = localStorage.getItem(TOKEN_KEY) || sessionStorage.getItem(TOKEN_KEY);
    try { return raw ? JSON.parse(raw) : null; } catch { return null; }
  }

  async connect() {
    const conn = new Conn((e) => this.event(e), () => this.lost(conn));
    this.conn = conn;
    await conn.open();
    return conn;
  }

  /** Registers `name` (then signs in). */
  async register(name, password, stay) {
    const conn = await this.connect();
    try { await conn.request({ register: { name, password } }); } catch (e) { conn.close(); throw e; }
    conn.close();
    return this.login(name, password, stay);
  }

  async login(name, password, stay) {
    const conn = await this.connect();
    const synced = this.waitSync();
    let r;
    try {
      r = await conn.request({ login: { version: 2, name, password, sync: { cursors: [] } } });
    } catch (e) { conn.close(); throw e; }
    this.signedIn(r.logged_in.user, r.logged_in.token, stay);
    this.limits(r.logged_in);
    await synced;
  }

  /** Resumes a saved session; false when the token is no longer valid. */
  async resume(saved) {
    this.signedIn(saved.user, saved.token, saved.stay);
    this.stopped = false;
    this.emit('connection', { state: 'connecting' });
    try { await this.reconnect(); } catch (e) {
      if (e.code === 'bad_credentials') { this.forget(); return false; }
      this.emit('connection', { state: 'reconnecting' });
      this.retry();
    }
    return true;
  }

  signedIn(user, token, stay) {
    this.me = user;
    this.token = token;
    this.stopped = false;
    this.outbox = new Outbox(user.id);
    const store = stay ? localStorage : sessionStorage;
    store.setItem(TOKEN_KEY, JSON.stringify({ user, token, stay }));
  }

  /** Takes the server's limits from `logged_in` / `resumed`. */
  limits(r) { if (r?.max_body > 0) this.maxBody = r.max_body; }

  /** Keeps the session's fresh token after a password change. */
  rekey(token) {
    const stay = !!localStorage.getItem(TOKEN_KEY);
    this.token = token;
    (stay ? localStorage : sessionStorage).setItem(TOKEN_KEY, JSON.stringify({ user: this.me, token, stay }));
  }

  /** Changes the password; this session continues under a fresh token. */
  async changePassword(oldPassword, newPassword) {
    const r = await this.request({ change_password: { old_password: oldPassword, new_password: newPassword } });
    this.rekey(r.password_changed.token);
  }

  /** My login sessions, most recently used first. */
  async sessions() { return (await this.request('sessions')).sessions; }

  /** Ends one of my sessions (another device). */
  revokeSession(id) { return this.request({ revoke_session: { id } }); }

  waitSync() { return new Promise((resolve) => { this.syncDone = resolve; }); }

  async reconnect() {
    const conn = await this.connect();
    const synced = this.waitSync();
    const cursors = [...this.convs.values()].filter((c) => c.delivered > 0)
      .map((c) => ({ conv: c.id, seq: c.delivered }));
    try {
      const r = await conn.request({ resume: { version: 2, token: this.token, sync: { cursors } } });
      this.limits(r.resumed);
    } catch (e) { conn.close(); throw e; }
    await synced;
  }

  /** The connection dropped: keep trying (banner: reconnecting…). */
  lost(conn) {
    if (conn !== this.conn) return;
    this.online = false;
    this.inflight.clear();
    if (this.stopped) return;
    this.emit('connection', { state: 'reconnecting' });
    this.retry();
  }

  retry() {
    if (this.timer || this.stopped) return;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.timer = setTimeout(async () => {
      this.timer = null;
      if (this.stopped) return;
      try { await this.reconnect(); } catch (e) {
        if (e.code === 'bad_credentials') { this.ended('Your session expired: sign in again.'); return; }
        this.retry();
      }
    }, wait);
  }

  async logout() {
    this.stopped = true;
    try { await this.conn?.request('logout'); } catch { /* signed out locally anyway */ }
    this.outbox?.clear();
    this.forget();
  }

  ended(reason) {
    this.stopped = true;
    this.forget();
    this.emit('ended', { reason });
  }

  forget() {
    localStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KEY);
    this.conn?.close();
    this.conn = null;
    this.convs.clear();
    this.me = null;
    this.token = null;
  }

  event(ev) {
    const [kind, v] = variant(ev);
    const handlers = {
      message: () => this.message(v, true),
      conversations_part: () => { this.parts.push(...v); },
      conversations: () => this.listed([...this.parts, ...v], true),
      delivered: () => this.watermark(v.conv, v.seq),
      read: () => this.readTo(v.conv, v.seq),
      presence: () => this.presenceIn(v),
      session_ended: () => this.ended(`Signed out: ${v.reason}`),
      server_closing: () => {},
      behind: () => this.conn?.close() || this.lost(this.conn),
      added: () => this.added(v),
      file_update: () => this.emit('file_update', v),
      typing: () => this.typingIn(v),
      seen: () => this.seenTo(v.conv, v.seq),
      removed: () => this.removed(v),
    };
    handlers[kind]?.();
  }

  /** The end of a sync (or a refreshed list). */
  listed(list, sync) {
    this.parts = [];
    const seen = new Set();
    for (const info of list) {
      seen.add(info.id);
      const c = this.convs.get(info.id);
      if (c) c.update(info); else this.convs.set(info.id, new Conv(info));
    }
    for (const id of [...this.convs.keys()]) if (!seen.has(id)) this.convs.delete(id);
    this.emit('list');
    if (!sync) return;
    this.online = true;
    this.backoff = 250;
    this.emit('connection', { state: 'online' });
    this.syncDone?.();
    this.syncDone = null;
    this.afterSync();
  }

  afterSync() {
    this.flushOutbox();
    this.ackDelivered();
    this.refreshPresence();
  }

  /** Kicked, banned, or the group was deleted: it leaves the list. */
  removed({ conv, by, kind, reason }) {
    const c = this.convs.get(conv);
    this.convs.delete(conv);
    this.emit('list');
    const what = { kicked: 'removed you from', banned: 'banned you from', group_deleted: 'deleted' }[kind] ?? 'removed you from';
    const text = `${by.name} ${what} # ${c?.title ?? 'a group'}${reason ? `: ${reason}` : ''}`;
    this.emit('removed', { conv, text });
  }

  /** Someone is typing (or stopped) in a conversation. */
  typingIn({ conv, user, typing }) {
    const c = this.convs.get(conv);
    if (!c || user.id === this.me.id || !this.typingOn) return;
    clearTimeout(c.typing.get(user.name));
    if (typing) c.typing.set(user.name, setTimeout(() => { c.typing.delete(user.name); this.emit('typing', { conv }); }, TYPING_EXPIRY_MS));
    else c.typing.delete(user.name);
    this.emit('typing', { conv });
  }

  /** "Seen": the peer of a direct read up to `seq`. */
  seenTo(conv, seq) {
    const c = this.convs.get(conv);
    if (c && seq > c.seen) { c.seen = seq; this.emit('ticks', { conv }); }
  }

  /** Whether typing indicators are on: this client tells others when its
   * user types and shows who else is typing (off: neither). */
  get typingOn() { return localStorage.getItem(TYPING_KEY) !== 'off'; }

  set typingOn(on) {
    localStorage.setItem(TYPING_KEY, on ? 'on' : 'off');
    if (on) return;
    for (const [conv, c] of this.convs) {
      if (c.typing.size === 0) continue;
      for (const timer of c.typing.values()) clearTimeout(timer);
      c.typing.clear();
      this.emit('typing', { conv });
    }
  }

  /** The user typed in `conv` (`typing`) or sent / cleared the line. */
  typing(conv, typing) {
    const c = this.convs.get(conv);
    if (!c || c.kind === 'lobby' || !this.online || !this.typingOn) return;
    const now = Date.now();
    if (typing) {
      if (now - (c.typedAt ?? 0) < TYPING_INTERVAL_MS) return;
      c.typedAt = now;
    } else if (!c.typingSent) return;
    c.typingSent = typing;
    this.request({ typing: { conv, typing } }).catch(() => {});
  }

  /** Replaces the text of my message `seq`. */
  edit(conv, seq, body) {
    return this.request({ edit_message: { conv, seq, client_id: uuid(), body } });
  }

  /** Deletes message `seq` (mine, or anyone's as a group admin). */
  remove(conv, seq) {
    return this.request({ delete_message: { conv, seq, client_id: uuid() } });
  }

  /** One page of search results, newest first. */
  async search(query, conv = null, before = null) {
    return (await this.request({ search: { query, conv, before, limit: 20 } })).search_results;
  }

  /** Members of `conv` with roles; notes my role in it. */
  async members(conv) {
    const list = (await this.request({ members: { conv } })).members;
    const c = this.convs.get(conv);
    const me = list.find((m) => m.presence.user.id === this.me.id);
    if (c && me) c.myRole = me.role;
    return list;
  }

  /** My role and the topic of group `c`. */
  async groupInfo(c) {
    await this.members(c.id);
    const s = (await this.request({ group_settings: { conv: c.id } })).group_settings;
    c.topic = s.topic;
    return s;
  }

  /** A moderation action in group `conv`. */
  moderate(conv, action, reason = null) {
    return this.request({ moderate: { conv, action, reason } });
  }

  /** Someone added me to a group: it shows at once. */
  added({ conversation, by }) {
    const c = this.convs.get(conversation.id);
    if (c) c.update(conversation); else this.convs.set(conversation.id, new Conv(conversation));
    this.emit('list');
    this.emit('added', { conv: conversation.id, by });
  }

  /** Asks for the conversation list again (one request at a time). */
  refreshList() {
    this.listing ??= this.request('conversations')
      .then((r) => this.listed(r.conversations, false), () => {})
      .finally(() => { this.listing = null; });
    return this.listing;
  }

  async refreshPresence() {
    try {
      const r = await this.conn.request('presence');
      this.presenceIn(r.presence);
    } catch { /* later events fill it */ }
  }

  presenceIn(list) {
    for (const p of list) this.presence.set(p.user.name, p);
    this.emit('presence');
  }

  note(c, m) {
    if (m.ts_ms >= c.lastTs) { c.lastTs = m.ts_ms; c.preview = m.body.slice(0, 80); }
  }

  /** A message from sync, live, history or our own ✓. */
  message(m, pushed) {
    const c = this.convs.get(m.conv);
    if (!c) { this.refreshList().then(() => this.convs.has(m.conv) && this.message(m, pushed)); return; }
    if (m.sender?.id === this.me.id && this.outbox.has(m.client_id)) this.outbox.remove(m.client_id);
    const fresh = !c.msgs.has(m.seq);
    if (fresh && (c.loaded || pushed)) c.msgs.set(m.seq, m);
    const changed = m.action ? c.apply(m) : null;
    if (changed) this.emit('changed', { conv: c.id, msg: changed });
    c.lastSeq = Math.max(c.lastSeq, m.seq);
    this.note(c, m);
    if (pushed) {
      c.delivered = Math.max(c.delivered, m.seq);
      if (m.sender?.id === this.me.id) c.read = Math.max(c.read, m.seq);
      this.scheduleAck();
    }
    if (fresh) this.emit('message', { conv: c.id, msg: m, pushed });
  }

  scheduleAck() {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => { this.ackTimer = null; this.ackDelivered(); }, 50);
  }

  ackDelivered() {
    if (!this.online) return;
    for (const c of this.convs.values()) {
      if (c.delivered <= c.acked) continue;
      const seq = c.delivered;
      this.conn.request({ ack_delivered: { conv: c.id, seq } })
        .then(() => { c.acked = Math.max(c.acked, seq); }, () => {});
    }
  }

  /** Marks `conv` read up to its last message. */
  markRead(conv) {
    const c = this.convs.get(conv);
    if (!c || c.lastSeq <= c.read) return;
    c.read = c.lastSeq;
    this.emit('list');
    if (this.online) this.conn.request({ ack_read: { conv, seq: c.read } }).catch(() => {});
  }

  readTo(conv, seq) {
    const c = this.convs.get(conv);
    if (c && seq > c.read) { c.read = seq; this.emit('list'); }
  }

  watermark(conv, seq) {
    const c = this.convs.get(conv);
    if (c && seq > c.watermark) { c.watermark = seq; this.emit('ticks', { conv }); }
  }

  /** Loads the page of history below what `conv` holds. */
  async older(conv) {
    const c = this.convs.get(conv);
    if (!c || !c.hasOlder || c.loading) return false;
    c.loading = true;
    try {
      const below = c.loaded && c.oldest !== null ? c.oldest : Number.MAX_SAFE_INTEGER;
      const r = await this.conn.request({ history: {
        conv, anchor: { before: below }, limit: PAGE, order: 'newest_first' } });
      const msgs = r.history.messages;
      for (const m of msgs) { c.msgs.set(m.seq, m); this.note(c, m); }
      // Pushed messages are contiguous up to the newest, so the lowest seq
      // held is where the next page starts.
      let low = below;
      for (const seq of c.msgs.keys()) low = Math.min(low, seq);
      c.oldest = low;
      c.hasOlder = msgs.length === PAGE && c.oldest > 1;
      c.loaded = true;
      return true;
    } finally { c.loading = false; }
  }

  /** Queues a message; it goes out now or on reconnect. */
  send(conv, to, body) {
    const item = this.outbox.add(conv, to, body);
    this.emit('pending', { conv });
    this.sendItem(item);
    return item;
  }

  flushOutbox() { for (const item of this.outbox.items) this.sendItem(item); }

  async sendItem(item) {
    if (!this.online || this.inflight.has(item.client_id)) return;
    this.inflight.add(item.client_id);
    const target = item.conv !== null ? { conversation: item.conv } : { user: item.to };
    try {
      const r = await this.conn.request({ send: { target, client_id: item.client_id, body: item.body } });
      this.stored(item, r.sent);
    } catch (e) {
      this.inflight.delete(item.client_id);
      this.sendFailed(item, e);
    }
  }

  stored(item, sent) {
    this.inflight.delete(item.client_id);
    this.outbox.remove(item.client_id);
    const known = this.convs.has(sent.conv);
    const msg = { conv: sent.conv, seq: sent.seq, ts_ms: sent.ts_ms, sender: this.me, client_id: item.client_id, body: item.body };
    this.emit('stored', { item, sent });
    if (known) this.message(msg, true);
    else this.refreshList().then(() => { this.message(msg, true); this.emit('opened', { conv: sent.conv, to: item.to }); });
  }

  sendFailed(item, e) {
    if (e.code === 'disconnected' || e.code === 'timeout') return;
    if (e.code === 'rate_limited') {
      setTimeout(() => this.sendItem(item), e.detail?.retry_after_ms ?? 500);
      return;
    }
    this.outbox.remove(item.client_id);
    this.failed.set(item.client_id, { item, reason: explain(e) });
    this.emit('failed', { item, reason: explain(e) });
  }

  request(body) {
    if (!this.conn) return Promise.reject(apiError('disconnected', 'Not connected.'));
    return this.conn.request(body);
  }
}
