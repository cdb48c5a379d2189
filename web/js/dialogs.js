// Dialogs: new message, new group, join, invite, leave, receipt. One
// <dialog> element; Esc closes it (the browser's own behaviour).

import { $, h, seen } from './dom.js';
import { explain } from './state.js';

let onOk = null;

/** Opens the dialog with `title` and `body`; `ok` (async) runs on OK. */
export function open(title, body, ok, okLabel = 'OK') {
  $('dialog-title').textContent = title;
  $('dialog-body').replaceChildren(...body);
  $('dialog-error').textContent = '';
  $('dialog-ok').textContent = okLabel;
  $('dialog-ok').hidden = !ok;
  onOk = ok;
  if (!$('dialog').open) $('dialog').showModal();
  $('dialog-body').querySelector('input')?.focus();
}

export function close() { $('dialog').close(); onOk = null; }

/** Wires the dialog's OK button (call once). */
export function wire() {
  $('dialog-form').addEventListener('submit', async (e) => {
    if (e.submitter?.value !== 'ok' || !onOk) return;
    e.preventDefault();
    // `ok` returning false keeps the dialog open (a search shows results).
    try { if ((await onOk()) !== false) close(); } catch (err) { $('dialog-error').textContent = explain(err); }
  });
}

/** A filter box over a list of user rows. */
function userPicker(chat, users, multi) {
  const rows = users.filter((u) => u.id !== chat.me.id).map((u) => {
    const p = chat.presence.get(u.name);
    const input = h('input', { type: multi ? 'checkbox' : 'radio', name: 'pick', value: u.name });
    return h('li', { 'data-name': u.name.toLowerCase() }, h('label', {}, input, ` ${p?.online ? '●' : '○'} `, u.name,
      h('span', { class: 'sub' }, ` ${p?.online ? 'online' : seen(p?.last_seen_ms)}`)));
  });
  const list = h('ul', { class: 'pick-list', 'aria-label': 'Users' }, rows);
  const filter = h('input', { type: 'search', placeholder: 'Filter users', 'aria-label': 'Filter users',
    oninput: () => {
      const f = filter.value.trim().toLowerCase();
      for (const r of rows) r.hidden = !!f && !r.dataset.name.includes(f);
    } });
  const picked = () => [...list.querySelectorAll('input:checked')].map((i) => i.value);
  return { nodes: [filter, list], picked };
}

async function users(chat) { return (await chat.request('users')).users; }

export async function newMessage(chat, view) {
  const picker = userPicker(chat, await users(chat), false);
  open('New message', picker.nodes, async () => {
    const [name] = picker.picked();
    if (!name) throw new Error('Pick a user.');
    view.showDraft(name);
  }, 'Open');
}

export async function newGroup(chat, view) {
  const name = h('input', { id: 'group-name', maxlength: 64, 'aria-label': 'Group name', placeholder: 'Group name' });
  const pub = h('input', { id: 'group-public', type: 'checkbox', checked: true });
  const picker = userPicker(chat, await users(chat), true);
  open('New group', [h('label', {}, 'Name ', name), h('label', { class: 'check' }, pub, ' Public (anyone may join)'),
    h('p', { class: 'sub' }, 'Members'), ...picker.nodes], async () => {
    if (!name.value.trim()) throw new Error('Give the group a name.');
    const r = await chat.request({ create_group: { name: name.value.trim(), public: pub.checked, members: picker.picked() } });
    await chat.refreshList();
    view.show(r.group.id);
  }, 'Create');
}

export async function joinGroup(chat, view) {
  const groups = (await chat.request('public_groups')).groups;
  const rows = groups.map((g) => h('li', {}, h('button', { type: 'button', onclick: async () => {
    try {
      const r = await chat.request({ join_group: { name: g.name } });
      await chat.refreshList();
      close();
      view.show(r.group.id);
    } catch (e) { $('dialog-error').textContent = explain(e); }
  } }, `# ${g.name}`), h('span', { class: 'sub' }, ` ${g.members} members`)));
  open('Join a public group', rows.length ? [h('ul', { class: 'pick-list' }, rows)] : [h('p', {}, 'No public groups yet.')], null);
}

export async function invite(chat, view) {
  const conv = view.open;
  const picker = userPicker(chat, await users(chat), false);
  open('Invite to the group', picker.nodes, async () => {
    const [user] = picker.picked();
    if (!user) throw new Error('Pick a user.');
    await chat.request({ invite: { conv, user } });
  }, 'Invite');
}

export function leave(chat, view) {
  const c = chat.convs.get(view.open);
  open(`Leave # ${c.title}?`, [h('p', {}, 'You will get no more messages from it.')], async () => {
    await chat.request({ leave_group: { conv: c.id } });
    await chat.refreshList();
    view.close();
  }, 'Leave');
}

export async function receipt(chat, conv, seq) {
  const r = (await chat.request({ receipt: { conv, seq } })).receipt;
  const names = (list) => list.length ? h('ul', {}, list.map((u) => h('li', {}, u.name))) : h('p', { class: 'sub' }, 'nobody');
  const read = r.read ?? [];
  open('Who has it', [h('h3', {}, 'Read'), names(read), h('h3', {}, 'Delivered'), names(r.delivered.filter((u) => !read.some((x) => x.id === u.id))),
    h('h3', {}, 'Not yet'), names(r.pending)], null);
}
