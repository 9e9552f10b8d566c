'use strict';
// A camera for e2e tests: ffmpeg's test pattern sent as H.264 or VP8 RTP (recipe settings).
const { spawn } = require('node:child_process');

/**
 * Starts ffmpeg sending to 127.0.0.1:`port`; `gop` frames between keyframes at 30 fps.
 * `codec`: 'h264' (libx264 baseline, the default) or 'vp8' (libvpx realtime).
 */
function startFfmpegCamera(port, { gop = 30, width = 640, height = 480, seconds = 60, codec = 'h264' } = {}) {
  const encoder = codec === 'vp8'
    ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '800k', '-g', String(gop), '-auto-alt-ref', '0']
    : ['-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast',
      '-tune', 'zerolatency', '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-bf', '0',
      '-x264-params', 'repeat-headers=1', '-bsf:v', 'h264_mp4toannexb'];
  const args = ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`,
    '-t', String(seconds), ...encoder, '-payload_type', '96', '-f', 'rtp', `rtp://127.0.0.1:${port}?pkt_size=1200`];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { stop: async () => { child.kill('SIGTERM'); await exited; }, errors: () => err, startedAt: Date.now() };
}

/** The SDP offer a controller writes for such a camera (PROTOCOL.md §7.3). */
function cameraOffer(rtpPort = 5004, { profileLevelId = '42c01e' } = {}) {
  return ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=cam', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=video ${rtpPort} RTP/AVPF 96`, 'a=rtpmap:96 H264/90000',
    `a=fmtp:96 packetization-mode=1;profile-level-id=${profileLevelId}`, 'a=rtcp-fb:96 nack pli', 'a=sendonly', ''].join('\r\n');
}

/** The receive port from an RtpEndpoint answer. */
function answerPort(sdp) {
  const m = /^m=video (\d+) /m.exec(sdp);
  if (!m) throw new Error(`no m=video in ${sdp}`);
  return Number(m[1]);
}

module.exports = { startFfmpegCamera, cameraOffer, answerPort };
