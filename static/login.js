// camview login page: POST /auth/login {username, password} (the API sets the session cookie),
// then the `next` page (only a path on this site) or `/`. `/login#code=XYZ` (a one-time link,
// e.g. from `camview --demo`) logs in with POST /auth/link {code} instead.
// Calls go to this page's own origin: the cookie must belong to the API that serves the pages.
/* global CamviewCore */
'use strict';
(function () {
  var core = CamviewCore;
  var $ = function (id) { return document.getElementById(id); };
  var next = core.safeNext(new URLSearchParams(location.search).get('next') || '/');
  var countdown = null;
  window.camviewLogin = { next: next, lastError: null };

  function show(text, kind, code) {
    var m = $('login-message');
    m.textContent = text || '';
    m.setAttribute('data-kind', kind || '');
    m.setAttribute('data-code', code || '');
    m.hidden = !text;
    if (kind === 'error') window.camviewLogin.lastError = code || null;
  }

  function busy(on) {
    $('login-submit').disabled = on;
    $('login-submit').textContent = on ? 'Logging in…' : 'Log in';
  }

  async function post(path, body) {
    try {
      var res = await fetch(path, {
        method: 'POST', credentials: 'include', cache: 'no-store',
        headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body),
      });
      var json = null;
      try { json = await res.json(); } catch (e) { json = null; }
      return { status: res.status, body: json, retryAfter: core.retryAfterSeconds(res.headers.get('retry-after')) };
    } catch (e) {
      return { status: 0, body: null, retryAfter: null };
    }
  }

  /** 429: the message counts down and the button stays off until the wait is over. */
  function waitOut(seconds) {
    if (countdown) clearInterval(countdown);
    var until = Date.now() + seconds * 1000;
    $('login-submit').disabled = true;
    countdown = setInterval(function () {
      var left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(countdown);
        countdown = null;
        $('login-submit').disabled = false;
        show('You can try again now', 'info', 'retry_now');
        return;
      }
      show('Too many attempts, try again in ' + left + ' s', 'error', 'too_many_requests');
    }, 1000);
  }

  function failed(r, what) {
    var d = core.describeLoginFailure(r.status, r.body, r.retryAfter, what);
    show(d.text, 'error', d.code);
    if (d.code === 'too_many_requests') waitOut(d.retryAfter);
  }

  async function login(e) {
    e.preventDefault();
    var username = $('username').value.trim();
    var password = $('password').value;
    if (!username || !password) {
      show('Enter a username and a password', 'error', 'missing');
      return;
    }
    busy(true);
    show('');
    var r = await post('/auth/login', { username: username, password: password });
    busy(false);
    if (r.status === 200) {
      location.replace(next);
      return;
    }
    failed(r, 'login');
    $('password').select();
  }

  async function linkLogin(code) {
    history.replaceState(null, '', location.pathname + location.search); // the code is used up
    show('Logging in with the link…', 'info', 'link');
    var r = await post('/auth/link', { code: code });
    if (r.status === 200) {
      location.replace(next);
      return;
    }
    failed(r, 'link');
  }

  $('login-form').addEventListener('submit', login);
  var code = core.fragmentParam(location.hash, 'code');
  if (code) linkLogin(code);
  else $('username').focus();
})();
