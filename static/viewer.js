// camview viewer: one camera over WebRTC, receive-only.
// Flow: GET {apiUrl}/streams/{camera} -> WebSocket {signalingUrl} -> POST {apiUrl}/auth/refresh
// -> join {camera, sdpOffer, token} -> answer -> trickle ICE both ways -> video. Never asks for
// the camera or microphone. Every API call carries the login cookie (session.js); a 401 sends
// people to the login page (a share link's viewer and the embed mode show a message instead).
// CONFIG: derived from location, overridable by the API's /config.js defaults, by
// window.CAMVIEW_CONFIG (set before the scripts) and by the query parameters camera, api,
// signaling, token, embed, autostart (see deriveConfig in viewer-core.js).
/* global CamviewCore, CamviewSession */
'use strict';

var CONFIG = CamviewCore.deriveConfig(window.location, window.CAMVIEW_CONFIG);

(function () {
  var core = CamviewCore;
  var session = CamviewSession;
  var T = CONFIG.timeouts || {};
  var OPEN_TIMEOUT_MS = T.openMs || 10000; // socket must open
  var JOIN_TIMEOUT_MS = T.joinMs || 20000; // join -> answer
  var ICE_TIMEOUT_MS = T.iceMs || 30000; // answer -> ICE connected
  var DISCONNECTED_GRACE_MS = T.disconnectedMs || 15000; // ICE disconnected -> treated as failed
  var API_TIMEOUT_MS = T.apiMs || 8000;
  var NO_VIDEO_MS = T.noVideoMs || 10000; // ICE connected -> hint when no frame arrived

  var $ = function (id) { return document.getElementById(id); };
  var els = {
    form: $('camera-form'), input: $('camera-input'), start: $('start'), stop: $('stop'),
    stage: $('stage'), video: $('video'), mute: $('mute'), overlay: $('overlay'), overlayText: $('overlay-text'),
    status: $('status'), message: $('message'), embedCamera: $('embed-camera'), embedStart: $('embed-start'),
    endpoints: $('endpoints'), linkList: $('link-list'),
  };
  var STEPS = ['api', 'signaling', 'ice', 'pc', 'video'];

  // Everything about the current session; `gen` invalidates callbacks of torn-down attempts.
  var S = {
    running: false, gen: 0, retries: 0, ws: null, pc: null, iceServers: [],
    phase: 'idle', viewerId: null, remoteSet: false, pendingRemote: [], pendingLocal: [], joinSent: false,
    streamState: null, timers: {}, retryAt: null, prevSnap: null, firstFrame: false,
  };

  // What tests and curious people can read: window.camview.
  var pub = {
    config: CONFIG,
    state: { status: 'idle', phase: 'idle', streamState: null, viewerId: null, retries: 0, lastError: null, steps: {} },
    stats: null,
    log: [],
    get pc() { return S.pc; },
    get ws() { return S.ws; },
    start: function () { start(); },
    stop: function () { stop(); },
  };
  window.camview = pub;
  STEPS.forEach(function (s) { pub.state.steps[s] = 'idle'; });

  function log(what, data) {
    var line = { t: Math.round(performance.now()), what: what };
    if (data !== undefined) line.data = data;
    pub.log.push(line);
    if (pub.log.length > 300) pub.log.shift();
  }

  // ---- UI helpers -------------------------------------------------------------------------
  function setStep(name, state, detail) {
    var li = $('state-' + name);
    pub.state.steps[name] = state;
    if (!li) return;
    li.setAttribute('data-state', state);
    li.querySelector('.detail').textContent = detail || '';
  }

  function resetSteps(from) {
    var on = false;
    STEPS.forEach(function (s) { if (s === from) on = true; if (on) setStep(s, 'idle', ''); });
  }

  var STATUS_TEXT = {
    idle: 'Press Start Stream to watch.', connecting: 'Connecting…', playing: 'Playing',
    stalled: 'Camera stalled', waiting: 'Waiting for the camera', reconnecting: 'Reconnecting…',
    error: 'Stopped by an error', ended: 'Stream ended', stopped: 'Stopped',
  };

  function setStatus(status, text) {
    pub.state.status = status;
    els.status.setAttribute('data-status', status);
    els.stage.setAttribute('data-status', status);
    els.status.textContent = text || STATUS_TEXT[status] || status;
    document.title = (CONFIG.cameraId ? CONFIG.cameraId + ' – ' : '') + 'camview viewer' + (status === 'playing' ? '' : ' (' + status + ')');
  }

  function showMessage(text, kind, code) {
    els.message.textContent = text || '';
    els.message.setAttribute('data-kind', kind || '');
    els.message.setAttribute('data-code', code || '');
    els.message.hidden = !text;
    if (kind === 'error') pub.state.lastError = { code: code || null, text: text };
  }

  function setOverlay(text, spinning) {
    els.overlayText.textContent = text || '';
    els.overlay.hidden = !text;
    els.overlay.classList.toggle('spinning', !!spinning);
  }

  function setStat(id, value, text) {
    var el = $(id);
    el.setAttribute('data-value', value === null || value === undefined ? '' : String(value));
    el.textContent = value === null || value === undefined || value === '' ? '-' : text;
  }

  function renderStats(st) {
    setStat('stat-resolution', st ? st.resolution : null, st && st.resolution);
    setStat('stat-fps', st ? st.fps : null, st && st.fps + ' fps');
    setStat('stat-bitrate', st ? st.bitrateKbps : null, st && st.bitrateKbps + ' kbps');
    setStat('stat-lost', st ? st.packetsLost : null, st && String(st.packetsLost));
    setStat('stat-rtt', st ? st.rttMs : null, st && st.rttMs + ' ms');
    setStat('stat-frames', st ? st.framesDecoded : null, st && String(st.framesDecoded));
    setStat('stat-codec', st ? st.codec : null, st && st.codec);
  }

  function renderStreamState() {
    var s = S.streamState;
    setStat('stat-stream', s, core.streamStateLabel(s));
    pub.state.streamState = s;
    if (!S.running) return;
    var text = core.overlayForState(s) || (S.firstFrame ? '' : 'Connecting…');
    setOverlay(text, !!text);
    if (s === 'stalled') setStatus('stalled');
    else if (s === 'waiting_for_media' && !S.firstFrame) setStatus('waiting');
    else if (S.firstFrame && pub.state.status !== 'reconnecting') setStatus('playing');
  }

  function setButtons() {
    els.start.disabled = S.running;
    els.stop.disabled = !S.running;
    els.input.disabled = S.running;
    els.embedStart.hidden = !CONFIG.embed || S.running;
  }

  function setPhase(p) {
    S.phase = p;
    pub.state.phase = p;
  }

  // ---- timers -----------------------------------------------------------------------------
  function timer(name, ms, fn) {
    clearTimer(name);
    S.timers[name] = setTimeout(function () { delete S.timers[name]; fn(); }, ms);
  }
  function clearTimer(name) {
    if (S.timers[name]) { clearTimeout(S.timers[name]); clearInterval(S.timers[name]); delete S.timers[name]; }
  }
  function clearTimers() { Object.keys(S.timers).forEach(clearTimer); }

  // ---- session ----------------------------------------------------------------------------
  function start() {
    if (S.running) return;
    var cam = (els.input.value || '').trim() || CONFIG.cameraId;
    if (!cam) {
      showMessage(core.uiText('no_camera'), 'info', 'no_camera');
      els.input.focus();
      return;
    }
    if (!core.validCameraId(cam)) {
      showMessage(core.uiText('invalid_camera_id'), 'error', 'invalid_camera_id');
      setStatus('error');
      return;
    }
    if (typeof RTCPeerConnection === 'undefined') {
      showMessage(core.uiText('unsupported'), 'error', 'unsupported');
      setStatus('error');
      return;
    }
    if (cam !== CONFIG.cameraId) {
      CONFIG.cameraId = cam;
      try {
        var q = new URLSearchParams(location.search);
        q.set('camera', cam);
        history.replaceState(null, '', location.pathname + '?' + q.toString());
      } catch (e) { /* file:// or sandboxed: fine */ }
    }
    els.embedCamera.textContent = cam;
    S.running = true;
    S.retries = 0;
    pub.state.retries = 0;
    pub.state.lastError = null;
    showMessage('');
    setButtons();
    log('start', cam);
    connect();
  }

  function stop() {
    if (!S.running && !S.ws && !S.pc) return;
    log('stop');
    sendLeave();
    S.running = false;
    teardown();
    resetSteps('api');
    setOverlay('');
    showMessage('');
    setStatus('stopped');
    setButtons();
  }

  function sendLeave() {
    if (S.ws && S.ws.readyState === WebSocket.OPEN && (S.phase === 'joining' || S.phase === 'joined')) {
      try { S.ws.send(JSON.stringify({ type: 'leave' })); } catch (e) { /* closing anyway */ }
    }
  }

  /** Closes the socket and the peer connection of the current attempt; later callbacks are ignored. */
  function teardown() {
    S.gen++;
    clearTimers();
    closePc();
    if (S.ws) {
      var ws = S.ws;
      S.ws = null;
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try { ws.close(1000, 'bye'); } catch (e) { /* already closed */ }
    }
    setPhase('idle');
    S.viewerId = null;
    pub.state.viewerId = null;
  }

  function closePc() {
    clearTimer('stats');
    clearTimer('novideo');
    clearTimer('ice');
    clearTimer('disconnected');
    if (S.pc) {
      var pc = S.pc;
      S.pc = null;
      pc.onicecandidate = pc.ontrack = pc.oniceconnectionstatechange = pc.onconnectionstatechange = null;
      try { pc.close(); } catch (e) { /* ignore */ }
    }
    S.remoteSet = false;
    S.pendingRemote = [];
    S.pendingLocal = [];
    S.joinSent = false;
    S.prevSnap = null;
    S.firstFrame = false;
    S.frozenPolls = 0;
    S.lastFrames = -1;
    els.video.srcObject = null;
    showMute(false);
  }

  /**
   * A failure. `info`: {text, code, retry}. With `retry` (and the viewer still running) a new
   * attempt is scheduled with backoff; otherwise the session ends and the message stays.
   */
  function fail(info, endStatus) {
    log('fail', { code: info.code, retry: !!info.retry });
    if (!S.running) return;
    if (info.retry) {
      sendLeave();
      teardown();
      STEPS.forEach(function (st) { if (st !== 'api' && pub.state.steps[st] !== 'failed') setStep(st, 'idle', ''); });
      var delay = core.backoffDelay(S.retries, Math.random);
      S.retries++;
      pub.state.retries = S.retries;
      S.retryAt = Date.now() + delay;
      showMessage(info.text, 'error', info.code);
      setStatus('reconnecting');
      setOverlay(info.text, true);
      var tick = function () {
        var left = Math.max(0, Math.ceil((S.retryAt - Date.now()) / 1000));
        setStatus('reconnecting', 'Reconnecting in ' + left + ' s (attempt ' + (S.retries + 1) + ')');
      };
      tick();
      S.timers.countdown = setInterval(tick, 500);
      timer('retry', delay, function () { clearTimer('countdown'); connect(); });
      return;
    }
    if (endStatus !== 'ended') sendLeave();
    S.running = false;
    teardown();
    showMessage(info.text, endStatus === 'ended' ? 'info' : 'error', info.code);
    setOverlay(info.text, false);
    setStatus(endStatus || 'error');
    setButtons();
  }

  /** GET with the login cookie; a 401 is the caller's to handle (see `lostSession`). */
  function fetchJson(url) {
    return session.fetchJson(url, { timeoutMs: API_TIMEOUT_MS, quiet401: true });
  }

  /**
   * The session is gone (a 401 from the API): a share link's viewer and the embed mode say so;
   * a logged-in page goes to the login page and comes back here afterwards.
   */
  function lostSession() {
    var share = session.isShare();
    if (share || CONFIG.embed) {
      var key = share ? 'share_revoked' : 'unauthorized';
      if (S.running) fail({ text: core.uiText(key), code: key, retry: false });
      else { showMessage(core.uiText(key), 'error', key); setStatus('error'); }
      return;
    }
    S.running = false;
    teardown();
    session.toLogin();
  }

  /** The token for `join`: `?token=` when given, else a fresh one from `POST /auth/refresh`. */
  function joinToken() {
    if (CONFIG.token) return Promise.resolve({ status: 200, token: CONFIG.token });
    return session.refresh({ quiet401: true });
  }

  async function loadIceServers() {
    if (Array.isArray(CONFIG.iceServers)) return CONFIG.iceServers;
    var r = await fetchJson(CONFIG.apiUrl + '/ice-servers');
    if (r.status === 200 && r.body && Array.isArray(r.body.iceServers)) {
      return r.body.iceServers.filter(function (s) { return s && s.urls; });
    }
    log('ice-servers unavailable, using none', r.status);
    return [];
  }

  async function connect() {
    teardown();
    var gen = S.gen;
    setPhase('checking');
    resetSteps('api');
    setStatus(S.retries ? 'reconnecting' : 'connecting', S.retries ? 'Reconnecting…' : 'Connecting…');
    var cam = CONFIG.cameraId;
    renderStats(null);
    setStep('api', 'working', 'GET /streams/' + cam);
    if (els.overlay.hidden) setOverlay('Connecting…', true);
    var results = await Promise.all([fetchJson(CONFIG.apiUrl + '/streams/' + encodeURIComponent(cam)), loadIceServers()]);
    if (gen !== S.gen || !S.running) return;
    var check = core.describeStreamCheck(results[0].status, results[0].body, CONFIG.apiUrl);
    S.iceServers = results[1];
    if (!check.ok) {
      setStep('api', 'failed', check.code === 'api_unreachable' ? 'unreachable' : results[0].status + ' ' + check.code);
      if (check.login) { lostSession(); return; }
      fail(check);
      return;
    }
    // A codec this browser cannot decode is said in words before any join (never a black video).
    var codec = check.stream.rtp && check.stream.rtp.codec;
    var support = core.codecSupport(codec, receiverCapabilities(), navigator.userAgent);
    if (!support.ok) {
      setStep('api', 'failed', codec + ': not decodable here');
      fail(support);
      return;
    }
    S.streamState = check.state;
    var sound = core.audioLabel(check.stream);
    setStat('stat-audio', sound.value, sound.text);
    setStep('api', 'ok', core.streamStateLabel(check.state) + ', ' + (check.stream.viewers || 0) + ' viewer(s)');
    renderStreamState();
    openSocket(gen);
  }

  /** What this browser decodes (null when it cannot say). */
  function receiverCapabilities() {
    try { return window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities ? RTCRtpReceiver.getCapabilities('video') : null; } catch (e) { return null; }
  }

  function openSocket(gen) {
    setPhase('signaling');
    setStep('signaling', 'working', 'connecting');
    var ws;
    try {
      ws = new WebSocket(CONFIG.signalingUrl);
    } catch (e) {
      setStep('signaling', 'failed', 'bad address');
      fail({ text: core.uiText('signaling_unreachable', { url: CONFIG.signalingUrl }), code: 'signaling_unreachable', retry: false });
      return;
    }
    S.ws = ws;
    var opened = false;
    timer('open', OPEN_TIMEOUT_MS, function () {
      if (gen !== S.gen) return;
      setStep('signaling', 'failed', 'timeout');
      fail({ text: core.uiText('signaling_unreachable', { url: CONFIG.signalingUrl }), code: 'signaling_unreachable', retry: true });
    });
    ws.onopen = function () {
      if (gen !== S.gen) return;
      opened = true;
      clearTimer('open');
      setStep('signaling', 'ok', 'connected');
      log('ws open');
      startPeer(gen).catch(function (e) { peerError(gen, e); });
    };
    ws.onmessage = function (ev) {
      if (gen !== S.gen) return;
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { log('bad frame', String(ev.data).slice(0, 100)); return; }
      handleMessage(gen, msg);
    };
    ws.onclose = function (ev) {
      if (gen !== S.gen) return;
      log('ws close', { code: ev.code, reason: ev.reason });
      if (ev.code === 4401) {
        // Access taken away (without the error frame reaching us first): never reconnect.
        setStep('signaling', 'failed', 'access revoked');
        fail({ text: core.uiText('access_revoked'), code: 'access_revoked', retry: false });
        return;
      }
      setStep('signaling', 'failed', opened ? 'closed (' + ev.code + ')' : 'unreachable');
      var key = opened ? 'signaling_closed' : 'signaling_unreachable';
      fail({ text: core.uiText(key, { url: CONFIG.signalingUrl }), code: key, retry: true });
    };
  }

  function peerError(gen, e) {
    if (gen !== S.gen) return;
    log('peer error', String(e));
    setStep('pc', 'failed', String(e && e.name || e));
    fail({ text: core.uiText('pc_failed', { message: String(e && e.message || e) }), code: 'pc_failed', retry: true });
  }

  function send(msg) {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(msg));
  }

  function sendLocalCandidate(c) {
    send({ type: 'ice', candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex });
  }

  /** The mute control: shown once the camera's audio arrives; the video starts muted. */
  function showMute(on) {
    if (!els.mute) return;
    els.mute.hidden = !on;
    var muted = els.video.muted;
    els.mute.textContent = muted ? 'Unmute' : 'Mute';
    els.mute.setAttribute('aria-pressed', muted ? 'false' : 'true');
    els.mute.title = muted ? 'Play the camera\'s sound' : 'Silence the camera\'s sound';
  }
  if (els.mute) {
    els.mute.addEventListener('click', function () {
      els.video.muted = !els.video.muted;
      if (!els.video.muted) {
        var p = els.video.play();
        if (p && p.catch) p.catch(function (e) { log('play() refused', String(e)); });
      }
      showMute(true);
    });
  }

  /** New receive-only peer connection, offer, join. Used at connect and on `renegotiate`. */
  async function startPeer(gen) {
    closePc();
    resetSteps('ice');
    var tokenP = joinToken();
    var pc = new RTCPeerConnection({ iceServers: S.iceServers });
    S.pc = pc;
    var tr = pc.addTransceiver('video', { direction: 'recvonly' });
    // The camera's audio (G.711/Opus) when it has some; the page starts muted (autoplay).
    pc.addTransceiver('audio', { direction: 'recvonly' });
    try {
      if (tr.setCodecPreferences && window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities) {
        var caps = RTCRtpReceiver.getCapabilities('video');
        if (caps && caps.codecs && caps.codecs.length) tr.setCodecPreferences(core.orderCodecs(caps.codecs));
      }
    } catch (e) { log('setCodecPreferences failed', String(e)); }

    pc.onicecandidate = function (ev) {
      if (gen !== S.gen || pc !== S.pc) return;
      var c = ev.candidate;
      if (!c || !c.candidate) return; // end of candidates: nothing to tell the server
      var json = { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
      if (S.joinSent) sendLocalCandidate(json);
      else S.pendingLocal.push(json);
    };
    pc.ontrack = function (ev) {
      if (gen !== S.gen || pc !== S.pc) return;
      // Video and audio tracks may come in separate streams: one MediaStream holds both.
      if (S.tracksOf !== pc) { S.tracksOf = pc; S.media = new MediaStream(); }
      S.media.addTrack(ev.track);
      if (els.video.srcObject !== S.media) els.video.srcObject = S.media;
      if (ev.track.kind === 'audio') { showMute(true); return; }
      var p = els.video.play();
      if (p && p.catch) p.catch(function (e) { log('play() refused', String(e)); });
      setStep('video', 'working', 'track received, waiting for frames');
    };
    pc.oniceconnectionstatechange = function () {
      if (gen !== S.gen || pc !== S.pc) return;
      onIceState(gen, pc.iceConnectionState);
    };
    pc.onconnectionstatechange = function () {
      if (gen !== S.gen || pc !== S.pc) return;
      var st = pc.connectionState;
      log('pc', st);
      var map = { new: 'idle', connecting: 'working', connected: 'ok', disconnected: 'working', failed: 'failed', closed: 'idle' };
      setStep('pc', map[st] || 'working', st);
    };

    setStep('pc', 'working', 'creating offer');
    var offer = await pc.createOffer();
    if (gen !== S.gen || pc !== S.pc) return;
    await pc.setLocalDescription(offer);
    if (gen !== S.gen || pc !== S.pc) return;
    var tok = await tokenP;
    if (gen !== S.gen || pc !== S.pc) return;
    if (tok.status === 401) { setStep('pc', 'failed', 'not logged in'); lostSession(); return; }
    // A session that may not be refreshed: join with the cookie alone (sent on the upgrade when
    // signaling is on the same host, whatever its port).
    var cookieOnly = tok.status === 403 || tok.status === 404 || tok.status === 405;
    if (cookieOnly) log('no join token (' + tok.status + '): the cookie must do');
    else if (tok.status !== 200) {
      setStep('pc', 'failed', 'no token');
      var key = tok.status === 0 ? 'api_unreachable' : 'api_error';
      var code = tok.body && tok.body.code ? tok.body.code : 'http_' + tok.status;
      var text = core.uiText(key, { url: CONFIG.apiUrl, code: code, message: tok.body && tok.body.message || '' });
      fail({ text: text, code: tok.status === 0 ? 'api_unreachable' : code, retry: true });
      return;
    }
    var join = { type: 'join', camera: CONFIG.cameraId, sdpOffer: pc.localDescription.sdp };
    if (tok.token) join.token = tok.token;
    send(join);
    S.joinSent = true;
    setPhase('joining');
    setStep('pc', 'working', 'offer sent, waiting for the answer');
    log('join sent');
    S.pendingLocal.splice(0).forEach(sendLocalCandidate);
    timer('join', JOIN_TIMEOUT_MS, function () {
      if (gen !== S.gen) return;
      setStep('pc', 'failed', 'no answer');
      fail({ text: core.uiText('join_timeout'), code: 'join_timeout', retry: true });
    });
    S.timers.stats = setInterval(function () { pollStats(gen, pc); }, 1000);
  }

  function onIceState(gen, st) {
    log('ice', st);
    clearTimer('disconnected');
    if (st === 'checking') setStep('ice', 'working', 'checking');
    else if (st === 'connected' || st === 'completed') {
      clearTimer('ice');
      setStep('ice', 'ok', st);
      if (!S.firstFrame) {
        timer('novideo', NO_VIDEO_MS, function () {
          if (gen !== S.gen || S.firstFrame) return;
          setStep('video', 'working', 'no frame yet');
          if (S.streamState !== 'stalled') setOverlay(core.uiText('no_video'), true);
        });
      }
      S.retries = 0;
      pub.state.retries = 0;
      if (els.message.getAttribute('data-kind') === 'error') showMessage('');
    } else if (st === 'disconnected') {
      setStep('ice', 'working', 'disconnected, waiting');
      timer('disconnected', DISCONNECTED_GRACE_MS, function () {
        if (gen !== S.gen) return;
        setStep('ice', 'failed', 'disconnected');
        fail({ text: core.uiText('ice_failed'), code: 'ice_failed', retry: true });
      });
    } else if (st === 'failed') {
      setStep('ice', 'failed', 'failed');
      fail({ text: core.uiText('ice_failed'), code: 'ice_failed', retry: true });
    }
  }

  function handleMessage(gen, msg) {
    log('recv', msg.type);
    switch (msg.type) {
      case 'answer': return onAnswer(gen, msg);
      case 'ice': return onRemoteCandidate(msg);
      case 'streamState':
        S.streamState = msg.state;
        renderStreamState();
        return;
      case 'streamEnded':
        setStep('api', 'failed', 'stream stopped');
        fail({ text: core.uiText('ended'), code: 'stream_ended', retry: false }, 'ended');
        return;
      case 'renegotiate':
        setStep('pc', 'working', 'server asked to renegotiate');
        setPhase('renegotiating');
        startPeer(gen).catch(function (e) { peerError(gen, e); });
        return;
      case 'error': {
        var d = core.describeSignalingError(msg.code, msg.message, S.phase === 'joined' ? 'joined' : 'joining');
        if (d.fatal) {
          if (S.phase === 'joining') setStep('pc', 'failed', msg.code);
          fail(d);
        } else {
          showMessage(d.text, 'warning', d.code);
        }
        return;
      }
      default:
        log('unknown message type', msg.type);
    }
  }

  async function onAnswer(gen, msg) {
    if (S.phase !== 'joining' || !S.pc) { log('unexpected answer'); return; }
    clearTimer('join');
    var pc = S.pc;
    S.viewerId = msg.viewerId || null;
    pub.state.viewerId = S.viewerId;
    setPhase('joined');
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdpAnswer });
    } catch (e) {
      if (gen !== S.gen || pc !== S.pc) return;
      setStep('pc', 'failed', 'bad answer');
      fail({ text: core.uiText('pc_failed', { message: String(e && e.message || e) }), code: 'bad_answer', retry: true });
      return;
    }
    if (gen !== S.gen || pc !== S.pc) return;
    S.remoteSet = true;
    setStep('pc', 'working', 'answer applied');
    if (pub.state.steps.ice === 'idle') setStep('ice', 'working', 'gathering');
    S.pendingRemote.splice(0).forEach(addRemote);
    timer('ice', ICE_TIMEOUT_MS, function () {
      if (gen !== S.gen) return;
      setStep('ice', 'failed', 'timeout');
      fail({ text: core.uiText('ice_timeout'), code: 'ice_timeout', retry: true });
    });
  }

  function onRemoteCandidate(msg) {
    var c = { candidate: msg.candidate || '', sdpMid: msg.sdpMid, sdpMLineIndex: msg.sdpMLineIndex };
    if (c.sdpMid === null || c.sdpMid === undefined) delete c.sdpMid;
    if (c.sdpMLineIndex === null || c.sdpMLineIndex === undefined) { if (c.sdpMid === undefined) c.sdpMLineIndex = 0; else delete c.sdpMLineIndex; }
    if (!S.remoteSet) S.pendingRemote.push(c);
    else addRemote(c);
  }

  function addRemote(c) {
    if (!S.pc) return;
    S.pc.addIceCandidate(c).catch(function (e) { log('addIceCandidate failed', String(e)); });
  }

  async function pollStats(gen, pc) {
    if (gen !== S.gen || pc !== S.pc) return;
    var report;
    try { report = await pc.getStats(); } catch (e) { return; }
    if (gen !== S.gen || pc !== S.pc) return;
    var snap = core.snapshot(report.values(), performance.now());
    var st = core.computeStats(S.prevSnap, snap);
    S.prevSnap = snap;
    pub.stats = st;
    renderStats(st);
    if (st.framesDecoded > 0 && !S.firstFrame) {
      S.firstFrame = true;
      log('first frame');
    }
    if (S.firstFrame) {
      // Frames stopped without a streamState from the server: say so, clear it when they resume.
      var frozen = S.lastFrames === st.framesDecoded;
      S.frozenPolls = frozen ? (S.frozenPolls || 0) + 1 : 0;
      S.lastFrames = st.framesDecoded;
      if (S.frozenPolls >= 4) {
        if (S.streamState !== 'stalled' && pub.state.status !== 'waiting') {
          setStep('video', 'working', 'no new frames');
          setOverlay(core.uiText('no_video'), true);
          setStatus('waiting', 'No video arriving');
        }
        return;
      }
      if (!frozen && pub.state.status === 'waiting') { renderStreamState(); setStatus('playing'); }
      var w = els.video.videoWidth, h = els.video.videoHeight;
      setStep('video', 'ok', (st.resolution || (w + 'x' + h)) + (st.fps !== null ? ', ' + st.fps + ' fps' : ''));
      if (S.streamState !== 'stalled' && pub.state.status !== 'playing') {
        if (S.streamState === 'waiting_for_media') S.streamState = 'live'; // frames prove it
        renderStreamState();
        setStatus('playing');
      }
    }
  }

  // ---- wiring -----------------------------------------------------------------------------
  session.init({ apiUrl: CONFIG.apiUrl, onUnauthorized: lostSession });
  // Keeps the session (cookie) fresh while the page is open; a `?token=` page has no session.
  if (!CONFIG.token) session.refresh();
  els.input.value = CONFIG.cameraId;
  els.embedCamera.textContent = CONFIG.cameraId || 'no camera';
  els.endpoints.textContent = 'API ' + CONFIG.apiUrl + ' · signaling ' + CONFIG.signalingUrl;
  els.linkList.href = '/' + (core.passThroughParams(location.search).toString() ? '?' + core.passThroughParams(location.search).toString() : '');
  if (CONFIG.embed) document.body.classList.add('embed');
  els.form.addEventListener('submit', function (e) { e.preventDefault(); start(); });
  els.stop.addEventListener('click', stop);
  els.embedStart.addEventListener('click', start);
  window.addEventListener('pagehide', function () { if (S.running) { sendLeave(); S.running = false; teardown(); } });
  renderStats(null);
  setStatus('idle', CONFIG.cameraId ? STATUS_TEXT.idle : core.uiText('no_camera'));
  setButtons();
  if (CONFIG.autostart && CONFIG.cameraId) start();
})();
