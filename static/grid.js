// camview grid: several cameras at once, one embedded viewer iframe each.
// /static/grid.html?cameras=a,b,c plays those; without `cameras` it plays every started stream
// from GET {apiUrl}/streams and follows the list (new streams appear, stopped ones go).
/* global CamviewCore, CamviewSession */
'use strict';
(function () {
  var core = CamviewCore;
  var session = CamviewSession;
  var CONFIG = core.deriveConfig(window.location, window.CAMVIEW_CONFIG);
  var REFRESH_MS = 10000;
  var $ = function (id) { return document.getElementById(id); };
  var fixed = core.gridCameras(location.search);
  var tiles = {};
  var pass = core.passThroughParams(location.search).toString();
  window.camviewGrid = { config: CONFIG, cameras: [] };
  $('link-list').href = '/' + (pass ? '?' + pass : '');

  function layout() {
    var n = Object.keys(tiles).length;
    $('grid').style.gridTemplateColumns = 'repeat(' + core.gridColumns(n, window.innerWidth) + ', minmax(0, 1fr))';
    $('grid-empty').hidden = n !== 0;
  }

  function show(ids) {
    window.camviewGrid.cameras = ids.slice();
    Object.keys(tiles).forEach(function (id) {
      if (ids.indexOf(id) < 0) { tiles[id].remove(); delete tiles[id]; }
    });
    ids.forEach(function (id) {
      if (tiles[id]) return;
      var f = document.createElement('iframe');
      f.src = core.viewerLink(id, location.search, { embed: '1', autostart: '1' });
      f.title = 'Camera ' + id;
      f.setAttribute('allow', 'autoplay; fullscreen');
      f.setAttribute('data-camera', id);
      tiles[id] = f;
      $('grid').appendChild(f);
    });
    layout();
    $('grid-status').textContent = ids.length + ' camera(s)';
  }

  async function refresh() {
    try {
      var res = await session.fetchJson(CONFIG.apiUrl + '/streams');
      var body = res.body;
      if (res.status === 401) return; // on the way to the login page
      if (res.status !== 200 || !body || !Array.isArray(body.streams)) throw new Error(res.status ? 'HTTP ' + res.status : 'unreachable');
      $('grid-error').hidden = true;
      show(body.streams.map(function (s) { return s.camera_id; }).sort());
    } catch (e) {
      $('grid-error').textContent = 'The stream list could not be loaded from ' + CONFIG.apiUrl + ' (' + e.message + '); retrying';
      $('grid-error').hidden = false;
    }
  }

  session.init({ apiUrl: CONFIG.apiUrl });
  session.refresh();
  window.addEventListener('resize', layout);
  if (fixed) show(fixed);
  else {
    refresh();
    setInterval(function () { if (!document.hidden) refresh(); }, REFRESH_MS);
  }
})();
