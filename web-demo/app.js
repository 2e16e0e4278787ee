// asr-router live-captions demo. Plain browser JS, no build step, no external resources.
//
// Flow: POST /v1/realtime/client_secrets (with the API key, when the server has one) ->
// ephemeral "ek_..." secret ->
// WebSocket /v1/realtime?intent=transcription with subprotocols
// ["realtime", "openai-insecure-api-key.<secret>"] -> GA session.update -> microphone audio as
// base64 PCM16 24 kHz input_audio_buffer.append events -> captions from the server events.
//
// Test hooks: window.__captions = {finals, partialsSeen, events, ...}; ?autostart=1 starts at once;
// optional ?lang=xx, ?delay=minimal..xhigh and ?prompt=... preset the language, live-words and
// glossary fields, ?model=<id> replaces the default transcription model "auto"; window.__captions
// .session is the latest session.updated's session; #key=<api key> in the fragment (never sent to the
// server, removed from the address bar at once) fills the key field.
//
// The key: a server started with ASR_ROUTER_API_KEY mints secrets for key holders only, so the
// page asks its user for the key (the field appears on the first 401) and keeps it in this tab's
// sessionStorage. The key itself never goes into the WebSocket; only the short-lived secret does.
(function () {
  'use strict';

  var TARGET_RATE = 24000;
  var CHUNK_MS = 40; // worklet chunk
  var SEND_MS = 80; // send an append at least this much audio at a time (40-100 ms)
  var MAX_PENDING_MS = 3000; // audio kept while (re)connecting, older audio is dropped
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 15000;
  var MAX_EVENTS_LOGGED = 5000;
  var DRAIN_MS = 5000;

  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    start: $('start'), stop: $('stop'), level: $('level'), language: $('language'), delay: $('delay'),
    glossary: $('glossary'), status: $('status'), captions: $('captions'), empty: $('empty'),
    dlTxt: $('dl-txt'), dlSrt: $('dl-srt'), clear: $('clear'),
    keyField: $('key-field'), apiKey: $('api-key')
  };
  var KEY_STORE = 'asr-router-api-key';

  // Base path: the page lives at <base>/demo/, the API at <base>/v1/... (works behind a path prefix).
  var params = new URLSearchParams(location.search);
  var modelParam = params.get('model'); // optional ?model=<id>; default "auto" (server routing)
  var basePath = location.pathname.replace(/\/demo(\/[^/]*)?$/, '');
  var wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var realtimeUrl = wsScheme + '//' + location.host + basePath + '/v1/realtime?intent=transcription';
  var secretsUrl = basePath + '/v1/realtime/client_secrets';

  var captions = window.__captions = {
    finals: [],        // final transcripts, in order of first completion (corrections replace in place)
    partialsSeen: 0,   // delta events received before the first .completed
    events: [],        // server event types, in arrival order
    corrections: 0,    // finals marked as corrected
    errors: [],        // error / failed messages
    reconnects: 0,     // reconnect attempts made
    session: null,     // the session object of the latest session.updated
    state: 'idle'
  };

  // ---- state ---------------------------------------------------------------------------------
  var running = false;       // user wants captions
  var ws = null;
  var wsGen = 0;             // connection generation, used to namespace item ids across reconnects
  var sessionReady = false;  // session.update sent on this socket
  var attempt = 0;           // reconnect attempt counter
  var reconnectTimer = null;
  var audio = null;          // {ctx, stream, node, src, sink}
  var pending = [];          // Uint8Array chunks not yet sent
  var pendingBytes = 0;
  var samplesSent = 0;       // 24 kHz samples sent since Start (all sessions)
  var sessionOffsetMs = 0;   // audio time at which the current socket's session began
  var items = new Map();     // key -> item
  var order = [];            // item keys in display order
  var firstCompletedSeen = false;
  var drainTimer = null;      // bounded wait for the last final after Stop
  var lastDisconnect = null;  // why the previous socket closed, shown once reconnected

  // ---- helpers -------------------------------------------------------------------------------
  function setStatus(text, kind) {
    ui.status.textContent = text;
    ui.status.className = 'status' + (kind ? ' ' + kind : '');
  }

  function logEvent(type) {
    if (captions.events.length < MAX_EVENTS_LOGGED) captions.events.push(type);
  }

  function bytesToBase64(bytes) {
    var bin = '';
    var step = 0x8000;
    for (var i = 0; i < bytes.length; i += step) {
      bin += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(i + step, bytes.length)));
    }
    return btoa(bin);
  }

  function normWords(s) {
    return (s || '').toLowerCase().normalize('NFKC')
      .replace(/[\p{P}\p{S}]+/gu, ' ').trim().split(/\s+/).filter(Boolean).join(' ');
  }

  function fmtMs(ms) {
    return ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(2) + ' s';
  }

  function srtTime(ms) {
    ms = Math.max(0, Math.round(ms));
    var h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
    var pad = function (n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; };
    return pad(h, 2) + ':' + pad(m, 2) + ':' + pad(s, 2) + ',' + pad(ms % 1000, 3);
  }

  function sessionConfig() {
    var transcription = { model: modelParam || 'auto' };
    var lang = ui.language.value;
    if (lang) transcription.language = lang;
    var prompt = ui.glossary.value.trim();
    if (prompt) transcription.prompt = prompt;
    // how many drafts must agree on a word before it is shown (OpenAI's latency/accuracy knob)
    if (ui.delay.value) transcription.delay = ui.delay.value;
    return {
      type: 'transcription',
      audio: {
        input: {
          format: { type: 'audio/pcm', rate: TARGET_RATE },
          transcription: transcription,
          turn_detection: { type: 'server_vad', silence_duration_ms: 500 }
        }
      }
    };
  }

  // ---- captions model / rendering ------------------------------------------------------------
  function getItem(itemId, create) {
    var key = wsGen + ':' + (itemId || 'unknown');
    var it = items.get(key);
    if (!it && create) {
      it = {
        key: key, itemId: itemId, deltas: '', final: null, finalIndex: -1, corrected: false,
        startMs: null, endMs: null, stoppedAt: null, startedAt: performance.now(),
        latencyMs: null, latencySource: null, speaker: null, failed: null, el: null
      };
      items.set(key, it);
      order.push(key);
      renderItem(it);
    }
    return it;
  }

  function renderItem(it) {
    if (!it.el) {
      var li = document.createElement('li');
      li.className = 'cap';
      li.dataset.itemId = it.itemId || '';
      var meta = document.createElement('div');
      meta.className = 'meta';
      var text = document.createElement('p');
      text.className = 'text';
      li.appendChild(meta);
      li.appendChild(text);
      ui.captions.appendChild(li);
      it.el = li;
      ui.empty.hidden = true;
    }
    var metaEl = it.el.firstChild, textEl = it.el.lastChild;
    var parts = [];
    if (it.startMs != null) parts.push(srtTime(it.startMs).slice(3, 8));
    if (it.speaker) parts.push('Speaker ' + it.speaker);
    metaEl.textContent = '';
    if (parts.length) {
      var span = document.createElement('span');
      span.textContent = parts.join(' · ');
      metaEl.appendChild(span);
    }
    if (it.latencyMs != null) {
      var lat = document.createElement('span');
      lat.className = 'latency';
      lat.textContent = 'latency ' + fmtMs(it.latencyMs) + (it.latencySource === 'server' ? ' (server)' : '');
      lat.title = it.latencySource === 'server'
        ? 'latency_ms reported by the server'
        : 'measured in the browser: speech_stopped → completed';
      metaEl.appendChild(lat);
    }
    if (it.corrected) {
      var b = document.createElement('span');
      b.className = 'badge corrected';
      b.textContent = 'corrected';
      b.title = 'The final transcript replaced different live text: "' + (it.previousText || '') + '"';
      metaEl.appendChild(b);
    }
    if (it.interrupted && it.final == null) {
      var ib = document.createElement('span');
      ib.className = 'badge interrupted';
      ib.textContent = 'no final';
      ib.title = 'The connection ended before the server sent a final transcript for this live text.';
      metaEl.appendChild(ib);
    }
    if (it.failed) {
      var f = document.createElement('span');
      f.className = 'badge failed';
      f.textContent = 'failed';
      metaEl.appendChild(f);
    }

    if (it.final != null) {
      it.el.classList.remove('is-partial');
      it.el.classList.add('is-final');
      textEl.removeAttribute('aria-hidden');
      textEl.textContent = it.final;
    } else if (it.failed) {
      it.el.classList.remove('is-partial');
      textEl.removeAttribute('aria-hidden');
      textEl.textContent = (it.deltas ? it.deltas + ' ' : '') + '[transcription failed: ' + it.failed + ']';
    } else if (it.interrupted) {
      it.el.classList.remove('is-partial');
      it.el.classList.add('is-interrupted');
      textEl.removeAttribute('aria-hidden');
      textEl.textContent = it.deltas || '…';
    } else {
      it.el.classList.add('is-partial');
      // Partials change constantly; hide them from screen readers, finals are announced.
      textEl.setAttribute('aria-hidden', 'true');
      textEl.textContent = it.deltas || '…';
    }
    updateButtons();
    // keep the newest caption in view
    ui.captions.scrollTop = ui.captions.scrollHeight;
  }

  // Live items of a closed connection will never get a final: drop empty ones, mark the rest.
  function abandonPartials() {
    order.slice().forEach(function (k) {
      var it = items.get(k);
      if (!it || it.final != null || it.failed || it.interrupted) return;
      if (!it.deltas) { dropItem(it); return; }
      it.interrupted = true;
      renderItem(it);
    });
  }

  function dropItem(it) {
    if (it.el) it.el.remove();
    items.delete(it.key);
    var i = order.indexOf(it.key);
    if (i >= 0) order.splice(i, 1);
    ui.empty.hidden = order.length > 0;
  }

  function finalItems() {
    return order.map(function (k) { return items.get(k); }).filter(function (it) { return it && it.final; });
  }

  function updateButtons() {
    var has = finalItems().length > 0;
    ui.dlTxt.disabled = !has;
    ui.dlSrt.disabled = !has;
    ui.clear.disabled = order.length === 0;
  }

  // ---- server events -------------------------------------------------------------------------
  function onServerEvent(ev) {
    var type = ev && ev.type;
    if (typeof type !== 'string') return;
    logEvent(type);
    var it;
    switch (type) {
      case 'session.created':
      case 'transcription_session.created':
        setStatus('Connected; configuring session…');
        break;
      case 'session.updated':
      case 'transcription_session.updated':
        captions.session = ev.session || null;
        if (lastDisconnect) {
          setStatus('Listening — reconnected (' + lastDisconnect + ').', 'ok');
          lastDisconnect = null;
        } else if (captions.state !== 'listening') {
          setStatus('Listening — speak now.', 'ok');
        }
        attempt = 0;
        captions.state = 'listening';
        break;
      case 'input_audio_buffer.speech_started':
        it = getItem(ev.item_id, true);
        if (typeof ev.audio_start_ms === 'number') it.startMs = sessionOffsetMs + ev.audio_start_ms;
        it.startedAt = performance.now();
        renderItem(it);
        break;
      case 'input_audio_buffer.speech_stopped':
        it = getItem(ev.item_id, true);
        if (typeof ev.audio_end_ms === 'number') it.endMs = sessionOffsetMs + ev.audio_end_ms;
        it.stoppedAt = performance.now();
        break;
      case 'input_audio_buffer.committed':
        it = getItem(ev.item_id, true);
        if (it.stoppedAt == null) it.stoppedAt = performance.now(); // manual commit / no VAD events
        break;
      case 'conversation.item.input_audio_transcription.delta':
        if (!firstCompletedSeen) captions.partialsSeen++;
        it = getItem(ev.item_id, true);
        if (it.final == null) {
          it.deltas += ev.delta || '';
          renderItem(it);
        }
        break;
      case 'conversation.item.input_audio_transcription.completed':
        onCompleted(ev);
        break;
      case 'conversation.item.input_audio_transcription.failed':
        it = getItem(ev.item_id, true);
        it.failed = (ev.error && (ev.error.message || ev.error.code)) || 'unknown error';
        captions.errors.push('failed: ' + it.failed);
        renderItem(it);
        maybeFinishDrain();
        break;
      case 'error':
        var e = ev.error || {};
        var msg = (e.code ? e.code + ': ' : '') + (e.message || 'unknown error');
        captions.errors.push(msg);
        if (captions.state === 'draining') { finishStop(); setStatus('Stopped (server error — ' + msg + ').', 'err'); break; }
        setStatus('Server error — ' + msg, 'err');
        break;
      default:
        break; // conversation.item.created etc.: nothing to show
    }
  }

  function onCompleted(ev) {
    firstCompletedSeen = true;
    var it = getItem(ev.item_id, true);
    var transcript = typeof ev.transcript === 'string' ? ev.transcript.trim() : '';
    var previous = it.final != null ? it.final : it.deltas;
    if (!transcript && it.final == null) {
      // Nothing recognised (noise): drop the placeholder.
      dropItem(it);
      maybeFinishDrain();
      return;
    }
    if (it.final != null && transcript !== it.final) {
      it.corrected = true; // a later .completed for the same item replaced the earlier final
      it.previousText = it.final;
    } else if (it.final == null && it.deltas && normWords(transcript) !== normWords(it.deltas)) {
      it.corrected = true; // the final differs from the live text (beyond case / punctuation)
      it.previousText = previous;
    }
    it.final = transcript;
    if (typeof ev.speaker === 'string' && ev.speaker) it.speaker = ev.speaker;
    if (typeof ev.latency_ms === 'number' && isFinite(ev.latency_ms)) {
      it.latencyMs = ev.latency_ms;
      it.latencySource = 'server';
    } else if (it.latencyMs == null && it.stoppedAt != null) {
      it.latencyMs = performance.now() - it.stoppedAt;
      it.latencySource = 'client';
    }
    if (it.finalIndex < 0) {
      it.finalIndex = captions.finals.length;
      captions.finals.push(transcript);
    } else {
      captions.finals[it.finalIndex] = transcript;
    }
    captions.corrections = Array.from(items.values()).filter(function (x) { return x.corrected; }).length;
    renderItem(it);
    maybeFinishDrain();
  }

  // ---- websocket -----------------------------------------------------------------------------
  function mintSecret() {
    var body = {
      expires_after: { anchor: 'created_at', seconds: 600 },
      session: sessionConfig()
    };
    var headers = { 'Content-Type': 'application/json' };
    var key = ui.apiKey.value.trim();
    if (key) headers.Authorization = 'Bearer ' + key;
    return fetch(secretsUrl, {
      method: 'POST',
      headers: headers,
      body: JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store'
    }).then(function (r) {
      if (r.status === 404 || r.status === 405) return null; // server without secrets: try keyless
      if (r.status === 401) {
        var e = new Error(key ? 'the server refused this API key' : 'this server needs its API key');
        e.needsKey = true;
        throw e;
      }
      if (!r.ok) {
        return r.text().then(function (t) {
          var msg = t;
          try { var j = JSON.parse(t); msg = (j.error && j.error.message) || t; } catch (_) { /* text */ }
          throw new Error('client_secrets HTTP ' + r.status + (msg ? ': ' + msg.slice(0, 200) : ''));
        });
      }
      return r.json().then(function (j) {
        var v = j && (j.value || (j.client_secret && j.client_secret.value));
        if (!v) throw new Error('client_secrets response has no value');
        return v;
      });
    });
  }

  function connect() {
    if (!running) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    setStatus(attempt ? 'Reconnecting… (attempt ' + attempt + ')' : 'Connecting…', attempt ? 'warn' : '');
    captions.state = 'connecting';
    mintSecret().then(function (secret) {
      if (!running) return;
      var protocols = ['realtime'];
      if (secret) protocols.push('openai-insecure-api-key.' + secret);
      var sock = new WebSocket(realtimeUrl, protocols);
      ws = sock;
      wsGen++;
      sessionReady = false;
      sock.onopen = function () {
        if (ws !== sock) return;
        sessionOffsetMs = (samplesSent * 1000) / TARGET_RATE;
        sock.send(JSON.stringify({ type: 'session.update', session: sessionConfig() }));
        sessionReady = true;
        flush(true);
      };
      sock.onmessage = function (m) {
        if (ws !== sock || typeof m.data !== 'string') return;
        var ev;
        try { ev = JSON.parse(m.data); } catch (_) { return; }
        onServerEvent(ev);
      };
      sock.onerror = function () { /* onclose follows with the details */ };
      sock.onclose = function (e) {
        if (ws !== sock) return;
        ws = null;
        sessionReady = false;
        abandonPartials();
        if (!running) {
          if (captions.state === 'draining') finishStop();
          return;
        }
        scheduleReconnect('Connection closed (code ' + e.code + (e.reason ? ', ' + e.reason : '') + ')');
      };
    }).catch(function (err) {
      if (!running) return;
      if (err.needsKey) {
        // retrying cannot help: ask for the key and wait for the user
        ui.keyField.hidden = false;
        captions.errors.push(err.message);
        stop();
        setStatus('Stopped: ' + err.message + '. Enter the API key above and press Start.', 'error');
        ui.apiKey.focus();
        return;
      }
      scheduleReconnect('Could not get a session secret: ' + err.message);
    });
  }

  function scheduleReconnect(why) {
    attempt++;
    if (!lastDisconnect) lastDisconnect = why.replace(/^Connection closed/, 'connection closed');
    captions.reconnects++;
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempt - 1));
    delay = Math.round(delay * (0.8 + Math.random() * 0.4));
    captions.state = 'reconnecting';
    setStatus(why + '. Reconnecting in ' + (delay / 1000).toFixed(1) + ' s (attempt ' + attempt + ')…', 'warn');
    reconnectTimer = setTimeout(connect, delay);
  }

  // ---- audio ---------------------------------------------------------------------------------
  function onPcm(msg) {
    if (msg.type !== 'pcm' || !running) return;
    ui.level.value = Math.min(1, msg.peak);
    ui.level.textContent = Math.round(msg.peak * 100) + '%';
    var bytes = new Uint8Array(msg.buffer);
    pending.push(bytes);
    pendingBytes += bytes.length;
    // keep at most MAX_PENDING_MS while not connected
    var maxBytes = (TARGET_RATE * 2 * MAX_PENDING_MS) / 1000;
    while (pendingBytes > maxBytes && pending.length > 1) {
      var dropped = pending.shift();
      pendingBytes -= dropped.length;
      samplesSent += dropped.length / 2; // keep the audio clock in step with the microphone
    }
    flush(false);
  }

  function flush(force) {
    if (!ws || ws.readyState !== WebSocket.OPEN || !sessionReady || pendingBytes === 0) return;
    var minBytes = (TARGET_RATE * 2 * SEND_MS) / 1000;
    if (!force && pendingBytes < minBytes) return;
    // send in pieces of at most ~100 ms (or everything on force, chunked to 1 s)
    var maxBytes = force ? TARGET_RATE * 2 : (TARGET_RATE * 2 * 100) / 1000;
    while (pendingBytes > 0) {
      var n = Math.min(pendingBytes, maxBytes);
      var out = new Uint8Array(n);
      var off = 0;
      while (off < n) {
        var head = pending[0];
        var take = Math.min(head.length, n - off);
        out.set(head.subarray(0, take), off);
        off += take;
        if (take === head.length) pending.shift();
        else pending[0] = head.subarray(take);
      }
      pendingBytes -= n;
      samplesSent += n / 2;
      ws.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: bytesToBase64(out) }));
      if (!force && pendingBytes < minBytes) break;
    }
  }

  function startAudio() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return Promise.reject(new Error('This browser has no microphone access here (needs https or localhost).'));
    }
    return navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
      video: false
    }).then(function (stream) {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx({ latencyHint: 'interactive' });
      return ctx.audioWorklet.addModule('pcm-worklet.js').then(function () {
        var src = ctx.createMediaStreamSource(stream);
        var node = new AudioWorkletNode(ctx, 'pcm-downsampler', {
          numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
          processorOptions: { targetRate: TARGET_RATE, chunkMs: CHUNK_MS }
        });
        node.port.onmessage = function (e) { onPcm(e.data); };
        // A silent sink keeps the graph pulled without playing the microphone back.
        var sink = ctx.createGain();
        sink.gain.value = 0;
        src.connect(node);
        node.connect(sink);
        sink.connect(ctx.destination);
        audio = { ctx: ctx, stream: stream, node: node, src: src, sink: sink };
        var track = stream.getAudioTracks()[0];
        if (track) {
          track.onended = function () {
            if (running) { setStatus('The microphone was disconnected.', 'err'); stop(); }
          };
        }
        return ctx.state === 'suspended' ? ctx.resume() : null;
      }).then(function () {
        if (ctx.state === 'suspended') {
          setStatus('Audio is paused by the browser — press Start to begin.', 'warn');
        }
      });
    });
  }

  function stopAudio() {
    if (!audio) return;
    try { audio.node.port.postMessage({ type: 'stop' }); } catch (_) { /* gone */ }
    try { audio.src.disconnect(); audio.node.disconnect(); audio.sink.disconnect(); } catch (_) { /* gone */ }
    audio.stream.getTracks().forEach(function (t) { t.stop(); });
    audio.ctx.close();
    audio = null;
    ui.level.value = 0;
  }

  // ---- start / stop --------------------------------------------------------------------------
  function start() {
    if (captions.state === 'draining') finishStop();
    if (running) {
      if (audio && audio.ctx.state === 'suspended') audio.ctx.resume();
      return;
    }
    running = true;
    attempt = 0;
    pending = [];
    pendingBytes = 0;
    samplesSent = 0;
    ui.start.disabled = true;
    ui.stop.disabled = false;
    captions.state = 'starting';
    setStatus('Requesting microphone…');
    startAudio().then(function () {
      if (running) connect();
    }).catch(function (err) {
      running = false;
      stopAudio();
      ui.start.disabled = false;
      ui.stop.disabled = true;
      captions.state = 'idle';
      captions.errors.push(String(err && err.message || err));
      setStatus('Could not start: ' + (err && err.message || err), 'err');
    });
  }

  // Items of the current connection still waiting for their final.
  function openItems() {
    var prefix = wsGen + ':';
    return order.map(function (k) { return items.get(k); }).filter(function (it) {
      return it && it.key.indexOf(prefix) === 0 && it.final == null && !it.failed && !it.interrupted;
    });
  }

  // Stop: microphone off at once; if an utterance is still open, commit it and wait (bounded) for
  // its final before closing the socket.
  function stop() {
    if (!running) return;
    running = false;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    stopAudio();
    ui.start.disabled = true;
    ui.stop.disabled = true;
    var sock = ws;
    if (sock && sock.readyState === WebSocket.OPEN && sessionReady) {
      try { flush(true); } catch (_) { /* closing */ }
      var open = openItems();
      if (open.length) {
        if (open.some(function (it) { return it.stoppedAt == null; })) {
          sock.send(JSON.stringify({ type: 'input_audio_buffer.commit' }));
        }
        captions.state = 'draining';
        setStatus('Stopping — waiting for the last final…');
        drainTimer = setTimeout(finishStop, DRAIN_MS);
        return;
      }
    }
    finishStop();
  }

  function finishStop() {
    clearTimeout(drainTimer);
    drainTimer = null;
    var sock = ws;
    ws = null;
    sessionReady = false;
    if (sock) {
      try { sock.close(1000, 'client stop'); } catch (_) { /* already closed */ }
    }
    pending = [];
    pendingBytes = 0;
    abandonPartials(); // unfinished live text stays visible, marked "no final"
    ui.start.disabled = false;
    ui.stop.disabled = true;
    captions.state = 'stopped';
    setStatus('Stopped.');
    ui.start.focus();
  }

  function maybeFinishDrain() {
    if (captions.state === 'draining' && openItems().length === 0) finishStop();
  }

  // live reconfiguration while running
  function pushSessionUpdate() {
    try { localStorage.setItem('asr-demo-lang', ui.language.value); } catch (_) { /* private mode */ }
    try { localStorage.setItem('asr-demo-glossary', ui.glossary.value); } catch (_) { /* private mode */ }
    try { localStorage.setItem('asr-demo-delay', ui.delay.value); } catch (_) { /* private mode */ }
    if (ws && ws.readyState === WebSocket.OPEN && sessionReady) {
      ws.send(JSON.stringify({ type: 'session.update', session: sessionConfig() }));
    }
  }

  // ---- downloads -----------------------------------------------------------------------------
  function lineText(it) {
    return (it.speaker ? '[' + it.speaker + '] ' : '') + it.final;
  }

  function download(name, text) {
    var blob = new Blob([text], { type: 'text/plain;charset=utf-8' });
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  function stamp() {
    return new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
  }

  function toTxt() {
    return finalItems().map(lineText).join('\n') + '\n';
  }

  function toSrt() {
    var out = [];
    var lastEnd = 0;
    finalItems().forEach(function (it, i) {
      var start = it.startMs != null ? it.startMs : lastEnd;
      var end = it.endMs != null ? it.endMs : start + Math.max(1000, it.final.length * 60);
      if (end <= start) end = start + 500;
      lastEnd = end;
      out.push(String(i + 1), srtTime(start) + ' --> ' + srtTime(end), lineText(it), '');
    });
    return out.join('\n');
  }

  // ---- wiring --------------------------------------------------------------------------------
  ui.start.addEventListener('click', start);
  ui.stop.addEventListener('click', stop);
  ui.language.addEventListener('change', pushSessionUpdate);
  ui.delay.addEventListener('change', pushSessionUpdate);
  ui.glossary.addEventListener('change', pushSessionUpdate);
  ui.glossary.addEventListener('keydown', function (e) { if (e.key === 'Enter') pushSessionUpdate(); });
  ui.dlTxt.addEventListener('click', function () { download('transcript-' + stamp() + '.txt', toTxt()); });
  ui.dlSrt.addEventListener('click', function () { download('transcript-' + stamp() + '.srt', toSrt()); });
  ui.clear.addEventListener('click', function () {
    order.slice().forEach(function (k) { dropItem(items.get(k)); });
    updateButtons();
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && running) stop();
  });

  try {
    var savedLang = localStorage.getItem('asr-demo-lang');
    var savedGlossary = localStorage.getItem('asr-demo-glossary');
    if (savedLang != null) ui.language.value = savedLang;
    if (savedGlossary != null) ui.glossary.value = savedGlossary;
    var savedDelay = localStorage.getItem('asr-demo-delay');
    if (savedDelay != null) ui.delay.value = savedDelay;
  } catch (_) { /* private mode */ }
  if (params.has('delay')) ui.delay.value = params.get('delay');
  if (params.has('lang')) {
    var want = params.get('lang');
    if (!Array.prototype.some.call(ui.language.options, function (o) { return o.value === want; })) {
      var opt = document.createElement('option');
      opt.value = want;
      opt.textContent = want;
      ui.language.appendChild(opt);
    }
    ui.language.value = want;
  }
  if (params.has('prompt')) ui.glossary.value = params.get('prompt');
  try { ui.apiKey.value = sessionStorage.getItem(KEY_STORE) || ''; } catch (_) { /* private mode */ }
  var hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (hash.has('key')) {
    ui.apiKey.value = hash.get('key');
    history.replaceState(null, '', location.pathname + location.search);
  }
  if (ui.apiKey.value) ui.keyField.hidden = false;
  ui.apiKey.addEventListener('change', function () {
    try { sessionStorage.setItem(KEY_STORE, ui.apiKey.value.trim()); } catch (_) { /* private mode */ }
  });
  try { if (ui.apiKey.value) sessionStorage.setItem(KEY_STORE, ui.apiKey.value.trim()); } catch (_) { /* private mode */ }

  // exported for tests / debugging
  captions.toTxt = toTxt;
  captions.toSrt = toSrt;
  captions.stop = stop;
  captions.start = start;

  if (params.get('autostart') === '1') start();
})();
