// camview session: API calls with the login cookie, the login page when it lapses, and a refresh
// of the session while the page is open (at 2/3 of what is left of the token) so it never lapses.
// window.CamviewSession = {init, fetchJson, refresh, toLogin, logout, unauthorized, isShare}.
/* global CamviewCore */
'use strict';
(function () {
  var core = CamviewCore;
  var SHARE_KEY = 'camview.share';
  var opts = { apiUrl: '', onUnauthorized: null };
  var timer = null;
  var lastRefresh = null;

  /** `apiUrl`: the API base; `onUnauthorized`: what to do on a 401 instead of going to the login page. */
  function init(o) {
    opts.apiUrl = o && o.apiUrl !== undefined ? o.apiUrl : '';
    opts.onUnauthorized = o && o.onUnauthorized ? o.onUnauthorized : null;
  }

  function toLogin() {
    location.assign(core.loginUrl(location.pathname + location.search));
  }

  /** This tab got its session from a share link (set by share.js), not from a login. */
  function isShare() {
    try { return !!sessionStorage.getItem(SHARE_KEY); } catch (e) { return false; }
  }

  function unauthorized() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (opts.onUnauthorized) opts.onUnauthorized();
    else toLogin();
  }

  /**
   * `fetch` with the cookie and a timeout, resolving {status, body, headers} (status 0 when the
   * API cannot be reached). A 401 calls `unauthorized()` unless `quiet401`.
   */
  async function fetchJson(url, o) {
    o = o || {};
    var ctl = typeof AbortController !== 'undefined' ? new AbortController() : null;
    var t = ctl ? setTimeout(function () { ctl.abort(); }, o.timeoutMs || 8000) : null;
    var init = { method: o.method || 'GET', credentials: 'include', cache: 'no-store', headers: { accept: 'application/json' }, signal: ctl ? ctl.signal : undefined };
    if (o.body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(o.body); }
    try {
      var res = await fetch(url, init);
      var body = null;
      try { body = await res.json(); } catch (e) { body = null; }
      if (res.status === 401 && !o.quiet401) unauthorized();
      return { status: res.status, body: body, headers: res.headers };
    } catch (e) {
      return { status: 0, body: null, headers: null, error: String(e) };
    } finally {
      if (t) clearTimeout(t);
    }
  }

  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(function () { timer = null; refresh(); }, ms);
  }

  /**
   * `POST {apiUrl}/auth/refresh`: a new token (for signaling's `join`) and a new cookie. Resolves
   * {status, token?, expiresAt?}; schedules the next refresh (a failed one is tried again in 10 s;
   * a 401 goes to `unauthorized()` unless `quiet401`).
   */
  async function refresh(o) {
    var r = await fetchJson(opts.apiUrl + '/auth/refresh', { method: 'POST', quiet401: o && o.quiet401 });
    if (r.status === 200 && r.body && r.body.token) {
      var serverNow = r.headers && r.headers.get('date') ? Date.parse(r.headers.get('date')) : NaN;
      schedule(core.refreshDelay(r.body.expires_at, isNaN(serverNow) ? Date.now() : serverNow));
      lastRefresh = { token: r.body.token, expiresAt: r.body.expires_at };
      return { status: 200, token: r.body.token, expiresAt: r.body.expires_at };
    }
    if (r.status !== 401) schedule(10000);
    return { status: r.status, body: r.body };
  }

  /** `POST /auth/logout`, then the login page. */
  async function logout() {
    if (timer) { clearTimeout(timer); timer = null; }
    await fetchJson(opts.apiUrl + '/auth/logout', { method: 'POST', quiet401: true });
    try { sessionStorage.removeItem(SHARE_KEY); } catch (e) { /* private mode */ }
    location.assign('/login');
  }

  window.CamviewSession = {
    SHARE_KEY: SHARE_KEY, init: init, fetchJson: fetchJson, refresh: refresh, toLogin: toLogin,
    logout: logout, unauthorized: unauthorized, isShare: isShare,
    get last() { return lastRefresh; },
  };
})();
