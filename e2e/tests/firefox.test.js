'use strict';
// The viewer page in Firefox ESR from Debian (puppeteer-core over WebDriver BiDi):
// - a VP8 camera on the split stack plays in Firefox, end to end;
// - Firefox here has no H.264 decoder (its OpenH264 plugin is downloaded by Firefox itself, and
//   cannot be here): an H.264 camera shows a sentence saying why, and the page never joins, so
//   no viewer slot is taken for a black video.
// Run inside a loopback-only namespace (see /work/shared/recipes/README.md).
const test = require('node:test');
const { before, after } = test;
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchFirefox, openFirefoxPage, loopbackDefaultRoute } = require('../lib/firefox');
const { startStack, waitFor, getJson } = require('../lib/stack');
const { startFfmpegCamera } = require('../lib/camera');
const { startViewerServer, streamView } = require('../lib/viewer-server');

const SCREENSHOTS = path.resolve(__dirname, '../../target/screenshots');
const CAMERA = 'ff-vp8';

let browser;
let undoRoute = () => {};
before(async () => { undoRoute = loopbackDefaultRoute(); browser = await launchFirefox(); });
after(async () => { if (browser) await browser.close().catch(() => {}); undoRoute(); });

const shown = (page) => page.evaluate(() => ({
  status: document.querySelector('#status').dataset.status,
  code: document.querySelector('#message').dataset.code,
  message: document.querySelector('#message').textContent,
  frames: Number(document.querySelector('#stat-frames')?.dataset.value || 0),
  width: document.querySelector('#video').videoWidth,
  log: (window.camview.log || []).slice(-12),
}));

test('Firefox ESR plays a VP8 camera through the split stack', { timeout: 120000 }, async (t) => {
  const offers = await (async () => {
    const page = await browser.newPage();
    const r = await page.evaluate(async () => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      const o = await pc.createOffer();
      pc.close();
      return o.sdp;
    });
    await page.close();
    return r;
  })();
  assert.match(offers, /VP8\/90000/, 'Firefox offers VP8');

  const stack = await startStack({ controllerEnv: { CAMERA_CODEC: 'VP8' } });
  let camera = null;
  let page = null;
  t.after(async () => { if (camera) await camera.stop(); await stack.stop(); });
  try {
    const started = await stack.admin.post(`/streams/${CAMERA}/start`);
    assert.equal(started.status, 200, JSON.stringify(started));
    assert.equal(started.body.rtp.codec, 'VP8');
    camera = startFfmpegCamera(started.body.rtp.port, { codec: 'vp8', seconds: 90 });
    await waitFor('the VP8 stream to be live', 30000, async () => (await getJson(`${stack.apiUrl}/streams/${CAMERA}`, stack.token)).body?.state === 'live');

    const url = `${stack.apiUrl}/viewer?camera=${CAMERA}&api=${stack.apiUrl}&signaling=${stack.signaling[0].url}`;
    page = await openFirefoxPage(browser, url, { apiUrl: stack.apiUrl, token: stack.token });
    await page.evaluate(async () => {
      // The TEST (never the viewer) asks for the fake camera once, as for Chromium.
      try { const s = await navigator.mediaDevices.getUserMedia({ video: true }); s.getTracks().forEach((x) => x.stop()); } catch (e) { /* best effort */ }
    });
    await page.click('#start');
    await page.waitForFunction(() => Number(document.querySelector('#stat-frames')?.dataset.value || 0) > 15 && document.querySelector('#video').videoWidth === 640, { timeout: 45000, polling: 250 });
    const s = await shown(page);
    assert.equal(s.status, 'playing', JSON.stringify(s));
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'firefox-vp8.png') });
  } catch (e) {
    console.error(`\n===== Firefox VP8 failed =====\n${stack.dumpLogs(30)}\ncamera: ${camera ? camera.errors() : '-'}`);
    if (page) console.error(JSON.stringify(await shown(page).catch((x) => String(x)), null, 1));
    throw e;
  } finally {
    if (page) await page.close().catch(() => {});
  }
});

test('Firefox without H.264 says why an H.264 camera cannot play, and never joins', { timeout: 60000 }, async (t) => {
  const srv = await startViewerServer({ streams: { CAM264: streamView('CAM264', 'live') } });
  t.after(() => srv.close());
  const page = await browser.newPage();
  t.after(() => page.close().catch(() => {}));
  await page.goto(srv.viewerUrl('camera=CAM264'));
  const decodesH264 = await page.evaluate(() => RTCRtpReceiver.getCapabilities('video').codecs.some((c) => /h264/i.test(c.mimeType)));
  assert.equal(decodesH264, false, 'this Firefox has no OpenH264 plugin, as on every machine of this kind');
  await page.click('#start');
  await page.waitForFunction(() => document.querySelector('#message').dataset.code === 'codec_unsupported', { timeout: 15000, polling: 100 });
  const s = await shown(page);
  assert.equal(s.status, 'error', JSON.stringify(s));
  assert.match(s.message, /H\.264/);
  assert.match(s.message, /OpenH264/);
  assert.equal(srv.sockets.length, 0, 'no signaling socket was opened: no join, no slot');
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'firefox-h264.png') });
});
