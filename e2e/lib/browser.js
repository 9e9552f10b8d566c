'use strict';
// Headless Debian Chromium with the flags loopback WebRTC needs (see shared recipes).
const { chromium } = require('playwright-core');

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

async function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

/**
 * Opens a page on `url` and grants it media permission the way the recipe needs: the TEST calls
 * getUserMedia (and stops the tracks) so Chromium gathers loopback ICE candidates; the viewer
 * code itself never asks for the camera.
 */
async function openPage(browser, url) {
  const page = await browser.newPage();
  await page.goto(url);
  await page.evaluate(async () => {
    try { const s = await navigator.mediaDevices.getUserMedia({ video: true }); s.getTracks().forEach((t) => t.stop()); } catch (e) { /* best effort */ }
  });
  return page;
}

module.exports = { launchBrowser, openPage, CHROMIUM_ARGS };
