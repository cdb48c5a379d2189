// Rendering: the sidebar and the open conversation. Message text is only
// ever set as text (see dom.js).

import { $, h, linkified, clock, day, shortTime, seen } from './dom.js';

/** Shown for an end-to-end encrypted direct, which the browser cannot read or post into. */
const E2E_TEXT = 'end-to-end encrypted — open this conversation in natter chat';

const GROUP_GAP_MS = 5 * 60 * 1000;

export class View {
  constructor(chat) {
    this.chat = chat;
    this.open = null;
    this.draftTo = null;
    this.lastRow = null;
  }

  /** The sidebar, filtered by the search box. */
  renderList() {
    const chat = this.chat;
    const filter = $('search').value.trim().toLowerCase();
    const convs = [...chat.convs.values()].sort((a, b) =>
      (a.kind === 'lobby' ? -1 : 0) - (b.kind === 'lobby' ? -1 : 0) || b.lastTs - a.lastTs || a.id - b.id);
    const items = convs.filter((c) => !filter || c.title.toLowerCase().includes(filter)).map((c) => this.item(c));
    $('conv-list').replaceChildren(...items);
    const total = convs.reduce((n, c) => n + c.unread(), 0);
    document.title = total ? `(${total}) Natter` : 'Natter';
  }

  item(c) {
    const p = c.peer && this.chat.presence.get(c.peer.name);
    const icon = c.kind === 'lobby' ? '⌂' : c.kind === 'group' ? '#' : p?.online ? '●' : '○';
    const unread = c.unread();
    return h('li', {
      role: 'option', tabindex: 0, 'data-conv': c.id, 'data-title': c.title,
      class: `conv-item${c.id === this.open ? ' active' : ''}${unread ? ' has-unread' : ''}`,
      'aria-selected': c.id === this.open ? 'true' : 'false',
      onclick: () => this.show(c.id),
      onkeydown: (e) => { if (e.key === 'Enter') this.show(c.id); },
    },
    h('span', { class: `icon${p?.online ? ' online' : ''}`, 'aria-hidden': 'true' }, icon),
    h('span', { class: 'title' }, c.title),
    h('span', { class: 'time' }, c.lastTs ? shortTime(c.lastTs) : ''),
    h('span', { class: 'preview' }, c.preview),
    unread ? h('span', { class: 'badge', 'aria-label': `${unread} unread` }, String(unread)) : null);
  }

  /** Opens conversation `id` (loading its newest page if needed). */
  async show(id) {
    const c = this.chat.convs.get(id);
    if (!c) return;
    this.open = id;
    this.draftTo = null;
    document.body.classList.add('in-conv');
    $('empty').hidden = true;
    this.header(c);
    this.renderList();
    this.renderMessages();
    this.lockIfEncrypted(c);
    $('compose').focus();
    if (!c.loaded) {
      await this.loadOlder();
      this.scrollBottom();
    }
    this.fillScreen();
    this.markRead();
    this.onOpen?.(id);
    if (c.kind === 'group') this.loadRole(c);
  }

  /** The browser does not implement Olm: an end-to-end encrypted direct
   * cannot be posted into from here. */
  lockIfEncrypted(c) {
    const t = $('compose');
    t.disabled = Boolean(c.e2e);
    t.placeholder = c.e2e ? E2E_TEXT : 'Message (Enter sends, Shift+Enter new line)';
  }

  /** Learns my role in group `c` (who may delete others' messages) and
   * its topic. */
  async loadRole(c) {
    try {
      await this.chat.groupInfo(c);
      if (this.open === c.id) { this.renderMessages(); this.header(c); }
    } catch { /* shown without admin actions */ }
  }

  /** A direct conversation that does not exist yet: first send creates it. */
  showDraft(name) {
    const existing = [...this.chat.convs.values()].find((c) => c.peer?.name.toLowerCase() === name.toLowerCase());
    if (existing) { this.show(existing.id); return; }
    this.open = null;
    this.draftTo = name;
    document.body.classList.add('in-conv');
    $('empty').hidden = true;
    $('conv-title').textContent = name;
    $('conv-sub').textContent = 'new conversation';
    $('msg-list').replaceChildren();
    this.renderPending();
    $('compose').focus();
  }

  header(c) {
    $('conv-title').textContent = c.kind === 'group' ? `# ${c.title}` : c.title;
    const p = c.peer && this.chat.presence.get(c.peer.name);
    $('conv-sub').textContent = c.kind === 'direct' ? (p?.online ? 'online' : seen(p?.last_seen_ms))
      : c.kind === 'group' ? (c.public ? 'public group' : 'invite-only group') : 'everyone';
    $('invite-btn').hidden = c.kind !== 'group';
    $('leave-btn').hidden = c.kind !== 'group';
    if (c.kind === 'group' && c.topic) $('conv-sub').textContent += ` · ${c.topic}`;
  }

  refreshHeader() {
    const c = this.chat.convs.get(this.open);
    if (c) this.header(c);
  }

  /** Renders the open conversation's messages (and its queued ones). */
  renderMessages() {
    const c = this.chat.convs.get(this.open);
    this.lastRow = null;
    const rows = [];
    for (const m of c ? c.sorted() : []) rows.push(...this.rows(m, c));
    $('msg-list').replaceChildren(...rows);
    $('history-status').textContent = c && c.loaded && !c.hasOlder ? 'Beginning of the conversation' : '';
    this.renderPending();
    this.placeSeen();
    this.renderTyping();
  }

  renderPending() {
    const items = [...this.chat.outbox.items, ...[...this.chat.failed.values()].map((f) => f.item)];
    const mine = items.filter((i) =>
      (this.open !== null && i.conv === this.open) || (this.draftTo && i.to === this.draftTo));
    $('pending-list').replaceChildren(...mine.map((i) => this.pendingRow(i)));
  }

  /** The rows of one message: day line and sender line when they change. */
  rows(m, c) {
    const out = [];
    const prev = this.lastRow;
    const d = day(m.ts_ms);
    if (!prev || prev.day !== d) out.push(h('li', { class: 'day', role: 'separator' }, d));
    const sender = m.sender ? m.sender.name : null;
    const newGroup = !prev || prev.day !== d || prev.sender !== sender || m.ts_ms - prev.ts > GROUP_GAP_MS;
    const mine = m.sender?.id === this.chat.me.id;
    if (m.action) return out;
    if (!sender) {
      out.push(h('li', { class: 'system', 'data-seq': m.seq }, m.body));
    } else {
      if (newGroup) out.push(h('li', { class: `sender${mine ? ' mine' : ''}` }, sender));
      out.push(h('li', { class: `msg${mine ? ' mine' : ''}${m.deleted ? ' deleted' : ''}`, 'data-seq': m.seq, 'data-client-id': m.client_id },
        m.deleted ? h('span', { class: 'body gone' }, 'message deleted') : m.e2e ? h('span', { class: 'body gone' }, E2E_TEXT) : h('span', { class: 'body' }, m.file && this.fileCard ? this.fileCard(m, mine) : linkified(m.body)),
        h('span', { class: 'meta' }, m.edited_ms && !m.deleted ? h('span', { class: 'edited' }, 'edited ') : null,
          h('time', { datetime: new Date(m.ts_ms).toISOString() }, clock(m.ts_ms)),
          mine ? this.tick(c, m.seq) : null, this.msgActions(c, m, mine))));
    }
    this.lastRow = { day: d, sender, ts: m.ts_ms };
    return out;
  }

  /** Edit (mine) and delete (mine, or anyone's for a group's admins). */
  msgActions(c, m, mine) {
    if (m.deleted) return null;
    const admin = c.kind === 'group' && (c.myRole === 'owner' || c.myRole === 'admin');
    if (!mine && !admin) return null;
    return h('span', { class: 'msg-actions' },
      mine ? h('button', { type: 'button', class: 'edit', 'aria-label': 'Edit message', onclick: () => this.onEdit?.(c.id, m) }, 'Edit') : null,
      h('button', { type: 'button', class: 'delete', 'aria-label': 'Delete message', onclick: () => this.onDelete?.(c.id, m) }, 'Delete'));
  }

  /** A message changed in place (edited or deleted). */
  onChanged(conv) {
    if (conv !== this.open) return;
    const box = $('messages');
    const top = box.scrollTop;
    this.renderMessages();
    box.scrollTop = top;
  }

  /** "bob is typing…" under the open conversation. */
  renderTyping() {
    const c = this.chat.convs.get(this.open);
    const names = c && this.chat.typingOn ? [...c.typing.keys()] : [];
    $('typing').textContent = names.length === 0 ? ''
      : names.length === 1 ? `${names[0]} is typing…` : `${names.join(', ')} are typing…`;
  }

  /** "Seen" under my last message the peer of a direct has read. */
  placeSeen() {
    document.querySelector('#msg-list .seen')?.remove();
    const c = this.chat.convs.get(this.open);
    if (!c || c.kind !== 'direct' || !c.seen) return;
    const mine = [...document.querySelectorAll('#msg-list .msg.mine')].filter((r) => Number(r.dataset.seq) <= c.seen);
    mine.at(-1)?.append(h('span', { class: 'seen', 'aria-label': `Seen by ${c.title}` }, 'Seen'));
  }

  /** Opens `conv` and scrolls to message `seq` (loading older pages). */
  async jumpTo(conv, seq) {
    if (this.open !== conv) await this.show(conv);
    const c = this.chat.convs.get(conv);
    for (let i = 0; i < 100 && c && !c.msgs.has(seq) && c.hasOlder; i += 1) await this.loadOlder();
    const row = document.querySelector(`#msg-list [data-seq="${seq}"]`);
    if (!row) return;
    row.scrollIntoView({ block: 'center' });
    row.classList.add('found');
    setTimeout(() => row.classList.remove('found'), 2000);
  }

  tick(c, seq) {
    const both = seq <= c.watermark;
    return h('button', {
      type: 'button', class: 'tick', 'data-state': both ? 'delivered' : 'stored', 'data-seq': seq,
      'aria-label': both ? 'Delivered to everyone: who has it' : 'Stored: who has it',
      onclick: () => this.onReceipt?.(c.id, seq),
    }, both ? '✓✓' : '✓');
  }

  pendingRow(i) {
    const failed = this.chat.failed.get(i.client_id);
    return h('li', { class: 'msg mine pending', 'data-client-id': i.client_id, title: failed?.reason },
      h('span', { class: 'body' }, i.body),
      h('span', { class: 'meta' }, failed ? h('span', { class: 'failed' }, failed.reason) : null,
        h('span', { class: 'tick', 'data-state': failed ? 'failed' : 'pending', 'aria-label': failed ? 'Not sent' : 'Not sent yet' },
          failed ? '⚠' : '⏳')));
  }

  /** A new message arrived or was stored. */
  onMessage(conv, m) {
    if (conv !== this.open) { this.renderList(); return; }
    const c = this.chat.convs.get(conv);
    const box = $('messages');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    const sorted = c.sorted();
    if (sorted[sorted.length - 1]?.seq === m.seq && this.lastRow) {
      $('msg-list').append(...this.rows(m, c));
      this.placeSeen();
    } else this.renderMessages();
    this.renderPending();
    if (atBottom || m.sender?.id === this.chat.me.id) this.scrollBottom();
    this.markRead();
    this.renderList();
  }

  /** Updates the ticks of the open conversation to its ✓✓ watermark. */
  updateTicks(conv) {
    const c = this.chat.convs.get(conv);
    if (conv !== this.open || !c) return;
    this.placeSeen();
    for (const t of document.querySelectorAll('#msg-list .tick[data-state="stored"]')) {
      if (Number(t.dataset.seq) <= c.watermark) {
        t.dataset.state = 'delivered';
        t.textContent = '✓✓';
        t.setAttribute('aria-label', 'Delivered to everyone: who has it');
      }
    }
  }

  scrollBottom() { const b = $('messages'); b.scrollTop = b.scrollHeight; }

  /** Loads older history, keeping what is on screen in place. */
  async loadOlder() {
    const id = this.open;
    const box = $('messages');
    const fromBottom = box.scrollHeight - box.scrollTop;
    $('history-status').textContent = 'Loading…';
    let got = false;
    try { got = await this.chat.older(id); } catch { /* shown below */ }
    if (this.open !== id) return;
    if (got) this.renderMessages();
    else $('history-status').textContent = '';
    box.scrollTop = box.scrollHeight - fromBottom;
  }

  /** Loads pages until the view can scroll (or history ends). */
  async fillScreen() {
    const box = $('messages');
    let c = this.chat.convs.get(this.open);
    while (c && c.hasOlder && box.scrollHeight <= box.clientHeight && !c.loading) {
      await this.loadOlder();
      c = this.chat.convs.get(this.open);
    }
  }

  onScroll() {
    const c = this.chat.convs.get(this.open);
    if (c && c.hasOlder && !c.loading && $('messages').scrollTop < 120) this.loadOlder();
  }

  markRead() {
    if (this.open !== null && document.visibilityState === 'visible') this.chat.markRead(this.open);
  }

  close() {
    this.open = null;
    this.draftTo = null;
    document.body.classList.remove('in-conv');
    this.renderList();
  }
}
