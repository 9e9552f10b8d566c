'use strict';
// Who may watch, as a person meets it in Chromium against the split stack (real Redis, api, one
// signaling instance, controller, engine, camera-sim): a viewer user created by the admin logs in
// on the login page, watches the camera granted to it and is refused another; a share link plays
// the camera with no account, and revoking it ends the viewer within 2 s with its own message.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { launchBrowser } = require('../lib/browser');
const { startStack, waitFor } = require('../lib/stack');
const { loginThroughPage } = require('../lib/auth');

const SCREENSHOTS = path.resolve(__dirname, '..', '..', 'target', 'screenshots');
const CAMERA = 'cam1';
const OTHER = 'cam2';
const VIEWER = { username: 'viewer1', password: 'viewer1-password', role: 'viewer', grants: [CAMERA] };

let stack;
let browser;

const frames = (page) => page.evaluate(() => Number(document.querySelector('#stat-frames')?.dataset.value || 0));

/** The TEST (never the viewer) asks for the camera once so Chromium gathers loopback candidates. */
async function grantMedia(page) {
  await page.evaluate(async () => {
    try { const s = await navigator.mediaDevices.getUserMedia({ video: true }); s.getTracks().forEach((t) => t.stop()); } catch (e) { /* best effort */ }
  });
}

async function pageState(page) {
  return page.evaluate(() => ({
    url: location.href, status: document.querySelector('#status')?.dataset.status,
    code: document.querySelector('#message')?.dataset.code, message: document.querySelector('#message')?.textContent,
    log: (window.camview && window.camview.log || []).slice(-12),
  })).catch((e) => String(e));
}

before(async () => {
  stack = await startStack({ camera: CAMERA, signalingInstances: 1, publicUrls: true });
  browser = await launchBrowser();
  const started = await stack.admin.post(`/streams/${CAMERA}/start`);
  assert.strictEqual(started.status, 200, JSON.stringify(started));
  await waitFor('the stream to be live', 30000, async () => (await stack.admin.get(`/streams/${CAMERA}`)).body?.state === 'live');
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (stack) await stack.stop();
});

test('a viewer logs in on the login page, watches its granted camera and is refused another', { timeout: 90000 }, async (t) => {
  const created = await stack.admin.post('/users', VIEWER);
  assert.ok([200, 201].includes(created.status), JSON.stringify(created));
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  try {
    // A wrong password first: the page says so and stays.
    await page.goto(`${stack.apiUrl}/login`);
    await page.fill('#username', VIEWER.username);
    await page.fill('#password', 'not-the-password');
    await page.click('#login-submit');
    await page.waitForSelector('#login-message[data-code="wrong_credentials"]', { timeout: 10000 });
    assert.strictEqual(await page.textContent('#login-message'), 'Wrong username or password');

    // The viewer address without a session goes to the login page and comes back after it.
    await loginThroughPage(page, stack.apiUrl, `/viewer?camera=${CAMERA}`, VIEWER.username, VIEWER.password);
    assert.strictEqual(new URL(page.url()).search, `?camera=${CAMERA}`);
    await grantMedia(page);
    await page.click('#start');
    await page.waitForFunction(() => Number(document.querySelector('#stat-frames')?.dataset.value || 0) > 30, null, { timeout: 45000 });
    assert.strictEqual(await page.getAttribute('#status', 'data-status'), 'playing');
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'auth-viewer-granted.png') });
    await page.click('#stop');

    // Another camera: the API refuses it and the page explains, without retrying.
    await page.goto(`${stack.apiUrl}/viewer?camera=${OTHER}`);
    await page.click('#start');
    await page.waitForSelector('#message[data-code="forbidden"]', { timeout: 15000 });
    assert.strictEqual(await page.textContent('#message'), 'You do not have access to this camera');
    assert.strictEqual(await page.getAttribute('#status', 'data-status'), 'error');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'auth-viewer-refused.png') });
  } catch (e) {
    console.error(`page: ${JSON.stringify(await pageState(page), null, 1)}\n${stack.dumpLogs(30)}`);
    throw e;
  }
});

test('a share link plays without an account; revoking it ends the viewer within 2 s, without reconnecting', { timeout: 90000 }, async (t) => {
  const share = await stack.admin.post(`/cameras/${CAMERA}/shares`, { expires_in_seconds: 600 });
  assert.strictEqual(share.status, 201, JSON.stringify(share));
  assert.match(share.body.url, /\/share#token=/);
  const context = await browser.newContext(); // no cookie, no account
  t.after(() => context.close());
  const page = await context.newPage();
  try {
    await page.goto(`${stack.apiUrl}/share#token=${share.body.token}`);
    await page.waitForURL((u) => u.pathname === '/viewer', { timeout: 15000 });
    assert.doesNotMatch(page.url(), /token=/, 'the share token does not stay in the address');
    await grantMedia(page);
    await page.waitForFunction(() => Number(document.querySelector('#stat-frames')?.dataset.value || 0) > 30, null, { timeout: 45000 });

    const revokedAt = Date.now();
    const revoked = await stack.admin.del(`/shares/${share.body.share.id}`);
    assert.ok(revoked.status === 200 || revoked.status === 204, JSON.stringify(revoked));
    await page.waitForSelector('#message[data-code="access_revoked"]', { timeout: 2000 });
    t.diagnostic(`viewer ended ${Date.now() - revokedAt} ms after the revocation`);
    assert.strictEqual(await page.getAttribute('#status', 'data-status'), 'error');
    assert.match(await page.textContent('#message'), /^Access revoked/);
    const frozen = await frames(page);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'auth-share-revoked.png') });
    // No reconnect: a second later there is still no socket, no retry and no new frame.
    await page.waitForTimeout(1500);
    const after2 = await page.evaluate(() => ({ ws: !!window.camview.ws, retries: window.camview.state.retries, status: window.camview.state.status }));
    assert.deepStrictEqual(after2, { ws: false, retries: 0, status: 'error' });
    assert.ok(await frames(page) <= frozen, 'no video after the revocation');
    // And the share's session is gone for the API too.
    const me = await page.evaluate(async () => (await fetch('/auth/me', { credentials: 'include' })).status);
    assert.strictEqual(me, 401);
  } catch (e) {
    console.error(`page: ${JSON.stringify(await pageState(page), null, 1)}\n${stack.dumpLogs(30)}`);
    throw e;
  }
});
