// File transfer (issue 14): a file button and drag-and-drop in the
// composer, upload with progress, offers in the conversation with
// Download / Reject, and the sender's per-recipient results.
//
// Bytes travel over HTTP on the server's own address (README "File
// transfer in the browser"), authenticated with the session token in an
// Authorization header (never in a URL); offers, answers and reports are
// ordinary requests on the WebSocket. Browsers cannot compute the BLAKE3
// hash an offer carries, so the browser first uploads into a staging area
// of the server (resumable, PATCH with Upload-Offset; its id is kept in
// localStorage, so picking the same file after a reload continues), which
// hashes it;
// then it offers the file with that hash and the server moves the staged
// bytes into the offer. Downloads are fetched in ranges (resumable after a
// dropped connection); the server checks the whole file against the offer's
// hash before it sends the last byte, so a corrupted file never completes.

import { $, h } from './dom.js';
import { uuid } from './outbox.js';

/** Bytes per HTTP request (the server accepts up to 8 MiB). */
const PIECE = 1024 * 1024;
/** Attempts per piece before a transfer gives up. */
const ATTEMPTS = 5;

/** State words of a recipient, as the sender reads them. */
const STATES = {
  pending: 'offered',
  accepted: 'downloading',
  rejected: 'rejected',
  delivered: 'delivered intact',
  corrupted: 'arrived corrupted',
};

/** "1.5 MiB". */
export function sizeText(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return i ? `${n.toFixed(1)} ${units[i]}` : `${n} B`;
}

class HttpError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ? (typeof body.code === 'string' ? body.code : Object.keys(body.code)[0]) : 'http';
  }
}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

export class Files {
  constructor(chat) {
    this.chat = chat;
    /** File id → { recipients: Map(name → state) } of my offers. */
    this.results = new Map();
    /** Ids of my offers whose recipients were asked for once. */
    this.asked = new Set();
  }

  auth(extra = {}) { return { Authorization: `Bearer ${this.chat.token}`, ...extra }; }

  /** fetch with the token; a JSON error body becomes an HttpError. */
  async http(method, path, headers = {}, body = undefined) {
    const r = await fetch(path, { method, headers: this.auth(headers), body, cache: 'no-store' });
    if (!r.ok) {
      let err = null;
      try { err = await r.json(); } catch { /* not JSON */ }
      throw new HttpError(r.status, err);
    }
    return r;
  }

  /** Retries `step` on network errors and 5xx, with backoff. */
  async retrying(step) {
    for (let attempt = 1; ; attempt += 1) {
      try { return await step(); } catch (e) {
        const transient = !(e instanceof HttpError) || e.status >= 500;
        if (!transient || attempt >= ATTEMPTS) throw e;
        await sleep(250 * 2 ** attempt);
      }
    }
  }

  /** Uploads `file` to conversation `conv` (or user `to`); `progress(done, total)`. */
  async send(file, conv, to, progress) {
    const staged = await this.stage(file, progress);
    const target = conv !== null ? { conversation: conv } : { user: to };
    const offer = { target, client_id: uuid(), name: file.name || 'file', size: file.size,
      media_type: file.type || 'application/octet-stream', hash: staged.hash };
    const info = (await this.chat.request({ file_offer: offer })).file;
    const id = info.offer.id;
    if (!info.complete) {
      await this.retrying(() => this.http('POST', `/files/${id}/adopt`,
        { 'Content-Type': 'application/json' }, JSON.stringify({ upload: staged.upload })));
    }
    localStorage.removeItem(staged.key);
    this.results.set(id, { name: offer.name, recipients: new Map() });
    const { sent } = await this.chat.request({ file_finish: { id } });
    this.shown(sent, offer, info.offer, to);
    return id;
  }

  /** My offer as a stored message (my own session gets no copy of it). */
  shown(sent, offer, file, to) {
    const chat = this.chat;
    const msg = { conv: sent.conv, seq: sent.seq, ts_ms: sent.ts_ms, sender: chat.me, client_id: offer.client_id,
      body: `📎 ${file.name} (${file.size} bytes)`, file };
    if (chat.convs.has(sent.conv)) { chat.message(msg, true); return; }
    chat.refreshList().then(() => { chat.message(msg, true); chat.emit('opened', { conv: sent.conv, to }); });
  }

  /** Stages `file` on the server, resumably; resolves with { upload, hash }. */
  async stage(file, progress) {
    const key = this.stageKey(file);
    let { upload, offset, hash } = await this.resumable(localStorage.getItem(key));
    if (!upload) {
      const r = await this.http('POST', '/files/uploads', { 'Upload-Length': String(file.size) });
      ({ upload } = await r.json());
      localStorage.setItem(key, upload);
    }
    progress(offset, file.size);
    while (hash === null) {
      const end = Math.min(offset + PIECE, file.size);
      const sent = await this.retrying(async () => {
        try {
          return await this.http('PATCH', `/files/uploads/${upload}`, {
            'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream',
          }, file.slice(offset, end));
        } catch (e) {
          if (e.status !== 409) throw e;
          return this.http('HEAD', `/files/uploads/${upload}`);
        }
      });
      offset = Number(sent.headers.get('Upload-Offset'));
      hash = sent.headers.get('Upload-Hash');
      progress(offset, file.size);
    }
    return { upload, hash, key };
  }

  /** Where a staged upload of `file` is remembered (survives a reload). */
  stageKey(file) {
    return `natter.stage.${this.chat.me.id}.${file.size}.${file.lastModified}.${file.name}`;
  }

  /** How far the server holds staged upload `upload` (a fresh start when it is gone). */
  async resumable(upload) {
    if (!upload) return { upload: null, offset: 0, hash: null };
    try {
      const r = await this.http('HEAD', `/files/uploads/${upload}`);
      return { upload, offset: Number(r.headers.get('Upload-Offset')), hash: r.headers.get('Upload-Hash') };
    } catch { return { upload: null, offset: 0, hash: null }; }
  }

  /** Downloads file `offer` in ranges; resolves with a Blob. */
  async download(offer, progress) {
    const parts = [];
    let got = 0;
    progress(0, offer.size);
    while (got < offer.size) {
      const last = Math.min(got + PIECE, offer.size) - 1;
      const r = await this.retrying(() => this.http('GET', `/files/${offer.id}`, { Range: `bytes=${got}-${last}` }));
      const piece = await r.blob();
      if (piece.size !== last - got + 1) throw new HttpError(502, { code: 'corrupted', message: 'short piece' });
      parts.push(piece);
      got += piece.size;
      progress(got, offer.size);
    }
    return new Blob(parts, { type: 'application/octet-stream' });
  }

  /** Accepts an offer: download, save link, report. */
  async accept(offer, card) {
    const bar = progressBar(card);
    try {
      const blob = await this.download(offer, bar.set);
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: offer.name, class: 'file-save' }, `Save ${offer.name}`);
      bar.done(link);
      link.click();
      await this.chat.request({ file_report: { id: offer.id, intact: true } }).catch(() => {});
    } catch (e) {
      if (e.code === 'hash_mismatch' || e.code === 'corrupted') {
        await this.chat.request({ file_report: { id: offer.id, intact: false } }).catch(() => {});
      }
      bar.fail(`Download failed: ${e.message}`);
    }
  }

  async reject(offer, card) {
    try {
      await this.chat.request({ file_reject: { id: offer.id } });
      card.querySelector('.file-actions')?.replaceChildren(h('span', { class: 'file-status' }, 'Rejected'));
    } catch (e) { card.querySelector('.file-status')?.replaceChildren(e.message); }
  }

  /** A recipient's state changed (event `file_update`). */
  update({ id, user, state }) {
    const entry = this.results.get(id) ?? { recipients: new Map() };
    entry.recipients.set(user.name, state);
    this.results.set(id, entry);
    for (const el of document.querySelectorAll(`.file-card[data-file="${Number(id)}"] .file-results`)) {
      el.replaceChildren(...resultRows(entry));
    }
  }

  /** The card shown in place of an offer message's body. */
  card(m, mine) {
    const f = m.file;
    const card = h('span', { class: 'file-card', 'data-file': f.id },
      h('span', { class: 'file-name' }, f.name),
      h('span', { class: 'file-size' }, ` ${sizeText(f.size)}`),
      h('span', { class: 'file-status' }));
    if (mine) {
      const entry = this.results.get(f.id) ?? { recipients: new Map() };
      this.results.set(f.id, entry);
      card.append(h('span', { class: 'file-results' }, resultRows(entry)));
      this.refresh(f.id);
    } else {
      card.append(h('span', { class: 'file-actions' },
        h('button', { type: 'button', class: 'file-accept', onclick: () => this.accept(f, card) }, 'Download'),
        h('button', { type: 'button', class: 'file-reject', onclick: () => this.reject(f, card) }, 'Reject')));
    }
    return card;
  }

  /** Fetches my offer's recipients once (for offers from history). */
  async refresh(id) {
    if (this.asked.has(id)) return;
    this.asked.add(id);
    try {
      const info = (await this.chat.request({ file_status: { id } })).file;
      for (const r of info.recipients) this.update({ id, user: r.user, state: r.state });
    } catch { /* expired or not mine */ }
  }
}

function resultRows(entry) {
  return [...entry.recipients].map(([name, state]) =>
    h('span', { class: `file-result ${state}` }, `${name}: ${STATES[state] ?? state}`));
}

function progressBar(card) {
  const bar = h('progress', { max: 1, value: 0, class: 'file-progress' });
  const label = h('span', { class: 'file-percent' });
  const actions = card.querySelector('.file-actions');
  actions?.replaceChildren(bar, label);
  return {
    set: (done, total) => { bar.max = total || 1; bar.value = done; label.textContent = ` ${Math.floor((100 * done) / (total || 1))}%`; },
    done: (node) => actions?.replaceChildren(node),
    fail: (text) => actions?.replaceChildren(h('span', { class: 'file-status error' }, text)),
  };
}

/** Wires the file button, the hidden input and drag-and-drop on the conversation. */
export function wireFiles(chat, view, files) {
  const upload = async (list) => {
    for (const file of list) {
      const row = h('li', { class: 'msg mine pending file-upload' }, h('span', { class: 'body' }, `Sending ${file.name} `));
      const bar = h('progress', { max: file.size || 1, value: 0, class: 'file-progress' });
      const label = h('span', { class: 'file-percent' });
      row.firstChild.append(bar, label);
      $('pending-list').append(row);
      try {
        await files.send(file, view.open, view.open === null ? view.draftTo : null, (done, total) => {
          bar.max = total || 1; bar.value = done; label.textContent = ` ${Math.floor((100 * done) / (total || 1))}%`;
        });
        row.remove();
      } catch (e) {
        row.classList.add('failed');
        row.firstChild.replaceChildren(`${file.name}: ${e.message}`);
      }
    }
  };
  $('file-btn').addEventListener('click', () => $('file-input').click());
  $('file-input').addEventListener('change', () => {
    const list = [...$('file-input').files];
    $('file-input').value = '';
    upload(list);
  });
  const zone = $('conv');
  zone.addEventListener('dragover', (e) => {
    if (![...e.dataTransfer.types].includes('Files')) return;
    e.preventDefault();
    zone.classList.add('dropping');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dropping'));
  zone.addEventListener('drop', (e) => {
    zone.classList.remove('dropping');
    if (!e.dataTransfer.files.length) return;
    e.preventDefault();
    upload([...e.dataTransfer.files]);
  });
  chat.addEventListener('file_update', (e) => files.update(e.detail));
}
