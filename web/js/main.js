// Entry point: the sign-in screen, then the chat; wires the DOM to the
// session (state.js), the view (ui.js) and the dialogs.

import { $ } from './dom.js';
import { Chat, explain } from './state.js';
import { View } from './ui.js';
import * as dialogs from './dialogs.js';
import { Files, wireFiles } from './files.js';
import * as account from './account.js';
import * as actions from './actions.js';
import * as moderation from './moderation.js';

const encoder = new TextEncoder();

const chat = new Chat();
const view = new View(chat);
const files = new Files(chat);
view.fileCard = (m, mine) => files.card(m, mine);
window.natterReadyAt = null;

function showLogin(message = '') {
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('login-password').value = '';
  $('login-name').focus();
}

function showApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('me').textContent = chat.me.name;
  view.renderList();
  if (view.open === null) {
    const lobby = [...chat.convs.values()].find((c) => c.kind === 'lobby');
    if (lobby && window.innerWidth > 700) view.show(lobby.id);
  }
  window.natterReadyAt = performance.now();
}

async function signIn(register) {
  const name = $('login-name').value.trim();
  const password = $('login-password').value;
  const stay = $('login-stay').checked;
  if (!name || !password) { $('login-error').textContent = 'Enter a name and a password.'; return; }
  $('login-error').textContent = register ? 'Creating account…' : 'Signing in…';
  for (const b of document.querySelectorAll('#login-form button')) b.disabled = true;
  try {
    if (register) await chat.register(name, password, stay);
    else await chat.login(name, password, stay);
    $('login-error').textContent = '';
    showApp();
  } catch (e) {
    $('login-error').textContent = explain(e);
  } finally {
    for (const b of document.querySelectorAll('#login-form button')) b.disabled = false;
  }
}

let bannerTimer = null;
function banner(text, kind) {
  clearTimeout(bannerTimer);
  const b = $('banner');
  b.textContent = text;
  b.className = kind;
  b.hidden = !text;
  if (kind === 'ok') bannerTimer = setTimeout(() => { b.hidden = true; }, 3000);
  else if (kind === 'note') bannerTimer = setTimeout(() => { b.hidden = true; }, 8000);
}

let wasOffline = false;
function connection({ state }) {
  if (state === 'online') {
    if (wasOffline) banner('Back online', 'ok');
    wasOffline = false;
    if ($('app').hidden) showApp();
    view.renderList();
    if (view.open !== null) view.renderMessages();
  } else if (state === 'reconnecting' || state === 'connecting') {
    wasOffline = wasOffline || state === 'reconnecting';
    if (state === 'reconnecting') banner('Reconnecting…', 'warn');
    if (state === 'reconnecting' && $('app').hidden && chat.me) showApp();
  }
}

function notify(conv, msg) {
  const c = chat.convs.get(conv);
  if (!c || msg.action || !msg.sender || msg.sender.id === chat.me.id || document.visibilityState === 'visible') return;
  const mention = msg.body.toLowerCase().includes(`@${chat.me.name.toLowerCase()}`);
  if ((c.kind !== 'direct' && !mention) || !('Notification' in window) || Notification.permission !== 'granted') return;
  new Notification(`${msg.sender.name}${c.kind === 'direct' ? '' : ` in ${c.title}`}`, { body: msg.body.slice(0, 200) });
}

function wireChat() {
  chat.addEventListener('connection', (e) => connection(e.detail));
  chat.addEventListener('list', () => { view.renderList(); view.refreshHeader(); });
  chat.addEventListener('presence', () => { view.renderList(); view.refreshHeader(); });
  chat.addEventListener('message', (e) => {
    view.onMessage(e.detail.conv, e.detail.msg);
    if (e.detail.pushed) notify(e.detail.conv, e.detail.msg);
  });
  chat.addEventListener('pending', () => view.renderPending());
  chat.addEventListener('failed', () => view.renderPending());
  chat.addEventListener('stored', () => view.renderPending());
  chat.addEventListener('opened', (e) => { if (view.draftTo === e.detail.to) view.show(e.detail.conv); });
  chat.addEventListener('ticks', (e) => view.updateTicks(e.detail.conv));
  chat.addEventListener('ended', (e) => { view.close(); showLogin(e.detail.reason); });
  chat.addEventListener('notice', (e) => banner(e.detail.text, 'ok'));
  chat.addEventListener('problem', (e) => banner(e.detail.text, 'note'));
  chat.addEventListener('changed', (e) => view.onChanged(e.detail.conv));
  chat.addEventListener('typing', (e) => { if (e.detail.conv === view.open) view.renderTyping(); });
  chat.addEventListener('removed', (e) => {
    if (view.open === e.detail.conv) view.close();
    banner(e.detail.text, 'note');
  });
  view.onEdit = (conv, m) => actions.edit(chat, conv, m);
  view.onOpen = (conv) => { if (!$('members').hidden) moderation.memberPanel(chat, view, conv).catch(() => {}); };
  view.onDelete = (conv, m) => actions.remove(chat, conv, m);
  view.onReceipt = (conv, seq) => dialogs.receipt(chat, conv, seq).catch(() => {});
}

function composerInput() {
  const t = $('compose');
  const bytes = encoder.encode(t.value).length;
  const max = chat.maxBody;
  $('counter').textContent = bytes > max * 0.8 ? `${bytes} / ${max}` : '';
  $('counter').classList.toggle('over', bytes > max);
  if (view.open !== null) chat.typing(view.open, t.value.length > 0);
  t.style.height = 'auto';
  t.style.height = `${Math.min(t.scrollHeight, 200)}px`;
}

function submit() {
  const t = $('compose');
  const body = t.value;
  if (!body.trim() || encoder.encode(body).length > chat.maxBody) return;
  if (view.open === null && !view.draftTo) return;
  if (view.open !== null && chat.convs.get(view.open)?.e2e) return; // see ui.js lockIfEncrypted
  chat.send(view.open, view.open === null ? view.draftTo : null, body);
  t.value = '';
  composerInput();
  view.scrollBottom();
}

function wireDom() {
  $('login-form').addEventListener('submit', (e) => { e.preventDefault(); signIn(false); });
  $('login-register').addEventListener('click', () => signIn(true));
  $('signout').addEventListener('click', async () => { await chat.logout(); view.close(); showLogin(); });
  $('search').addEventListener('input', () => view.renderList());
  $('account-btn').addEventListener('click', () => account.account(chat).catch(() => {}));
  $('find-btn').addEventListener('click', () => actions.search(chat, view));
  $('new-dm').addEventListener('click', () => dialogs.newMessage(chat, view));
  $('new-group').addEventListener('click', () => dialogs.newGroup(chat, view));
  $('join-group').addEventListener('click', () => dialogs.joinGroup(chat, view));
  $('invite-btn').addEventListener('click', () => dialogs.invite(chat, view));
  $('leave-btn').addEventListener('click', () => dialogs.leave(chat, view));
  $('back').addEventListener('click', () => view.close());
  $('members-btn').addEventListener('click', toggleMembers);
  $('notify-btn').addEventListener('click', () => 'Notification' in window && Notification.requestPermission());
  $('messages').addEventListener('scroll', () => view.onScroll());
  $('composer').addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  $('compose').addEventListener('input', composerInput);
  $('compose').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  document.addEventListener('keydown', keys);
  document.addEventListener('visibilitychange', () => view.markRead());
  window.addEventListener('focus', () => { view.markRead(); if (chat.online) chat.refreshList(); });
  dialogs.wire();
}

function toggleMembers() {
  const panel = $('members');
  panel.hidden = !panel.hidden;
  $('members-btn').setAttribute('aria-expanded', String(!panel.hidden));
  if (!panel.hidden && view.open !== null) moderation.memberPanel(chat, view, view.open).catch(() => {});
}

function keys(e) {
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
    e.preventDefault();
    $('search').focus();
    $('search').select();
  } else if (e.key === 'Escape' && !$('dialog').open && document.activeElement === $('search')) {
    $('search').value = '';
    view.renderList();
  } else if (e.key === 'Enter' && document.activeElement === $('search')) {
    $('conv-list').querySelector('li')?.click();
  }
}

async function start() {
  wireDom();
  wireChat();
  wireFiles(chat, view, files);
  const saved = Chat.saved();
  if (!saved) { showLogin(); return; }
  if (!(await chat.resume(saved))) showLogin('Your session expired: sign in again.');
}

start();
