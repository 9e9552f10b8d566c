// Regenerates chromium-offer.sdp: the SDP offer headless Chromium makes for a receive-only video
// viewer, exactly as static/viewer.js builds it (one recvonly video transceiver, no candidates:
// they trickle). Run from the repository root after the e2e modules are installed:
//   node deploy/smoke/make-offer.js > deploy/smoke/chromium-offer.sdp
const path = require('path');
const { chromium } = require(path.join(__dirname, '../../e2e/node_modules/playwright-core'));

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const sdp = await page.evaluate(async () => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      const offer = await pc.createOffer();
      pc.close();
      return offer.sdp;
    });
    process.stdout.write(sdp);
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
