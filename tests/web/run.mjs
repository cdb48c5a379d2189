// The browser scenarios of issue 13, against a running `natter serve`
// (started by tests/web.rs: NATTER_URL, NATTER_UDP, NATTER_BIN). Prints
// "ok N name" per scenario, figures as "natter-web: figure ...", and asks
// the test on stdout ("natter-web: kill", "natter-web: restart") to kill
// and restart the server (it answers "done" on stdin).

import { mkdirSync } from 'node:fs';
import {
  launch, newPage, register, gotoLogin, submitLogin, expectText, openConv, send, bodies,
  waitBodies, recordTicks, ask, closeStdin, cli, cliOk, tempHome, assert, fresh, PASSWORD, URL, GUARD_MS,
} from './lib.mjs';
import * as account from './account.mjs';
import * as issue12 from './issue12.mjs';
import * as fileScenarios from './files.mjs';
import * as e2e from './e2e.mjs';

const SHOTS = process.env.NATTER_SCREENSHOTS || 'target/web-screenshots';
const only = process.env.NATTER_WEB_ONLY?.split(',');
const results = [];
const world = {};

async function scenario(n, name, body) {
  if (only && !only.includes(String(n))) return;
  const t0 = Date.now();
  try {
    await body();
    results.push(true);
    console.log(`ok ${n} ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push(false);
    console.log(`FAIL ${n} ${name}: ${e.stack || e}`);
  }
}

function noProblems(...pages) {
  for (const p of pages) assert(p.problems.length === 0, `problems in the page: ${p.problems.join('; ')}`);
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

/** (1) register, sign out, sign in; the session survives a reload. */
async function registerSignOutSignIn(browser) {
  const page = await newPage(browser);
  const name = fresh('ann');
  const t0 = Date.now();
  await register(page, name);
  await page.locator('#conv-list li[data-title="Lobby"]').waitFor();
  console.log(`natter-web: figure register_to_lobby_ms ${Date.now() - t0}`);
  await page.reload();
  await expectText(page, '#me', name);
  const ready = await page.waitForFunction(() => window.natterReadyAt).then((h) => h.jsonValue());
  console.log(`natter-web: figure resume_load_to_lobby_ms ${ready.toFixed(1)}`);
  await page.click('#signout');
  await page.locator('#login-form').waitFor();
  await page.reload();
  await page.locator('#login-form').waitFor();
  await submitLogin(page, name, PASSWORD, 'submit');
  await expectText(page, '#me', name);
  noProblems(page);
  await page.context().close();
}

/** (2) a DM both ways between two contexts, ⏳ → ✓ → ✓✓. */
async function directBothWays(browser) {
  const a = await newPage(browser);
  const b = await newPage(browser);
  const [an, bn] = [fresh('amy'), fresh('bob')];
  await register(b, bn);
  await register(a, an);
  await b.close();
  await recordTicks(a);
  await a.click('#new-dm');
  await a.locator(`#dialog input[value="${bn}"]`).check();
  await a.click('#dialog-ok');
  await send(a, 'hello bob');
  await expectText(a, '#conv-title', bn);
  await waitBodies(a, ['hello bob']);
  await expectText(a, '#msg-list .msg.mine:last-child .tick', '✓');
  const b2 = await b.context().newPage();
  b2.problems = [];
  b2.on('pageerror', (e) => b2.problems.push(e.message));
  b2.setDefaultTimeout(GUARD_MS);
  await b2.goto(URL);
  await expectText(b2, '#me', bn);
  await b2.locator(`#conv-list li[data-title="${an}"] .badge`).waitFor();
  await openConv(b2, an);
  await waitBodies(b2, ['hello bob']);
  await expectText(a, '#msg-list .msg.mine:last-child .tick', '✓✓');
  const seen = await a.evaluate(() => window.seenTicks);
  const order = ['⏳', '✓', '✓✓'].map((t) => seen.indexOf(t));
  assert(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), `ticks seen: ${seen}`);
  await send(b2, 'hi amy\nsecond line');
  await waitBodies(a, ['hello bob', 'hi amy\nsecond line']);
  await expectText(b2, '#msg-list .msg.mine:last-child .tick', '✓✓');
  await a.click('#msg-list .msg.mine .tick');
  await a.locator('#dialog[open]').waitFor();
  await expectText(a, '#dialog-body ul li', bn);
  await a.keyboard.press('Escape');
  await a.locator('#dialog:not([open])').waitFor({ state: 'attached' });
  noProblems(a, b2);
  Object.assign(world, { a, b: b2, an, bn });
}

/** (7) a message that looks like HTML is shown as text, runs nothing. */
async function xssIsText() {
  const { a, b, an } = world;
  const evil = '<img src=x onerror="window.pwned=1;alert(1)"><script>window.pwned=2</script>';
  await send(b, evil);
  await waitBodies(a, [evil]);
  const html = await a.$eval('#msg-list', (l) => l.querySelectorAll('img, script').length);
  assert(html === 0, 'an element was made from the message');
  assert(!(await a.evaluate(() => window.pwned)), 'the message ran');
  await openConv(b, an);
  noProblems(a, b);
}

/** (4) a group made through the dialog with two members; all three see it. */
async function groupDialog(browser) {
  const { a, b, bn } = world;
  const c = await newPage(browser);
  const cn = fresh('cat');
  await register(c, cn);
  const group = fresh('crew');
  await a.click('#new-group');
  await a.fill('#group-name', group);
  await a.fill('#dialog input[type=search]', bn.slice(0, 5));
  await a.locator(`#dialog input[value="${bn}"]`).check();
  await a.fill('#dialog input[type=search]', '');
  await a.locator(`#dialog input[value="${cn}"]`).check();
  await a.click('#dialog-ok');
  await expectText(a, '#conv-title', `# ${group}`);
  for (const p of [b, c]) await p.locator(`#conv-list li[data-title="${group}"]`).waitFor();
  await send(a, 'welcome, crew');
  for (const p of [b, c]) {
    await openConv(p, group);
    await waitBodies(p, ['welcome, crew']);
  }
  await a.click('#members-btn');
  await a.locator('#member-list li').nth(2).waitFor();
  noProblems(a, b, c);
  await c.context().close();
  world.group = group;
}

/** (3) a browser user and a CLI user in one group, both ways. */
async function browserAndCli() {
  const { a } = world;
  const home = tempHome();
  const dan = fresh('dan');
  await cliOk(home, dan, ['register']);
  const group = fresh('mixed');
  const listen = cli(home, dan, ['listen', '--json']);
  const got = [];
  let buffered = '';
  let wake = null;
  listen.stdout.on('data', (d) => {
    buffered += d;
    let i;
    while ((i = buffered.indexOf('\n')) >= 0) {
      got.push(JSON.parse(buffered.slice(0, i)));
      buffered = buffered.slice(i + 1);
      wake?.();
    }
  });
  const until = async (pred, what) => {
    const deadline = Date.now() + GUARD_MS;
    while (!got.some(pred)) {
      if (Date.now() > deadline) throw new Error(`natter listen never printed ${what}`);
      await new Promise((r) => { wake = r; setTimeout(r, GUARD_MS); });
    }
  };
  try {
    await until((v) => v.type === 'synced', 'synced');
    await a.click('#new-group');
    await a.fill('#group-name', group);
    await a.locator(`#dialog input[value="${dan}"]`).check();
    await a.click('#dialog-ok');
    await expectText(a, '#conv-title', `# ${group}`);
    await until((v) => v.type === 'added' && v.conversation === `#${group}` && v.by === world.an, 'added');
    await send(a, 'from the browser');
    await until((v) => v.type === 'message' && v.body === 'from the browser', 'the browser message');
    await cliOk(home, dan, ['send', '--group', group, 'from the terminal']);
    await waitBodies(a, ['from the browser', 'from the terminal']);
  } finally { listen.kill(); }
  noProblems(a);
}

/** (5) kill -9 with messages queued; restart; each once, in order. A
 * sign-in while the server is down says it cannot be reached. */
async function killAndRestart(browser) {
  const { a, b, an, bn } = world;
  const lone = await newPage(browser);
  await gotoLogin(lone);
  await openConv(a, bn);
  await openConv(b, an);
  await ask('kill');
  await a.locator('#banner', { hasText: 'Reconnecting' }).waitFor();
  await submitLogin(lone, an, PASSWORD, 'submit');
  await expectText(lone, '#login-error', 'Cannot reach the server.');
  await lone.context().close();
  const queued = ['queued 1', 'queued 2', 'queued 3'];
  for (const q of queued) await send(a, q);
  await a.locator('#pending-list .msg').nth(2).waitFor();
  await ask('restart');
  await a.locator('#banner', { hasText: 'Back online' }).waitFor();
  await a.locator('#pending-list .msg').waitFor({ state: 'detached' });
  await waitBodies(a, queued);
  await waitBodies(b, queued);
  for (const p of [a, b]) {
    const all = await bodies(p);
    for (const q of queued) assert(all.filter((x) => x === q).length === 1, `${q} not exactly once: ${all}`);
    // The browser logs each refused reconnect attempt while the server is down.
    p.problems = p.problems.filter((x) => !x.includes('ERR_CONNECTION_REFUSED'));
  }
  noProblems(a, b);
}

/** (6) scroll up through 300 messages: in order, none twice. */
async function scrollHistory(browser) {
  const { a, an } = world;
  const eve = fresh('eve');
  const n = 300;
  const sender = await newPage(browser);
  await register(sender, eve);
  await bulkSend(sender, an, n);
  await sender.context().close();
  await a.locator(`#conv-list li[data-title="${eve}"]`).waitFor();
  await openConv(a, eve);
  await waitBodies(a, [`m${n}`]);
  await scrollToStart(a);
  const all = await bodies(a);
  const want = Array.from({ length: n }, (_, i) => `m${i + 1}`);
  assert(JSON.stringify(all) === JSON.stringify(want), `history: ${all.length} messages, first ${all.slice(0, 3)}`);
  noProblems(a);
}

/** Scrolls the open conversation up until its history begins. */
async function scrollToStart(a) {
  while (!(await a.$eval('#history-status', (e) => e.textContent.startsWith('Beginning')))) {
    const before = (await bodies(a)).length;
    await a.$eval('#messages', (m) => { m.scrollTop = 0; m.dispatchEvent(new Event('scroll')); });
    await a.waitForFunction((k) => document.querySelectorAll('#msg-list .msg').length > k
      || document.querySelector('#history-status').textContent.startsWith('Beginning'), before);
  }
}

/** Sends `n` messages "m1".."mN" to user `to` from `sender`'s session
 * over a WebSocket of its own (fast: no UI). */
async function bulkSend(sender, to, n) {
  await sender.evaluate(async ([to, count]) => {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    await new Promise((r) => { ws.onopen = r; });
    const saved = JSON.parse(localStorage.getItem('natter.session'));
    let id = 0;
    const call = (body) => new Promise((resolve, reject) => {
      id += 1;
      const mine = id;
      const onmsg = (e) => {
        const f = JSON.parse(e.data);
        if (f.response?.id !== mine) return;
        ws.removeEventListener('message', onmsg);
        if (f.response.result.Ok) resolve(f.response.result.Ok); else reject(f.response.result.Err);
      };
      ws.addEventListener('message', onmsg);
      ws.send(JSON.stringify({ request: { id: mine, body } }));
    });
    await call({ resume: { version: 2, token: saved.token, sync: { cursors: [] } } });
    for (let i = 1; i <= count; i += 1) {
      const cid = crypto.randomUUID();
      for (;;) {
        try { await call({ send: { target: { user: to }, client_id: cid, body: `m${i}` } }); break; } catch (e) {
          if (!e.code?.rate_limited) throw new Error(JSON.stringify(e));
          await new Promise((r) => { setTimeout(r, e.code.rate_limited.retry_after_ms); });
        }
      }
    }
    ws.close();
  }, [to, n]);
}

/** Sends `n` messages "m1".."mN" to user `to` with up to `window`
 * requests in flight (order not kept; for the bench, whose server has a
 * wide write rate limit). */
async function bulkSendPipelined(sender, to, n, window = 64) {
  await sender.evaluate(async ([to, count, depth]) => {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    await new Promise((r) => { ws.onopen = r; });
    const saved = JSON.parse(localStorage.getItem('natter.session'));
    const waiting = new Map();
    ws.addEventListener('message', (e) => {
      const r = JSON.parse(e.data).response;
      const done = r && waiting.get(r.id);
      if (!done) return;
      waiting.delete(r.id);
      if (r.result.Ok) done.resolve(r.result.Ok); else done.reject(r.result.Err);
    });
    let id = 0;
    const call = (body) => new Promise((resolve, reject) => {
      id += 1;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ request: { id, body } }));
    });
    await call({ resume: { version: 2, token: saved.token, sync: { cursors: [] } } });
    let next = 1;
    const worker = async () => {
      while (next <= count) {
        const i = next;
        next += 1;
        const cid = crypto.randomUUID();
        for (;;) {
          try { await call({ send: { target: { user: to }, client_id: cid, body: `m${i}` } }); break; } catch (e) {
            if (!e.code?.rate_limited) throw new Error(JSON.stringify(e));
            await new Promise((r) => { setTimeout(r, e.code.rate_limited.retry_after_ms); });
          }
        }
      }
    };
    await Promise.all(Array.from({ length: depth }, worker));
    ws.close();
  }, [to, n, window]);
}

/** (bench) memory of a tab holding 10 000 messages (NATTER_WEB_BENCH=1). */
async function memory(browser) {
  const { a, an } = world;
  const n = 10000;
  const sender = await newPage(browser);
  const who = fresh('max');
  await register(sender, who);
  const cdp = await a.context().newCDPSession(a);
  await cdp.send('Performance.enable');
  const measure = async (what) => {
    await cdp.send('HeapProfiler.collectGarbage');
    const { metrics } = await cdp.send('Performance.getMetrics');
    const get = (k) => metrics.find((m) => m.name === k)?.value;
    const rows = await a.$$eval('#msg-list .msg', (l) => l.length);
    console.log(`natter-web: figure ${what} tab_messages ${rows} js_heap_used_bytes ${get('JSHeapUsedSize')} dom_nodes ${get('Nodes')}`);
  };
  await measure('before');
  const t0 = Date.now();
  await bulkSendPipelined(sender, an, n);
  console.log(`natter-web: figure bulk_send_10000_ms ${Date.now() - t0}`);
  await sender.context().close();
  await a.locator(`#conv-list li[data-title="${who}"]`).waitFor();
  await openConv(a, who);
  await scrollToStart(a);
  await measure('after');
}

/** (8) wrong password and a taken name show their errors. */
async function loginErrors(browser) {
  const page = await newPage(browser);
  const name = fresh('fay');
  await register(page, name);
  await page.click('#signout');
  await page.locator('#login-form').waitFor();
  await submitLogin(page, name, 'not the password', 'submit');
  await expectText(page, '#login-error', 'Wrong name or password.');
  await submitLogin(page, name, PASSWORD, 'register');
  await expectText(page, '#login-error', 'That name is taken.');
  await submitLogin(page, fresh('gus'), 'short', 'register');
  await expectText(page, '#login-error', 'The password is too short: at least 8 characters.');
  await shot(page, 'login-error-light');
  noProblems(page);
  await page.context().close();
}

/** Screens in light and dark, desktop and phone width. */
async function screenshots() {
  const { a } = world;
  await openConv(a, world.group);
  for (const scheme of ['light', 'dark']) {
    await a.emulateMedia({ colorScheme: scheme });
    await a.setViewportSize({ width: 1100, height: 750 });
    await shot(a, `desktop-${scheme}`);
    await a.setViewportSize({ width: 390, height: 780 });
    await shot(a, `phone-conversation-${scheme}`);
    await a.click('#back');
    await shot(a, `phone-list-${scheme}`);
    await openConv(a, world.group);
  }
  await a.setViewportSize({ width: 1100, height: 750 });
  await a.emulateMedia({ colorScheme: 'light' });
}

/** Bytes the page loads (as sent, compressed) and its load-to-lobby time. */
async function pageWeight(browser) {
  const page = await newPage(browser);
  let bytes = 0;
  page.on('requestfinished', async (r) => {
    const s = await r.sizes();
    bytes += s.responseBodySize + s.responseHeadersSize;
  });
  await gotoLogin(page);
  await page.waitForLoadState('networkidle');
  console.log(`natter-web: figure page_bytes_compressed ${bytes}`);
  await page.context().close();
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await launch();
  try {
    await scenario(1, 'register, sign out, sign in', () => registerSignOutSignIn(browser));
    await scenario(8, 'wrong password and taken name', () => loginErrors(browser));
    await scenario(11, 'sessions and password change', () => account.sessionsAndPassword(browser));
    await scenario(12, 'throttled sign-in', () => account.throttled(browser));
    await scenario(13, 'desktop notification in a hidden tab', () => account.notifications(browser));
    await scenario(2, 'DM both ways with ticks', () => directBothWays(browser));
    if (world.a) {
      await scenario(7, 'XSS body is text', () => xssIsText());
      await scenario(4, 'group through the dialog', () => groupDialog(browser));
      await scenario(3, 'browser and CLI in a group', () => browserAndCli());
      await scenario(6, 'scroll up through 300 messages', () => scrollHistory(browser));
      await scenario(17, 'edit and delete messages', () => issue12.editAndDelete(browser, world));
      if (world.modGroup) await scenario(18, 'moderation from the member panel', () => issue12.moderation(browser, world));
      await scenario(19, 'typing indicator', () => issue12.typing(world));
      await scenario(20, 'seen and readers', () => issue12.seen(world));
      await scenario(21, 'search jumps to the message', () => issue12.search(world));
      if (world.group) await scenario(0, 'screenshots', () => screenshots());
      if (world.group) await scenario(15, 'keyboard: Ctrl+K, Enter, Esc', () => account.keyboard(world));
      await scenario(16, 'max_body from the server', () => account.maxBody(world));
      await scenario(5, 'kill -9 and restart with a queued outbox', () => killAndRestart(browser));
      if (process.env.NATTER_WEB_BENCH === '1') await scenario(10, 'memory of 10 000 messages', () => memory(browser));
    }
    await scenario(30, 'file transfer: browser and CLI', () => fileScenarios.files(browser));
    await scenario(31, 'encrypted direct from the CLI', () => e2e.encryptedDirect(browser));
    await scenario(9, 'page weight', () => pageWeight(browser));
  } finally {
    await browser.close();
    closeStdin();
  }
  const failed = results.filter((r) => !r).length;
  console.log(`natter-web: ${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.log(`FAIL driver: ${e.stack || e}`); process.exit(2); });
