'use strict';
// Pure logic of the browser viewer (static/viewer-core.js), under Node without a browser.
const test = require('node:test');
const assert = require('node:assert/strict');
const vm = require('node:vm');
const core = require('../../static/viewer-core.js');

const loc = (href) => { const u = new URL(href); return { href: u.href, protocol: u.protocol, hostname: u.hostname, host: u.host, search: u.search }; };

test('CONFIG is derived from the page location', () => {
  const c = core.deriveConfig(loc('http://cams.example:8080/viewer?camera=CAM1'));
  assert.equal(c.cameraId, 'CAM1');
  assert.equal(c.apiUrl, 'http://cams.example:8080');
  assert.equal(c.signalingUrl, 'ws://cams.example:8765/ws');
  assert.equal(c.iceServers, null);
  assert.equal(c.embed, false);
  assert.equal(c.autostart, false);
  const s = core.deriveConfig(loc('https://cams.example/viewer'));
  assert.equal(s.apiUrl, 'https://cams.example:8080');
  assert.equal(s.signalingUrl, 'wss://cams.example:8765/ws');
  assert.equal(s.cameraId, '');
  const v6 = core.deriveConfig(loc('http://[::1]:8080/viewer'));
  assert.equal(v6.apiUrl, 'http://[::1]:8080');
  assert.equal(v6.signalingUrl, 'ws://[::1]:8765/ws');
});

test('CAMVIEW_CONFIG overrides the defaults and query parameters override both', () => {
  const o = { apiUrl: 'https://api.example/', signalingUrl: 'wss://sig.example/socket', cameraId: 'X', iceServers: [{ urls: ['stun:s'] }], token: 't0' };
  const c = core.deriveConfig(loc('http://h/viewer'), o);
  assert.equal(c.apiUrl, 'https://api.example');
  assert.equal(c.signalingUrl, 'wss://sig.example/socket');
  assert.equal(c.cameraId, 'X');
  assert.deepEqual(c.iceServers, [{ urls: ['stun:s'] }]);
  assert.equal(c.token, 't0');
  const q = core.deriveConfig(loc('http://h:9000/viewer?camera=Y&api=/&signaling=/ws&token=t1&embed=1&autostart=1'), o);
  assert.equal(q.cameraId, 'Y');
  assert.equal(q.apiUrl, 'http://h:9000');
  assert.equal(q.signalingUrl, 'ws://h:9000/ws');
  assert.equal(q.token, 't1');
  assert.equal(q.embed, true);
  assert.equal(q.autostart, true);
  const https = core.deriveConfig(loc('https://h/viewer?signaling=https://other:1/x&api=http://a:1/base/'));
  assert.equal(https.signalingUrl, 'wss://other:1/x');
  assert.equal(https.apiUrl, 'http://a:1/base');
  assert.equal(core.deriveConfig(loc('http://h/viewer?embed=0')).embed, false);
});

/**
 * Runs a /config.js body the way a page does (a classic script before the page's own), with
 * `pageConfig` as what the page set in window.CAMVIEW_CONFIG beforehand (undefined: nothing);
 * returns the window.CAMVIEW_CONFIG deriveConfig then reads.
 */
function afterServerConfig(script, pageConfig) {
  const window = pageConfig === undefined ? {} : { CAMVIEW_CONFIG: pageConfig };
  vm.runInNewContext(script, { window });
  return window.CAMVIEW_CONFIG;
}

// What the API's GET /config.js answers for PUBLIC_API_URL=/ and PUBLIC_SIGNALING_URL=/ws
// (services/api/tests/api/config_js.rs checks the server writes exactly this line), and with neither.
const ONE_HOST_CONFIG_JS = 'window.CAMVIEW_CONFIG = Object.assign({"apiUrl":"/","signalingUrl":"/ws"}, window.CAMVIEW_CONFIG || {});';
const EMPTY_CONFIG_JS = 'window.CAMVIEW_CONFIG = Object.assign({}, window.CAMVIEW_CONFIG || {});';

test('server defaults from /config.js beat derived defaults, lose to the page config and to query parameters', () => {
  const page = 'https://cams.example/viewer?camera=C';
  const server = core.deriveConfig(loc(page), afterServerConfig(ONE_HOST_CONFIG_JS));
  assert.equal(server.apiUrl, 'https://cams.example', 'PUBLIC_API_URL=/ is the page origin, not :8080');
  assert.equal(server.signalingUrl, 'wss://cams.example/ws', 'PUBLIC_SIGNALING_URL=/ws on the same host, wss from https');

  const pageConfig = { signalingUrl: 'wss://sig.example/socket', token: 't0' };
  const merged = afterServerConfig(ONE_HOST_CONFIG_JS, pageConfig);
  const withPage = core.deriveConfig(loc(page), merged);
  assert.equal(withPage.signalingUrl, 'wss://sig.example/socket', 'the page config wins over the server');
  assert.equal(withPage.apiUrl, 'https://cams.example', 'keys the page leaves unset keep the server default');
  assert.equal(withPage.token, 't0');
  assert.deepEqual(pageConfig, { signalingUrl: 'wss://sig.example/socket', token: 't0' }, "the page's object is left as it was");

  const query = core.deriveConfig(loc(page + '&signaling=wss://q.example/x&api=https://qa.example:9/'), merged);
  assert.equal(query.signalingUrl, 'wss://q.example/x', 'query parameters win over both');
  assert.equal(query.apiUrl, 'https://qa.example:9');

  const none = core.deriveConfig(loc(page), afterServerConfig(EMPTY_CONFIG_JS));
  assert.equal(none.apiUrl, 'https://cams.example:8080', 'without PUBLIC_* the derived defaults stay');
  assert.equal(none.signalingUrl, 'wss://cams.example:8765/ws');
  assert.equal(core.deriveConfig(loc(page), afterServerConfig(EMPTY_CONFIG_JS, { apiUrl: '/' })).apiUrl, 'https://cams.example');
});

test('camera ids follow the signaling rule', () => {
  for (const ok of ['56C1CADCF1FA4C6CAEBA3E2FD85EFEBF', 'cam-1_a', 'x'.repeat(64)]) assert.equal(core.validCameraId(ok), true, ok);
  for (const bad of ['', 'a b', 'a/b', '../x', 'x'.repeat(65), 'é', null]) assert.equal(core.validCameraId(bad), false, String(bad));
});

test('links carry api, signaling and token over, and nothing else', () => {
  assert.equal(core.viewerLink('C D', '?api=http://a:1&camera=old&x=1'), '/viewer?camera=C+D&api=http%3A%2F%2Fa%3A1');
  assert.equal(core.viewerLink('c', '', { embed: '1', autostart: '1' }), '/viewer?camera=c&embed=1&autostart=1');
});

test('backoff doubles from 1 s up to 30 s with bounded jitter', () => {
  const mid = () => 0.5;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 20, 1000].map((n) => core.backoffDelay(n, mid)), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  assert.equal(core.backoffDelay(0, () => 0), 800);
  assert.equal(core.backoffDelay(0, () => 0.999999), 1200);
  assert.equal(core.backoffDelay(10, () => 0.999999), 30000, 'jitter never exceeds the cap');
  assert.equal(core.backoffDelay(10, () => 0), 24000);
  for (let i = 0; i < 200; i++) {
    const d = core.backoffDelay(i % 8);
    assert.ok(d >= 800 && d <= 30000, String(d));
  }
});

test('the camera\'s audio is labelled from the stream view; AAC says it cannot play', () => {
  assert.deepEqual(core.audioLabel({ state: 'live', rtp: { port: 1 } }), { value: 'none', text: 'none' });
  assert.deepEqual(core.audioLabel({ rtp: { audio: { codec: 'PCMU', payload_type: 0, port: 40014, playable: true } } }), { value: 'PCMU', text: 'PCMU' });
  const aac = core.audioLabel({ rtp: { audio: { codec: 'AAC', payload_type: 97, playable: false, note: 'x' } } });
  assert.deepEqual(aac, { value: 'AAC', text: 'AAC: not playable in browsers, video only' });
  assert.deepEqual(core.audioLabel(null), { value: 'none', text: 'none' });
  const pulled = core.audioLabel({ rtp: null, source: 'rtsp://u:***@cam/x', audio: { codec: 'AAC', payload_type: 97, playable: false } });
  assert.deepEqual(pulled, { value: 'AAC', text: 'AAC: not playable in browsers, video only' }, 'a pulled camera names its audio at the top level');
  assert.deepEqual(core.audioLabel({ rtp: null, audio: { codec: 'PCMA', payload_type: 8, playable: true } }), { value: 'PCMA', text: 'PCMA' });
});

test('signaling errors map to sentences and to retry decisions', () => {
  const full = core.describeSignalingError('stream_full', 'stream c already has 10 viewers', 'joining');
  assert.match(full.text, /already has the maximum number of viewers/);
  assert.deepEqual([full.retry, full.fatal], [false, true]);
  const codec = core.describeSignalingError('codec_unsupported', "this browser cannot play the camera's video: the camera sends H265", 'joining');
  assert.match(codec.text, /cannot play the video format this camera sends.*camera sends H265.*Safari/);
  assert.deepEqual([codec.retry, codec.fatal, codec.code], [false, true, 'codec_unsupported']);
  const nf = core.describeSignalingError('stream_not_found', 'stream c is not started', 'joining');
  assert.match(nf.text, /stream is not started/);
  assert.equal(nf.retry, false);
  for (const code of ['shutting_down', 'too_many_connections']) {
    const d = core.describeSignalingError(code, 'm', 'joined');
    assert.deepEqual([d.retry, d.fatal], [true, true], code);
  }
  assert.match(core.describeSignalingError('shutting_down', '', 'joined').text, /restarting/);
  const rl = core.describeSignalingError('rate_limited', 'too many messages', 'joined');
  assert.match(rl.text, /Too many requests/);
  assert.equal(rl.fatal, false, 'a rate limit after the answer only shows a notice');
  assert.equal(core.describeSignalingError('rate_limited', '', 'joining').retry, true);
  const unknown = core.describeSignalingError('dragons', 'here be', 'joining');
  assert.equal(unknown.text, 'Server error dragons: here be');
  assert.equal(core.describeSignalingError('unauthorized', 'x', 'joining').retry, false);
  assert.equal(core.describeSignalingError('controller_unavailable', 'x', 'joining').retry, true);
  assert.equal(core.describeSignalingError('invalid_candidate', 'x', 'joined').fatal, false);
});

test('every failure has a sentence a person understands', () => {
  assert.match(core.uiText('ice_failed'), /UDP port\(s\) of the media server are reachable, or configure TURN/);
  assert.equal(core.uiText('stalled'), 'The camera stopped sending; waiting for it to come back');
  assert.equal(core.uiText('ended'), 'The stream was stopped');
  assert.match(core.uiText('signaling_unreachable', { url: 'ws://h:8765/ws' }), /ws:\/\/h:8765\/ws cannot be reached/);
  for (const [k, v] of Object.entries(core.TEXT)) {
    if (k === 'unknown') continue;
    assert.ok(v.length > 10 && /^[A-Z]/.test(v), k);
  }
});

test('the API stream check', () => {
  const ok = core.describeStreamCheck(200, { camera_id: 'c', state: 'live', viewers: 2 }, 'http://a');
  assert.deepEqual([ok.ok, ok.state], [true, 'live']);
  const nf = core.describeStreamCheck(404, { code: 'stream_not_found', message: 'stream c is not started' }, 'http://a');
  assert.deepEqual([nf.ok, nf.retry, nf.key], [false, false, 'not_started']);
  assert.match(nf.text, /^This camera's stream is not started/);
  const down = core.describeStreamCheck(0, null, 'http://a:8080');
  assert.deepEqual([down.retry, down.code], [true, 'api_unreachable']);
  assert.match(down.text, /http:\/\/a:8080 cannot be reached/);
  assert.equal(core.describeStreamCheck(503, { code: 'registry_unavailable', message: 'm' }).retry, true);
  assert.equal(core.describeStreamCheck(400, { code: 'invalid_camera_id', message: 'm' }).key, 'invalid_camera_id');
  assert.equal(core.describeStreamCheck(418, null).retry, false);
});

test('stream states: labels and overlays', () => {
  assert.equal(core.overlayForState('live'), '');
  assert.equal(core.overlayForState('stalled'), 'The camera stopped sending; waiting for it to come back');
  assert.match(core.overlayForState('waiting_for_media'), /waiting/);
  assert.equal(core.streamStateLabel('waiting_for_media'), 'waiting for media');
});

test('H.264 comes first in the codec preferences and nothing is dropped', () => {
  const codecs = [
    { mimeType: 'video/VP8' }, { mimeType: 'video/rtx' }, { mimeType: 'video/VP9', sdpFmtpLine: 'profile-id=0' },
    { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f' },
    { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f' },
    { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' },
    { mimeType: 'video/red' }, { mimeType: 'video/AV1' },
  ];
  const out = core.orderCodecs(codecs);
  assert.equal(out.length, codecs.length);
  assert.deepEqual(out.slice(0, 3).map((c) => c.sdpFmtpLine.match(/packetization-mode=\d;profile-level-id=\w+/)[0]),
    ['packetization-mode=1;profile-level-id=42e01f', 'packetization-mode=1;profile-level-id=640c1f', 'packetization-mode=0;profile-level-id=42e01f']);
  assert.equal(out[3].mimeType, 'video/VP8');
  assert.deepEqual(out.slice(-2).map((c) => c.mimeType), ['video/rtx', 'video/red']);
});

function report({ t, bytes, frames, lost, rtt, fps, selectedVia = 'transport' }) {
  const r = [
    { id: 'IT1', type: 'inbound-rtp', kind: 'video', timestamp: t, bytesReceived: bytes, packetsReceived: 100, packetsLost: lost,
      framesDecoded: frames, keyFramesDecoded: 1, frameWidth: 640, frameHeight: 480, codecId: 'C1', ...(fps === undefined ? {} : { framesPerSecond: fps }) },
    { id: 'C1', type: 'codec', mimeType: 'video/H264' },
    { id: 'CP0', type: 'candidate-pair', state: 'failed', currentRoundTripTime: 9 },
    { id: 'CP1', type: 'candidate-pair', state: 'succeeded', nominated: true, currentRoundTripTime: rtt },
  ];
  if (selectedVia === 'transport') r.push({ id: 'T1', type: 'transport', selectedCandidatePairId: 'CP1' });
  return r;
}

test('stats from two getStats snapshots', () => {
  const a = core.snapshot(report({ t: 1000, bytes: 10000, frames: 30, lost: 0, rtt: 0.012 }));
  const b = core.snapshot(new Map(report({ t: 3000, bytes: 260000, frames: 90, lost: 3, rtt: 0.0125 }).map((s) => [s.id, s])).values());
  const first = core.computeStats(null, a);
  assert.equal(first.bitrateKbps, null);
  assert.equal(first.fps, null);
  assert.equal(first.framesDecoded, 30);
  const s = core.computeStats(a, b);
  assert.equal(s.resolution, '640x480');
  assert.equal(s.bitrateKbps, 1000); // 250000 bytes in 2 s
  assert.equal(s.fps, 30); // 60 frames in 2 s
  assert.equal(s.packetsLost, 3);
  assert.equal(s.rttMs, 13);
  assert.equal(s.framesDecoded, 90);
  assert.equal(s.codec, 'H264');
  const withFps = core.computeStats(a, core.snapshot(report({ t: 2000, bytes: 10000, frames: 30, lost: 0, rtt: 0.001, fps: 24.96, selectedVia: 'nominated' })));
  assert.equal(withFps.fps, 25);
  assert.equal(withFps.bitrateKbps, 0);
  assert.equal(withFps.rttMs, 1, 'the nominated succeeded pair when no transport names one');
  const empty = core.computeStats(null, core.snapshot([], 5));
  assert.deepEqual([empty.resolution, empty.framesDecoded, empty.rttMs, empty.codec], [null, 0, null, null]);
});

test('last seen, grid cameras and columns', () => {
  const now = Date.parse('2026-11-24T02:00:00Z');
  assert.equal(core.formatAgo('2026-11-24T01:59:48Z', now), '12 s ago');
  assert.equal(core.formatAgo('2026-11-24T01:57:00Z', now), '3 min ago');
  assert.equal(core.formatAgo('2026-11-23T23:00:00Z', now), '3 h ago');
  assert.equal(core.formatAgo(null, now), 'never');
  assert.deepEqual(core.gridCameras('?cameras=a,b,,a, c'), ['a', 'b', 'c']);
  assert.equal(core.gridCameras(''), null);
  assert.equal(core.gridColumns(1, 1400), 1);
  assert.equal(core.gridColumns(4, 1400), 2);
  assert.equal(core.gridColumns(9, 1400), 3);
  assert.equal(core.gridColumns(9, 390), 1);
});

test('access taken away ends the viewer with its own sentence and no reconnect; forbidden names the camera', () => {
  const revoked = core.describeSignalingError('unauthorized', 'access revoked', 'joined');
  assert.deepEqual([revoked.code, revoked.retry, revoked.fatal], ['access_revoked', false, true]);
  assert.match(revoked.text, /^Access revoked/);
  const noLogin = core.describeSignalingError('unauthorized', 'missing token', 'joining');
  assert.deepEqual([noLogin.code, noLogin.retry, noLogin.fatal], ['unauthorized', false, true]);
  assert.match(noLogin.text, /log in again/);
  const forbidden = core.describeSignalingError('forbidden', 'camera b is not granted', 'joining');
  assert.deepEqual([forbidden.code, forbidden.retry, forbidden.fatal], ['forbidden', false, true]);
  assert.equal(forbidden.text, 'You do not have access to this camera');
  const check403 = core.describeStreamCheck(403, { code: 'forbidden', message: 'm' }, 'http://a');
  assert.deepEqual([check403.ok, check403.retry, check403.key, check403.text], [false, false, 'forbidden', 'You do not have access to this camera']);
  const check401 = core.describeStreamCheck(401, { code: 'unauthorized', message: 'm' }, 'http://a');
  assert.deepEqual([check401.retry, check401.login], [false, true], 'a 401 sends people to the login page');
});

test('after logging in only a path on this site is followed', () => {
  assert.equal(core.safeNext('/viewer?camera=a&api=/'), '/viewer?camera=a&api=/');
  assert.equal(core.safeNext('/'), '/');
  for (const bad of ['//evil.example/x', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', 'viewer', '', null, undefined, '/a\nb', '/' + 'x'.repeat(3000)]) {
    assert.equal(core.safeNext(bad), '/', String(bad));
  }
  assert.equal(core.loginUrl('/viewer?camera=a&x=1'), '/login?next=%2Fviewer%3Fcamera%3Da%26x%3D1');
  assert.equal(core.loginUrl('/'), '/login');
  assert.equal(core.loginUrl('//evil'), '/login');
  const back = new URLSearchParams(core.loginUrl('/viewer?camera=a&x=1').split('?')[1]).get('next');
  assert.equal(core.safeNext(back), '/viewer?camera=a&x=1', 'the login page gets the same path back');
});

test('login failures say what happened and how long to wait', () => {
  assert.equal(core.describeLoginFailure(401, { code: 'unauthorized' }).text, 'Wrong username or password');
  const limited = core.describeLoginFailure(429, { code: 'too_many_requests' }, core.retryAfterSeconds('17'));
  assert.deepEqual([limited.code, limited.text, limited.retryAfter], ['too_many_requests', 'Too many attempts, try again in 17 s', 17]);
  assert.equal(core.describeLoginFailure(429, null, null).retryAfter, 60, 'no Retry-After: a minute');
  assert.match(core.describeLoginFailure(0, null).text, /cannot be reached/);
  assert.match(core.describeLoginFailure(401, null, null, 'link').text, /login link is not valid/);
  assert.match(core.describeLoginFailure(401, null, null, 'share').text, /share link was revoked or has expired/);
  assert.match(core.describeLoginFailure(503, { code: 'store_unavailable' }).text, /store_unavailable/);
  assert.equal(core.retryAfterSeconds(null), null);
  assert.equal(core.retryAfterSeconds('0.2'), 1);
  assert.equal(core.retryAfterSeconds('Thu, 01 Jan 2026 00:00:30 GMT', Date.parse('2026-01-01T00:00:00Z')), 30);
});

test('the session is refreshed at two thirds of what is left of the token', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(core.refreshDelay('2026-01-01T00:15:00Z', now), 600000);
  assert.equal(core.refreshDelay('2026-01-01T00:00:03Z', now), 5000, 'never more often than every 5 s');
  assert.equal(core.refreshDelay('2025-12-31T00:00:00Z', now), 5000, 'an expired token is refreshed soon, not in a loop');
  assert.equal(core.refreshDelay('2026-01-01T00:00:03Z', now, 1000), 2000);
  assert.equal(core.refreshDelay('2027-01-01T00:00:00Z', now), 86400000, 'capped at a day');
  assert.equal(core.refreshDelay('garbage', now), 60000);
});

test('share links: the token and codes come from the fragment, the camera from the answer or the grants', () => {
  assert.equal(core.fragmentParam('#token=aaa.bbb.ccc', 'token'), 'aaa.bbb.ccc');
  assert.equal(core.fragmentParam('#code=XYZ&x=1', 'code'), 'XYZ');
  assert.equal(core.fragmentParam('', 'token'), '');
  assert.equal(core.fragmentParam('#other=1', 'token'), '');
  assert.equal(core.shareViewerUrl({ camera: 'cam-1' }, null), '/viewer?camera=cam-1');
  assert.equal(core.shareViewerUrl({ token: 't' }, { grants: ['cam2'] }), '/viewer?camera=cam2');
  assert.equal(core.shareViewerUrl({ token: 't' }, { grants: [] }), null);
  assert.equal(core.shareViewerUrl({ token: 't' }, { grants: ['*'] }), null, 'a share names one camera, never all');
  assert.equal(core.shareViewerUrl({ camera: '../x' }, null), null);
});

test('a camera codec the browser cannot decode is said in words, with why for Firefox and H.264', () => {
  const firefoxCaps = { codecs: [{ mimeType: 'video/VP8' }, { mimeType: 'video/rtx' }, { mimeType: 'video/VP9' }, { mimeType: 'video/AV1' }] };
  const chromiumCaps = { codecs: [{ mimeType: 'video/VP8' }, { mimeType: 'video/H264', sdpFmtpLine: 'profile-level-id=42e01f' }] };
  const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0';
  const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36';
  assert.deepEqual(core.codecSupport('VP8', firefoxCaps, FIREFOX), { ok: true });
  assert.deepEqual(core.codecSupport('H264', chromiumCaps, CHROME), { ok: true });
  const h264 = core.codecSupport('H264', firefoxCaps, FIREFOX);
  assert.equal(h264.ok, false);
  assert.equal(h264.code, 'codec_unsupported');
  assert.match(h264.text, /H\.264/);
  assert.match(h264.text, /OpenH264/);
  const hevc = core.codecSupport('H265', chromiumCaps, CHROME);
  assert.equal(hevc.ok, false);
  assert.match(hevc.text, /H\.265/);
  assert.doesNotMatch(hevc.text, /OpenH264/);
  // Nothing known: let the server decide.
  assert.deepEqual(core.codecSupport('H264', null, FIREFOX), { ok: true });
  assert.deepEqual(core.codecSupport(null, firefoxCaps, FIREFOX), { ok: true });
});
