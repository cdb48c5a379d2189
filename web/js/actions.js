// Message actions and search: the edit and delete dialogs, and the
// search dialog whose results jump to the message.

import { $, h, shortTime } from './dom.js';
import { open, close } from './dialogs.js';
import { explain } from './state.js';

/** Edits my message `m` of `conv`. */
export function edit(chat, conv, m) {
  const text = h('textarea', { id: 'edit-body', rows: 4, 'aria-label': 'New text' });
  text.value = m.body;
  open('Edit message', [text], async () => {
    if (!text.value.trim()) throw new Error('The text is empty: delete the message instead.');
    await chat.edit(conv, m.seq, text.value);
  }, 'Save');
  text.focus();
}

/** Deletes message `m` of `conv` after asking. */
export function remove(chat, conv, m) {
  const whose = m.sender?.id === chat.me.id ? 'your message' : `${m.sender?.name}'s message`;
  open('Delete message?', [h('p', {}, `This deletes ${whose} for everyone.`)], async () => {
    await chat.remove(conv, m.seq);
  }, 'Delete');
}

/** Where a hit is, as the sidebar names it. */
function place(hit) {
  const k = hit.kind;
  if (k === 'lobby') return 'Lobby';
  if (k.direct) return k.direct.peer.name;
  return `# ${k.group?.name ?? ''}`;
}

function hitRow(hit, view) {
  return h('li', { class: 'hit' }, h('button', {
    type: 'button', class: 'hit-open', 'data-conv': hit.conv, 'data-seq': hit.seq,
    onclick: () => { close(); view.jumpTo(hit.conv, hit.seq); },
  }, h('span', { class: 'title' }, place(hit)),
  h('span', { class: 'sub' }, ` ${hit.sender?.name ?? ''} · ${shortTime(hit.ts_ms)}`),
  h('span', { class: 'snippet' }, hit.snippet)));
}

/** The search dialog: every conversation, or only the open one. */
export function search(chat, view) {
  // type=text: Esc closes the dialog (in a search field it only clears it).
  const input = h('input', { id: 'find-text', type: 'text', role: 'searchbox', placeholder: 'Text to find (3+ characters)', 'aria-label': 'Text to find' });
  const here = h('input', { id: 'find-here', type: 'checkbox' });
  const results = h('ul', { id: 'find-results', class: 'pick-list', 'aria-label': 'Results' });
  const more = h('button', { type: 'button', id: 'find-more', hidden: true }, 'More');
  let next = null;
  const run = async (append) => {
    $('dialog-error').textContent = '';
    const conv = here.checked && view.open !== null ? view.open : null;
    try {
      const page = await chat.search(input.value.trim(), conv, append ? next : null);
      next = page.next;
      const rows = page.hits.map((hit) => hitRow(hit, view));
      if (append) results.append(...rows); else results.replaceChildren(...rows);
      if (!append && rows.length === 0) results.replaceChildren(h('li', { class: 'sub' }, 'Nothing found.'));
      more.hidden = !next;
    } catch (e) { $('dialog-error').textContent = explain(e); }
  };
  more.addEventListener('click', () => run(true));
  const label = h('label', { class: 'check' }, here, ' Only this conversation');
  open('Search messages', [input, view.open !== null ? label : null, results, more].filter(Boolean),
    async () => { await run(false); return false; }, 'Search');
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); run(false); } });
}
