// Scenarios for issue 12 in the browser: editing and deleting messages,
// moderation from the member panel (shown by role), typing indicators,
// "seen" in DMs and readers in the receipt view, and search that jumps to
// the message. Each takes the browser and run.mjs's shared `world`.

import {
  newPage, register, expectText, openConv, send, waitBodies, bodies, assert, fresh,
} from './lib.mjs';

function noProblems(...pages) {
  for (const p of pages) assert(p.problems.length === 0, `problems in the page: ${p.problems.join('; ')}`);
}

/** The row of the last message whose body is `text`. */
function row(page, text) {
  return page.locator('#msg-list .msg', { has: page.locator('.body', { hasText: text }) }).last();
}

/** Makes a group through the dialog with `members` and opens it. */
async function makeGroup(page, name, members) {
  await page.click('#new-group');
  await page.fill('#group-name', name);
  for (const m of members) await page.locator(`#dialog input[value="${m}"]`).check();
  await page.click('#dialog-ok');
  await expectText(page, '#conv-title', `# ${name}`);
}

async function editRow(page, text, next) {
  await row(page, text).hover();
  await row(page, text).locator('button.edit').click();
  await page.fill('#edit-body', next);
  await page.click('#dialog-ok');
  await page.locator('#dialog:not([open])').waitFor({ state: 'attached' });
}

async function deleteRow(page, text) {
  await row(page, text).hover();
  await row(page, text).locator('button.delete').click();
  await page.click('#dialog-ok');
  await page.locator('#dialog:not([open])').waitFor({ state: 'attached' });
}

/** Own messages are edited and deleted in place; the owner deletes a
 * member's message; both sides see "edited" and "message deleted". */
export async function editAndDelete(browser, world) {
  const { a, b, bn } = world;
  const group = fresh('desk');
  await makeGroup(a, group, [bn]);
  await b.locator(`#conv-list li[data-title="${group}"]`).waitFor();
  await openConv(b, group);
  await send(b, 'helo wrold');
  await waitBodies(a, ['helo wrold']);
  await editRow(b, 'helo wrold', 'hello world');
  for (const p of [a, b]) {
    await waitBodies(p, ['hello world']);
    await row(p, 'hello world').locator('.edited').waitFor();
  }
  await deleteRow(b, 'hello world');
  await send(b, 'buy cheap watches');
  await waitBodies(a, ['message deleted', 'buy cheap watches']);
  await deleteRow(a, 'buy cheap watches');
  for (const p of [a, b]) await waitBodies(p, ['message deleted', 'message deleted']);
  const all = await bodies(b);
  assert(!all.includes('hello world') && !all.includes('buy cheap watches'), `bodies: ${all}`);
  assert(await b.locator('#msg-list .msg:not(.mine) button.delete').count() === 0, 'a member may delete others\' messages');
  noProblems(a, b);
  world.modGroup = group;
}

/** Clicks a member's moderation button; quick actions are done when the
 * panel is no longer busy. */
async function memberButton(page, user, cls) {
  await page.locator(`#member-list li[data-user="${user}"] button.${cls}`).click();
  await page.locator('#member-list:not([aria-busy])').waitFor();
}

/** The member panel marks `user` muted or not and offers only the
 * matching one of Mute / Unmute. */
async function muteButtons(page, user, muted) {
  const li = `#member-list li[data-user="${user}"]`;
  await page.locator(`${li}[data-muted="${muted}"]`).waitFor();
  const [shown, hidden] = muted ? ['unmute', 'mute'] : ['mute', 'unmute'];
  await page.locator(`${li} button.${shown}`).waitFor();
  assert(await page.locator(`${li} button.${hidden}`).count() === 0, `${user}: ${hidden} offered (muted: ${muted})`);
}

/** Opens the member panel afresh (closing it first if it is open). */
async function openMembers(page) {
  if (await page.locator('#members').isVisible()) await page.click('#members-btn');
  await page.click('#members-btn');
}

/** Promote/demote, mute/unmute, kick with ban, the ban list and unban,
 * settings (topic), and deleting the group, each seen by the others. */
export async function moderation(browser, world) {
  const { a, b, bn } = world;
  const group = world.modGroup;
  const c = await newPage(browser);
  const cn = fresh('cleo');
  await register(c, cn);
  await openConv(a, group);
  await a.click('#invite-btn');
  await a.locator(`#dialog input[value="${cn}"]`).check();
  await a.click('#dialog-ok');
  await c.locator(`#conv-list li[data-title="${group}"]`).waitFor();
  await openMembers(a);
  await memberButton(a, cn, 'promote');
  await a.locator(`#member-list li[data-user="${cn}"][data-role="admin"]`).waitFor();
  await openConv(c, group);
  await openMembers(c);
  await c.locator(`#member-list li[data-user="${bn}"] button.kick`).waitFor();
  assert(await c.locator('#delete-group-btn').count() === 0, 'an admin is offered delete group');
  await memberButton(a, cn, 'demote');
  await a.locator(`#member-list li[data-user="${cn}"][data-role="member"]`).waitFor();

  await muteButtons(a, bn, false);
  await memberButton(a, bn, 'mute');
  await muteButtons(a, bn, true);
  await openConv(b, group);
  await send(b, 'can I still talk?');
  await expectText(b, '#pending-list .msg:last-child .tick', '⚠');
  await memberButton(a, bn, 'unmute');
  await muteButtons(a, bn, false);
  await send(b, 'now I can');
  await waitBodies(a, ['now I can']);

  await memberButton(a, bn, 'kick');
  await a.fill('#mod-reason', 'spam');
  await a.click('#dialog-ok');
  await b.locator('#banner', { hasText: 'banned you from' }).waitFor();
  await b.locator(`#conv-list li[data-title="${group}"]`).waitFor({ state: 'detached' });
  await a.click('#bans-btn');
  await a.locator(`#ban-list li[data-user="${bn}"]`).waitFor();
  assert((await a.textContent(`#ban-list li[data-user="${bn}"] .sub`)).includes(`by ${world.an}`), 'who banned');
  assert((await a.textContent(`#ban-list li[data-user="${bn}"] .sub`)).includes('spam'), 'the reason');
  await a.click(`#ban-list li[data-user="${bn}"] button.unban`);
  await expectText(a, '#ban-list', 'Nobody is banned.');
  await a.keyboard.press('Escape');

  await a.click('#settings-btn');
  await a.fill('#set-topic', 'quiet hours after 22:00');
  await a.click('#dialog-ok');
  await a.locator('#dialog:not([open])').waitFor({ state: 'attached' });
  await a.locator('#conv-sub', { hasText: 'quiet hours after 22:00' }).waitFor();
  await c.click('#conv-list li[data-title="Lobby"]');
  await openConv(c, group);
  await c.locator('#conv-sub', { hasText: 'quiet hours after 22:00' }).waitFor();

  await a.click('#leave-btn');
  await a.click('#dialog-ok');
  await a.waitForFunction(() => document.querySelector('#dialog-error').textContent.length > 0);
  const why = await a.textContent('#dialog-error');
  assert(/owner|transfer/i.test(why), `the owner's leave: ${why}`);
  await a.keyboard.press('Escape');
  await openMembers(a);
  await a.locator(`#member-list li[data-user="${cn}"] button.transfer`).click();
  await a.click('#dialog-ok');
  await a.locator(`#member-list li[data-user="${cn}"][data-role="owner"]`).waitFor();
  await a.locator(`#member-list li[data-user="${world.an}"][data-role="admin"]`).waitFor();
  assert(await a.locator('#delete-group-btn').count() === 0, 'a former owner is offered delete group');
  await openMembers(c);
  await c.click('#delete-group-btn');
  await c.click('#dialog-ok');
  await a.locator('#banner', { hasText: `${cn} deleted # ${group}` }).waitFor();
  await a.locator(`#conv-list li[data-title="${group}"]`).waitFor({ state: 'detached' });
  await c.locator(`#conv-list li[data-title="${group}"]`).waitFor({ state: 'detached' });
  noProblems(a, b, c);
  await c.context().close();
}

/** "bob is typing…" while bob types (one start sent for a burst of keys:
 * at most one per 3 s), gone when he clears the line; with the sender's
 * setting off nothing is sent, with the reader's off nothing is shown. */
export async function typing(world) {
  const { a, b, bn } = world;
  // A fresh group: no start was sent there yet (one per 3 s at most).
  const group = fresh('chatter');
  await makeGroup(a, group, [bn]);
  await b.locator(`#conv-list li[data-title="${group}"]`).waitFor();
  await openConv(b, group);
  await b.evaluate(() => {
    window.typingStarts = 0;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function counted(data) {
      if (String(data).includes('"typing":true')) window.typingStarts += 1;
      return send.call(this, data);
    };
  });
  await b.focus('#compose');
  await b.keyboard.type('thinking about it');
  await expectText(a, '#typing', `${bn} is typing…`);
  const starts = await b.evaluate(() => window.typingStarts);
  assert(starts === 1, `${starts} typing starts sent for one burst of keys (at most one per 3 s)`);
  await b.fill('#compose', '');
  await expectText(a, '#typing', '');
  await a.evaluate(() => {
    window.typingShown = [];
    new MutationObserver(() => window.typingShown.push(document.querySelector('#typing').textContent))
      .observe(document.querySelector('#typing'), { childList: true, characterData: true, subtree: true });
  });
  await b.click('#account-btn');
  await b.locator('#typing-setting').uncheck();
  await b.keyboard.press('Escape');
  await b.fill('#compose', 'quiet typing');
  await b.press('#compose', 'Enter');
  await waitBodies(a, ['quiet typing']);
  const shown = await a.evaluate(() => window.typingShown.filter((t) => t));
  assert(shown.length === 0, `typing shown with the setting off: ${shown}`);
  await b.click('#account-btn');
  await b.locator('#typing-setting').check();
  await b.keyboard.press('Escape');
  await readerOff(world);
  noProblems(a, b);
}

/** With a's setting off, b's typing start reaches a (b sends it) but a
 * shows nothing. A fresh group: b may send a start there at once. */
async function readerOff({ a, b, bn }) {
  const group = fresh('hush');
  await makeGroup(a, group, [bn]);
  await b.locator(`#conv-list li[data-title="${group}"]`).waitFor();
  await openConv(b, group);
  await a.click('#account-btn');
  await a.locator('#typing-setting').uncheck();
  await a.keyboard.press('Escape');
  await a.evaluate(() => { window.typingShown = []; });
  await b.evaluate(() => { window.typingStarts = 0; });
  await b.focus('#compose');
  await b.keyboard.type('unseen typing');
  const starts = await b.evaluate(() => window.typingStarts);
  assert(starts === 1, `b sent ${starts} typing starts (expected 1)`);
  await b.press('#compose', 'Enter');
  await waitBodies(a, ['unseen typing']);
  const shown = await a.evaluate(() => window.typingShown.filter((t) => t));
  assert(shown.length === 0, `typing shown to a reader with the setting off: ${shown}`);
  await a.click('#account-btn');
  await a.locator('#typing-setting').check();
  await a.keyboard.press('Escape');
}

/** In a DM, "Seen" appears under my message once the peer reads it; the
 * receipt view lists the peer as a reader. */
export async function seen(world) {
  const { a, b, an, bn } = world;
  await openConv(b, an);
  await b.click('#conv-list li[data-title="Lobby"]');
  await openConv(a, bn);
  await send(a, 'did you see this?');
  await expectText(a, '#msg-list .msg.mine:last-child .tick', '✓✓');
  const seenAt = () => a.evaluate(() => {
    const mine = [...document.querySelectorAll('#msg-list .msg.mine')].at(-1);
    return document.querySelector('#msg-list .seen')?.closest('.msg') === mine;
  });
  assert(!(await seenAt()), 'seen before it was read');
  await openConv(b, an);
  await a.waitForFunction(() => {
    const mine = [...document.querySelectorAll('#msg-list .msg.mine')].at(-1);
    return document.querySelector('#msg-list .seen')?.closest('.msg') === mine;
  });
  await a.locator('#msg-list .msg.mine').last().locator('.tick').click();
  await expectText(a, '#dialog-body ul li', bn);
  assert(await a.$eval('#dialog-body h3', (e) => e.textContent) === 'Read', 'the first list is the readers');
  await a.keyboard.press('Escape');
  noProblems(a, b);
}

/** Search finds a message in another conversation and jumps to it. */
export async function search(world) {
  const { a, b, an, bn } = world;
  await openConv(b, an);
  await a.click('#conv-list li[data-title="Lobby"]');
  await send(b, 'the zebra-token is here');
  await waitBodies(b, ['the zebra-token is here']);
  await a.click('#find-btn');
  await a.fill('#find-text', 'zebra-tok');
  await a.press('#find-text', 'Enter');
  const hit = a.locator('#find-results .hit-open').first();
  await hit.waitFor();
  assert((await hit.locator('.snippet').textContent()).includes('zebra-token'), 'snippet');
  await hit.click();
  await expectText(a, '#conv-title', bn);
  await a.locator('#msg-list .msg.found', { hasText: 'the zebra-token is here' }).waitFor();
  await a.click('#find-btn');
  await a.fill('#find-text', 'no such text anywhere');
  await a.press('#find-text', 'Enter');
  await expectText(a, '#find-results li', 'Nothing found.');
  await a.keyboard.press('Escape');
  await a.locator('#dialog:not([open])').waitFor({ state: 'attached' });
  noProblems(a, b);
}
