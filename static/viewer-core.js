// camview viewer: pure logic shared by the pages and by the Node unit tests
// (e2e/tests/viewer-logic.test.js). No DOM, no WebRTC objects: plain data in, plain data out.
(function (root) {
  'use strict';

  var API_PORT = 8080;
  var SIGNALING_PORT = 8765;
  var SIGNALING_PATH = '/ws';

  function trimSlash(s) {
    return String(s).replace(/\/+$/, '');
  }

  function truthy(v) {
    return v === true || v === 1 || v === '1' || v === 'true' || v === 'yes' || v === 'on' || v === '';
  }

  /** Resolves an api override (absolute, or relative to the page like `/`) to an http(s) base URL. */
  function resolveApiUrl(value, href) {
    var u = new URL(value, href);
    if (u.protocol === 'ws:') u.protocol = 'http:';
    if (u.protocol === 'wss:') u.protocol = 'https:';
    return trimSlash(u.origin + u.pathname);
  }

  /** Resolves a signaling override (absolute ws(s)/http(s), or relative like `/ws`) to a ws(s) URL. */
  function resolveSignalingUrl(value, href) {
    var u = new URL(value, href);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    if (u.protocol === 'https:') u.protocol = 'wss:';
    return u.href;
  }

  /**
   * The viewer's CONFIG from the page location, `window.CAMVIEW_CONFIG` (`override`) and the query
   * string. Precedence: query parameters > CAMVIEW_CONFIG > derived defaults. The API's
   * `/config.js`, loaded before the scripts, puts the server's defaults (PUBLIC_API_URL,
   * PUBLIC_SIGNALING_URL) into CAMVIEW_CONFIG under what the page set itself, so they rank
   * between the page's own CAMVIEW_CONFIG and the derived defaults.
   * Query parameters: camera, api, signaling, token, embed, autostart.
   */
  function deriveConfig(loc, override) {
    override = override || {};
    var href = loc.href || (loc.protocol + '//' + (loc.host || 'localhost') + '/' + (loc.search || ''));
    var secure = loc.protocol === 'https:';
    var host = loc.hostname || 'localhost';
    var q = new URLSearchParams(loc.search || '');
    var cfg = {
      cameraId: '',
      apiUrl: (secure ? 'https' : 'http') + '://' + host + ':' + API_PORT,
      signalingUrl: (secure ? 'wss' : 'ws') + '://' + host + ':' + SIGNALING_PORT + SIGNALING_PATH,
      iceServers: null, // null: ask GET {apiUrl}/ice-servers
      token: null,
      embed: false,
      autostart: false,
      timeouts: {}, // ms, see viewer.js: openMs, joinMs, iceMs, disconnectedMs, apiMs, noVideoMs
    };
    if (override.cameraId) cfg.cameraId = String(override.cameraId);
    if (override.apiUrl) cfg.apiUrl = resolveApiUrl(override.apiUrl, href);
    if (override.signalingUrl) cfg.signalingUrl = resolveSignalingUrl(override.signalingUrl, href);
    if (Array.isArray(override.iceServers)) cfg.iceServers = override.iceServers;
    if (override.token) cfg.token = String(override.token);
    if (override.timeouts && typeof override.timeouts === 'object') cfg.timeouts = override.timeouts;
    if (override.embed !== undefined) cfg.embed = truthy(override.embed);
    if (override.autostart !== undefined) cfg.autostart = truthy(override.autostart);
    if (q.get('camera')) cfg.cameraId = q.get('camera').trim();
    if (q.get('api')) cfg.apiUrl = resolveApiUrl(q.get('api'), href);
    if (q.get('signaling')) cfg.signalingUrl = resolveSignalingUrl(q.get('signaling'), href);
    if (q.get('token')) cfg.token = q.get('token');
    if (q.has('embed')) cfg.embed = truthy(q.get('embed'));
    if (q.has('autostart')) cfg.autostart = truthy(q.get('autostart'));
    return cfg;
  }

  /** The signaling service's rule for camera ids: 1-64 letters, digits, '_' or '-'. */
  function validCameraId(id) {
    return typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id);
  }

  /** Query parameters (api, signaling, token) to carry over to links to other camview pages. */
  function passThroughParams(search) {
    var q = new URLSearchParams(search || '');
    var out = new URLSearchParams();
    ['api', 'signaling', 'token'].forEach(function (k) { if (q.get(k)) out.set(k, q.get(k)); });
    return out;
  }

  /** `/viewer?camera=ID` plus carried-over and extra params. */
  function viewerLink(cameraId, search, extra) {
    var q = new URLSearchParams();
    q.set('camera', cameraId);
    passThroughParams(search).forEach(function (v, k) { q.set(k, v); });
    if (extra) Object.keys(extra).forEach(function (k) { q.set(k, extra[k]); });
    return '/viewer?' + q.toString();
  }

  /**
   * Reconnect delay for attempt `n` (0 for the first retry): 1 s, 2 s, 4 s, ... capped at 30 s,
   * with +-20 % jitter (never above the cap). `random` is injectable for tests.
   */
  function backoffDelay(n, random, opts) {
    opts = opts || {};
    var base = opts.baseMs || 1000;
    var max = opts.maxMs || 30000;
    var jitter = opts.jitter === undefined ? 0.2 : opts.jitter;
    var r = random ? random() : Math.random();
    var exp = Math.min(max, base * Math.pow(2, Math.max(0, Math.min(n, 30))));
    var d = exp * (1 - jitter + 2 * jitter * r);
    return Math.round(Math.max(0, Math.min(max, d)));
  }

  /** Sentences shown to people. `{camera}`, `{url}` are filled in by `uiText`. */
  var TEXT = {
    not_started: "This camera's stream is not started. Start it through the API, then press Start again.",
    stream_full: 'This camera already has the maximum number of viewers. Try again later.',
    codec_unsupported: 'This browser cannot play the video format this camera sends, and camview does not convert video ({message}). ' +
      'H.265 (HEVC) cameras play in Safari, and in Chrome or Edge on computers that decode HEVC in hardware.',
    stalled: 'The camera stopped sending; waiting for it to come back',
    waiting_for_media: 'The stream is started; waiting for the first video from the camera',
    ended: 'The stream was stopped',
    api_unreachable: 'The camview API at {url} cannot be reached; retrying',
    api_error: 'The camview API answered with an error ({code}): {message}',
    signaling_unreachable: 'The signaling server at {url} cannot be reached; retrying',
    signaling_closed: 'The connection to the signaling server was lost; reconnecting',
    join_timeout: 'The server did not answer in time; retrying',
    ice_failed: 'The video connection failed (ICE): check that UDP port(s) of the media server are reachable, or configure TURN',
    ice_timeout: 'The video connection could not be set up in time (ICE): check that UDP port(s) of the media server are reachable, or configure TURN',
    pc_failed: 'The browser could not set up the video connection: {message}',
    shutting_down: 'The server is restarting; reconnecting',
    rate_limited: 'Too many requests to the server; slowing down',
    too_many_connections: 'The signaling server is busy (too many connections); retrying',
    unauthorized: 'You are not logged in, or your session has ended: log in again',
    access_revoked: 'Access revoked: this link or account no longer gives access to this camera',
    forbidden: 'You do not have access to this camera',
    share_revoked: 'This share link was revoked or has expired: ask for a new one',
    invalid_camera_id: "This camera id is not valid: use 1 to 64 letters, digits, '_' or '-'",
    media_unavailable: 'The media server is not available right now; retrying',
    internal: 'The server had an internal error; retrying',
    invalid_sdp: 'The server refused what this browser offered ({message})',
    protocol: 'The viewer and the server disagree ({code}): {message}',
    unknown: 'Server error {code}: {message}',
    no_video: 'Connected, but no video has arrived yet: the camera may not be sending',
    no_camera: 'Enter a camera id, then press Start',
    unsupported: 'This browser cannot play WebRTC video (RTCPeerConnection is missing)',
    browser_lacks_codec: 'This camera sends {codec} video, which this browser cannot decode, and camview does not convert video. {hint}',
    firefox_h264: 'Firefox decodes H.264 only with its OpenH264 plugin, which it downloads by itself and has not here: allow it (Add-ons and themes, Plugins, OpenH264: always activate) once Firefox can reach the internet, or watch in Chrome, Edge or Safari. VP8 cameras play in Firefox as they are.',
    other_browser: 'Watch it in another browser (Chrome, Edge, Safari or Firefox with H.264).',
  };

  function fill(s, vars) {
    return s.replace(/\{(\w+)\}/g, function (m, k) { return vars && vars[k] !== undefined && vars[k] !== null ? String(vars[k]) : m; });
  }

  /** The sentence for key `key` (see TEXT), with variables filled in. */
  function uiText(key, vars) {
    return fill(TEXT[key] || TEXT.unknown, vars || {});
  }

  /**
   * What the viewer does about a signaling `error {code, message}`.
   * Returns {key, text, retry, fatal}: `fatal` ends the session (no reconnect unless `retry`);
   * a non-fatal error is only shown (the socket stays usable).
   * `phase` is 'joining' (no answer yet) or 'joined'.
   */
  function describeSignalingError(code, message, phase) {
    var vars = { code: code, message: message || '' };
    var joining = phase !== 'joined';
    var r;
    switch (code) {
      case 'stream_not_found': r = { key: 'not_started', retry: false, fatal: true }; break;
      case 'stream_full': r = { key: 'stream_full', retry: false, fatal: true }; break;
      case 'codec_unsupported': r = { key: 'codec_unsupported', retry: false, fatal: true }; break;
      case 'unauthorized':
        // The server ends a live viewer whose access was taken away with this message.
        if (/revoked/i.test(message || '')) r = { key: 'access_revoked', retry: false, fatal: true, code: 'access_revoked' };
        else r = { key: 'unauthorized', retry: false, fatal: true };
        break;
      case 'forbidden': r = { key: 'forbidden', retry: false, fatal: true }; break;
      case 'invalid_camera_id': r = { key: 'invalid_camera_id', retry: false, fatal: true }; break;
      case 'invalid_sdp': r = { key: 'invalid_sdp', retry: false, fatal: true }; break;
      case 'shutting_down': r = { key: 'shutting_down', retry: true, fatal: true }; break;
      case 'too_many_connections': r = { key: 'too_many_connections', retry: true, fatal: true }; break;
      case 'rate_limited': r = { key: 'rate_limited', retry: joining, fatal: joining }; break;
      case 'controller_unavailable':
      case 'registry_unavailable':
      case 'media_server_error': r = { key: 'media_unavailable', retry: joining, fatal: joining }; break;
      case 'internal': r = { key: 'internal', retry: joining, fatal: joining }; break;
      case 'out_of_order':
      case 'malformed_message':
      case 'unknown_message_type':
      case 'invalid_candidate': r = { key: 'protocol', retry: joining, fatal: joining }; break;
      default: r = { key: 'unknown', retry: joining, fatal: joining };
    }
    r.code = r.code || code;
    r.text = uiText(r.key, vars);
    return r;
  }

  /** What the viewer does about `GET /streams/{id}`: {ok, key?, text?, retry, state?, stream?}. */
  function describeStreamCheck(status, body, apiUrl) {
    if (status === 200 && body && typeof body === 'object' && body.state) {
      return { ok: true, retry: false, state: body.state, stream: body };
    }
    var code = body && body.code ? body.code : 'http_' + status;
    var message = body && body.message ? body.message : 'HTTP ' + status;
    if (status === 404) return { ok: false, key: 'not_started', text: uiText('not_started'), retry: false, code: code };
    if (status === 400 && code === 'invalid_camera_id') return { ok: false, key: 'invalid_camera_id', text: uiText('invalid_camera_id'), retry: false, code: code };
    if (status === 401) return { ok: false, key: 'unauthorized', text: uiText('unauthorized'), retry: false, code: code, login: true };
    if (status === 403) return { ok: false, key: 'forbidden', text: uiText('forbidden'), retry: false, code: 'forbidden' };
    if (status === 0) return { ok: false, key: 'api_unreachable', text: uiText('api_unreachable', { url: apiUrl }), retry: true, code: 'api_unreachable' };
    if (status === 429 || status >= 500) return { ok: false, key: 'api_error', text: uiText('api_error', { code: code, message: message }) + '; retrying', retry: true, code: code };
    return { ok: false, key: 'api_error', text: uiText('api_error', { code: code, message: message }), retry: false, code: code };
  }

  /**
   * The camera's sound from a stream view (`audio`: a pushed camera's `rtp.audio`, or what a
   * pulled RTSP camera describes): {value, text}. AAC says it cannot play in browsers (the
   * video plays alone).
   */
  function audioLabel(stream) {
    var a = stream && (stream.audio || (stream.rtp && stream.rtp.audio));
    if (!a || !a.codec) return { value: 'none', text: 'none' };
    if (a.playable === false) return { value: a.codec, text: a.codec + ': not playable in browsers, video only' };
    return { value: a.codec, text: a.codec };
  }

  /** Human label of a stream state. */
  function streamStateLabel(state) {
    return { waiting_for_media: 'waiting for media', live: 'live', stalled: 'stalled' }[state] || String(state || 'unknown');
  }

  /** Overlay text for a stream state, or '' when the video should show unobstructed. */
  function overlayForState(state) {
    if (state === 'stalled') return uiText('stalled');
    if (state === 'waiting_for_media') return uiText('waiting_for_media');
    return '';
  }

  /**
   * Codec order for `setCodecPreferences`: H.264 first (packetization-mode=1 before 0, constrained
   * baseline 42e01f first), then VP8, the rest of the video codecs, and resilience entries
   * (rtx/red/ulpfec/flexfec) last. Keeps every entry so a VP8 camera still negotiates.
   */
  function orderCodecs(codecs) {
    function rank(c) {
      var mime = String(c.mimeType || '').toLowerCase();
      var fmtp = String(c.sdpFmtpLine || '').toLowerCase();
      if (mime === 'video/h264') {
        var r = 0;
        if (fmtp.indexOf('packetization-mode=1') < 0) r += 2;
        if (fmtp.indexOf('profile-level-id=42e01f') < 0) r += 1;
        return r;
      }
      if (mime === 'video/vp8') return 10;
      if (/\/(rtx|red|ulpfec|flexfec-03)$/.test(mime)) return 30;
      return 20;
    }
    return codecs.map(function (c, i) { return { c: c, i: i, r: rank(c) }; })
      .sort(function (a, b) { return a.r - b.r || a.i - b.i; })
      .map(function (x) { return x.c; });
  }

  /**
   * A compact snapshot of an RTCStatsReport (`stats` is any iterable of stats dictionaries, e.g.
   * `report.values()` or an array): the inbound video RTP, the selected candidate pair, its codec.
   */
  function snapshot(stats, now) {
    var all = [];
    var byId = {};
    (Array.isArray(stats) ? stats : Array.from(stats)).forEach(function (s) { all.push(s); byId[s.id] = s; });
    var inbound = null;
    var pair = null;
    all.forEach(function (s) {
      if (s.type === 'inbound-rtp' && (s.kind === 'video' || s.mediaType === 'video') && !inbound) inbound = s;
    });
    all.forEach(function (s) {
      if (s.type === 'transport' && s.selectedCandidatePairId && byId[s.selectedCandidatePairId]) pair = byId[s.selectedCandidatePairId];
    });
    if (!pair) {
      all.forEach(function (s) {
        if (s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded')) && !pair) pair = s;
      });
    }
    var codec = inbound && inbound.codecId ? byId[inbound.codecId] : null;
    return {
      timestamp: inbound && inbound.timestamp ? inbound.timestamp : (now || 0),
      bytesReceived: inbound ? inbound.bytesReceived || 0 : 0,
      packetsReceived: inbound ? inbound.packetsReceived || 0 : 0,
      packetsLost: inbound ? inbound.packetsLost || 0 : 0,
      framesDecoded: inbound ? inbound.framesDecoded || 0 : 0,
      keyFramesDecoded: inbound ? inbound.keyFramesDecoded || 0 : 0,
      framesPerSecond: inbound && typeof inbound.framesPerSecond === 'number' ? inbound.framesPerSecond : null,
      frameWidth: inbound ? inbound.frameWidth || 0 : 0,
      frameHeight: inbound ? inbound.frameHeight || 0 : 0,
      jitter: inbound && typeof inbound.jitter === 'number' ? inbound.jitter : null,
      rtt: pair && typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime : null,
      codec: codec ? String(codec.mimeType || '').replace(/^video\//i, '') : null,
      hasInbound: !!inbound,
    };
  }

  /**
   * Display figures from two snapshots (`prev` may be null): resolution, fps, bitrate (kbps),
   * packets lost, round-trip time (ms), frames decoded, codec.
   */
  function computeStats(prev, cur) {
    var dt = prev ? (cur.timestamp - prev.timestamp) / 1000 : 0;
    var bitrate = null;
    var fps = cur.framesPerSecond;
    if (prev && dt > 0) {
      var db = cur.bytesReceived - prev.bytesReceived;
      if (db >= 0) bitrate = Math.round((db * 8) / dt / 1000);
      if (fps === null) {
        var df = cur.framesDecoded - prev.framesDecoded;
        if (df >= 0) fps = df / dt;
      }
    }
    return {
      width: cur.frameWidth,
      height: cur.frameHeight,
      resolution: cur.frameWidth && cur.frameHeight ? cur.frameWidth + 'x' + cur.frameHeight : null,
      fps: fps === null ? null : Math.round(fps * 10) / 10,
      bitrateKbps: bitrate,
      packetsLost: cur.packetsLost,
      packetsReceived: cur.packetsReceived,
      rttMs: cur.rtt === null ? null : Math.round(cur.rtt * 1000),
      framesDecoded: cur.framesDecoded,
      keyFramesDecoded: cur.keyFramesDecoded,
      codec: cur.codec,
    };
  }

  /** "12 s ago", "3 min ago", "2 h ago", or "never". */
  function formatAgo(iso, nowMs) {
    if (!iso) return 'never';
    var t = Date.parse(iso);
    if (isNaN(t)) return String(iso);
    var s = Math.max(0, Math.round(((nowMs === undefined ? Date.now() : nowMs) - t) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  /** Camera ids for the grid: `?cameras=a,b,c` (deduplicated), or null for "all started streams". */
  function gridCameras(search) {
    var v = new URLSearchParams(search || '').get('cameras');
    if (!v) return null;
    var seen = {};
    return v.split(',').map(function (s) { return s.trim(); }).filter(function (s) {
      if (!s || seen[s]) return false;
      seen[s] = true;
      return true;
    });
  }

  /** Columns for a grid of `n` tiles on a screen `width` px wide. */
  function gridColumns(n, width) {
    if (n <= 1) return 1;
    var max = width < 600 ? 1 : width < 1000 ? 2 : width < 1600 ? 3 : 4;
    return Math.max(1, Math.min(max, Math.ceil(Math.sqrt(n))));
  }

  // ---- login, share links, session refresh ----------------------------------------------

  /** Where to go after logging in: `next` if it is a path on this site (`/...`, not `//` or `/\`), else `/`. */
  function safeNext(next) {
    if (typeof next !== 'string' || next.charAt(0) !== '/' || next.length > 2000) return '/';
    var second = next.charAt(1);
    if (second === '/' || second === '\\') return '/';
    if (/[\u0000-\u001f\u007f]/.test(next)) return '/';
    return next;
  }

  /** The login page for coming back to `pathAndQuery` afterwards. */
  function loginUrl(pathAndQuery) {
    var next = safeNext(pathAndQuery);
    return next === '/' ? '/login' : '/login?next=' + encodeURIComponent(next);
  }

  /** A parameter of a `#a=1&b=2` fragment (share tokens and one-time codes ride there), or ''. */
  function fragmentParam(hash, name) {
    var v = new URLSearchParams(String(hash || '').replace(/^#/, '')).get(name);
    return v ? v.trim() : '';
  }

  /** Whole seconds from a `Retry-After` header (seconds or an HTTP date), at least 1; null if absent. */
  function retryAfterSeconds(header, nowMs) {
    if (header === null || header === undefined || header === '') return null;
    var n = Number(header);
    if (!isNaN(n)) return Math.max(1, Math.ceil(n));
    var t = Date.parse(header);
    if (isNaN(t)) return null;
    return Math.max(1, Math.ceil((t - (nowMs === undefined ? Date.now() : nowMs)) / 1000));
  }

  /** The sentence for a failed `POST /auth/login` (or `/auth/link`, `/auth/share`): {code, text}. */
  function describeLoginFailure(status, body, retryAfter, what) {
    what = what || 'login';
    if (status === 0) return { code: 'unreachable', text: 'The camview server cannot be reached; check your connection and try again' };
    if (status === 429) {
      var s = retryAfter || 60;
      return { code: 'too_many_requests', text: 'Too many attempts, try again in ' + s + ' s', retryAfter: s };
    }
    if (status === 401 || status === 404) {
      if (what === 'link') return { code: 'invalid_link', text: 'This login link is not valid, has expired or was already used' };
      if (what === 'share') return { code: 'share_revoked', text: uiText('share_revoked') };
      return { code: 'wrong_credentials', text: 'Wrong username or password' };
    }
    if (status === 400) return { code: 'bad_request', text: 'Enter a username and a password' };
    var code = body && body.code ? body.code : 'http_' + status;
    return { code: code, text: 'The server answered with an error (' + code + '); try again later' };
  }

  /**
   * Milliseconds until the session should be refreshed: 2/3 of what is left of a token expiring at
   * `expiresAt` (RFC 3339) counted from `nowMs` (best the server's clock, from the reply's `Date`),
   * at least `minMs` (5 s), at most a day. Unknown expiry: a minute.
   */
  function refreshDelay(expiresAt, nowMs, minMs) {
    minMs = minMs === undefined ? 5000 : minMs;
    var t = Date.parse(expiresAt);
    if (isNaN(t)) return 60000;
    var left = t - (nowMs === undefined ? Date.now() : nowMs);
    return Math.round(Math.max(minMs, Math.min(86400000, left * 2 / 3)));
  }

  /** The viewer address for a share session: the camera from the answer, else the first grant. */
  function shareViewerUrl(answer, me) {
    var cam = answer && answer.camera ? answer.camera : (me && Array.isArray(me.grants) && me.grants.length ? me.grants[0] : '');
    if (!validCameraId(cam)) return null;
    return '/viewer?camera=' + encodeURIComponent(cam);
  }

  /**
   * Whether this browser decodes the camera's codec (`rtp.codec` of a stream view: "H264",
   * "VP8", ...), from `RTCRtpReceiver.getCapabilities('video').codecs`. Unknown capabilities or
   * codec count as playable (the server still refuses what cannot play). Returns {ok} or
   * {ok: false, code: 'codec_unsupported', key, text} with a sentence saying why, for Firefox
   * without its OpenH264 plugin in particular.
   */
  function codecSupport(codec, capabilities, userAgent) {
    if (!codec || !capabilities || !Array.isArray(capabilities.codecs) || !capabilities.codecs.length) return { ok: true };
    var want = 'video/' + String(codec).toLowerCase();
    var has = capabilities.codecs.some(function (c) { return String(c.mimeType || '').toLowerCase() === want; });
    if (has) return { ok: true };
    var firefox = /firefox\//i.test(userAgent || '');
    var hint = uiText(firefox && want === 'video/h264' ? 'firefox_h264' : 'other_browser');
    var label = { h264: 'H.264', h265: 'H.265 (HEVC)', vp8: 'VP8', vp9: 'VP9', av1: 'AV1' }[String(codec).toLowerCase()] || String(codec);
    return { ok: false, code: 'codec_unsupported', key: 'browser_lacks_codec', retry: false, text: uiText('browser_lacks_codec', { codec: label, hint: hint }) };
  }

  var api = {
    API_PORT: API_PORT, SIGNALING_PORT: SIGNALING_PORT, SIGNALING_PATH: SIGNALING_PATH, TEXT: TEXT,
    deriveConfig: deriveConfig, validCameraId: validCameraId, passThroughParams: passThroughParams, viewerLink: viewerLink,
    backoffDelay: backoffDelay, uiText: uiText, describeSignalingError: describeSignalingError,
    describeStreamCheck: describeStreamCheck, audioLabel: audioLabel, streamStateLabel: streamStateLabel, overlayForState: overlayForState,
    orderCodecs: orderCodecs, snapshot: snapshot, computeStats: computeStats, formatAgo: formatAgo,
    gridCameras: gridCameras, gridColumns: gridColumns,
    safeNext: safeNext, loginUrl: loginUrl, fragmentParam: fragmentParam, retryAfterSeconds: retryAfterSeconds,
    describeLoginFailure: describeLoginFailure, refreshDelay: refreshDelay, shareViewerUrl: shareViewerUrl,
    codecSupport: codecSupport,
  };
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  else root.CamviewCore = api;
})(typeof window !== 'undefined' ? window : this);
