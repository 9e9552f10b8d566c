'use strict';
// The official kurento-client 7.3.0 drives camview-media-engine through the whole viewer flow.
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const kurento = require('kurento-client');
const { startEngine } = require('../lib/engine');
const { cameraOffer, answerPort } = require('../lib/camera');

/** A Chrome-like recvonly offer carrying VP8 and H.264 (what a viewer page sends). */
function browserOffer() {
  const fp = Array.from({ length: 32 }, (_, i) => ((i * 37 + 11) & 0xff).toString(16).padStart(2, '0').toUpperCase()).join(':');
  return ['v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0', 'a=msid-semantic: WMS',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
    'a=ice-ufrag:e2eT', 'a=ice-pwd:e2eTestPasswordOf24Chars', 'a=ice-options:trickle', `a=fingerprint:sha-256 ${fp}`,
    'a=setup:actpass', 'a=mid:0', 'a=recvonly', 'a=rtcp-mux', 'a=rtcp-rsize',
    'a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 goog-remb', 'a=rtcp-fb:96 ccm fir', 'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli',
    'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96',
    'a=rtpmap:102 H264/90000', 'a=rtcp-fb:102 goog-remb', 'a=rtcp-fb:102 ccm fir', 'a=rtcp-fb:102 nack', 'a=rtcp-fb:102 nack pli',
    'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    'a=rtpmap:103 rtx/90000', 'a=fmtp:103 apt=102', ''].join('\r\n');
}

/** Resolves with the first `name` event of `obj` satisfying `pred`. */
function once(obj, name, pred = () => true, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${name} in ${ms} ms`)), ms);
    const h = (ev) => { if (pred(ev)) { clearTimeout(t); obj.removeListener(name, h); resolve(ev); } };
    obj.on(name, h);
  });
}

/** Calls a kurento-client method in callback style so server errors are seen, not swallowed. */
function callback(obj, method, ...args) {
  return new Promise((resolve) => obj[method](...args, (error, value) => resolve({ error, value })));
}

function rtpPacket(seq, ts, marker, payload) {
  const h = Buffer.alloc(12);
  h[0] = 0x80; h[1] = 96 | (marker ? 0x80 : 0);
  h.writeUInt16BE(seq & 0xffff, 2); h.writeUInt32BE(ts >>> 0, 4); h.writeUInt32BE(0x1234abcd, 8);
  return Buffer.concat([h, Buffer.from(payload)]);
}

test('kurento-client drives the engine through pipeline, camera, viewer and release', async (t) => {
  const engine = await startEngine();
  t.after(() => engine.stop());
  const client = await kurento(engine.url, { failAfter: 1, strict: true });
  t.after(() => client.close());

  const pipeline = await client.create('MediaPipeline');
  assert.match(pipeline.id, /^[0-9a-f-]{36}_kurento\.MediaPipeline$/);

  // Camera side.
  const rtp = await pipeline.create('RtpEndpoint');
  assert.ok(rtp.id.startsWith(`${pipeline.id}/`));
  const flowing = once(rtp, 'MediaFlowInStateChanged', (e) => e.state === 'FLOWING');
  await new Promise((r) => setTimeout(r, 100)); // let the subscription land
  const rtpAnswer = await rtp.processOffer(cameraOffer(5004));
  assert.equal(typeof rtpAnswer, 'string', 'processOffer answered');
  assert.match(rtpAnswer, /^c=IN IP4 127\.0\.0\.1\r$/m);
  assert.match(rtpAnswer, /^a=recvonly\r$/m);
  assert.match(rtpAnswer, /^a=fmtp:96 packetization-mode=1;profile-level-id=42c01e\r$/m);
  const port = answerPort(rtpAnswer);
  assert.equal(port % 2, 0, 'even RTP port');
  assert.ok(port >= 41000 && port <= 41999, `port ${port} in KMS_MIN_PORT..KMS_MAX_PORT`);
  const again = await callback(rtp, 'processOffer', cameraOffer(5004));
  assert.equal(again.error && again.error.code, 40208, 'second negotiation is refused');

  const sock = dgram.createSocket('udp4');
  t.after(() => sock.close());
  const sps = [0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80];
  for (let i = 0; i < 5; i++) sock.send(rtpPacket(100 + i, 3000 * i, true, i === 0 ? sps : [0x41, i]), port, '127.0.0.1');
  const flowEv = await flowing;
  assert.equal(flowEv.mediaType, 'VIDEO');
  assert.equal(flowEv.source.id || flowEv.source, rtp.id);
  assert.equal(await rtp.isMediaFlowingIn('VIDEO'), true);

  // Viewer side.
  const web = await pipeline.create('WebRtcEndpoint');
  const candidates = [];
  web.on('IceCandidateFound', (e) => candidates.push(e.candidate));
  const gatheringDone = once(web, 'IceGatheringDone');
  const connected = once(rtp, 'ElementConnected');
  await rtp.connect(web, 'VIDEO');
  const conn = await connected;
  assert.equal(conn.mediaType, 'VIDEO');
  const sinks = await rtp.getSinkConnections('VIDEO');
  assert.equal(sinks.length, 1);
  assert.equal(sinks[0].sink.id || sinks[0].sink, web.id);

  assert.equal(await web.getMaxVideoSendBandwidth(), 500);
  await web.setMaxVideoSendBandwidth(2500);
  assert.equal(await web.getMaxVideoSendBandwidth(), 2500);
  await web.setStunServerAddress('192.0.2.7');
  assert.equal(await web.getStunServerAddress(), '192.0.2.7');

  const answer = await web.processOffer(browserOffer());
  assert.equal(typeof answer, 'string', 'the browser offer was accepted');
  assert.match(answer, /a=sendonly/);
  assert.match(answer, /H264\/90000/);
  assert.match(answer, /profile-level-id=42c01e/, 'the answer names the profile the camera really sends');
  assert.doesNotMatch(answer, /a=candidate/, 'no candidates before gatherCandidates');
  assert.equal(await web.getLocalSessionDescriptor(), answer);

  await web.gatherCandidates();
  await gatheringDone;
  assert.ok(candidates.length >= 1, 'candidates before IceGatheringDone');
  assert.match(candidates[0].candidate, /^candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/i);
  assert.equal(typeof candidates[0].sdpMid, 'string');
  assert.equal(candidates[0].sdpMLineIndex, 0);
  assert.ok(candidates[0].candidate.includes(` ${engine.webrtcPort} `), 'the shared WebRTC port is announced');

  const IceCandidate = kurento.getComplexType('IceCandidate');
  await web.addIceCandidate(IceCandidate({ candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 }));
  await web.addIceCandidate(IceCandidate({ candidate: '', sdpMid: '0', sdpMLineIndex: 0 }));
  const bad = await callback(web, 'addIceCandidate', IceCandidate({ candidate: 'candidate:garbage', sdpMid: '0', sdpMLineIndex: 0 }));
  assert.equal(bad.error && bad.error.code, 40401);

  const stats = await web.getStats('VIDEO');
  assert.ok(Object.values(stats).some((s) => s.type === 'outboundrtp'), 'outbound RTP stats');
  assert.equal(await web.getMediaState(), 'DISCONNECTED');

  const serverManager = await client.getServerManager();
  assert.deepEqual(await serverManager.getPipelines().then((ps) => ps.map((p) => p.id || p)), [pipeline.id]);
  await pipeline.release();
  assert.deepEqual(await serverManager.getPipelines(), [], 'release cascades to the whole pipeline');
  const gone = await callback(web, 'getMediaState');
  assert.ok(gone.error, 'released objects are gone');
});

test('kurento-client sees Kurento errors for a browser offer without the camera codec', async (t) => {
  const engine = await startEngine();
  t.after(() => engine.stop());
  const client = await kurento(engine.url, { failAfter: 1 });
  t.after(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const rtp = await pipeline.create('RtpEndpoint');
  await rtp.processOffer(cameraOffer(5004));
  const web = await pipeline.create('WebRtcEndpoint');
  await rtp.connect(web);
  const vp8Only = browserOffer().replace('m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103', 'm=video 9 UDP/TLS/RTP/SAVPF 96 97')
    .split('\r\n').filter((l) => !/:10[23] /.test(l)).join('\r\n');
  const r = await callback(web, 'processOffer', vp8Only);
  assert.equal(r.error && r.error.code, 40205);
  assert.match(r.error.message, /H264/);
  await pipeline.release();
});
