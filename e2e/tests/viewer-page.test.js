'use strict';
// The browser viewer (static/viewer.html) in headless Chromium against a stand-in API and a
// scriptable fake signaling socket (e2e/lib/viewer-server.js): page load, "not started",
// "stream full", stalled/live/ended, reconnect with backoff, renegotiate, Stop -> leave, and a
// full receive-only WebRTC session fed by a second page acting as the media server.
// Run inside a loopback-only namespace (see /work/shared/recipes/README.md):
//   unshare -n bash -c 'ip link set lo up; node --test tests/viewer-page.test.js'
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchBrowser } = require('../lib/browser');
const { startViewerServer, streamView } = require('../lib/viewer-server');

const SHOTS = path.resolve(__dirname, '../../target/screenshots');
fs.mkdirSync(SHOTS, { recursive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let browser;
test.before(async () => { browser = await launchBrowser(); });
test.after(async () => { if (browser) await browser.close(); });

/**
 * A page that records console errors and page errors. The stand-in has no /config.js, like a
 * static host that is not the API: its 404 is expected and not recorded, so every test here
 * also shows the pages work without the server's defaults.
 */
async function newPage(opts = DESKTOP) {
  const context = await browser.newContext(opts);
  const page = await context.newPage();
  page.errors = [];
  const noConfigJs = (text, url) => text.startsWith('Failed to load resource') && new URL(url, 'http://x').pathname === '/config.js';
  page.on('console', (m) => {
    const url = (m.location() || {}).url || '';
    if (m.type() === 'error' && !noConfigJs(m.text(), url)) page.errors.push({ text: m.text(), url });
  });
  page.on('pageerror', (e) => page.errors.push({ text: String(e), url: 'pageerror' }));
  page.closeAll = () => context.close();
  return page;
}

/** The `i`-th signaling connection of `srv`, once it exists. */
async function socketNo(srv, i = 0, ms = 10000) {
  const end = Date.now() + ms;
  while (srv.sockets.length <= i) {
    if (Date.now() > end) throw new Error(`no signaling connection #${i} within ${ms} ms`);
    await sleep(20);
  }
  return srv.sockets[i];
}

async function attr(page, sel, name) { return page.getAttribute(sel, name); }

async function waitAttr(page, sel, name, value, ms = 10000) {
  await page.waitForFunction(([s, n, v]) => { const e = document.querySelector(s); return e && e.getAttribute(n) === v; }, [sel, name, value], { timeout: ms });
}

async function grantMedia(page) {
  // The TEST (never the viewer) asks for the camera once so Chromium gathers loopback candidates.
  await page.evaluate(async () => {
    try { const s = await navigator.mediaDevices.getUserMedia({ video: true }); s.getTracks().forEach((t) => t.stop()); } catch (e) { /* best effort */ }
  });
}

test('the page loads cleanly; a camera that is not started says so and is not retried', { timeout: 60000 }, async (t) => {
  const srv = await startViewerServer();
  t.after(() => srv.close());
  for (const [name, opts] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    const page = await newPage(opts);
    t.after(() => page.closeAll());
    await page.goto(srv.viewerUrl('camera=NOPE'));
    await waitAttr(page, '#status', 'data-status', 'idle');
    assert.equal(await page.inputValue('#camera-input'), 'NOPE');
    assert.deepEqual(page.errors, [], 'no console errors on load');
    const cfg = await page.evaluate(() => window.camview.config);
    assert.equal(cfg.apiUrl, srv.origin);
    assert.equal(cfg.signalingUrl, srv.origin.replace('http', 'ws') + '/ws');
    await page.screenshot({ path: path.join(SHOTS, `viewer-idle-${name}.png`), fullPage: true });

    await page.click('#start');
    await waitAttr(page, '#state-api', 'data-state', 'failed');
    await waitAttr(page, '#status', 'data-status', 'error');
    assert.match(await page.textContent('#message'), /This camera's stream is not started/);
    assert.equal(await attr(page, '#message', 'data-code'), 'stream_not_found');
    assert.equal(await attr(page, '#state-signaling', 'data-state'), 'idle');
    assert.equal(await page.isEnabled('#start'), true, 'Start can be pressed again');
    const before = srv.requests.length;
    await page.fill('#camera-input', 'bad id/..');
    await page.click('#start');
    await waitAttr(page, '#message', 'data-code', 'invalid_camera_id');
    assert.match(await page.textContent('#message'), /not valid/);
    assert.equal(srv.requests.length, before, 'an invalid id is refused before any request');
    await page.fill('#camera-input', 'NOPE');
    await page.click('#start');
    await waitAttr(page, '#message', 'data-code', 'stream_not_found');
    await page.screenshot({ path: path.join(SHOTS, `viewer-not-started-${name}.png`), fullPage: true });
    const unexpected = page.errors.filter((e) => !(e.text.startsWith('Failed to load resource') && e.url.includes('/streams/NOPE')));
    assert.deepEqual(unexpected, [], 'only the expected 404 is logged');
  }
  await sleep(1500);
  assert.equal(srv.requests.filter((r) => r === 'GET /streams/NOPE').length, 4, 'one check per Start, no retry');
  assert.equal(srv.sockets.length, 0, 'no signaling connection for a stream that is not started');
});

// What the API's /config.js says for PUBLIC_API_URL=/ and PUBLIC_SIGNALING_URL=/ws (the line
// services/api/tests/api/config_js.rs expects from the server).
const ONE_HOST_CONFIG_JS = 'window.CAMVIEW_CONFIG = Object.assign({"apiUrl":"/","signalingUrl":"/ws"}, window.CAMVIEW_CONFIG || {});';

test('with api and signaling from the server\'s /config.js, a full stream ends the session with its own message and no reconnect', { timeout: 30000 }, async (t) => {
  const srv = await startViewerServer({
    streams: { full: streamView('full') },
    onSocket: async (s) => { await s.waitFor('join'); s.send({ type: 'error', code: 'stream_full', message: 'stream full already has 10 viewers' }); },
  });
  t.after(() => srv.close());
  const page = await newPage();
  t.after(() => page.closeAll());
  // The API's answer in place of the stand-in's 404; no api/signaling query parameters, so the
  // page reaches the stand-in (not HOST:8080 / HOST:8765) only through these server defaults.
  await page.route('**/config.js', (route) => route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: ONE_HOST_CONFIG_JS }));
  await page.goto(`${srv.origin}/viewer?camera=full`);
  const cfg = await page.evaluate(() => window.camview.config);
  assert.equal(cfg.apiUrl, srv.origin);
  assert.equal(cfg.signalingUrl, srv.origin.replace('http', 'ws') + '/ws');
  await page.click('#start');
  await waitAttr(page, '#status', 'data-status', 'error');
  assert.equal(await page.textContent('#message'), 'This camera already has the maximum number of viewers. Try again later.');
  assert.equal(await attr(page, '#state-api', 'data-state'), 'ok');
  assert.equal(await attr(page, '#state-signaling', 'data-state'), 'ok');
  await sleep(2000);
  assert.equal(srv.sockets.length, 1, 'no reconnect after stream_full');
  assert.equal(srv.sockets[0].url, '/ws', 'signaling on the page\'s own host under /ws');
  assert.deepEqual(page.errors, []);
});

test('the join offer is receive-only with H.264 first; stalled, live and ended are shown', { timeout: 30000 }, async (t) => {
  const srv = await startViewerServer({ streams: { cam1: streamView('cam1') } });
  t.after(() => srv.close());
  const page = await newPage();
  t.after(() => page.closeAll());
  await page.goto(srv.viewerUrl('camera=cam1&token=tok'));
  await page.click('#start');
  await page.waitForFunction(() => window.camview.state.phase === 'joining');
  const sock = await socketNo(srv);
  const join = await sock.waitFor('join');
  assert.equal(join.camera, 'cam1');
  assert.equal(join.token, 'tok');
  assert.match(join.sdpOffer, /a=recvonly/);
  assert.doesNotMatch(join.sdpOffer, /a=sendrecv/);
  assert.match(join.sdpOffer, /^m=audio /m, 'the camera\'s audio is asked for too (receive-only)');
  const mline = join.sdpOffer.match(/^m=video \d+ \S+ ([\d ]+)$/m)[1].split(' ');
  const rtpmap = new RegExp(`^a=rtpmap:${mline[0]} (\\w+)/`, 'm');
  assert.equal(join.sdpOffer.match(rtpmap)[1], 'H264', 'H.264 is the preferred codec');
  assert.equal(await page.evaluate(() => window.camview.pc.getTransceivers()[0].direction), 'recvonly');

  sock.send({ type: 'streamState', state: 'stalled' });
  await waitAttr(page, '#status', 'data-status', 'stalled');
  assert.equal(await page.textContent('#overlay-text'), 'The camera stopped sending; waiting for it to come back');
  assert.equal(await page.isVisible('#overlay'), true);
  assert.equal(await attr(page, '#stat-stream', 'data-value'), 'stalled');
  await page.screenshot({ path: path.join(SHOTS, 'viewer-stalled-desktop.png') });
  sock.send({ type: 'streamState', state: 'live' });
  await waitAttr(page, '#stat-stream', 'data-value', 'live');
  assert.equal(await page.textContent('#overlay-text'), 'Connecting…', 'no frame yet: connecting, no longer stalled');

  sock.send({ type: 'streamEnded' });
  await waitAttr(page, '#status', 'data-status', 'ended');
  assert.equal(await page.textContent('#message'), 'The stream was stopped');
  await sleep(1500);
  assert.equal(srv.sockets.length, 1, 'no reconnect after streamEnded');
  assert.equal(sock.received.filter((m) => m.type === 'leave').length, 0, 'the server already removed the viewer');
  assert.deepEqual(page.errors, []);
});

test('each join carries a fresh session token; access revoked ends the viewer without reconnecting; a camera not granted says so', { timeout: 30000 }, async (t) => {
  const srv = await startViewerServer({ streams: { cam5: streamView('cam5') }, forbidden: ['secret'] });
  t.after(() => srv.close());
  const page = await newPage();
  t.after(() => page.closeAll());
  await page.goto(srv.viewerUrl('camera=cam5'));
  await page.click('#start');
  const sock = await socketNo(srv);
  const join = await sock.waitFor('join');
  assert.match(join.token, /^stand-in-token-\d+$/, 'the token of a POST /auth/refresh made for this join');
  const refreshes = srv.requests.filter((r) => r === 'POST /auth/refresh').length;
  assert.ok(refreshes >= 2, `one refresh on load, one before the join (saw ${refreshes})`);
  sock.send({ type: 'error', code: 'unauthorized', message: 'access revoked' });
  sock.close(4401);
  await waitAttr(page, '#message', 'data-code', 'access_revoked');
  assert.equal(await attr(page, '#status', 'data-status'), 'error');
  assert.match(await page.textContent('#message'), /^Access revoked/);
  await page.screenshot({ path: path.join(SHOTS, 'viewer-access-revoked-desktop.png') });
  await sleep(2000);
  assert.equal(srv.sockets.length, 1, 'no reconnect after the access was revoked');
  assert.equal(await page.isEnabled('#start'), true);

  await page.fill('#camera-input', 'secret');
  await page.click('#start');
  await waitAttr(page, '#message', 'data-code', 'forbidden');
  assert.equal(await page.textContent('#message'), 'You do not have access to this camera');
  await sleep(1500);
  assert.equal(srv.requests.filter((r) => r === 'GET /streams/secret').length, 1, 'not retried');
  assert.equal(srv.sockets.length, 1, 'no signaling for a camera not granted');
  const unexpected = page.errors.filter((e) => !(e.text.startsWith('Failed to load resource') && e.text.includes('403')));
  assert.deepEqual(unexpected, []);
});

test('a dropped socket reconnects with backoff; renegotiate sends a new join; Stop sends leave', { timeout: 40000 }, async (t) => {
  const srv = await startViewerServer({ streams: { cam2: streamView('cam2', 'waiting_for_media') } });
  t.after(() => srv.close());
  const page = await newPage();
  t.after(() => page.closeAll());
  await page.goto(srv.viewerUrl('camera=cam2'));
  await page.click('#start');
  await page.waitForFunction(() => window.camview.state.phase === 'joining');
  assert.match(await page.textContent('#overlay-text'), /waiting for the first video/);
  const first = await socketNo(srv);
  await first.waitFor('join');
  const t0 = Date.now();
  first.close(1001);
  await waitAttr(page, '#status', 'data-status', 'reconnecting');
  assert.match(await page.textContent('#status'), /Reconnecting in \d+ s/);
  assert.equal(await attr(page, '#message', 'data-code'), 'signaling_closed');
  await page.screenshot({ path: path.join(SHOTS, 'viewer-reconnecting-desktop.png') });
  await page.waitForFunction(() => window.camview.state.phase === 'joining', null, { timeout: 5000 });
  const waited = Date.now() - t0;
  assert.ok(waited >= 700 && waited < 4000, `first retry after about 1 s (took ${waited} ms)`);
  const second = await socketNo(srv, 1);
  const join1 = await second.waitFor('join');
  const pc1 = await page.evaluate(() => { window.__oldPc = window.camview.pc; return window.camview.pc.signalingState; });
  assert.equal(pc1, 'have-local-offer');

  second.send({ type: 'renegotiate' });
  const join2 = await second.waitFor('join', 5000, second.received.indexOf(join1) + 1);
  assert.notEqual(join2.sdpOffer, join1.sdpOffer);
  assert.equal(await page.evaluate(() => window.__oldPc !== window.camview.pc && window.__oldPc.signalingState === 'closed'), true, 'a new peer connection');

  await page.click('#stop');
  await second.waitFor('leave');
  await waitAttr(page, '#status', 'data-status', 'stopped');
  await page.waitForFunction(() => window.camview.pc === null && window.camview.ws === null);
  await sleep(200);
  assert.equal(second.closed, true, 'Stop closes the socket');
  await sleep(1500);
  assert.equal(srv.sockets.length, 2, 'no reconnect after Stop');
  assert.deepEqual(page.errors, []);
});

test('signaling that cannot be reached is reported and retried', { timeout: 30000 }, async (t) => {
  const srv = await startViewerServer({ streams: { cam4: streamView('cam4') } });
  t.after(() => srv.close());
  const page = await newPage();
  t.after(() => page.closeAll());
  await page.goto(`${srv.origin}/viewer?api=/&signaling=ws://127.0.0.1:9/ws&camera=cam4`);
  await page.click('#start');
  await waitAttr(page, '#status', 'data-status', 'reconnecting');
  assert.equal(await attr(page, '#state-signaling', 'data-state'), 'failed');
  assert.equal(await page.textContent('#message'), 'The signaling server at ws://127.0.0.1:9/ws cannot be reached; retrying');
  await page.waitForFunction(() => window.camview.state.retries >= 2, null, { timeout: 8000 });
  assert.ok(srv.requests.filter((r) => r === 'GET /streams/cam4').length >= 2, 'each attempt checks the stream again');
  await page.click('#stop');
  await waitAttr(page, '#status', 'data-status', 'stopped');
  const n = srv.requests.length;
  await sleep(2500);
  assert.equal(srv.requests.length, n, 'Stop cancels the pending retry');
  const unexpected = page.errors.filter((e) => !/WebSocket connection to 'ws:\/\/127\.0\.0\.1:9\/ws' failed/.test(e.text));
  assert.deepEqual(unexpected, []);
});

test('ICE that never connects shows the UDP/TURN hint and retries', { timeout: 30000 }, async (t) => {
  const srv = await startViewerServer({ streams: { cam5: streamView('cam5') } });
  t.after(() => srv.close());
  const sender = await newPage();
  t.after(() => sender.closeAll());
  await sender.goto(srv.origin + '/blank');
  const page = await newPage();
  t.after(() => page.closeAll());
  await page.addInitScript(() => { window.CAMVIEW_CONFIG = { timeouts: { iceMs: 1500 } }; });
  await page.goto(srv.viewerUrl('camera=cam5'));
  await page.click('#start');
  const join = await (await socketNo(srv)).waitFor('join');
  // A real answer, but no server candidates ever arrive and the viewer's go nowhere. The
  // answer must not carry the sender's own candidates either: with one gathered in time, the
  // viewer's checks would reach it and ICE would connect after all (seen under load).
  const answer = (await senderAnswer(sender, join.sdpOffer)).replace(/a=(candidate:|end-of-candidates).*\r\n/g, '');
  assert.doesNotMatch(answer, /a=candidate/);
  srv.sockets[0].send({ type: 'answer', viewerId: 'v', sdpAnswer: answer });
  await waitAttr(page, '#state-ice', 'data-state', 'failed');
  assert.match(await page.textContent('#message'), /check that UDP port\(s\) of the media server are reachable, or configure TURN/);
  assert.equal(await attr(page, '#message', 'data-code'), 'ice_timeout');
  assert.equal(await attr(page, '#status', 'data-status'), 'reconnecting');
  await page.screenshot({ path: path.join(SHOTS, 'viewer-ice-failed-desktop.png') });
  await srv.sockets[0].waitFor('leave', 3000);
  await (await socketNo(srv, 1)).waitFor('join');
  assert.deepEqual(page.errors, []);
});

// The "media server" is a second page: it answers the viewer's offer with a canvas track.
async function senderAnswer(sender, offer) {
  return sender.evaluate(async (sdp) => {
    const canvas = document.createElement('canvas');
    canvas.width = 640; canvas.height = 360;
    const g = canvas.getContext('2d');
    let n = 0;
    setInterval(() => { g.fillStyle = `hsl(${(n++ * 7) % 360},70%,45%)`; g.fillRect(0, 0, 640, 360); g.fillStyle = '#fff'; g.font = '48px sans-serif'; g.fillText('camview test ' + n, 40, 200); }, 33);
    const track = canvas.captureStream(30).getVideoTracks()[0];
    // The camera's sound: a tone.
    const ac = new AudioContext();
    const tone = ac.createOscillator();
    const dest = ac.createMediaStreamDestination();
    tone.connect(dest);
    tone.start();
    const audio = dest.stream.getAudioTracks()[0];
    const pc = new RTCPeerConnection();
    window.senderPc = pc;
    window.senderCandidates = [];
    pc.onicecandidate = (e) => { if (e.candidate && e.candidate.candidate) window.senderCandidates.push(e.candidate.toJSON()); };
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const tr = pc.getTransceivers()[0];
    tr.direction = 'sendonly';
    await tr.sender.replaceTrack(track);
    const atr = pc.getTransceivers().find((x) => x.receiver.track.kind === 'audio');
    if (atr) { atr.direction = 'sendonly'; await atr.sender.replaceTrack(audio); }
    await pc.setLocalDescription(await pc.createAnswer());
    return pc.localDescription.sdp;
  }, offer);
}

test('a receive-only WebRTC session plays, with ICE trickled both ways and live stats', { timeout: 60000 }, async (t) => {
  const srv = await startViewerServer({ streams: { cam3: streamView('cam3') } });
  t.after(() => srv.close());
  const sender = await newPage();
  t.after(() => sender.closeAll());
  await sender.goto(srv.origin + '/blank');
  await grantMedia(sender);
  const page = await newPage();
  t.after(() => page.closeAll());
  await page.goto(srv.viewerUrl('camera=cam3'));
  await grantMedia(page);
  await page.click('#start');
  const sock = await socketNo(srv);
  const join = await sock.waitFor('join');
  const answer = await senderAnswer(sender, join.sdpOffer);
  // Candidates from the viewer before the answer must reach the "server" too.
  await sleep(300);
  sock.send({ type: 'answer', viewerId: 'viewer-1', sdpAnswer: answer });
  const relay = setInterval(async () => {
    try {
      for (const c of await sender.evaluate(() => window.senderCandidates.splice(0))) sock.send({ type: 'ice', ...c });
      for (const m of sock.received.filter((x) => x.type === 'ice' && !x.relayed)) {
        m.relayed = true;
        await sender.evaluate((c) => window.senderPc.addIceCandidate(c), { candidate: m.candidate, sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex });
      }
    } catch (e) { /* page closing */ }
  }, 100);
  t.after(() => clearInterval(relay));

  await waitAttr(page, '#state-video', 'data-state', 'ok', 20000);
  await waitAttr(page, '#status', 'data-status', 'playing');
  assert.equal(await page.isVisible('#overlay'), false, 'no overlay over a playing video');
  assert.equal(await attr(page, '#state-ice', 'data-state'), 'ok');
  assert.equal(await attr(page, '#state-pc', 'data-state'), 'ok');
  assert.equal(await page.evaluate(() => window.camview.state.viewerId), 'viewer-1');
  const ice = sock.received.filter((m) => m.type === 'ice');
  assert.ok(ice.length > 0, 'local candidates were sent');
  for (const c of ice) {
    assert.match(c.candidate, /^candidate:/);
    assert.equal(typeof c.sdpMLineIndex, 'number');
    assert.ok('sdpMid' in c);
  }
  await sleep(2500); // two stats rounds for fps and bitrate
  const frames = Number(await attr(page, '#stat-frames', 'data-value'));
  assert.ok(frames > 10, `frames decoded: ${frames}`);
  assert.equal(await attr(page, '#stat-resolution', 'data-value'), '640x360');
  assert.ok(Number(await attr(page, '#stat-bitrate', 'data-value')) > 0);
  assert.ok(Number(await attr(page, '#stat-fps', 'data-value')) > 0);
  assert.ok(await attr(page, '#stat-rtt', 'data-value') !== '', 'round-trip time from the candidate pair');
  assert.ok(await page.evaluate(() => document.getElementById('video').videoWidth) === 640);
  // The camera's audio arrived beside the video; the page starts muted, the control unmutes.
  assert.deepEqual(await page.evaluate(() => {
    const v = document.getElementById('video');
    return [v.srcObject.getAudioTracks().length, v.srcObject.getVideoTracks().length, v.muted];
  }), [1, 1, true]);
  assert.equal(await page.isVisible('#mute'), true);
  assert.equal(await page.textContent('#mute'), 'Unmute');
  await page.click('#mute');
  assert.equal(await page.evaluate(() => document.getElementById('video').muted), false);
  assert.equal(await page.textContent('#mute'), 'Mute');
  const stats = await page.evaluate(() => window.camview.stats);
  t.diagnostic(`stats ${JSON.stringify(stats)}`);
  await page.screenshot({ path: path.join(SHOTS, 'viewer-playing-desktop.png') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(SHOTS, 'viewer-playing-phone.png'), fullPage: true });

  // Frames stop without a word from the server: the viewer says so, and recovers when they resume.
  await sender.evaluate(() => { window.senderTrack = window.senderPc.getSenders()[0].track; return window.senderPc.getSenders()[0].replaceTrack(null); });
  await waitAttr(page, '#status', 'data-status', 'waiting', 10000);
  assert.equal(await page.textContent('#overlay-text'), 'Connected, but no video has arrived yet: the camera may not be sending');
  await sender.evaluate(() => window.senderPc.getSenders()[0].replaceTrack(window.senderTrack));
  await waitAttr(page, '#status', 'data-status', 'playing', 10000);
  assert.equal(await page.isVisible('#overlay'), false);
  // The server says the camera stalled while playing, then live again.
  sock.send({ type: 'streamState', state: 'stalled' });
  await waitAttr(page, '#status', 'data-status', 'stalled');
  assert.equal(await page.textContent('#overlay-text'), 'The camera stopped sending; waiting for it to come back');
  sock.send({ type: 'streamState', state: 'live' });
  await waitAttr(page, '#status', 'data-status', 'playing');
  assert.equal(await page.isVisible('#overlay'), false);
  assert.deepEqual(page.errors, []);
});

test('the stream list links to the viewer and the grid embeds viewers', { timeout: 30000 }, async (t) => {
  const old = new Date(Date.now() - 125000).toISOString();
  const srv = await startViewerServer({ streams: { a1: streamView('a1'), b2: streamView('b2', 'stalled', { viewers: 3, camera: { last_seen: old, stats: {} } }), c3: streamView('c3', 'waiting_for_media', { camera: null }) } });
  t.after(() => srv.close());
  for (const [name, opts] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    const page = await newPage(opts);
    t.after(() => page.closeAll());
    await page.goto(`${srv.origin}/?api=/&signaling=/ws`);
    await page.waitForSelector('#stream-rows tr');
    const rows = await page.$$eval('#stream-rows tr', (trs) => trs.map((tr) => [tr.dataset.camera, tr.dataset.state, tr.querySelector('a').getAttribute('href'), tr.textContent]));
    assert.deepEqual(rows.map((r) => r.slice(0, 2)), [['a1', 'live'], ['b2', 'stalled'], ['c3', 'waiting_for_media']]);
    assert.equal(rows[0][2], '/viewer?camera=a1&api=%2F&signaling=%2Fws');
    assert.match(rows[1][3], /2 min ago/);
    assert.match(rows[2][3], /never/);
    // A live stream shows its snapshot; the others ask for none.
    await page.waitForSelector('#stream-rows tr[data-camera="a1"] img.thumb[data-snapshot="ok"]');
    assert.equal(await page.$$eval('#stream-rows img.thumb[src]', (imgs) => imgs.length), 1);
    assert.ok(srv.requests.includes('GET /streams/a1/snapshot.jpg'), srv.requests.join(', '));
    await page.screenshot({ path: path.join(SHOTS, `index-${name}.png`), fullPage: true });
    assert.deepEqual(page.errors, []);
  }
  const grid = await newPage();
  t.after(() => grid.closeAll());
  await grid.goto(`${srv.origin}/static/grid.html?api=/&signaling=/ws`);
  await grid.waitForFunction(() => document.querySelectorAll('#grid iframe').length === 3);
  const src = await grid.getAttribute('#grid iframe', 'src');
  assert.equal(src, '/viewer?camera=a1&api=%2F&signaling=%2Fws&embed=1&autostart=1');
  const frame = grid.frames().find((f) => f.url().includes('camera=a1'));
  await frame.waitForFunction(() => document.body.classList.contains('embed') && window.camview && window.camview.state.status !== 'idle');
  await sleep(1000);
  await grid.screenshot({ path: path.join(SHOTS, 'grid-desktop.png') });
  const fixed = await newPage();
  t.after(() => fixed.closeAll());
  await fixed.goto(`${srv.origin}/static/grid.html?cameras=x,y&api=/`);
  assert.deepEqual(await fixed.$$eval('#grid iframe', (fs) => fs.map((f) => f.dataset.camera)), ['x', 'y']);
});
