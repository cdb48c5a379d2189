// The group's member panel with moderation, shown by role: admins kick,
// ban, mute and unmute members; the owner also promotes, demotes,
// transfers ownership and deletes the group. The ban list and the settings
// dialog. The server checks every action; the buttons only follow roles.

import { $, h, seen, shortTime } from './dom.js';
import { open } from './dialogs.js';
import { explain } from './state.js';

const RANK = { owner: 0, admin: 1, member: 2 };

/** Runs a moderation action; failures go to the banner. */
async function act(chat, conv, action, reason = null) {
  try { await chat.moderate(conv, action, reason); } catch (e) { chat.emit('problem', { text: explain(e) }); }
}

function reasonField() {
  return h('input', { id: 'mod-reason', maxlength: 200, placeholder: 'Reason (optional)', 'aria-label': 'Reason' });
}

function kick(chat, conv, user, refresh) {
  const reason = reasonField();
  const ban = h('input', { id: 'mod-ban', type: 'checkbox', checked: true });
  open(`Remove ${user} from the group?`, [reason, h('label', { class: 'check' }, ban, ' Also ban (cannot come back)')], async () => {
    await chat.moderate(conv, { kick: { user, ban: ban.checked } }, reason.value.trim() || null);
    refresh();
  }, 'Remove');
}

function ban(chat, conv, user, refresh) {
  const reason = reasonField();
  open(`Ban ${user}?`, [reason], async () => {
    await chat.moderate(conv, { ban: { user } }, reason.value.trim() || null);
    refresh();
  }, 'Ban');
}

function transfer(chat, conv, user, refresh) {
  open(`Make ${user} the owner?`, [h('p', {}, 'You become an admin.')], async () => {
    await chat.moderate(conv, { transfer: { user } });
    refresh();
  }, 'Transfer');
}

/** The buttons I may use on member `m` given my role `mine`. */
function memberButtons(chat, conv, m, mine, refresh) {
  const user = m.presence.user.name;
  const b = (cls, label, run) => h('button', { type: 'button', class: `mod ${cls}`, 'data-user': user, onclick: run }, label);
  const quick = (action) => async () => {
    $('member-list').setAttribute('aria-busy', 'true');
    await act(chat, conv, action);
    await refresh();
  };
  if (m.presence.user.id === chat.me.id || RANK[mine] > 1 || RANK[mine] >= RANK[m.role]) return [];
  const out = [b('kick', 'Kick', () => kick(chat, conv, user, refresh)), b('ban', 'Ban', () => ban(chat, conv, user, refresh)),
    m.muted ? b('unmute', 'Unmute', quick({ unmute: { user } })) : b('mute', 'Mute', quick({ mute: { user } }))];
  if (mine === 'owner') {
    out.push(m.role === 'admin' ? b('demote', 'Demote', quick({ demote: { user } })) : b('promote', 'Promote', quick({ promote: { user } })));
    out.push(b('transfer', 'Make owner', () => transfer(chat, conv, user, refresh)));
  }
  return out;
}

function memberRow(chat, conv, m, mine, refresh) {
  const p = m.presence;
  return h('li', { 'data-user': p.user.name, 'data-role': m.role, 'data-muted': m.muted ? 'true' : 'false' },
    h('span', { class: p.online ? 'online' : '' }, p.online ? '● ' : '○ '), p.user.name,
    m.role !== 'member' ? h('span', { class: 'sub role' }, ` ${m.role}`) : null,
    m.muted ? h('span', { class: 'sub muted' }, ' muted') : null,
    h('span', { class: 'sub' }, p.online ? ' online' : ` ${seen(p.last_seen_ms)}`),
    h('span', { class: 'mod-actions' }, memberButtons(chat, conv, m, mine, refresh)));
}

/** The ban list, with unban buttons. */
async function bans(chat, conv) {
  const list = (await chat.request({ bans: { conv } })).bans;
  const rows = list.map((b) => h('li', { 'data-user': b.user.name }, b.user.name,
    h('span', { class: 'sub' }, ` by ${b.by.name}, ${shortTime(b.at_ms)}${b.reason ? `: ${b.reason}` : ''} `),
    h('button', { type: 'button', class: 'unban', onclick: async () => {
      await act(chat, conv, { unban: { user: b.user.name } });
      bans(chat, conv);
    } }, 'Unban')));
  open('Ban list', [rows.length ? h('ul', { id: 'ban-list', class: 'pick-list' }, rows) : h('p', { id: 'ban-list' }, 'Nobody is banned.')], null);
}

/** The settings dialog (admins change them). */
async function settings(chat, conv) {
  const s = (await chat.request({ group_settings: { conv } })).group_settings;
  const name = h('input', { id: 'set-name', maxlength: 64, 'aria-label': 'Group name' });
  const topic = h('input', { id: 'set-topic', maxlength: 200, 'aria-label': 'Topic' });
  const pub = h('input', { id: 'set-public', type: 'checkbox', checked: s.public });
  const adminsInvite = h('input', { id: 'set-admins-invite', type: 'checkbox', checked: s.admins_only_invite });
  name.value = s.name;
  topic.value = s.topic;
  open('Group settings', [h('label', {}, 'Name ', name), h('label', {}, 'Topic ', topic),
    h('label', { class: 'check' }, pub, ' Public (anyone may join)'),
    h('label', { class: 'check' }, adminsInvite, ' Only admins may invite')], async () => {
    const change = (now, was) => (now === was ? null : now);
    await chat.moderate(conv, { settings: { name: change(name.value.trim(), s.name), topic: change(topic.value.trim(), s.topic),
      public: change(pub.checked, s.public), admins_only_invite: change(adminsInvite.checked, s.admins_only_invite) } });
    const c = chat.convs.get(conv);
    if (c) c.topic = topic.value.trim();
    await chat.refreshList();
  }, 'Save');
}

function deleteGroup(chat, view, conv) {
  const c = chat.convs.get(conv);
  open(`Delete # ${c?.title}?`, [h('p', {}, 'The group and its history are gone for everyone.')], async () => {
    await chat.moderate(conv, 'delete');
    await chat.refreshList();
    view.close();
  }, 'Delete group');
}

function groupButtons(chat, view, conv, mine) {
  if (RANK[mine] > 1) return [];
  const b = (id, label, run) => h('button', { type: 'button', id, onclick: () => run().catch((e) => chat.emit('problem', { text: explain(e) })) }, label);
  const out = [b('bans-btn', 'Ban list', () => bans(chat, conv)), b('settings-btn', 'Settings', () => settings(chat, conv))];
  if (mine === 'owner') out.push(b('delete-group-btn', 'Delete group', async () => deleteGroup(chat, view, conv)));
  return out;
}

/** Fills the member panel of `conv` (moderation for groups, by my role). */
export async function memberPanel(chat, view, conv) {
  const list = await chat.members(conv);
  const c = chat.convs.get(conv);
  const mine = c?.kind === 'group' ? c.myRole : 'member';
  const refresh = async () => {
    if (view.open === conv) await memberPanel(chat, view, conv).catch(() => {});
    $('member-list').removeAttribute('aria-busy');
  };
  list.sort((a, b) => RANK[a.role] - RANK[b.role] || a.presence.user.name.localeCompare(b.presence.user.name));
  $('member-list').replaceChildren(...list.map((m) => memberRow(chat, conv, m, mine, refresh)));
  $('group-actions').replaceChildren(...groupButtons(chat, view, conv, mine));
}
