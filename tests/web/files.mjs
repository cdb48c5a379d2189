// File transfer in the browser (issue 14), against the CLI: a file picked
// with the file button is uploaded (staged, hashed by the server, offered,
// adopted) and fetched by `natter file get` (which checks BLAKE3); a file
// the CLI offers is downloaded with the card's Download button, byte for
// byte; a rejection and a drag-and-drop upload; the sender's card shows
// each recipient's result.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newPage, register, expectText, openConv, cliOk, tempHome, assert, fresh, GUARD_MS } from './lib.mjs';

/** Deterministic bytes (xorshift, fixed seed). */
function bytes(len, seed) {
  const out = Buffer.alloc(len);
  let x = seed | 1;
  for (let i = 0; i < len; i += 1) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Runs `natter file list` until its output includes `want`. */
async function listShows(home, user, want) {
  const deadline = Date.now() + GUARD_MS;
  for (;;) {
    const out = await cliOk(home, user, ['file', 'list']);
    if (out.includes(want)) return;
    if (Date.now() > deadline) throw new Error(`natter file list never said ${want}: ${out}`);
    await new Promise((r) => { setTimeout(r, 100); });
  }
}

/** The card of the file named `name` in the open conversation. */
function card(page, name) {
  return page.locator('#msg-list .file-card', { hasText: name });
}

export async function files(browser) {
  const page = await newPage(browser, undefined, { acceptDownloads: true });
  const [an, dn] = [fresh('fann'), fresh('fdan')];
  const home = tempHome();
  await cliOk(home, dn, ['register']);
  await register(page, an);
  await page.click('#new-dm');
  await page.locator(`#dialog input[value="${dn}"]`).check();
  await page.click('#dialog-ok');
  await expectText(page, '#conv-title', dn);

  // Browser → CLI, through the file button (1.5 MB: two HTTP pieces).
  const sent = bytes(1_500_000, 7);
  await page.setInputFiles('#file-input', { name: 'upload.bin', mimeType: 'application/octet-stream', buffer: sent });
  await card(page, 'upload.bin').waitFor();
  const id = await card(page, 'upload.bin').getAttribute('data-file');
  const out = join(home, 'got.bin');
  await cliOk(home, dn, ['file', 'get', id, '--out', out]);
  assert(readFileSync(out).equals(sent), 'the CLI saved the bytes the browser sent');
  await expectText(page, `.file-card[data-file="${id}"] .file-result`, `${dn}: delivered intact`);

  // CLI → browser: Download saves the bytes, the sender hears "delivered intact".
  const src = join(home, 'from-cli.bin');
  writeFileSync(src, bytes(600_000, 8));
  await cliOk(home, dn, ['file', 'send', '--to', an, src]);
  await card(page, 'from-cli.bin').waitFor();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    card(page, 'from-cli.bin').locator('.file-accept').click(),
  ]);
  const saved = join(home, 'saved.bin');
  await download.saveAs(saved);
  assert(readFileSync(saved).equals(readFileSync(src)), 'the browser saved the bytes the CLI sent');
  assert(download.suggestedFilename() === 'from-cli.bin', `saved as ${download.suggestedFilename()}`);
  await listShows(home, dn, `delivered intact to ${an}`);

  // A rejection reaches the CLI sender.
  const other = join(home, 'unwanted.txt');
  writeFileSync(other, 'no thanks\n');
  await cliOk(home, dn, ['file', 'send', '--to', an, other]);
  await card(page, 'unwanted.txt').locator('.file-reject').click();
  await card(page, 'unwanted.txt').locator('.file-status', { hasText: 'Rejected' }).waitFor();
  await listShows(home, dn, `rejected by ${an}`);

  // An upload cut by a reload continues where the server stopped when the
  // same file is picked again (no second staging, no byte sent twice).
  const big = join(home, 'resume.bin');
  writeFileSync(big, bytes(2_500_000, 12));
  const cut = new Promise((resolve) => {
    page.route('**/files/uploads/*', (route) => {
      const r = route.request();
      if (r.method() === 'PATCH' && r.headers()['upload-offset'] !== '0') resolve(); // never answered
      else route.continue();
    });
  });
  await page.setInputFiles('#file-input', big);
  await cut;
  await page.unroute('**/files/uploads/*');
  await page.reload();
  await expectText(page, '#me', an);
  await openConv(page, dn);
  const seen = [];
  page.on('request', (r) => {
    if (r.url().includes('/files/uploads')) seen.push(`${r.method()} ${r.headers()['upload-offset'] ?? ''}`.trim());
  });
  await page.setInputFiles('#file-input', big);
  await card(page, 'resume.bin').waitFor();
  // The offer's card can show before this page's request events have all
  // reached us (they come over a separate channel): wait, bounded, for the PATCH.
  for (let i = 0; i < 100 && !seen.some((r) => r.startsWith('PATCH ')); i++) await page.waitForTimeout(50);
  assert(!seen.includes('POST'), `staged again after the reload: ${seen}`);
  // The server holds at least the first 1 MiB piece (maybe more of the cut
  // one: a request cut mid-body keeps its complete 256 KiB pieces).
  const resumedAt = Number(seen[1]?.split(' ')[1]);
  assert(seen[0] === 'HEAD' && seen[1]?.startsWith('PATCH ') && resumedAt >= 1048576, `resumed how: ${seen}`);
  const again = join(home, 'resume-got.bin');
  await cliOk(home, dn, ['file', 'get', await card(page, 'resume.bin').getAttribute('data-file'), '--out', again]);
  assert(readFileSync(again).equals(readFileSync(big)), 'the resumed upload arrived intact');

  // Drag and drop onto the conversation uploads too.
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped bytes\n'], 'dropped.txt', { type: 'text/plain' }));
    document.querySelector('#conv').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await card(page, 'dropped.txt').waitFor();
  assert(page.problems.length === 0, `problems in the page: ${page.problems.join('; ')}`);
  await page.context().close();
}
