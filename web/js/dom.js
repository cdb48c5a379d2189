// Small DOM helpers. User text only ever becomes text nodes (textContent),
// never markup.

/** Creates an element; string/number children become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;

/** A message body as text nodes, with http(s) links made clickable. */
export function linkified(body) {
  const out = [];
  let at = 0;
  for (const m of body.matchAll(URL_RE)) {
    const url = m[0].replace(/[.,;:!?)]+$/, '');
    if (m.index > at) out.push(body.slice(at, m.index));
    out.push(h('a', { href: url, rel: 'noopener noreferrer', target: '_blank' }, url));
    at = m.index + url.length;
  }
  if (at < body.length) out.push(body.slice(at));
  return out;
}

/** "14:05" in the local time zone. */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** "Today", "Yesterday" or a local date. */
export function day(ms) {
  const d = new Date(ms);
  const today = new Date();
  const y = new Date(today);
  y.setDate(today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === y.toDateString()) return 'Yesterday';
  return d.toLocaleDateString([], { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric' });
}

/** A short "last message" time for the sidebar. */
export function shortTime(ms) {
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString()
    ? clock(ms)
    : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

/** "last seen 5 min ago" and the like. */
export function seen(ms) {
  if (!ms) return 'offline';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return 'last seen just now';
  if (s < 3600) return `last seen ${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `last seen ${Math.floor(s / 3600)} h ago`;
  return `last seen ${new Date(ms).toLocaleDateString()}`;
}
