// The account screen: my login sessions (this device marked, the others
// can be signed out) and the change-password dialog.

import { $, h, clock, shortTime } from './dom.js';
import { explain } from './state.js';
import { open } from './dialogs.js';

/** "14:05" today, else "Dec 1". */
function when(ms) {
  return new Date(ms).toDateString() === new Date().toDateString() ? clock(ms) : shortTime(ms);
}

function sessionRow(chat, s, refresh) {
  const revoke = h('button', { type: 'button', class: 'revoke', 'data-session': s.id, onclick: async () => {
    try { await chat.revokeSession(s.id); await refresh(); } catch (e) { $('dialog-error').textContent = explain(e); }
  } }, 'Sign out');
  return h('li', { class: 'session', 'data-session': s.id, 'data-current': s.current ? 'true' : 'false' },
    h('span', { class: 'title' }, s.current ? 'This device' : `Session ${s.id}`),
    h('span', { class: 'sub' }, ` signed in ${when(s.created_ms)}, last used ${when(s.last_used_ms)}`,
      s.last_addr ? ` from ${s.last_addr}` : ''),
    s.current ? null : revoke);
}

/** Opens the account screen. */
export async function account(chat) {
  const list = h('ul', { id: 'session-list', class: 'pick-list', 'aria-label': 'Sessions' });
  const refresh = async () => {
    const sessions = await chat.sessions();
    list.replaceChildren(...sessions.map((s) => sessionRow(chat, s, refresh)));
  };
  await refresh();
  const change = h('button', { type: 'button', id: 'change-password', onclick: () => password(chat) }, 'Change password…');
  const typing = h('input', { id: 'typing-setting', type: 'checkbox', checked: chat.typingOn,
    onchange: () => { chat.typingOn = typing.checked; } });
  open(`Account: ${chat.me.name}`, [h('h3', {}, 'Signed in on'), list, h('h3', {}, 'Password'), change,
    h('h3', {}, 'Privacy'), h('label', { class: 'check' }, typing, ' Typing indicators (show others when I type, and who is typing)')], null);
}

function field(id, label, autocomplete) {
  const input = h('input', { id, type: 'password', autocomplete, required: true });
  return [h('label', {}, `${label} `, input), input];
}

/** The change-password dialog: every other session ends, this one stays. */
export function password(chat) {
  const [oldLabel, old] = field('pw-old', 'Current password', 'current-password');
  const [newLabel, fresh] = field('pw-new', 'New password', 'new-password');
  const [againLabel, again] = field('pw-again', 'New password again', 'new-password');
  const note = h('p', { class: 'sub' }, 'Every other device will be signed out.');
  open('Change password', [oldLabel, newLabel, againLabel, note], async () => {
    if (fresh.value !== again.value) throw new Error('The new passwords differ.');
    try { await chat.changePassword(old.value, fresh.value); } catch (e) {
      if (e.code === 'bad_credentials') throw new Error('The current password is wrong.');
      throw e;
    }
    chat.emit('notice', { text: 'Password changed' });
  }, 'Change');
}
