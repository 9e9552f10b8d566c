'use strict';
// Minimal Kurento JSON-RPC 2.0 client for tests: request/response by id, onEvent queue.
const WebSocket = require('ws');

let nextId = Date.now() * 1000; // ids stay unique per session even across reconnects

class KurentoRpc {
  constructor(url) {
    this.url = url;
    this.pending = new Map();
    this.events = [];
    this.waiters = [];
    this.sessionId = null;
  }

  async open() {
    this.ws = new WebSocket(this.url);
    await new Promise((resolve, reject) => { this.ws.once('open', resolve); this.ws.once('error', reject); });
    this.ws.on('message', (data) => this._onMessage(JSON.parse(String(data))));
    return this;
  }

  _onMessage(msg) {
    if (msg.method === 'onEvent') {
      this.events.push(msg.params.value);
      this.waiters = this.waiters.filter((w) => !w.check());
      return;
    }
    const p = this.pending.get(msg.id);
    if (p) { this.pending.delete(msg.id); p(msg); }
  }

  /** Sends a request and resolves with the whole response (result or error). */
  call(method, params = {}, timeoutMs = 10000) {
    const id = nextId++;
    if (this.sessionId && params.sessionId === undefined) params = { ...params, sessionId: this.sessionId };
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.pending.delete(id); reject(new Error(`no answer to ${method} in ${timeoutMs} ms`)); }, timeoutMs);
      this.pending.set(id, (msg) => {
        clearTimeout(t);
        if (msg.result && msg.result.sessionId) this.sessionId = msg.result.sessionId;
        resolve(msg);
      });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  /** `result.value` of a call that must succeed. */
  async ok(method, params) {
    const r = await this.call(method, params);
    if (r.error) throw new Error(`${method} failed: ${JSON.stringify(r.error)}`);
    return r.result.value;
  }

  create(type, constructorParams = {}) { return this.ok('create', { type, constructorParams }); }
  invoke(object, operation, operationParams = {}) { return this.ok('invoke', { object, operation, operationParams }); }
  subscribe(object, type) { return this.ok('subscribe', { object, type }); }
  release(object) { return this.ok('release', { object }); }

  /** Resolves with the first queued or future event matching `pred`, removing it from the queue. */
  waitEvent(pred, timeoutMs = 10000, what = 'event') {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const i = this.events.findIndex(pred);
          if (i < 0) return false;
          clearTimeout(w.timer);
          resolve(this.events.splice(i, 1)[0]);
          return true;
        },
      };
      if (w.check()) return;
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no ${what} in ${timeoutMs} ms; queued: ${JSON.stringify(this.events.map((e) => e.type))}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  close() { this.ws.close(); }
}

module.exports = { KurentoRpc };
