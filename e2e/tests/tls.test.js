'use strict';
// TLS without a proxy: the split stack with TLS_CERT_FILE/TLS_KEY_FILE on the api and on
// signaling (a test CA made here), Chromium trusting only that certificate
// (--ignore-certificate-errors-spki-list), camera-sim trusting the CA (SSL_CERT_FILE). A person
// logs in on the https login page and watches over wss; the pages carry HSTS.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { launchBrowser } = require('../lib/browser');
const { startStack, waitFor } = require('../lib/stack');
const { loginThroughPage } = require('../lib/auth');
const { makeTestCertificates, fetchTrusting } = require('../lib/tls');

const CAMERA = 'cam-tls';

let certs;
let stack;
let browser;

before(async () => {
  certs = makeTestCertificates();
  const tlsEnv = { TLS_CERT_FILE: certs.certFile, TLS_KEY_FILE: certs.keyFile };
  stack = await startStack({
    camera: CAMERA, signalingInstances: 1, publicUrls: true,
    apiScheme: 'https', signalingScheme: 'wss', apiEnv: tlsEnv, signalingEnv: tlsEnv,
    cameraEnv: { SSL_CERT_FILE: certs.caFile }, fetch: fetchTrusting(certs.caPem),
  });
  browser = await launchBrowser([`--ignore-certificate-errors-spki-list=${certs.spki}`]);
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (stack) await stack.stop();
  if (certs) certs.cleanup();
});

test('over https and wss with a test CA: log in on the login page and watch', { timeout: 120000 }, async (t) => {
  const started = await stack.admin.post(`/streams/${CAMERA}/start`);
  assert.strictEqual(started.status, 200, JSON.stringify(started));
  await waitFor('the stream to be live (camera-sim keepalive over https)', 30000, async () => (await stack.admin.get(`/streams/${CAMERA}`)).body?.state === 'live');
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  try {
    const login = await page.goto(`${stack.apiUrl}/login`);
    assert.strictEqual(login.headers()['strict-transport-security'], 'max-age=31536000');
    await loginThroughPage(page, stack.apiUrl, `/viewer?camera=${CAMERA}`);
    const cfg = await page.evaluate(() => window.camview.config);
    assert.strictEqual(cfg.apiUrl, stack.apiUrl);
    assert.strictEqual(cfg.signalingUrl, stack.signaling[0].url);
    await page.evaluate(async () => {
      try { const s = await navigator.mediaDevices.getUserMedia({ video: true }); s.getTracks().forEach((x) => x.stop()); } catch (e) { /* best effort */ }
    });
    await page.click('#start');
    await page.waitForFunction(() => Number(document.querySelector('#stat-frames')?.dataset.value || 0) > 30, null, { timeout: 45000 });
    assert.strictEqual(await page.getAttribute('#status', 'data-status'), 'playing');
    assert.match(await page.evaluate(() => window.camview.ws && window.camview.ws.url), /^wss:\/\//);
  } catch (e) {
    const seen = await page.evaluate(() => ({ url: location.href, status: document.querySelector('#status')?.dataset.status, code: document.querySelector('#message')?.dataset.code, log: (window.camview && window.camview.log || []).slice(-12) })).catch((x) => String(x));
    console.error(`page: ${JSON.stringify(seen, null, 1)}\n${stack.dumpLogs(30)}`);
    throw e;
  }
});
