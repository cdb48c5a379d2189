// Scenarios for the account screen (sessions, password), sign-in errors
// beyond the basic ones (throttled), desktop notifications, the keyboard
// paths and the server's max_body (issue 13's gaps). Each takes the
// browser and the shared `world` of run.mjs.

import {
  newPage, register, gotoLogin, submitLogin, loginAnswer, signOut, expectText, openConv, send,
  waitBodies, assert, fresh, PASSWORD,
} from './lib.mjs';

const NEW_PASSWORD = 'a different horse';

function noProblems(...pages) {
  for (const p of pages) assert(p.problems.length === 0, `problems in the page: ${p.problems.join('; ')}`);
}

/** Signs `name` in on a new context; returns its page. */
async function signedIn(browser, name, password = PASSWORD) {
  const page = await newPage(browser);
  await gotoLogin(page);
  await submitLogin(page, name, password, 'submit');
  await expectText(page, '#me', name);
  return page;
}

/** The account screen lists both sessions (this device marked), signs the
 * other one out, and changes the password: the other device is signed
 * out, this one stays (also after a reload), the old password stops
 * working and the new one works. */
export async function sessionsAndPassword(browser) {
  const name = fresh('hal');
  const a = await newPage(browser);
  await register(a, name);
  const b = await signedIn(browser, name);
  await a.click('#account-btn');
  await a.locator('#session-list li').nth(1).waitFor();
  assert(await a.locator('#session-list li').count() === 2, 'two sessions listed');
  await expectText(a, '#session-list li[data-current="true"] .title', 'This device');
  await a.click('#session-list li[data-current="false"] .revoke');
  await a.locator('#session-list li').nth(1).waitFor({ state: 'detached' });
  await b.locator('#login-form').waitFor();
  assert((await b.$eval('#login-error', (e) => e.textContent)).startsWith('Signed out'), 'b was told');
  await a.keyboard.press('Escape');
  const c = await signedIn(browser, name);
  await a.click('#account-btn');
  await a.click('#change-password');
  await a.fill('#pw-old', 'not my password');
  await a.fill('#pw-new', NEW_PASSWORD);
  await a.fill('#pw-again', NEW_PASSWORD);
  await a.click('#dialog-ok');
  await expectText(a, '#dialog-error', 'The current password is wrong.');
  await a.fill('#pw-old', PASSWORD);
  await a.click('#dialog-ok');
  await a.locator('#dialog:not([open])').waitFor({ state: 'attached' });
  await a.locator('#banner', { hasText: 'Password changed' }).waitFor();
  await c.locator('#login-form').waitFor();
  await a.reload();
  await expectText(a, '#me', name);
  await signOut(a);
  await submitLogin(a, name, PASSWORD, 'submit');
  assert(await loginAnswer(a) === 'Wrong name or password.', 'the old password still works');
  await submitLogin(a, name, NEW_PASSWORD, 'submit');
  await expectText(a, '#me', name);
  noProblems(a, b, c);
  for (const p of [a, b, c]) await p.context().close();
}

/** Failed sign-ins beyond the allowance show the wait the server asks for. */
export async function throttled(browser) {
  const page = await newPage(browser);
  const name = fresh('ivy');
  await register(page, name);
  await signOut(page);
  let answer = '';
  for (let i = 0; i < 10 && !answer.startsWith('Too many'); i += 1) {
    await submitLogin(page, name, 'wrong password', 'submit');
    answer = await loginAnswer(page);
  }
  assert(/^Too many failed attempts: try again in \d+ s\.$/.test(answer), `last answer: ${answer}`);
  noProblems(page);
  await page.context().close();
}

/** Spies on Notification and lets the test hide the tab. */
function spyNotifications() {
  window.shown = [];
  const Real = window.Notification;
  window.Notification = class {
    constructor(title, options) { window.shown.push({ title, body: options?.body }); }
    static get permission() { return Real.permission; }
    static requestPermission() { return Real.requestPermission(); }
  };
  Object.defineProperty(document, 'visibilityState', {
    configurable: true, get: () => (window.tabHidden ? 'hidden' : 'visible'),
  });
}

/** A DM to a hidden tab makes a desktop notification (permission granted
 * in the context) and counts in the title. */
export async function notifications(browser) {
  const a = await newPage(browser, undefined, { permissions: ['notifications'] });
  await a.addInitScript(spyNotifications);
  const b = await newPage(browser);
  const [an, bn] = [fresh('jo'), fresh('kim')];
  await register(a, an);
  await register(b, bn);
  assert(await a.evaluate(() => Notification.permission) === 'granted', 'permission granted');
  await a.evaluate(() => { window.tabHidden = true; });
  await b.click('#new-dm');
  await b.locator(`#dialog input[value="${an}"]`).check();
  await b.click('#dialog-ok');
  await send(b, 'psst, are you there?');
  await a.waitForFunction(() => window.shown.length > 0);
  const [note] = await a.evaluate(() => window.shown);
  assert(note.title === bn && note.body === 'psst, are you there?', `notification: ${JSON.stringify(note)}`);
  await a.waitForFunction(() => /^\(\d+\) Natter$/.test(document.title));
  noProblems(a, b);
  await a.context().close();
  await b.context().close();
}

/** Ctrl+K jumps to the filter, Enter opens the first match, Esc clears the
 * filter and closes a dialog. */
export async function keyboard(world) {
  const { a, bn, group } = world;
  await openConv(a, group);
  await a.keyboard.press('Control+K');
  assert(await a.evaluate(() => document.activeElement.id) === 'search', 'Ctrl+K focuses the filter');
  await a.keyboard.type(bn);
  await a.locator('#conv-list li').nth(1).waitFor({ state: 'detached' });
  await a.keyboard.press('Enter');
  await expectText(a, '#conv-title', bn);
  await a.keyboard.press('Control+K');
  await a.keyboard.type('no such conversation');
  await a.locator('#conv-list li').first().waitFor({ state: 'detached' });
  await a.keyboard.press('Escape');
  await a.locator('#conv-list li').nth(1).waitFor();
  assert(await a.$eval('#search', (s) => s.value) === '', 'Esc clears the filter');
  await a.click('#new-group');
  await a.locator('#dialog[open]').waitFor();
  await a.keyboard.press('Escape');
  await a.locator('#dialog:not([open])').waitFor({ state: 'attached' });
  noProblems(a);
}

/** The composer counts against the server's max_body (4096 in the test
 * server, not the default 16 KiB) and does not send a longer body. */
export async function maxBody(world) {
  const { a, bn } = world;
  await openConv(a, bn);
  await a.fill('#compose', 'x'.repeat(3500));
  await expectText(a, '#counter', '3500 / 4096');
  await a.fill('#compose', 'y'.repeat(4100));
  await expectText(a, '#counter', '4100 / 4096');
  await a.press('#compose', 'Enter');
  assert(await a.$eval('#compose', (t) => t.value.length) === 4100, 'a body over max_body was sent');
  assert(await a.locator('#pending-list .msg').count() === 0, 'a body over max_body was queued');
  await a.fill('#compose', 'z'.repeat(4096));
  await a.press('#compose', 'Enter');
  await waitBodies(a, ['z'.repeat(4096)]);
  noProblems(a);
}
