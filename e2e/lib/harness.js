'use strict';
// A bare viewer page for browser tests: the test does the signaling (over Kurento JSON-RPC)
// and calls these page functions through page.evaluate. It never asks for the camera.
const http = require('node:http');

const PAGE = `<!doctype html><html><body><div id="videos"></div><script>
const viewers = {};
window.makeViewer = async (name) => {
  const pc = new RTCPeerConnection();
  const v = { pc, candidates: [], iceConnectedAt: null, answeredAt: null, firstPacketAt: null, firstFrameAt: null, createdAt: performance.now() };
  viewers[name] = v;
  const video = document.createElement('video');
  video.autoplay = true; video.muted = true; video.playsInline = true; video.id = 'video-' + name;
  document.getElementById('videos').appendChild(video);
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.ontrack = (e) => { video.srcObject = e.streams[0] || new MediaStream([e.track]); video.play().catch(() => {}); };
  pc.onicecandidate = (e) => { if (e.candidate && e.candidate.candidate) v.candidates.push(e.candidate.toJSON()); };
  pc.oniceconnectionstatechange = () => {
    if (pc.iceConnectionState === 'connected' && v.iceConnectedAt === null) v.iceConnectedAt = performance.now();
  };
  const poll = setInterval(async () => {
    const st = await pc.getStats();
    st.forEach((s) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
      if (s.packetsReceived > 0 && v.firstPacketAt === null) v.firstPacketAt = performance.now();
      if (s.framesDecoded > 0 && v.firstFrameAt === null) v.firstFrameAt = performance.now();
    });
    if (v.firstFrameAt !== null) clearInterval(poll);
  }, 10);
  await pc.setLocalDescription(await pc.createOffer());
  return pc.localDescription.sdp;
};
window.setAnswer = (name, sdp) => { viewers[name].answeredAt = performance.now(); return viewers[name].pc.setRemoteDescription({ type: 'answer', sdp }); };
window.addCandidate = (name, c) => viewers[name].pc.addIceCandidate(c);
window.takeCandidates = (name) => viewers[name].candidates.splice(0);
window.viewerStats = async (name) => {
  const v = viewers[name];
  const st = await v.pc.getStats();
  let inb = null; const codecs = {};
  st.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') inb = s; if (s.type === 'codec') codecs[s.id] = s; });
  const video = document.getElementById('video-' + name);
  const c = inb ? (codecs[inb.codecId] || {}) : {};
  return {
    ice: v.pc.iceConnectionState, iceConnectedAt: v.iceConnectedAt, firstFrameAt: v.firstFrameAt,
    answeredAt: v.answeredAt, firstPacketAt: v.firstPacketAt,
    framesDecoded: inb ? inb.framesDecoded : 0, keyFramesDecoded: inb ? inb.keyFramesDecoded : 0,
    framesReceived: inb ? inb.framesReceived : 0, framesDropped: inb ? inb.framesDropped : 0,
    packetsLost: inb ? inb.packetsLost : 0, pliCount: inb ? inb.pliCount : 0, freezeCount: inb ? inb.freezeCount : 0,
    frameWidth: inb ? inb.frameWidth : 0, frameHeight: inb ? inb.frameHeight : 0,
    videoWidth: video.videoWidth, videoHeight: video.videoHeight,
    mimeType: c.mimeType, sdpFmtpLine: c.sdpFmtpLine, decoder: inb ? inb.decoderImplementation : null,
  };
};
</script></body></html>`;

/** Serves the harness page on 127.0.0.1; resolves with {url, close()}. */
function serveHarness() {
  const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(PAGE); });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((r) => server.close(r)),
  })));
}

/**
 * Connects page viewer `name` to a new WebRtcEndpoint fed by `source` over Kurento JSON-RPC:
 * create, subscribe, connect, processOffer, gatherCandidates, trickle both ways. Resolves with
 * the endpoint id once ICE candidates are exchanged.
 */
async function joinViewer(rpc, page, pipeline, source, name) {
  const web = await rpc.create('WebRtcEndpoint', { mediaPipeline: pipeline });
  for (const ev of ['IceCandidateFound', 'IceGatheringDone', 'IceComponentStateChanged', 'NewCandidatePairSelected', 'MediaFlowOutStateChanged']) {
    await rpc.subscribe(web, ev);
  }
  await rpc.invoke(source, 'connect', { sink: web, mediaType: 'VIDEO' });
  const offer = await page.evaluate((n) => window.makeViewer(n), name);
  const answer = await rpc.invoke(web, 'processOffer', { offer });
  await page.evaluate(([n, sdp]) => window.setAnswer(n, sdp), [name, answer]);
  await rpc.invoke(web, 'gatherCandidates');
  const fromEngine = [];
  for (;;) {
    const ev = await rpc.waitEvent((e) => e.object === web && (e.type === 'IceCandidateFound' || e.type === 'IceGatheringDone'), 10000, 'candidate');
    if (ev.type === 'IceGatheringDone') break;
    fromEngine.push(ev.data.candidate);
    await page.evaluate(([n, c]) => window.addCandidate(n, { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }), [name, ev.data.candidate]);
  }
  const deadline = Date.now() + 10000;
  let sent = 0;
  while (sent === 0 && Date.now() < deadline) {
    const cands = await page.evaluate((n) => window.takeCandidates(n), name);
    for (const c of cands) {
      await rpc.invoke(web, 'addIceCandidate', { candidate: { candidate: c.candidate, sdpMid: c.sdpMid || '0', sdpMLineIndex: c.sdpMLineIndex || 0 } });
      sent++;
    }
    if (sent === 0) await new Promise((r) => setTimeout(r, 50));
  }
  if (sent === 0) throw new Error('the browser gathered no ICE candidate (was getUserMedia called by the test?)');
  return { web, answer, fromEngine };
}

module.exports = { serveHarness, joinViewer };
