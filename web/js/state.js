// The signed-in session: connection, resume and reconnect, conversations,
// messages, presence, the outbox. The UI listens to its 'change' events.

import { Conn, apiError, variant } from './conn.js';
import { Outbox } from './outbox.js';

const TOKEN_KEY = 'natter.session';
const PAGE = 50;
const MAX_BACKOFF_MS = 4000;

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
  }

  unread() { return Math.max(0, this.lastSeq - this.read); }

  /** Messages in seq order. */
  sorted() { return [...this.msgs.values()].sort((a, b) => a.seq - b.seq); }
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
      r = await conn.request({ login: { version: 1, name, password, sync: { cursors: [] } } });
    } catch (e) { conn.close(); throw e; }
    this.signedIn(r.logged_in.user, r.logged_in.token, stay);
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

  waitSync() { return new Promise((resolve) => { this.syncDone = resolve; }); }

  async reconnect() {
    const conn = await this.connect();
    const synced = this.waitSync();
    const cursors = [...this.convs.values()].filter((c) => c.delivered > 0)
      .map((c) => ({ conv: c.id, seq: c.delivered }));
    try {
      await conn.request({ resume: { version: 1, token: this.token, sync: { cursors } } });
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
    this.fillPreviews();
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

  /** Fetches the newest message of conversations without one yet. */
  async fillPreviews() {
    for (const c of this.convs.values()) {
      if (c.lastSeq === 0 || c.lastTs) continue;
      try {
        const r = await this.conn.request({ history: {
          conv: c.id, anchor: { before: Number.MAX_SAFE_INTEGER }, limit: 1, order: 'newest_first' } });
        for (const m of r.history.messages) this.note(c, m);
      } catch { return; }
    }
    this.emit('list');
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
    this.failed.set(item.client_id, explain(e));
    this.emit('failed', { item, reason: explain(e) });
  }

  request(body) {
    if (!this.conn) return Promise.reject(apiError('disconnected', 'Not connected.'));
    return this.conn.request(body);
  }
}
