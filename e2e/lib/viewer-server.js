'use strict';
// Stand-in for the camview API (static pages, GET /streams, GET /streams/{id}, GET /ice-servers,
// POST /auth/refresh, GET /auth/me, POST /auth/logout: always logged in)
// and, on the same port, a scriptable fake signaling WebSocket, for viewer page tests.
// Not the real services: end-to-end tests through them live elsewhere.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('ws');

const STATIC_DIR = path.resolve(__dirname, '../../static');
/** What `GET /streams/{id}/snapshot.jpg` answers: a 160x120 JPEG as the API makes them. */
const SNAPSHOT_JPEG = fs.readFileSync(path.join(__dirname, 'snapshot.jpg'));
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml' };

// The API's Content-Security-Policy (services/api/src/security_headers.rs), so every page test
// also proves the pages need no inline script or style: a violation is a console error.
const CSP_BASE = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
  + "connect-src 'self' ws: wss: http: https:; object-src 'none'; base-uri 'none'; form-action 'self'";
const csp = (u) => `${CSP_BASE}; frame-ancestors ${u.pathname === '/viewer' && ['', '1', 'true', 'yes', 'on'].includes(u.searchParams.get('embed')) ? "'self'" : "'none'"}`;

function streamView(cameraId, state = 'live', extra = {}) {
  const now = new Date().toISOString();
  return {
    camera_id: cameraId, state, rtp: { host: '127.0.0.1', port: 40000, codec: 'H264', payload_type: 96 },
    max_bandwidth: 3000, min_bandwidth: 300, viewers: 0, created_at: now, updated_at: now,
    camera: { last_seen: now, stats: { sending: true, packets_sent: 10, bytes_sent: 12000, frames_sent: 5 } }, ...extra,
  };
}

/** One fake signaling connection: every frame received, helpers to wait and send. */
class FakeSocket {
  constructor(ws, url) {
    this.ws = ws;
    this.url = url;
    this.received = [];
    this.waiters = [];
    this.closed = false;
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data));
      this.received.push(msg);
      this.waiters = this.waiters.filter((w) => !w());
    });
    ws.on('close', () => { this.closed = true; this.waiters = this.waiters.filter((w) => !w()); });
  }
  send(msg) { this.ws.send(JSON.stringify(msg)); }
  close(code = 1000) { this.ws.close(code); }
  /** Resolves with the first received message of `type` at index >= `from`. */
  waitFor(type, ms = 10000, from = 0) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${type} within ${ms} ms; got ${JSON.stringify(this.received.map((m) => m.type))}`)), ms);
      const check = () => {
        const m = this.received.slice(from).find((x) => x.type === type);
        if (m) { clearTimeout(t); resolve(m); return true; }
        return false;
      };
      if (!check()) this.waiters.push(check);
    });
  }
}

/**
 * Starts the stand-in on 127.0.0.1. `streams`: camera id -> StreamView (absent: 404 like the API);
 * `forbidden`: camera ids answering 403 (not granted).
 * `onSocket(fake)`: called for each signaling connection. Resolves with
 * {url, origin, streams, sockets, requests, close()}.
 */
function startViewerServer({ streams = {}, onSocket = () => {}, iceServers = [], forbidden = [] } = {}) {
  const requests = [];
  const sockets = [];
  const refreshes = { n: 0 };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    requests.push(`${req.method} ${u.pathname}`);
    const json = (status, body) => { res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*' }); res.end(JSON.stringify(body)); };
    const file = (rel) => {
      const p = path.join(STATIC_DIR, rel);
      if (!p.startsWith(STATIC_DIR + path.sep) || !fs.existsSync(p)) return json(404, { code: 'not_found', message: 'no such page' });
      res.writeHead(200, { 'content-type': TYPES[path.extname(p)] || 'application/octet-stream', 'cache-control': 'no-cache', 'content-security-policy': csp(u) });
      res.end(fs.readFileSync(p));
    };
    if (u.pathname === '/') return file('index.html');
    if (u.pathname === '/viewer') return file('viewer.html');
    if (u.pathname.startsWith('/static/')) return file(u.pathname.slice('/static/'.length));
    if (u.pathname === '/blank') { res.writeHead(200, { 'content-type': 'text/html' }); return res.end('<!doctype html><title>blank</title>'); }
    if (u.pathname === '/ice-servers') return json(200, { iceServers });
    // The session as the real API keeps it (cookie login): always valid here, 15 min tokens.
    if (u.pathname === '/auth/refresh' && req.method === 'POST') {
      refreshes.n += 1;
      return json(200, { token: `stand-in-token-${refreshes.n}`, expires_at: new Date(Date.now() + 900000).toISOString() });
    }
    if (u.pathname === '/auth/me') return json(200, { kind: 'user', username: 'tester', role: 'admin', grants: ['*'], expires_at: new Date(Date.now() + 900000).toISOString() });
    if (u.pathname === '/auth/logout' && req.method === 'POST') { res.writeHead(204); return res.end(); }
    if (u.pathname === '/streams') return json(200, { streams: Object.values(streams), count: Object.keys(streams).length });
    const snap = u.pathname.match(/^\/streams\/([^/]+)\/snapshot\.jpg$/);
    if (snap) {
      const id = decodeURIComponent(snap[1]);
      if (!streams[id]) return json(404, { code: 'stream_not_found', message: `stream ${id} is not started` });
      res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'private, no-cache' });
      return res.end(SNAPSHOT_JPEG);
    }
    const m = u.pathname.match(/^\/streams\/([^/]+)$/);
    if (m) {
      const id = decodeURIComponent(m[1]);
      if (forbidden.includes(id)) return json(403, { code: 'forbidden', message: `camera ${id} is not granted` });
      return streams[id] ? json(200, streams[id]) : json(404, { code: 'stream_not_found', message: `stream ${id} is not started` });
    }
    return json(404, { code: 'not_found', message: 'no such route' });
  });
  const wss = new WebSocket.Server({ server });
  wss.on('connection', (ws, req) => {
    const fake = new FakeSocket(ws, req.url);
    sockets.push(fake);
    onSocket(fake);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const origin = `http://127.0.0.1:${server.address().port}`;
    resolve({
      origin, streams, sockets, requests,
      /** Viewer URL with api and signaling pointed at this stand-in. */
      viewerUrl: (query = '') => `${origin}/viewer?api=/&signaling=/ws${query ? '&' + query : ''}`,
      close: () => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.close(r); }),
    });
  }));
}

module.exports = { startViewerServer, streamView, STATIC_DIR };
