// Meeting page (/demo/meeting): uploads a recording to POST /v1/meetings, polls
// GET /v1/meetings/{id} and shows each stage's progress, then draws the speaker timeline (a bar per
// speaker over the recording, one block per segment) beside the reviewed transcript from
// timeline.json (a paragraph per run of one speaker; clicking a block scrolls to its paragraph),
// and offers the five outputs as downloads.
//
// The key: every API call carries `Authorization: Bearer <key>` from the key field (kept in this
// tab's sessionStorage, shared with the live-captions page; `#key=…` in the fragment fills it and
// is removed from the address bar at once). The key never goes into a URL, so outputs are fetched
// with the header and offered as blob: links. A 401 stops the page with an error saying so.
//
// window.__meeting exposes the state for tests: state ('idle' | 'uploading' | 'running' |
// 'completed' | 'failed' | 'error'), jobId, errors, stagesSeen, timeline, outputs.
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    form: $('upload-form'), file: $('file'), language: $('language'), speakers: $('speakers'),
    apiKey: $('api-key'), upload: $('upload'), status: $('status'), stages: $('stages'),
    result: $('result'), outputs: $('outputs'), timeline: $('timeline'), transcript: $('transcript')
  };
  var KEY_STORE = 'asr-router-api-key';
  var POLL_MS = 500;
  // Distinguishable in light and dark themes; speakers past the palette cycle through it.
  var COLORS = ['#0b62d6', '#d4501e', '#1d8a4a', '#8e44ad', '#b8860b', '#00838f', '#c2185b', '#5d6d7e'];

  var meeting = window.__meeting = {
    state: 'idle', jobId: null, errors: [], stagesSeen: [], timeline: null, outputs: {}
  };
  var blobUrls = [];

  function setStatus(text, kind) {
    ui.status.textContent = text;
    ui.status.className = 'status' + (kind ? ' ' + kind : '');
  }

  function fail(message, state) {
    meeting.errors.push(message);
    meeting.state = state || 'error';
    setStatus(message, 'err');
    ui.upload.disabled = false;
  }

  function headers() {
    var key = ui.apiKey.value.trim();
    return key ? { Authorization: 'Bearer ' + key } : {};
  }

  // An API error as one sentence: the status, and OpenAI's error message when the body has one.
  async function apiError(r) {
    var msg = '';
    try {
      var body = await r.json();
      msg = body && body.error && body.error.message ? body.error.message : '';
    } catch (_) { /* not JSON */ }
    if (r.status === 401) {
      return 'HTTP 401: ' + (ui.apiKey.value.trim() ? 'the server refused this API key' : 'this server needs its API key; enter it above') +
        (msg ? ' (' + msg + ')' : '');
    }
    return 'HTTP ' + r.status + (msg ? ': ' + msg : '');
  }

  function fmtTime(s) {
    s = Math.max(0, s);
    var m = Math.floor(s / 60), sec = Math.floor(s % 60);
    var h = Math.floor(m / 60);
    var mm = h ? String(m % 60).padStart(2, '0') : String(m);
    return (h ? h + ':' : '') + mm + ':' + String(sec).padStart(2, '0');
  }

  // ---- stages ----------------------------------------------------------------------------------
  function renderStages(job) {
    var stages = job.stages || [];
    var done = job.stages_done || [];
    ui.stages.hidden = false;
    ui.stages.textContent = '';
    stages.forEach(function (name) {
      var li = document.createElement('li');
      var running = job.status === 'running' && job.stage === name;
      var isDone = done.indexOf(name) >= 0;
      var failed = job.status === 'failed' && job.stage === name;
      li.className = 'stage' + (isDone ? ' is-done' : running ? ' is-running' : failed ? ' is-failed' : '');
      li.dataset.stage = name;
      var n = document.createElement('span');
      n.className = 'name';
      n.textContent = name;
      var p = document.createElement('progress');
      p.max = 1;
      p.value = isDone ? 1 : running ? (job.progress || 0) : 0;
      p.setAttribute('aria-label', name + ' progress');
      var st = document.createElement('span');
      st.className = 'state';
      var t = job.timings && job.timings[name];
      st.textContent = isDone ? (typeof t === 'number' ? t.toFixed(1) + ' s' : 'done')
        : running ? Math.round((job.progress || 0) * 100) + ' %' : failed ? 'failed' : 'waiting';
      li.append(n, p, st);
      ui.stages.append(li);
      if (running && meeting.stagesSeen.indexOf(name) < 0) meeting.stagesSeen.push(name);
    });
  }

  // ---- the job ---------------------------------------------------------------------------------
  async function submit(ev) {
    ev.preventDefault();
    var file = ui.file.files && ui.file.files[0];
    if (!file) { setStatus('Choose a recording first.', 'warn'); return; }
    try { sessionStorage.setItem(KEY_STORE, ui.apiKey.value.trim()); } catch (_) { /* private mode */ }
    reset();
    meeting.state = 'uploading';
    ui.upload.disabled = true;
    setStatus('Uploading ' + file.name + ' (' + Math.round(file.size / 1024) + ' KiB)…');
    var form = new FormData();
    form.append('file', file, file.name);
    if (ui.language.value) form.append('language', ui.language.value);
    if (ui.speakers.value) form.append('speakers', ui.speakers.value);
    var r;
    try {
      r = await fetch('/v1/meetings', { method: 'POST', headers: headers(), body: form });
    } catch (e) {
      return fail('Upload failed: ' + e.message);
    }
    if (r.status !== 202) return fail('Upload refused: ' + (await apiError(r)));
    var job = await r.json();
    meeting.jobId = job.id;
    meeting.state = 'running';
    setStatus('Job ' + job.id + ' ' + job.status + '…');
    renderStages(job);
    poll(job.id);
  }

  async function poll(id) {
    for (;;) {
      var r;
      try {
        r = await fetch('/v1/meetings/' + encodeURIComponent(id), { headers: headers(), cache: 'no-store' });
      } catch (e) {
        return fail('Lost the server: ' + e.message);
      }
      if (!r.ok) return fail('Could not read the job: ' + (await apiError(r)));
      var job = await r.json();
      renderStages(job);
      if (job.status === 'completed') {
        setStatus('Completed. Loading the timeline…', 'ok');
        return show(job);
      }
      if (job.status === 'failed' || job.status === 'cancelled') {
        return fail('The job ' + job.status + (job.error && job.error.message ? ': ' + job.error.message : '.'), 'failed');
      }
      setStatus('Job ' + id + ' ' + job.status + (job.stage ? ': ' + job.stage + ' ' + Math.round((job.progress || 0) * 100) + ' %' : '') + '…');
      await new Promise(function (res) { setTimeout(res, POLL_MS); });
    }
  }

  async function fetchOutput(job, name) {
    var r = await fetch('/v1/meetings/' + encodeURIComponent(job.id) + '/outputs/' + encodeURIComponent(name),
      { headers: headers(), cache: 'no-store' });
    if (!r.ok) throw new Error(name + ': ' + (await apiError(r)));
    return r.blob();
  }

  async function show(job) {
    var names = (job.outputs || []).map(function (o) { return o.name; });
    var blobs = {};
    try {
      for (var i = 0; i < names.length; i++) blobs[names[i]] = await fetchOutput(job, names[i]);
      if (!blobs['timeline.json']) throw new Error('the job lists no timeline.json');
      meeting.timeline = JSON.parse(await blobs['timeline.json'].text());
    } catch (e) {
      return fail('Could not load the outputs: ' + e.message);
    }
    ui.outputs.textContent = '';
    names.forEach(function (name) {
      var url = URL.createObjectURL(blobs[name]);
      blobUrls.push(url);
      var a = document.createElement('a');
      a.href = url;
      a.download = name;
      a.textContent = name;
      a.dataset.output = name;
      ui.outputs.append(a);
      meeting.outputs[name] = blobs[name].size;
    });
    render(meeting.timeline);
    ui.result.hidden = false;
    ui.upload.disabled = false;
    meeting.state = 'completed';
    var t = meeting.timeline;
    setStatus('Completed: ' + t.speakers.length + ' speaker' + (t.speakers.length === 1 ? '' : 's') + ', ' +
      fmtTime(t.duration_s) + ', review ' + t.review + '.', 'ok');
  }

  // ---- timeline and transcript -----------------------------------------------------------------
  function render(t) {
    var color = {};
    var name = {};
    t.speakers.forEach(function (s, i) {
      color[s.id] = COLORS[i % COLORS.length];
      name[s.id] = s.name || s.id;
    });
    // paragraphs: runs of one speaker's segments
    var paras = [];
    t.segments.forEach(function (seg, i) {
      var last = paras[paras.length - 1];
      if (last && last.speaker === seg.speaker) {
        last.end = seg.end;
        last.texts.push(seg.text);
        last.segments.push(i);
      } else {
        paras.push({ speaker: seg.speaker, start: seg.start, end: seg.end, texts: [seg.text], segments: [i] });
      }
    });
    var paraOf = {};
    ui.transcript.textContent = '';
    paras.forEach(function (p, k) {
      p.segments.forEach(function (i) { paraOf[i] = k; });
      var div = document.createElement('p');
      div.className = 'para';
      div.id = 'para-' + k;
      div.dataset.speaker = p.speaker;
      div.style.setProperty('--speaker', color[p.speaker]);
      var meta = document.createElement('span');
      meta.className = 'meta';
      var who = document.createElement('span');
      who.className = 'who';
      who.textContent = name[p.speaker] || p.speaker;
      var when = document.createElement('span');
      when.textContent = fmtTime(p.start) + '–' + fmtTime(p.end);
      meta.append(who, when);
      var text = document.createElement('span');
      text.className = 'text';
      text.style.display = 'block';
      text.textContent = p.texts.join(' ').trim();
      div.append(meta, text);
      ui.transcript.append(div);
    });

    var total = t.duration_s || (t.segments.length ? t.segments[t.segments.length - 1].end : 1) || 1;
    ui.timeline.textContent = '';
    t.speakers.forEach(function (s) {
      var lane = document.createElement('div');
      lane.className = 'lane';
      lane.setAttribute('role', 'listitem');
      lane.dataset.speaker = s.id;
      var who = document.createElement('span');
      who.className = 'who';
      who.textContent = name[s.id];
      var talk = document.createElement('span');
      talk.className = 'talk';
      talk.textContent = fmtTime(s.talk_s || 0) + ' talking';
      who.append(talk);
      var bar = document.createElement('div');
      bar.className = 'bar';
      t.segments.forEach(function (seg, i) {
        if (seg.speaker !== s.id) return;
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'block';
        b.dataset.segment = String(i);
        b.style.setProperty('--speaker', color[s.id]);
        b.style.left = (100 * seg.start / total) + '%';
        b.style.width = (100 * Math.max(0, seg.end - seg.start) / total) + '%';
        var label = name[s.id] + ', ' + fmtTime(seg.start) + '–' + fmtTime(seg.end) + ': ' + seg.text;
        b.title = label;
        b.setAttribute('aria-label', label);
        b.addEventListener('click', function () { focusPara(paraOf[i]); });
        bar.append(b);
      });
      lane.append(who, bar);
      ui.timeline.append(lane);
    });
    var axis = document.createElement('div');
    axis.className = 'axis';
    axis.setAttribute('aria-hidden', 'true');
    [0, 0.25, 0.5, 0.75, 1].forEach(function (f) {
      var x = document.createElement('span');
      x.textContent = fmtTime(total * f);
      axis.append(x);
    });
    ui.timeline.append(axis);
  }

  function focusPara(k) {
    var el = $('para-' + k);
    if (!el) return;
    Array.prototype.forEach.call(ui.transcript.querySelectorAll('.is-target'), function (x) { x.classList.remove('is-target'); });
    el.classList.add('is-target');
    el.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    meeting.target = el.id;
  }

  function reset() {
    blobUrls.forEach(function (u) { URL.revokeObjectURL(u); });
    blobUrls = [];
    meeting.jobId = null;
    meeting.timeline = null;
    meeting.outputs = {};
    meeting.stagesSeen = [];
    meeting.target = null;
    ui.result.hidden = true;
    ui.stages.hidden = true;
    ui.outputs.textContent = '';
    ui.timeline.textContent = '';
    ui.transcript.textContent = '';
  }

  // ---- wiring ----------------------------------------------------------------------------------
  ui.form.addEventListener('submit', submit);
  try { ui.apiKey.value = sessionStorage.getItem(KEY_STORE) || ''; } catch (_) { /* private mode */ }
  var hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (hash.has('key')) {
    ui.apiKey.value = hash.get('key');
    history.replaceState(null, '', location.pathname + location.search);
    try { sessionStorage.setItem(KEY_STORE, ui.apiKey.value.trim()); } catch (_) { /* private mode */ }
  }
  ui.apiKey.addEventListener('change', function () {
    try { sessionStorage.setItem(KEY_STORE, ui.apiKey.value.trim()); } catch (_) { /* private mode */ }
  });
})();
