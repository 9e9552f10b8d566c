'use strict';
// Starts the camview-media-engine binary on loopback with free ports, for e2e tests.
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** Where cargo put the binaries: $CAMVIEW_BIN_DIR, else $CARGO_TARGET_DIR/debug, else target/debug. */
function binPath(name) {
  const root = path.resolve(__dirname, '..', '..');
  const dir = process.env.CAMVIEW_BIN_DIR
    || (process.env.CARGO_TARGET_DIR ? path.join(process.env.CARGO_TARGET_DIR, 'debug') : path.join(root, 'target', 'debug'));
  const p = path.join(dir, name);
  if (!fs.existsSync(p)) throw new Error(`${p} not found: build the workspace first (cargo build --workspace)`);
  return p;
}

async function waitTcp(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the engine; resolves with {url, wsPort, webrtcPort, stop(), logs()}. */
async function startEngine(extraEnv = {}) {
  const wsPort = await freePort();
  const webrtcPort = await freePort();
  let logs = '';
  const child = spawn(binPath('camview-media-engine'), [], {
    env: {
      ...process.env,
      ENGINE_WS_ADDR: `127.0.0.1:${wsPort}`,
      ENGINE_WEBRTC_PORT: String(webrtcPort),
      ENGINE_WEBRTC_IPS: '127.0.0.1',
      EXTERNAL_IP: '127.0.0.1',
      ENGINE_RTP_BIND_IP: '127.0.0.1',
      KMS_MIN_PORT: '41000',
      KMS_MAX_PORT: '41999',
      NO_COLOR: '1',
      RUST_LOG: process.env.RUST_LOG || 'info',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => { logs += d; });
  child.stderr.on('data', (d) => { logs += d; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await Promise.race([
    waitTcp(wsPort, 15000),
    exited.then((code) => { throw new Error(`engine exited (${code}): ${logs}`); }),
  ]);
  return {
    url: `ws://127.0.0.1:${wsPort}/kurento`,
    wsPort,
    webrtcPort,
    logs: () => logs,
    async stop() { child.kill('SIGTERM'); await exited; },
  };
}

module.exports = { startEngine, freePort, binPath };
