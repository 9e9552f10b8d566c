'use strict';
// Logging in for e2e tests: the admin password the tests start the binaries with, a temporary
// CAMVIEW_DATA_DIR, bearer-token API helpers, and logging in through the login page in Chromium.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ADMIN = 'admin';
const ADMIN_PASSWORD = 'e2e-admin-password';

/** A fresh data directory (users, shares) for one binary; removed by `cleanup()`. */
function tempDataDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camview-e2e-data-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** What every test binary gets: a known admin password and its own data directory. */
function authEnv(dataDir) {
  return { CAMVIEW_ADMIN_PASSWORD: ADMIN_PASSWORD, ...(dataDir ? { CAMVIEW_DATA_DIR: dataDir } : {}) };
}

/** `POST /auth/login` -> the token (throws with the answer on anything but 200). */
async function login(apiUrl, username = ADMIN, password = ADMIN_PASSWORD, fetchImpl = fetch) {
  const r = await fetchImpl(`${apiUrl}/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }),
    signal: AbortSignal.timeout(10000),
  });
  const body = await r.json().catch(() => null);
  if (r.status !== 200 || !body || !body.token) throw new Error(`login as ${username} at ${apiUrl}: ${r.status} ${JSON.stringify(body)}`);
  return body.token;
}

/**
 * JSON calls with `Authorization: Bearer <token>`: get/post/put/del(path, body?) resolve
 * {status, body}.
 */
function client(apiUrl, token, fetchImpl = fetch) {
  const call = async (method, p, body) => {
    const headers = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetchImpl(`${apiUrl}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10000) });
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  return {
    token,
    get: (p) => call('GET', p),
    post: (p, body) => call('POST', p, body),
    put: (p, body) => call('PUT', p, body),
    del: (p) => call('DELETE', p),
  };
}

/** Logs in as the admin and returns a {@link client}. */
async function adminClient(apiUrl, fetchImpl = fetch) {
  return client(apiUrl, await login(apiUrl, ADMIN, ADMIN_PASSWORD, fetchImpl), fetchImpl);
}

/**
 * Opens `${apiUrl}${next}` in `page`: the API sends it to the login page, where the form is
 * filled in; resolves once the page is back on `next`.
 */
async function loginThroughPage(page, apiUrl, next, username = ADMIN, password = ADMIN_PASSWORD) {
  await page.goto(`${apiUrl}${next}`);
  await page.waitForURL((u) => u.pathname === '/login', { timeout: 10000 });
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-submit');
  const want = new URL(next, apiUrl);
  await page.waitForURL((u) => u.pathname === want.pathname, { timeout: 10000 });
}

module.exports = { ADMIN, ADMIN_PASSWORD, tempDataDir, authEnv, login, client, adminClient, loginThroughPage };
