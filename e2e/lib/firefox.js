'use strict';
// Headless Firefox ESR from Debian, driven by puppeteer-core over WebDriver BiDi (never a
// downloaded browser). Loopback-only WebRTC needs `media.peerconnection.ice.loopback` (and host
// addresses not hidden behind mDNS); the fake-media prefs let the TEST ask for a camera the way
// the Chromium recipe does, so Firefox gathers candidates without a prompt.
const { execFileSync } = require('node:child_process');
const puppeteer = require('puppeteer-core');

const FIREFOX_PATH = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';

const PREFS = {
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.navigator.permission.disabled': true,
  'media.navigator.streams.fake': true,
  'media.autoplay.default': 0,
  // No network here: never try to fetch the OpenH264 plugin or updates.
  'media.gmp-manager.updateEnabled': false,
  'app.update.enabled': false,
};

/**
 * Firefox gathers candidates only on its "default" address (the source address of a route
 * to the internet) unless the page has a real camera permission, which WebDriver BiDi cannot
 * grant; in a loopback-only namespace there is no route at all, so it gathers nothing. A
 * default route over `lo` with source 127.0.0.1 makes loopback the default address; no
 * packet leaves the namespace (it has no other interface). Added only where there is no
 * default route (the test namespace), never on a host. Returns the undo.
 */
function loopbackDefaultRoute() {
  const hasDefault = execFileSync('ip', ['route', 'show', 'default'], { encoding: 'utf8' }).trim() !== '';
  if (hasDefault) return () => {};
  execFileSync('ip', ['route', 'add', 'default', 'dev', 'lo', 'src', '127.0.0.1']);
  return () => { try { execFileSync('ip', ['route', 'del', 'default', 'dev', 'lo']); } catch (e) { /* gone with the namespace */ } };
}

async function launchFirefox() {
  return puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX_PATH, headless: true, protocol: 'webDriverBiDi', extraPrefsFirefox: PREFS });
}

/** A new page with the API's session cookie set for `apiUrl` (the page is opened on it first). */
async function openFirefoxPage(browser, url, session = null) {
  const page = await browser.newPage();
  if (session) {
    const u = new URL(session.apiUrl);
    await page.goto(`${u.origin}/health`);
    await page.setCookie({ name: 'camview_token', value: session.token, domain: u.hostname, path: '/', httpOnly: true, sameSite: 'Strict' });
  }
  await page.goto(url);
  return page;
}

module.exports = { launchFirefox, openFirefoxPage, loopbackDefaultRoute, FIREFOX_PATH };
