// One WebSocket to the server's /ws: JSON ClientFrame out, ServerFrame in
// (PROTOCOL.md "Chat layer"). Requests are matched to responses by id.

const REQUEST_TIMEOUT_MS = 20000;

/** [variant name, value] of an externally tagged enum value. */
export function variant(v) {
  if (typeof v === 'string') return [v, null];
  const k = Object.keys(v)[0];
  return [k, v[k]];
}

/** An error object for an ApiError or a local failure. */
export function apiError(code, message) {
  const e = new Error(message);
  e.code = code;
  return e;
}

export class Conn {
  constructor(onEvent, onClose) {
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.pending = new Map();
    this.nextId = 1;
    this.ws = null;
  }

  /** Opens the socket; rejects when it cannot. */
  open() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(apiError('unreachable', 'Cannot reach the server.'));
      ws.onmessage = (e) => this.frame(e.data);
      ws.onclose = () => {
        reject(apiError('unreachable', 'Cannot reach the server.'));
        this.closed();
      };
    });
  }

  closed() {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(apiError('disconnected', 'Connection lost.'));
    }
    this.pending.clear();
    if (this.ws) {
      this.ws = null;
      this.onClose();
    }
  }

  /** Sends a request body; resolves with the Response value. */
  request(body) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(apiError('disconnected', 'Not connected.'));
    }
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ request: { id, body } }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(apiError('timeout', 'The server did not answer.'));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  frame(text) {
    let f;
    try { f = JSON.parse(text); } catch { return; }
    if (f.event) { this.onEvent(f.event); return; }
    const r = f.response;
    const p = r && this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    clearTimeout(p.timer);
    if ('Ok' in r.result) p.resolve(r.result.Ok);
    else {
      const [code, detail] = variant(r.result.Err.code);
      const e = apiError(code, r.result.Err.message);
      e.detail = detail;
      p.reject(e);
    }
  }

  /** Closes for good (no onClose). */
  close() {
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
    this.closed();
  }
}
