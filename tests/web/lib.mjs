// Helpers of the browser scenarios: a Chromium from Debian driven by
// playwright-core, pages signed in as fresh users, DOM-state waits.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Guard for every wait (a failure guard, not synchronization). */
export const GUARD_MS = 20000;
export const PASSWORD = 'correct horse battery';
export const URL = process.env.NATTER_URL;

/** A fresh, unique user name. */
let counter = 0;
const run = Math.random().toString(36).slice(2, 7);
export function fresh(prefix) { counter += 1; return `${prefix}-${run}${counter}`; }

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A new browser context (its own storage, `options` added to the
 * context's) with one page; page errors and alert() calls are collected in
 * `page.problems`. */
export async function newPage(browser, viewport = { width: 1100, height: 750 }, options = {}) {
  const context = await browser.newContext({ viewport, ...options });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { page.problems.push(`dialog: ${d.message()}`); d.dismiss(); });
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  page.setDefaultTimeout(GUARD_MS);
  return page;
}

export async function gotoLogin(page) {
  await page.goto(URL);
  await page.locator('#login-form').waitFor();
}

/** Fills the sign-in form and presses `button` ('register' or 'submit'). */
export async function submitLogin(page, name, password, button) {
  await page.fill('#login-name', name);
  await page.fill('#login-password', password);
  await page.click(`#login-${button}`);
}

/** Waits until the sign-in form is usable again (its request answered)
 * and returns its error line. */
export async function loginAnswer(page) {
  await page.waitForFunction(() => !document.querySelector('#login-submit').disabled);
  return page.$eval('#login-error', (e) => e.textContent);
}

/** Signs out and waits for the sign-in form. */
export async function signOut(page) {
  await page.click('#signout');
  await page.locator('#login-form').waitFor();
}

/** Registers `name` in `page` and waits for the chat. */
export async function register(page, name) {
  await gotoLogin(page);
  await submitLogin(page, name, PASSWORD, 'register');
  await page.locator('#app').waitFor();
  await expectText(page, '#me', name);
}

/** Waits until `selector`'s text equals `want`. */
export async function expectText(page, selector, want) {
  await page.waitForFunction(([s, w]) => document.querySelector(s)?.textContent === w, [selector, want],
    { timeout: GUARD_MS }).catch(async () => {
    const got = await page.evaluate((s) => document.querySelector(s)?.textContent, selector);
    throw new Error(`${selector}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  });
}

/** Opens the conversation titled `title` in the sidebar. */
export async function openConv(page, title) {
  await page.click(`#conv-list li[data-title="${title}"]`);
  const shown = await page.$eval(`#conv-list li[data-title="${title}"] .icon`, (i) => i.textContent);
  await expectText(page, '#conv-title', shown === '#' ? `# ${title}` : title);
}

/** Types `text` in the composer and presses Enter. */
export async function send(page, text) {
  await page.fill('#compose', text);
  await page.press('#compose', 'Enter');
}

/** Bodies of the stored messages in the open conversation, in order. */
export function bodies(page) {
  return page.$$eval('#msg-list .msg .body', (els) => els.map((e) => e.textContent));
}

/** Waits until the open conversation's last bodies are exactly `want`
 * (all of them when `whole`). */
export async function waitBodies(page, want, whole = false) {
  await page.waitForFunction(([w, all]) => {
    const got = [...document.querySelectorAll('#msg-list .msg .body')].map((e) => e.textContent);
    const tail = all ? got : got.slice(-w.length);
    return JSON.stringify(tail) === JSON.stringify(w);
  }, [want, whole], { timeout: GUARD_MS }).catch(async () => {
    const got = await bodies(page);
    throw new Error(`want messages ending ${JSON.stringify(want)}, got ${JSON.stringify(got.slice(-10))}`);
  });
}

/** Records every tick symbol shown in the page from now on. */
export function recordTicks(page) {
  return page.evaluate(() => {
    window.seenTicks = [];
    const note = (n) => {
      if (n.nodeType !== 1) return;
      for (const t of n.matches('.tick') ? [n] : n.querySelectorAll('.tick')) window.seenTicks.push(t.textContent);
    };
    new MutationObserver((muts) => {
      for (const m of muts) {
        if (m.type === 'characterData' || m.type === 'childList' && m.target.classList?.contains('tick')) {
          window.seenTicks.push(m.target.textContent ?? m.target.parentNode?.textContent);
        }
        m.addedNodes.forEach(note);
      }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
}

/** Asks the Rust test to do `what` (kill, restart) and waits for "done". */
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();
export async function ask(what) {
  console.log(`natter-web: ${what}`);
  const { value } = await lines.next();
  if (value !== 'done') throw new Error(`the test answered ${value} to ${what}`);
}
export function closeStdin() { stdin.close(); }

/** Runs the natter CLI as `user` (password via env, never argv). */
export function cli(home, user, args) {
  return spawn(process.env.NATTER_BIN, args, {
    env: { ...process.env, NATTER_HOME: home, NATTER_SERVER: process.env.NATTER_UDP,
      NATTER_USER: user, NATTER_PASSWORD: PASSWORD },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs a CLI command to completion; rejects on a non-zero exit. */
export function cliOk(home, user, args) {
  return new Promise((resolve, reject) => {
    const child = cli(home, user, args);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), GUARD_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out); else reject(new Error(`natter ${args.join(' ')}: exit ${code}: ${err}`));
    });
  });
}

export function tempHome() { return mkdtempSync(join(tmpdir(), 'natter-web-cli-')); }

export function assert(cond, what) { if (!cond) throw new Error(what); }
