// camview share link: /share#token=<jwt>. The token rides in the fragment, so it never reaches a
// server log or a Referer. POST /auth/share {token} turns it into a session cookie for this one
// camera; then the viewer replaces this page (the link is not kept in the history).
/* global CamviewCore */
'use strict';
(function () {
  var core = CamviewCore;
  var $ = function (id) { return document.getElementById(id); };
  var SHARE_KEY = 'camview.share';
  window.camviewShare = { state: 'opening', code: null };

  function failed(text, code) {
    $('share-status').setAttribute('data-status', 'error');
    $('share-status').textContent = 'This link cannot be opened';
    var m = $('share-message');
    m.textContent = text;
    m.setAttribute('data-kind', 'error');
    m.setAttribute('data-code', code);
    m.hidden = false;
    window.camviewShare.state = 'error';
    window.camviewShare.code = code;
  }

  async function call(method, path, body) {
    try {
      var init = { method: method, credentials: 'include', cache: 'no-store', headers: { accept: 'application/json' } };
      if (body) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
      var res = await fetch(path, init);
      var json = null;
      try { json = await res.json(); } catch (e) { json = null; }
      return { status: res.status, body: json, retryAfter: core.retryAfterSeconds(res.headers.get('retry-after')) };
    } catch (e) {
      return { status: 0, body: null, retryAfter: null };
    }
  }

  async function open() {
    var token = core.fragmentParam(location.hash, 'token');
    history.replaceState(null, '', location.pathname); // keep the token out of the history
    if (!token) {
      failed('This address carries no share token: open the whole link you were given', 'no_token');
      return;
    }
    var r = await call('POST', '/auth/share', { token: token });
    if (r.status !== 200) {
      var d = core.describeLoginFailure(r.status, r.body, r.retryAfter, 'share');
      failed(d.text, d.code);
      return;
    }
    var target = core.shareViewerUrl(r.body, null);
    if (!target) {
      var me = await call('GET', '/auth/me');
      target = core.shareViewerUrl(r.body, me.status === 200 ? me.body : null);
    }
    if (!target) {
      failed('The link was accepted but names no camera', 'no_camera');
      return;
    }
    try { sessionStorage.setItem(SHARE_KEY, '1'); } catch (e) { /* private mode: the viewer then sends to login on expiry */ }
    window.camviewShare.state = 'ok';
    location.replace(target + '&autostart=1');
  }

  open();
})();
