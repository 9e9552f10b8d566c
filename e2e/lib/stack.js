'use strict';
// The split deployment on loopback for e2e tests: a real redis-server, camview-media-engine,
// camview-media-controller, camview-api, N camview-signaling instances and camera-sim in
// keepalive mode, each a child process on free ports with its logs kept. Readiness is always
// polled (TCP, Redis PING, /healthz, /health), never slept for.
const { spawn } = require('node:child_process');
const net = require('node:net');
const crypto = require('node:crypto');
const { freePort, binPath } = require('./engine');
const { authEnv, adminClient } = require('./auth');

async function waitFor(what, timeoutMs, check, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { const value = await check(); if (value) return value; } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Resolves true when a Redis server on `port` answers PING with PONG. */
function redisPing(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    let got = '';
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
    s.on('data', (d) => { got += d; if (got.includes('\r\n')) { s.destroy(); resolve(got.startsWith('+PONG')); } });
    s.once('error', () => resolve(false));
  });
}

async function getJson(url, token = null, fetchImpl = fetch) {
  const r = await fetchImpl(url, { signal: AbortSignal.timeout(3000), headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** One child process with its output kept (bounded), its exit promise and kill helpers. */
class Service {
  constructor(name, cmd, args, env) {
    this.name = name;
    this.cmd = cmd;
    this.args = args;
    this.env = env;
    this.output = '';
    this.start();
  }

  start() {
    this.child = spawn(this.cmd, this.args, { env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info', ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => { this.output += d; if (this.output.length > 400000) this.output = this.output.slice(-200000); };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.exitInfo = null;
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => { this.exitInfo = { code, signal }; resolve(this.exitInfo); }));
  }

  get running() { return this.exitInfo === null; }
  logs() { return this.output; }
  tail(lines = 40) { return this.output.split('\n').slice(-lines).join('\n'); }
  signal(sig) { if (this.running) this.child.kill(sig); }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 5000) {
    if (!this.running) return this.exitInfo;
    this.child.kill('SIGCONT'); // a paused process cannot act on SIGTERM
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const info = await this.exited;
    clearTimeout(t);
    return info;
  }

  /** Fails fast with the logs if the process exits while `promise` runs. */
  guard(promise) {
    return Promise.race([promise, this.exited.then((e) => { throw new Error(`${this.name} exited early (${JSON.stringify(e)}):\n${this.tail(30)}`); })]);
  }
}

/**
 * Starts the whole split stack. Options: `signalingInstances` (2), `signalingEnv`, `apiEnv`,
 * `controllerEnv`, `engineEnv`, `camera` (a camera id: camera-sim keepalive mode follows it),
 * `cameraEnv`, `publicUrls` (PUBLIC_API_URL=/ and PUBLIC_SIGNALING_URL=the first instance); for TLS `apiScheme: 'https'`, `signalingScheme: 'wss'` and a `fetch` that trusts
 * the test CA. The API starts with CAMVIEW_ADMIN_PASSWORD (lib/auth.js).
 * Resolves with {redisPort, apiUrl, signaling: [{port, url, instance}], prefix, services,
 * admin (a bearer-token client, lib/auth.js), token, ...}.
 */
async function startStack(opts = {}) {
  const { signalingInstances = 2, camera = null, keepaliveSeconds = 1 } = opts;
  const services = [];
  const stack = { services, prefix: `e2e-${crypto.randomBytes(4).toString('hex')}:`, signaling: [] };
  const add = (name, bin, args, env) => { const s = new Service(name, bin, args, env); services.push(s); return s; };
  stack.stop = async () => { await Promise.all(services.slice().reverse().map((s) => s.stop())); };
  stack.dumpLogs = (lines = 40) => services.map((s) => `----- ${s.name} (${s.running ? 'running' : JSON.stringify(s.exitInfo)}), last ${lines} lines\n${s.tail(lines)}`).join('\n');
  try {
    // Redis: no persistence, loopback only.
    const redisPort = await freePort();
    stack.redis = add('redis', 'redis-server', ['--port', String(redisPort), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], {});
    await stack.redis.guard(waitFor('redis-server to answer PING', 10000, () => redisPing(redisPort), 50));
    stack.redisPort = redisPort;
    const redisEnv = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_KEY_PREFIX: stack.prefix };

    // Media engine.
    const [engineWs, engineRtc] = [await freePort(), await freePort()];
    stack.engine = add('engine', binPath('camview-media-engine'), [], {
      ENGINE_WS_ADDR: `127.0.0.1:${engineWs}`, ENGINE_WEBRTC_PORT: String(engineRtc), ENGINE_WEBRTC_IPS: '127.0.0.1',
      EXTERNAL_IP: '127.0.0.1', ENGINE_RTP_BIND_IP: '127.0.0.1', KMS_MIN_PORT: '43000', KMS_MAX_PORT: '43999', ...opts.engineEnv,
    });
    await stack.engine.guard(waitFor('the engine WebSocket port', 15000, () => tcpOpen(engineWs), 50));

    // Media controller.
    stack.controller = add('controller', binPath('camview-media-controller'), [], {
      ...redisEnv, KURENTO_WS_URL: `ws://127.0.0.1:${engineWs}/kurento`, EXTERNAL_IP: '127.0.0.1', STUN_SERVERS: 'none',
      STREAM_STALL_SECONDS: '2', CONTROLLER_LEASE_TTL_SECONDS: '2', ...opts.controllerEnv,
    });

    // API. With `publicUrls`, /config.js tells the pages where the API ('/', the page's own
    // origin) and the first signaling instance are, so pages opened without ?api=&signaling=
    // (after the login page or a share link) find them.
    const apiPort = await freePort();
    const sigPorts = [];
    for (let i = 0; i < signalingInstances; i++) sigPorts.push(await freePort());
    const sigUrl = (port) => `${opts.signalingScheme || 'ws'}://127.0.0.1:${port}/ws`;
    const publicEnv = opts.publicUrls ? { PUBLIC_API_URL: '/', PUBLIC_SIGNALING_URL: sigUrl(sigPorts[0]) } : {};
    stack.api = add('api', binPath('camview-api'), [], {
      ...redisEnv, ...authEnv(), API_SERVER_HOST: '127.0.0.1', API_SERVER_PORT: String(apiPort), STUN_SERVERS: 'none',
      CAMERA_KEEPALIVE_SECONDS: String(keepaliveSeconds), ...publicEnv, ...opts.apiEnv,
    });
    stack.apiUrl = `${opts.apiScheme || 'http'}://127.0.0.1:${apiPort}`;

    // Signaling instances.
    for (let i = 0; i < signalingInstances; i++) {
      const port = sigPorts[i];
      const svc = add(`signaling-${i + 1}`, binPath('camview-signaling'), [], {
        ...redisEnv, SIGNALING_SERVER_HOST: '127.0.0.1', SIGNALING_SERVER_PORT: String(port),
        SIGNALING_LIVENESS_TTL_SECONDS: '3', ...opts.signalingEnv,
      });
      stack.signaling.push({ port, url: sigUrl(port), service: svc });
    }

    // Readiness: each signaling instance reports its id; the API is healthy once the
    // controller's heartbeat is fresh and it reports the media server connected.
    for (const s of stack.signaling) {
      const health = await s.service.guard(waitFor(`${s.service.name} /healthz`, 20000, async () => {
        const r = await getJson(`${opts.signalingScheme === 'wss' ? 'https' : 'http'}://127.0.0.1:${s.port}/healthz`, null, opts.fetch);
        return r.status === 200 && r.body && r.body.status === 'ok' && r.body;
      }));
      s.instance = health.instance;
    }
    await stack.controller.guard(stack.api.guard(waitFor('GET /health to say healthy', 30000, async () => {
      const r = await getJson(`${stack.apiUrl}/health`, null, opts.fetch);
      return r.status === 200;
    })));
    // Everything but /health needs a login: the admin the API created from CAMVIEW_ADMIN_PASSWORD.
    stack.admin = await adminClient(stack.apiUrl, opts.fetch);
    stack.token = stack.admin.token;

    if (camera) {
      stack.camera = add('camera-sim', binPath('camera-sim'), ['--api', stack.apiUrl, '--camera', camera, '--keepalive-seconds', String(keepaliveSeconds), '--local-ip', '127.0.0.1'], opts.cameraEnv || {});
    }
    return stack;
  } catch (e) {
    const logs = stack.dumpLogs();
    await stack.stop();
    e.message += `\n${logs}`;
    throw e;
  }
}

function tcpOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

module.exports = { startStack, waitFor, getJson, Service };
