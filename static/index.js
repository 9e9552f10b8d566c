// camview stream list: GET {apiUrl}/streams every few seconds (only the cameras this login may
// watch), each row links to the viewer and shows a snapshot of a live H.264 camera
// (GET {apiUrl}/streams/{id}/snapshot.jpg, renewed every few seconds). Who is logged in, and a
// logout link.
/* global CamviewCore, CamviewSession */
'use strict';
(function () {
  var core = CamviewCore;
  var session = CamviewSession;
  var CONFIG = core.deriveConfig(window.location, window.CAMVIEW_CONFIG);
  var REFRESH_MS = 3000;
  var $ = function (id) { return document.getElementById(id); };
  var pass = core.passThroughParams(location.search).toString();
  var busy = false;
  var SNAPSHOT_MS = 5000;
  var thumbs = {}; // camera id -> {img, at}: kept across renders, so a picture never flickers
  window.camviewList = { config: CONFIG, streams: null, lastError: null, refresh: refresh };

  $('api-url').textContent = CONFIG.apiUrl;
  $('link-json').href = CONFIG.apiUrl + '/streams';
  $('link-health').href = CONFIG.apiUrl + '/health';
  $('link-grid').href = '/static/grid.html' + (pass ? '?' + pass : '');
  $('link-viewer').href = '/viewer' + (pass ? '?' + pass : '');

  function cell(tr, label, content, cls) {
    var td = document.createElement('td');
    td.setAttribute('data-label', label);
    if (cls) td.className = cls;
    if (typeof content === 'string') td.textContent = content;
    else if (content) td.appendChild(content);
    tr.appendChild(td);
    return td;
  }

  /**
   * The row's snapshot: a live H.264 stream's latest keyframe, renewed every SNAPSHOT_MS; a
   * picture once shown stays until a newer one loads (a stalled stream keeps its last view).
   */
  function thumbnail(s) {
    var t = thumbs[s.camera_id];
    if (!t) {
      var box = document.createElement('span');
      box.className = 'thumb-box';
      var img = document.createElement('img');
      img.className = 'thumb';
      img.alt = 'Snapshot of ' + s.camera_id;
      img.width = 160;
      img.height = 90;
      img.hidden = true;
      var note = document.createElement('span');
      note.className = 'small thumb-note';
      box.appendChild(img);
      box.appendChild(note);
      t = thumbs[s.camera_id] = { box: box, img: img, note: note, at: 0 };
      img.addEventListener('load', function () {
        img.setAttribute('data-snapshot', 'ok');
        img.hidden = false;
        note.textContent = '';
      });
      // 503 (no keyframe yet), 415 (not H.264): the last picture stays, else a word why.
      img.addEventListener('error', function () {
        if (img.getAttribute('data-snapshot') !== 'ok') note.textContent = 'no picture yet';
      });
    }
    var codec = s.rtp && s.rtp.codec ? String(s.rtp.codec).toUpperCase() : 'H264';
    var shown = t.img.getAttribute('data-snapshot') === 'ok';
    if (codec !== 'H264') {
      t.note.textContent = 'no snapshots of ' + codec;
    } else if (s.state === 'live' && Date.now() - t.at >= SNAPSHOT_MS) {
      t.at = Date.now();
      t.img.src = CONFIG.apiUrl + '/streams/' + encodeURIComponent(s.camera_id) + '/snapshot.jpg?t=' + t.at;
    } else if (!shown && s.state !== 'live') {
      t.note.textContent = 'not live';
    }
    return t.box;
  }

  function render(streams) {
    var rows = $('stream-rows');
    rows.textContent = '';
    streams.slice().sort(function (a, b) { return a.camera_id < b.camera_id ? -1 : 1; }).forEach(function (s) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-camera', s.camera_id);
      tr.setAttribute('data-state', s.state);
      cell(tr, 'Camera', s.camera_id, 'cam');
      cell(tr, 'Snapshot', thumbnail(s), 'snapshot');
      var badge = document.createElement('span');
      badge.className = 'badge';
      badge.setAttribute('data-state', s.state);
      badge.textContent = core.streamStateLabel(s.state);
      cell(tr, 'State', badge);
      cell(tr, 'Viewers', String(s.viewers || 0));
      var seen = s.camera && s.camera.last_seen;
      var td = cell(tr, 'Camera last seen', core.formatAgo(seen));
      if (seen) td.title = seen;
      var a = document.createElement('a');
      a.className = 'btn primary';
      a.href = core.viewerLink(s.camera_id, location.search);
      a.textContent = 'Watch';
      cell(tr, '', a);
      rows.appendChild(tr);
    });
    $('streams').hidden = streams.length === 0;
    $('empty').hidden = streams.length !== 0;
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      var res = await session.fetchJson(CONFIG.apiUrl + '/streams');
      var body = res.body;
      if (res.status === 401) return; // on the way to the login page
      if (res.status === 0) throw new TypeError('unreachable');
      if (res.status !== 200 || !body || !Array.isArray(body.streams)) {
        throw new Error(body && body.code ? body.code + ': ' + body.message : 'HTTP ' + res.status);
      }
      window.camviewList.streams = body.streams;
      window.camviewList.lastError = null;
      render(body.streams);
      $('list-error').hidden = true;
      $('list-status').setAttribute('data-status', 'ok');
      $('list-status').textContent = body.streams.length + ' stream(s) · updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      var text = e instanceof TypeError ? 'The camview API at ' + CONFIG.apiUrl + ' cannot be reached; retrying' : 'The API answered with an error: ' + e.message;
      window.camviewList.lastError = text;
      $('list-error').textContent = text;
      $('list-error').hidden = false;
      $('list-status').setAttribute('data-status', 'error');
      $('list-status').textContent = 'Not updated';
    } finally {
      busy = false;
    }
  }

  async function whoAmI() {
    var r = await session.fetchJson(CONFIG.apiUrl + '/auth/me', { quiet401: true });
    var s = r.status === 200 && r.body ? r.body : null;
    if (!s) return;
    $('who').textContent = s.kind === 'user' ? s.username + (s.role === 'admin' ? ' (admin)' : '') : 'share link';
    $('who').hidden = false;
  }

  session.init({ apiUrl: CONFIG.apiUrl });
  $('logout').addEventListener('click', function (e) { e.preventDefault(); session.logout(); });
  $('refresh').addEventListener('click', refresh);
  session.refresh();
  whoAmI();
  refresh();
  setInterval(function () { if (!document.hidden) refresh(); }, REFRESH_MS);
})();
