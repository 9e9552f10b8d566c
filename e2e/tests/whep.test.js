'use strict';
// WHEP with a player no one here wrote: the reference WHEP client of the draft's author
// (npm `whip-whep`, medooze) in headless Chromium watches the keepalive camera of the split
// stack (real engine, controller, api, Redis). Its offer goes to POST /whep/{camera}, its
// candidates follow by PATCH, and stop() sends DELETE. The viewer limit is the controller's,
// with the WebSocket path's error code; a player that closes without DELETE is freed.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { startStack, waitFor } = require('../lib/stack');
const { launchBrowser, openPage } = require('../lib/browser');
const { login } = require('../lib/auth');

const CAMERA = 'whepcam';
const WHEP_JS = fs.readFileSync(require.resolve('whip-whep/whep.js'), 'utf8');
// Served at the api's origin (so the player's fetches are same-origin), outside the api.
const PAGE = `<!doctype html><html><body><video id="v" autoplay muted playsinline></video>
<script type="module">
import { WHEPClient } from './whep.js';
const video = document.getElementById('v');
window.watch = async (url, token) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.ontrack = (e) => { video.srcObject = e.streams[0] || new MediaStream([e.track]); video.play().catch(() => {}); };
  window.pc = pc;
  window.player = new WHEPClient();
  await window.player.view(pc, url, token);
  return window.player.resourceURL.pathname;
};
window.framesDecoded = async () => {
  let frames = 0;
  if (window.pc) (await window.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0; });
  return frames;
};
// A second offer, posted by hand, to see what the api answers past the viewer limit.
window.offerOnce = async (url, token) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  const offer = await pc.createOffer();
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: 'Bearer ' + token }, body: offer.sdp });
  pc.close();
  return { status: r.status, body: await r.json().catch(() => null) };
};
window.ready = true;
</script></body></html>`;

test('a standard WHEP player (whip-whep in Chromium) watches a camera, is held to the viewer limit, leaves with DELETE, and a vanished one loses its slot', { timeout: 120000 }, async () => {
  const stack = await startStack({
    camera: CAMERA, signalingInstances: 0, controllerEnv: { MAX_VIEWERS_PER_STREAM: '1' }, apiEnv: { WHEP_DISCONNECT_GRACE_SECONDS: '2' },
  });
  let browser;
  try {
    const started = await stack.admin.post(`/streams/${CAMERA}/start`);
    assert.strictEqual(started.status, 200, JSON.stringify(started));
    await waitFor('the stream to be live', 30000, async () => (await stack.admin.get(`/streams/${CAMERA}`)).body?.state === 'live');
    const created = await stack.admin.post('/users', { username: 'wheppy', password: 'wheppy-password-1', role: 'viewer', grants: [CAMERA] });
    assert.strictEqual(created.status, 201, JSON.stringify(created));
    const token = await login(stack.apiUrl, 'wheppy', 'wheppy-password-1');

    browser = await launchBrowser();
    const context = await browser.newContext();
    await context.route(`${stack.apiUrl}/whep-player/**`, (route) => {
      const file = new URL(route.request().url()).pathname.endsWith('.js') ? { contentType: 'text/javascript', body: WHEP_JS } : { contentType: 'text/html', body: PAGE };
      return route.fulfill({ status: 200, ...file });
    });
    const page = await openPage(context, `${stack.apiUrl}/whep-player/index.html`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
    const patches = [];
    page.on('response', (r) => { if (r.request().method() === 'PATCH') patches.push(r.status()); });
    const whepUrl = `${stack.apiUrl}/whep/${CAMERA}`;
    const t0 = Date.now();
    const resource = await page.evaluate(([u, t]) => window.watch(u, t), [whepUrl, token]);
    assert.match(resource, new RegExp(`^/whep/${CAMERA}/[0-9a-f-]{36}$`));
    await waitFor('decoded frames in the WHEP player', 45000, async () => (await page.evaluate(() => window.framesDecoded())) > 30);
    console.log(`whep: first 30 frames decoded ${Date.now() - t0} ms after the offer`);
    // The player trickled its candidates, and every PATCH was taken.
    assert.ok(patches.length > 0 && patches.every((s) => s === 204), `PATCH answers: ${JSON.stringify(patches)}`);
    const width = await page.evaluate(() => document.getElementById('v').videoWidth);
    assert.ok(width > 0, `video width ${width}`);

    const viewers = await stack.admin.get(`/viewers/${CAMERA}`);
    assert.strictEqual(viewers.body.count, 1, JSON.stringify(viewers.body));
    assert.match(viewers.body.viewers[0].signaling_instance, /^api-/, JSON.stringify(viewers.body));
    assert.strictEqual(viewers.body.viewers[0].viewer_id, resource.split('/').pop());

    const refused = await page.evaluate(([u, t]) => window.offerOnce(u, t), [whepUrl, token]);
    assert.strictEqual(refused.status, 409, JSON.stringify(refused));
    assert.strictEqual(refused.body.code, 'stream_full', JSON.stringify(refused));

    await page.evaluate(() => window.player.stop());
    await waitFor('the slot to be free after DELETE', 10000, async () => (await stack.admin.get(`/viewers/${CAMERA}`)).body?.count === 0);

    // A player that vanishes without DELETE (its peer connection closed) loses its slot once
    // the engine reports it disconnected and the api's grace (WHEP_DISCONNECT_GRACE_SECONDS) passes.
    const again = await page.evaluate(([u, t]) => window.watch(u, t), [whepUrl, token]);
    await waitFor('the second session to connect', 20000, async () => (await stack.admin.get(`/viewers/${CAMERA}`)).body?.viewers?.[0]?.state === 'connected');
    const t1 = Date.now();
    await page.evaluate(() => window.pc.close());
    await waitFor('the vanished player\'s slot to be free', 20000, async () => (await stack.admin.get(`/viewers/${CAMERA}`)).body?.count === 0);
    console.log(`whep: a vanished player's slot was freed ${Date.now() - t1} ms after it closed`);
    const deleted = await page.evaluate(async ([u, t]) => (await fetch(u, { method: 'DELETE', headers: { authorization: 'Bearer ' + t } })).status, [`${stack.apiUrl}${again}`, token]);
    assert.strictEqual(deleted, 404, 'the expired session is gone');
  } catch (e) {
    e.message += `\n${stack.dumpLogs(30)}`;
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stack.stop();
  }
});
