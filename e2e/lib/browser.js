'use strict';
// Headless Debian Chromium with the flags loopback WebRTC needs (see shared recipes).
const { chromium } = require('playwright-core');

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/** `extraArgs`: e.g. `--ignore-certificate-errors-spki-list=<hash>` to trust a test certificate. */
async function launchBrowser(extraArgs = []) {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** Puts a session token where the API looks for it (the `camview_token` cookie) for `apiUrl`. */
async function addSession(context, apiUrl, token) {
  const u = new URL(apiUrl);
  await context.addCookies([{ name: 'camview_token', value: token, domain: u.hostname, path: '/', httpOnly: true, secure: u.protocol === 'https:', sameSite: 'Strict' }]);
}

/**
 * Opens a page on `url` (logged in when `session` = {apiUrl, token} is given) and grants it media permission the way the recipe needs: the TEST calls
 * getUserMedia (and stops the tracks) so Chromium gathers loopback ICE candidates; the viewer
 * code itself never asks for the camera.
 */
async function openPage(browser, url, session = null) {
  const page = await browser.newPage();
  if (session) await addSession(page.context(), session.apiUrl, session.token);
  await page.goto(url);
  await page.evaluate(async () => {
    try { const s = await navigator.mediaDevices.getUserMedia({ video: true }); s.getTracks().forEach((t) => t.stop()); } catch (e) { /* best effort */ }
  });
  return page;
}

module.exports = { launchBrowser, openPage, addSession, CHROMIUM_ARGS };
