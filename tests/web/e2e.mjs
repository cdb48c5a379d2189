// End-to-end encrypted directs (issue 15) seen from the browser, which
// does not implement Olm: a CLI user sends an `--e2e` direct to a user who
// is signed in in the browser (and has a CLI device too). The browser
// lists the conversation, shows each message as the placeholder, never
// the text, and its composer is disabled with the placeholder's hint.

import { randomUUID } from 'node:crypto';
import { newPage, register, expectText, openConv, waitBodies, cliOk, tempHome, assert, fresh } from './lib.mjs';

const E2E_TEXT = 'end-to-end encrypted — open this conversation in natter chat';

export async function encryptedDirect(browser) {
  const page = await newPage(browser);
  const [bn, cn] = [fresh('ebea'), fresh('ecli')];
  await register(page, bn);
  // The browser user's other device (its CLI) publishes keys; the CLI
  // user has a device of its own.
  await cliOk(tempHome(), bn, ['keys']);
  const home = tempHome();
  await cliOk(home, cn, ['register']);
  await cliOk(home, cn, ['keys']);
  const secret = `secret-${randomUUID()}`;
  await cliOk(home, cn, ['send', '--to', bn, '--e2e', secret]);
  await page.locator(`#conv-list li[data-title="${cn}"]`).waitFor();
  await openConv(page, cn);
  await waitBodies(page, [E2E_TEXT], true);
  const compose = page.locator('#compose');
  assert(await compose.isDisabled(), 'the composer of an encrypted direct is disabled');
  assert(await compose.getAttribute('placeholder') === E2E_TEXT, 'the composer says why');
  // A second message arrives live, also only as the placeholder.
  await cliOk(home, cn, ['send', '--to', bn, '--e2e', `${secret}-2`]);
  await waitBodies(page, [E2E_TEXT, E2E_TEXT], true);
  const html = await page.content();
  assert(!html.includes(secret), 'the page never holds the plaintext');
  await expectText(page, '#conv-title', cn);
  assert(page.problems.length === 0, `problems in the page: ${page.problems.join('; ')}`);
  await page.context().close();
}
