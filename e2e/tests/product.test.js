'use strict';
// The product as an operator with a real camera meets it: `camview` (all-in-one, WITHOUT --demo),
// a stream started over REST, ffmpeg sending H.264 RTP to the advertised port exactly as the
// README's quick start says, and Chromium watching it; then the default viewer limit (10).
const test = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('ws');
const { freePort, binPath } = require('../lib/engine');
const { launchBrowser, openPage } = require('../lib/browser');
const { authEnv, login, tempDataDir } = require('../lib/auth');

const SCREENSHOTS = path.resolve(__dirname, '..', '..', 'target', 'screenshots');
const CAMERA = 'cam-ffmpeg';

async function waitFor(what, timeoutMs, check, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { const value = await check(); if (value) return value; } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function startCamview() {
  const [api, signaling, kms, webrtc] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const env = { ...process.env };
  delete env.MAX_VIEWERS_PER_STREAM; // the default limit is what is tested
  const data = tempDataDir();
  let logs = '';
  const child = spawn(binPath('camview'), [], {
    env: {
      ...env,
      API_SERVER_HOST: '127.0.0.1', API_SERVER_PORT: String(api),
      SIGNALING_SERVER_HOST: '127.0.0.1', SIGNALING_SERVER_PORT: String(signaling),
      KMS_LISTEN_ADDR: `127.0.0.1:${kms}`, ENGINE_WEBRTC_PORT: String(webrtc), ENGINE_RTP_BIND_IP: '127.0.0.1',
      KMS_MIN_PORT: '44000', KMS_MAX_PORT: '44999', EXTERNAL_IP: '127.0.0.1', STUN_SERVERS: 'none',
      NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info', ...authEnv(data.dir),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d) => { logs += d; if (logs.length > 400000) logs = logs.slice(-200000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exitInfo = null;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => { exitInfo = { code, signal }; resolve(exitInfo); }));
  await Promise.race([
    waitFor('"camview is running" on stdout', 60000, () => /camview is running: api http:\/\//.test(logs)),
    exited.then((e) => { throw new Error(`camview exited early (${JSON.stringify(e)}): ${logs}`); }),
  ]);
  await waitFor('GET /health', 20000, async () => (await fetch(`http://127.0.0.1:${api}/health`, { signal: AbortSignal.timeout(2000) })).ok);
  const token = await login(`http://127.0.0.1:${api}`);
  const stop = async () => {
    if (exitInfo) { data.cleanup(); return exitInfo; }
    child.kill('SIGTERM');
    const t = setTimeout(() => { if (!exitInfo) child.kill('SIGKILL'); }, 10000);
    const info = await exited;
    clearTimeout(t);
    data.cleanup();
    return info;
  };
  return { api, signaling, child, stop, token, logs: () => logs, apiUrl: `http://127.0.0.1:${api}`, wsUrl: `ws://127.0.0.1:${signaling}/ws` };
}

/** The README's quick-start ffmpeg command, verbatim, pointed at 127.0.0.1:`port`. */
function startReadmeFfmpeg(port) {
  const args = ['-hide_banner', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=30', '-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
    '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-bf', '0', '-x264-params', 'repeat-headers=1', '-bsf:v', 'h264_mp4toannexb',
    '-payload_type', '96', '-f', 'rtp', `rtp://127.0.0.1:${port}?pkt_size=1200`];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  let done = false;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => { done = true; resolve({ code, signal }); }));
  return {
    errors: () => err,
    stop: async () => {
      if (done) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => { if (!done) child.kill('SIGKILL'); }, 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** GET as the admin (the token of `app`, logged in at start). */
async function getJson(url) {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { authorization: `Bearer ${app.token}` } });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** A raw signaling client: joins with `offer`, resolves on the first answer or error. */
function rawViewer(wsUrl, offer) {
  const ws = new WebSocket(wsUrl);
  const messages = [];
  const closed = new Promise((resolve) => ws.once('close', resolve));
  const joined = new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join', camera: CAMERA, sdpOffer: offer, token: app.token })));
    ws.on('message', (data) => {
      let m;
      try { m = JSON.parse(String(data)); } catch (e) { return; }
      messages.push(m);
      if (m.type === 'answer' || m.type === 'error') resolve(m);
    });
    ws.once('close', () => reject(new Error(`socket closed before an answer; got ${JSON.stringify(messages)}`)));
  });
  joined.catch(() => {});
  return {
    ws, messages, joined, closed,
    close: async () => {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    },
  };
}

let app;
let browser;

test.before(async () => {
  app = await startCamview();
  browser = await launchBrowser();
});

test.after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (app) {
    const exit = await app.stop();
    if (!exit || exit.code !== 0) console.error(`camview exit ${JSON.stringify(exit)}:\n${app.logs().slice(-4000)}`);
  }
});

test("a real camera's RTP from ffmpeg, sent to a stream started with curl, plays in Chromium", { timeout: 60000 }, async () => {
  let camera;
  try {
    const started = await fetch(`${app.apiUrl}/streams/${CAMERA}/start`, { method: 'POST', signal: AbortSignal.timeout(10000), headers: { authorization: `Bearer ${app.token}` } });
    assert.ok(started.ok, `POST /streams/${CAMERA}/start -> ${started.status} ${await started.text()}`);
    const stream = await waitFor('the stream to advertise an RTP port', 15000, async () => {
      const { status, body } = await getJson(`${app.apiUrl}/streams/${CAMERA}`);
      return status === 200 && body && body.rtp && body.rtp.port ? body : null;
    });
    assert.ok(stream.rtp.port >= 44000 && stream.rtp.port <= 44999, JSON.stringify(stream));
    camera = startReadmeFfmpeg(stream.rtp.port);
    await waitFor('the stream to be live', 20000, async () => (await getJson(`${app.apiUrl}/streams/${CAMERA}`)).body?.state === 'live');

    const page = await openPage(browser, `${app.apiUrl}/viewer?camera=${CAMERA}&api=${app.apiUrl}&signaling=${app.wsUrl}`, app);
    try {
      await page.click('#start');
      await page.waitForFunction(() => Number(document.querySelector('#stat-frames')?.dataset.value || 0) > 30, null, { timeout: 30000 });
      const shown = await page.evaluate(() => ({
        width: document.querySelector('#video').videoWidth,
        height: document.querySelector('#video').videoHeight,
        status: document.querySelector('#status').dataset.status,
        frames: Number(document.querySelector('#stat-frames').dataset.value),
        codec: document.querySelector('#stat-codec').dataset.value,
      }));
      assert.strictEqual(shown.width, 640, JSON.stringify(shown));
      assert.strictEqual(shown.height, 480, JSON.stringify(shown));
      assert.strictEqual(shown.status, 'playing', JSON.stringify(shown));
      await page.click('#stop');
      await page.waitForFunction(() => document.querySelector('#status').dataset.status === 'stopped', null, { timeout: 10000 });
    } finally {
      await page.close();
    }
  } catch (e) {
    console.error(`camview logs:\n${app.logs().slice(-6000)}\nffmpeg: ${camera ? camera.errors() : '(not started)'}`);
    throw e;
  } finally {
    if (camera) await camera.stop();
  }
});

test('the eleventh viewer of a stream sees stream full', { timeout: 60000 }, async () => {
  const raw = [];
  let camera;
  const pages = [];
  try {
    // keep the camera sending (test 1 stopped its ffmpeg). The new ffmpeg sends from a new
    // source port of the same address: the engine takes it once the old port has been silent
    // for the flow timeout, as after a camera restart.
    const stream = await waitFor('the stream and its RTP port', 10000, async () => (await getJson(`${app.apiUrl}/streams/${CAMERA}`)).body?.rtp?.port ? (await getJson(`${app.apiUrl}/streams/${CAMERA}`)).body : null);
    camera = startReadmeFfmpeg(stream.rtp.port);
    await waitFor('the stream to be live', 20000, async () => (await getJson(`${app.apiUrl}/streams/${CAMERA}`)).body?.state === 'live');

    // one genuine Chromium offer, reused by every raw viewer
    const offerPage = await browser.newPage();
    pages.push(offerPage);
    const offer = await offerPage.evaluate(async () => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      const o = await pc.createOffer();
      return o.sdp;
    });
    assert.match(offer, /m=video/);

    for (let i = 0; i < 10; i += 1) raw.push(rawViewer(app.wsUrl, offer));
    const answers = await Promise.all(raw.map((v) => Promise.race([v.joined, new Promise((_, rej) => setTimeout(() => rej(new Error('no answer within 15 s')), 15000))])));
    answers.forEach((a, i) => assert.strictEqual(a.type, 'answer', `raw viewer ${i}: ${JSON.stringify(a)}`));
    answers.forEach((a, i) => assert.match(JSON.stringify(a), /v=0/, `raw viewer ${i} got an SDP answer`));
    await waitFor('10 viewers registered', 10000, async () => (await getJson(`${app.apiUrl}/viewers/${CAMERA}`)).body?.count === 10);

    const viewerUrl = `${app.apiUrl}/viewer?camera=${CAMERA}&api=${app.apiUrl}&signaling=${app.wsUrl}`;
    const full = await openPage(browser, viewerUrl, app);
    pages.push(full);
    await full.click('#start');
    await full.waitForSelector('#message[data-code="stream_full"]', { timeout: 15000 });
    const text = await full.textContent('#message');
    assert.match(text, /maximum number of viewers/i, text);
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await full.screenshot({ path: path.join(SCREENSHOTS, 'stream-full.png') });
    const status = await full.evaluate(() => document.querySelector('#status').dataset.status);
    assert.strictEqual(status, 'error', `status after stream_full: ${status}`);
    const viewers = await getJson(`${app.apiUrl}/viewers/${CAMERA}`);
    assert.strictEqual(viewers.body.count, 10, JSON.stringify(viewers.body));

    // one raw viewer leaves: a new page gets in
    raw[0].ws.send(JSON.stringify({ type: 'leave' }));
    await raw[0].close();
    await waitFor('the slot to be freed', 10000, async () => (await getJson(`${app.apiUrl}/viewers/${CAMERA}`)).body?.count === 9);
    const next = await openPage(browser, viewerUrl, app);
    pages.push(next);
    await next.click('#start');
    await next.waitForFunction(() => document.querySelector('#state-signaling')?.dataset.state === 'ok', null, { timeout: 15000 });
    const code = await next.evaluate(() => document.querySelector('#message')?.dataset.code || '');
    assert.notStrictEqual(code, 'stream_full');
    await waitFor('the new page counted (10 viewers again)', 10000, async () => (await getJson(`${app.apiUrl}/viewers/${CAMERA}`)).body?.count === 10);
  } catch (e) {
    console.error(`camview logs:\n${app.logs().slice(-6000)}\nffmpeg: ${camera ? camera.errors() : '(not started)'}`);
    throw e;
  } finally {
    for (const p of pages) await p.close().catch(() => {});
    await Promise.all(raw.map((v) => v.close().catch(() => {})));
    if (camera) await camera.stop();
  }
});
