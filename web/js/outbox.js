// Unsent messages survive a reload, a network drop or a server restart:
// each keeps its client id, so a resend after a crash is stored once.

/** A random (v4) UUID; works outside secure contexts too. */
export function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Outbox {
  constructor(userId) {
    this.key = `natter.outbox.${userId}`;
    try { this.items = JSON.parse(localStorage.getItem(this.key)) || []; } catch { this.items = []; }
  }

  save() { localStorage.setItem(this.key, JSON.stringify(this.items)); }

  /** Queues a message for `conv` (an id) or `to` (a user name). */
  add(conv, to, body) {
    const item = { client_id: uuid(), conv, to, body, at: Date.now() };
    this.items.push(item);
    this.save();
    return item;
  }

  remove(clientId) {
    const n = this.items.length;
    this.items = this.items.filter((i) => i.client_id !== clientId);
    if (this.items.length !== n) this.save();
  }

  has(clientId) { return this.items.some((i) => i.client_id === clientId); }

  forConv(conv) { return this.items.filter((i) => i.conv === conv); }

  clear() { this.items = []; localStorage.removeItem(this.key); }
}
