'use strict';
// The product as a person first meets it: `camview --demo` (every service in one process),
// then Chromium opens the printed viewer URL, presses Start and watches the camera.
const test = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { freePort, binPath } = require('../lib/engine');
const { launchBrowser, openPage } = require('../lib/browser');
const { authEnv, login, tempDataDir } = require('../lib/auth');

const SCREENSHOTS = path.resolve(__dirname, '..', '..', 'target', 'screenshots');

async function waitFor(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startAllInOne() {
  const [api, signaling, kms, webrtc] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const data = tempDataDir();
  let logs = '';
  const child = spawn(binPath('camview'), ['--demo'], {
    env: {
      ...process.env,
      API_SERVER_HOST: '127.0.0.1', API_SERVER_PORT: String(api),
      SIGNALING_SERVER_HOST: '127.0.0.1', SIGNALING_SERVER_PORT: String(signaling),
      KMS_LISTEN_ADDR: `127.0.0.1:${kms}`, ENGINE_WEBRTC_PORT: String(webrtc), ENGINE_RTP_BIND_IP: '127.0.0.1',
      KMS_MIN_PORT: '42000', KMS_MAX_PORT: '42999', EXTERNAL_IP: '127.0.0.1', STUN_SERVERS: 'none',
      NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info', ...authEnv(data.dir),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => { logs += d; });
  child.stderr.on('data', (d) => { logs += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // The services are up once it says so (the demo's "open ..." line, a viewer address or a
  // one-time login link, follows once the demo camera runs: the test waits for its stream instead).
  await Promise.race([
    waitFor('"camview is running" on stdout', 60000, () => /camview is running: api https?:\/\//.test(logs)),
    exited.then((e) => { throw new Error(`camview exited early (${JSON.stringify(e)}): ${logs}`); }),
  ]);
  exited.then(() => data.cleanup());
  const apiUrl = `http://127.0.0.1:${api}`;
  const token = await login(apiUrl);
  const get = async (p) => (await fetch(`${apiUrl}${p}`, { headers: { authorization: `Bearer ${token}` } }));
  return { api, apiUrl, token, get, signaling, url: `${apiUrl}/viewer?camera=demo`, child, exited, logs: () => logs };
}

test('camview --demo plays the simulated camera in Chromium and shuts down cleanly', { timeout: 180000 }, async () => {
  const app = await startAllInOne();
  const browser = await launchBrowser();
  try {
    await waitFor('the demo stream to be live', 30000, async () => {
      const r = await app.get('/streams/demo');
      return r.ok && (await r.json()).state === 'live';
    });
    const page = await openPage(browser, `${app.url}&api=http://127.0.0.1:${app.api}&signaling=ws://127.0.0.1:${app.signaling}/ws`, app);
    await page.click('#start');
    await page.waitForFunction(() => Number(document.querySelector('#stat-frames')?.dataset.value || 0) > 30, null, { timeout: 45000 });
    const shown = await page.evaluate(() => ({
      width: document.querySelector('#video').videoWidth,
      status: document.querySelector('#status').dataset.status,
      resolution: document.querySelector('#stat-resolution').textContent,
      fps: Number(document.querySelector('#stat-fps').dataset.value || 0),
      steps: ['api', 'signaling', 'ice', 'pc'].map((s) => document.querySelector(`#state-${s}`).dataset.state),
    }));
    assert.strictEqual(shown.width, 640, JSON.stringify(shown));
    assert.strictEqual(shown.status, 'playing', JSON.stringify(shown));
    assert.match(shown.resolution, /640\D+480/);
    assert.ok(shown.fps > 0, JSON.stringify(shown));
    assert.deepStrictEqual(shown.steps, ['ok', 'ok', 'ok', 'ok']);
    const viewers = await (await app.get('/viewers/demo')).json();
    assert.strictEqual(viewers.count, 1, JSON.stringify(viewers));
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'all-in-one-viewer.png') });

    await page.click('#stop');
    await page.waitForFunction(() => document.querySelector('#status').dataset.status === 'stopped', null, { timeout: 10000 });
    await waitFor('the viewer slot to be freed', 10000, async () => (await (await app.get('/viewers/demo')).json()).count === 0);
  } catch (e) {
    console.error(app.logs().slice(-6000));
    throw e;
  } finally {
    await browser.close();
    app.child.kill('SIGTERM');
  }
  const exit = await Promise.race([app.exited, new Promise((r) => setTimeout(() => r('timeout'), 20000))]);
  assert.deepStrictEqual(exit, { code: 0, signal: null }, `clean exit after SIGTERM; logs:\n${app.logs().slice(-3000)}`);
});
