// k6 load test for asr-router's OpenAI-Realtime-compatible transcription WebSocket.
// Works with k6 v1.1.0 (tested), which only ships `k6/experimental/websockets`, and with newer k6
// releases that ship the same API as the stable `k6/websockets` (preferred when present).
// See loadtest/README.md. Example:
//   k6 run -e ASR_ROUTER_URL=ws://127.0.0.1:18081 -e ASR_ROUTER_API_KEY=sk-... \
//          -e AUDIO=/abs/speech-16k-mono.wav -e VUS=8 -e DURATION=2m loadtest/realtime.js
// k6 v1.1.0 has no `k6/websockets` ("unknown module"); the browser-like WebSocket class lives in
// `k6/experimental/websockets` there. Both export the same `WebSocket(url, protocols, params)`.
let wsModule;
try {
  wsModule = require('k6/websockets');
} catch (_) {
  wsModule = require('k6/experimental/websockets');
}
const { WebSocket } = wsModule;
import { setTimeout, clearTimeout, setInterval, clearInterval } from 'k6/timers';
import encoding from 'k6/encoding';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Trend, Rate } from 'k6/metrics';

// ---- configuration (all via -e / environment) -------------------------------------------------
const env = (k, d) => (__ENV[k] !== undefined && __ENV[k] !== '' ? __ENV[k] : d);
const VUS = parseInt(env('VUS', '2'), 10);
const DURATION = env('DURATION', '1m');             // how long new sessions are started
const ITER_TIMEOUT_MS = parseInt(env('SESSION_TIMEOUT_MS', '120000'), 10); // hard cap per session
const TAIL_MS = parseInt(env('TAIL_MS', '10000'), 10); // wait for outstanding finals after the audio
const CHUNK_MS = parseInt(env('CHUNK_MS', '100'), 10);
const TRAILING_SILENCE_MS = parseInt(env('TRAILING_SILENCE_MS', '1500'), 10);
const AUTH_MODE = env('AUTH_MODE', 'header');       // header | subprotocol | none
const API_KEY = env('ASR_ROUTER_API_KEY', '');
const MODEL = env('MODEL', 'auto');
const LANGUAGE = env('LANGUAGE', '');
const DELAY = env('DELAY', '');                   // OpenAI's transcription.delay: minimal .. xhigh
const SILENCE_DURATION_MS = parseInt(env('SILENCE_DURATION_MS', '500'), 10);
const EXPECTED_TEXT = env('EXPECTED_TEXT', '');
const P95_FIRST_DELTA_MS = env('P95_FIRST_DELTA_MS', '1500');
const P95_FINAL_MS = env('P95_FINAL_MS', '2000');
const P95_FINAL_RTF = env('P95_FINAL_RTF', '1');     // per-final real-time factor, p95
const MAX_SERVER_RTF = env('MAX_SERVER_RTF', '1');   // server-wide real-time factor over the run
// how long new speech waited for a partial (server histogram, p95 over the run; issue 15's cadence)
const P95_PARTIAL_REFRESH_MS = env('P95_PARTIAL_REFRESH_MS', '500');
const SERVER_METRICS = env('SERVER_METRICS', '1') !== '0'; // read /metrics in setup and teardown
const AUDIO_PATH = env('AUDIO', '');
const TARGET_RATE = 24000;

function realtimeUrl(raw) {
  let u = (raw || 'ws://127.0.0.1:18081').replace(/^http(s?):\/\//, 'ws$1://').replace(/\/+$/, '');
  if (!/\/v1\/realtime/.test(u)) u += '/v1/realtime';
  if (!/[?&]intent=/.test(u)) u += (u.indexOf('?') >= 0 ? '&' : '?') + 'intent=transcription';
  return u;
}
const WS_URL = realtimeUrl(env('ASR_ROUTER_URL', ''));
// `/metrics` on the same server: ws(s)://host[:port]/… → http(s)://host[:port]/metrics.
const METRICS_URL = env('METRICS_URL', WS_URL.replace(/^ws(s?):\/\//, 'http$1://').replace(/^(https?:\/\/[^/]+).*$/, '$1/metrics'));

// ---- audio (init context: runs once per VU) --------------------------------------------------
if (!AUDIO_PATH) throw new Error('set -e AUDIO=/path/to/16k-mono.wav');
const wavBytes = new Uint8Array(open(AUDIO_PATH, 'b'));

function parseWav(b) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tag = (o) => String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error(`${AUDIO_PATH}: not a WAV file`);
  let off = 12;
  let fmt = null;
  let data = null;
  while (off + 8 <= b.length) {
    const id = tag(off);
    let size = dv.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'data' && (size === 0 || size === 0xffffffff || body + size > b.length)) size = b.length - body;
    if (id === 'fmt ') {
      fmt = { format: dv.getUint16(body, true), channels: dv.getUint16(body + 2, true),
        rate: dv.getUint32(body + 4, true), bits: dv.getUint16(body + 14, true) };
    } else if (id === 'data') {
      data = { off: body, len: size };
    }
    off = body + size + (size & 1);
  }
  if (!fmt || !data) throw new Error(`${AUDIO_PATH}: missing fmt/data chunk`);
  if (fmt.bits !== 16 || (fmt.format !== 1 && fmt.format !== 0xfffe)) throw new Error(`${AUDIO_PATH}: need PCM16`);
  const frames = Math.floor(data.len / (2 * fmt.channels));
  const mono = new Float64Array(frames);
  for (let i = 0; i < frames; i++) {
    let s = 0;
    for (let c = 0; c < fmt.channels; c++) s += dv.getInt16(data.off + (i * fmt.channels + c) * 2, true);
    mono[i] = s / fmt.channels;
  }
  return { rate: fmt.rate, samples: mono };
}

// Linear-interpolation resampling to 24 kHz PCM16 LE.
function toPcm24k(src, rate) {
  const outLen = Math.floor((src.length * TARGET_RATE) / rate);
  const out = new ArrayBuffer(outLen * 2);
  const dv = new DataView(out);
  const step = rate / TARGET_RATE;
  for (let i = 0; i < outLen; i++) {
    const x = i * step;
    const i0 = Math.floor(x);
    const i1 = Math.min(i0 + 1, src.length - 1);
    const v = src[i0] + (src[i1] - src[i0]) * (x - i0);
    dv.setInt16(i * 2, Math.max(-32768, Math.min(32767, Math.round(v))), true);
  }
  return out;
}

const wav = parseWav(wavBytes);
const pcm = toPcm24k(wav.samples, wav.rate);
const CHUNK_BYTES = (TARGET_RATE * 2 * CHUNK_MS) / 1000;
const AUDIO_CHUNKS = [];
for (let off = 0; off < pcm.byteLength; off += CHUNK_BYTES) {
  AUDIO_CHUNKS.push(encoding.b64encode(pcm.slice(off, Math.min(off + CHUNK_BYTES, pcm.byteLength)), 'std'));
}
const SILENCE_CHUNK = encoding.b64encode(new ArrayBuffer(CHUNK_BYTES), 'std');
const SILENCE_CHUNKS = Math.ceil(TRAILING_SILENCE_MS / CHUNK_MS);
const AUDIO_MS = (pcm.byteLength / 2 / TARGET_RATE) * 1000;

// ---- metrics ---------------------------------------------------------------------------------
const firstDelta = new Trend('first_delta_ms', true);       // send of the VAD's speech onset -> first delta of that item
const finalLatency = new Trend('final_latency_ms', true);   // speech_stopped -> completed
const sessionSetup = new Trend('session_setup_ms', true);   // socket open -> session.updated
const completedCount = new Counter('transcripts_completed');
const failedCount = new Counter('transcripts_failed');
const errorEvents = new Counter('error_events');
const sessionsOk = new Rate('sessions_ok');                 // got >= 1 final and closed cleanly
const werTrend = new Trend('wer');                          // only with EXPECTED_TEXT
// completed.processing_ms / (completed.usage.seconds * 1000), one sample per final
const finalRtf = new Trend('final_rtf');
// server-wide, from /metrics before and after the run (one sample each, in teardown):
// Δ asr_router_engine_compute_seconds_total / Δ asr_router_engine_audio_seconds_total, all engines
const serverRtf = new Trend('server_rtf');
const serverCompute = new Counter('server_compute_s');      // Δ compute seconds, all engines
const serverAudio = new Counter('server_audio_s');          // Δ decoded audio seconds (partials included)
const audioSent = new Counter('audio_sent_s');              // audio streamed by the sessions (speech + silence)
// Δ asr_router_realtime_partial_refresh_seconds over the run: its p95 (interpolated in the
// histogram's buckets as the Rust generator does, loadtest/README.md) and how many partials it counts
const partialRefreshP95 = new Trend('partial_refresh_p95_ms', true);
const partialRefreshes = new Counter('partial_refreshes');

export const options = {
  scenarios: {
    realtime: {
      executor: 'constant-vus',
      vus: VUS,
      duration: DURATION,
      gracefulStop: `${Math.ceil((AUDIO_MS + TRAILING_SILENCE_MS + TAIL_MS) / 1000) + 5}s`,
    },
  },
  thresholds: {
    first_delta_ms: [`p(95)<${P95_FIRST_DELTA_MS}`],
    final_latency_ms: [`p(95)<${P95_FINAL_MS}`],
    final_rtf: [`p(95)<${P95_FINAL_RTF}`],
    server_rtf: [`max<${MAX_SERVER_RTF}`],
    partial_refresh_p95_ms: [`max<${P95_PARTIAL_REFRESH_MS}`],
    transcripts_failed: ['count==0'],
    transcripts_completed: ['count>0'],
    sessions_ok: ['rate>0.95'],
  },
};

// ---- WER (for EXPECTED_TEXT) ---------------------------------------------------------------------
function words(s) {
  return String(s).toLowerCase().replace(/[^\p{L}\p{N}\s']+/gu, ' ').split(/\s+/).filter((w) => w);
}
// The first number under `key` anywhere in `v` (depth first): GA and beta sessions nest
// turn_detection differently.
function findNumber(v, key) {
  if (!v || typeof v !== 'object') return null;
  if (typeof v[key] === 'number') return v[key];
  for (const k of Object.keys(v)) {
    const found = findNumber(v[k], key);
    if (found !== null) return found;
  }
  return null;
}

function wer(ref, hyp) {
  const r = words(ref);
  const h = words(hyp);
  if (!r.length) return h.length ? 1 : 0;
  let prev = [];
  for (let j = 0; j <= h.length; j++) prev.push(j);
  for (let i = 1; i <= r.length; i++) {
    const cur = [i];
    for (let j = 1; j <= h.length; j++) {
      cur.push(Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1)));
    }
    prev = cur;
  }
  return prev[h.length] / r.length;
}

// ---- server cost from /metrics ------------------------------------------------------------------
// Per engine {compute, audio} seconds from the exact counters, and the partial refresh histogram
// (`refresh`: cumulative count per upper bound in seconds, +Inf as Infinity), or null when /metrics
// is unreadable.
function readEngineCounters() {
  const params = { tags: { name: 'metrics' } };
  if (API_KEY && AUTH_MODE !== 'none') params.headers = { Authorization: `Bearer ${API_KEY}` };
  const res = http.get(METRICS_URL, params);
  if (res.status !== 200) {
    console.warn(`${METRICS_URL}: HTTP ${res.status}; no server_rtf`);
    return null;
  }
  const out = { engines: {}, refresh: {} };
  const re = /^asr_router_engine_(compute|audio)_seconds_total\{engine="([^"]*)"\}\s+(\S+)/;
  const bucket = /^asr_router_realtime_partial_refresh_seconds_bucket\{le="([^"]*)"\}\s+(\S+)/;
  for (const line of String(res.body).split('\n')) {
    const b = bucket.exec(line);
    if (b) out.refresh[b[1] === '+Inf' ? 'Infinity' : b[1]] = parseFloat(b[2]);
    const m = re.exec(line);
    if (!m) continue;
    const e = (out.engines[m[2]] = out.engines[m[2]] || { compute: 0, audio: 0 });
    e[m[1]] = parseFloat(m[3]);
  }
  return out;
}

// The q-quantile (ms) of the observations a cumulative histogram gained between two readings,
// interpolated linearly inside its bucket (the last finite bound when it falls in +Inf);
// null without observations.
function histogramQuantile(before, after, q) {
  const bounds = Object.keys(after).map(Number).sort((x, y) => x - y);
  const cum = bounds.map((b) => after[String(b)] - (before[String(b)] || 0));
  const count = cum.length ? cum[cum.length - 1] : 0;
  if (!(count > 0)) return { count: 0, value: null };
  const rank = q * count;
  let lo = 0;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    if (cum[i] >= rank) {
      if (!isFinite(bounds[i])) return { count, value: lo * 1000 };
      const share = cum[i] > below ? (rank - below) / (cum[i] - below) : 1;
      return { count, value: (lo + (bounds[i] - lo) * share) * 1000 };
    }
    lo = bounds[i];
    below = cum[i];
  }
  return { count, value: lo * 1000 };
}

export function setup() {
  return { before: SERVER_METRICS ? readEngineCounters() : null };
}

export function teardown(data) {
  if (!data || !data.before) return;
  const after = readEngineCounters();
  if (!after) return;
  let compute = 0;
  let audio = 0;
  const parts = [];
  for (const name of Object.keys(after.engines)) {
    const b = data.before.engines[name] || { compute: 0, audio: 0 };
    const c = after.engines[name].compute - b.compute;
    const a = after.engines[name].audio - b.audio;
    compute += c;
    audio += a;
    if (a > 0) parts.push(`${name} ${(c / a).toFixed(3)} (${c.toFixed(1)} s / ${a.toFixed(1)} s)`);
  }
  serverCompute.add(compute);
  serverAudio.add(audio);
  if (audio > 0) {
    serverRtf.add(compute / audio);
    console.log(`server RTF ${(compute / audio).toFixed(3)}; per engine: ${parts.join(', ')}`);
  }
  const refresh = histogramQuantile(data.before.refresh, after.refresh, 0.95);
  partialRefreshes.add(refresh.count);
  if (refresh.value !== null) {
    partialRefreshP95.add(refresh.value);
    console.log(`partial refresh p95 ${refresh.value.toFixed(0)} ms over ${refresh.count} partials`);
  }
}

// ---- one session per iteration -----------------------------------------------------------------
export default function () {
  const protocols = ['realtime'];
  const params = { tags: { name: 'realtime' } };
  if (AUTH_MODE === 'subprotocol' && API_KEY) protocols.push(`openai-insecure-api-key.${API_KEY}`);
  else if (AUTH_MODE === 'header' && API_KEY) params.headers = { Authorization: `Bearer ${API_KEY}` };

  const ws = new WebSocket(WS_URL, protocols, params);
  const items = {};            // item_id -> {startedAt, stoppedAt, gotDelta, done}
  const transcripts = [];
  let openedAt = 0;
  let sent = 0;                // chunks sent (audio + silence)
  const sentAt = [];           // send time of chunk k (audio [k*CHUNK_MS, (k+1)*CHUNK_MS) ms)
  let paddingMs = 300;         // the session's prefix_padding_ms, from session.updated
  let pacer = null;
  let tailTimer = null;
  let audioDone = false;
  let closed = false;
  let hadError = false;
  let setupSeen = false;

  const hardStop = setTimeout(() => {
    console.warn(`VU ${exec.vu.idInTest}: session timed out after ${ITER_TIMEOUT_MS} ms`);
    hadError = true;
    finish();
  }, ITER_TIMEOUT_MS);

  // When the audio at the item's speech onset had been sent (the chunk that holds it); the
  // arrival of speech_started when the server gave no audio_start_ms.
  function onsetSentAt(it) {
    if (typeof it.onsetMs !== 'number' || !sentAt.length) return it.startedAt;
    const k = Math.max(0, Math.ceil(it.onsetMs / CHUNK_MS) - 1);
    return sentAt[Math.min(k, sentAt.length - 1)];
  }

  function outstanding() {
    return Object.keys(items).some((k) => items[k].stoppedAt && !items[k].done);
  }

  function finish() {
    if (closed) return;
    closed = true;
    if (pacer) clearInterval(pacer);
    if (tailTimer) clearTimeout(tailTimer);
    clearTimeout(hardStop);
    if (EXPECTED_TEXT && transcripts.length) werTrend.add(wer(EXPECTED_TEXT, transcripts.join(' ')));
    sessionsOk.add(!hadError && transcripts.length > 0);
    ws.close();
  }

  function maybeFinish() {
    if (audioDone && !outstanding()) finish();
  }

  ws.onopen = () => {
    openedAt = Date.now();
    const transcription = { model: MODEL };
    if (LANGUAGE) transcription.language = LANGUAGE;
    if (DELAY) transcription.delay = DELAY;
    ws.send(JSON.stringify({
      type: 'session.update',
      session: {
        type: 'transcription',
        audio: {
          input: {
            format: { type: 'audio/pcm', rate: TARGET_RATE },
            transcription,
            turn_detection: { type: 'server_vad', silence_duration_ms: SILENCE_DURATION_MS },
          },
        },
      },
    }));
    const total = AUDIO_CHUNKS.length + SILENCE_CHUNKS;
    const t0 = Date.now();
    // Real-time pacing: one CHUNK_MS chunk per CHUNK_MS of wall clock (catching up after timer jitter).
    pacer = setInterval(() => {
      while (sent < total && sent * CHUNK_MS <= Date.now() - t0) {
        const audio = sent < AUDIO_CHUNKS.length ? AUDIO_CHUNKS[sent] : SILENCE_CHUNK;
        ws.send(JSON.stringify({ type: 'input_audio_buffer.append', audio }));
        sentAt.push(Date.now());
        audioSent.add(CHUNK_MS / 1000);
        sent++;
      }
      if (sent >= total) {
        clearInterval(pacer);
        pacer = null;
        audioDone = true;
        tailTimer = setTimeout(finish, TAIL_MS);
        maybeFinish();
      }
    }, CHUNK_MS);
  };

  ws.onmessage = (e) => {
    let ev;
    try {
      ev = JSON.parse(e.data);
    } catch (_) {
      return;
    }
    const now = Date.now();
    const it = ev.item_id ? (items[ev.item_id] = items[ev.item_id] || {}) : null;
    switch (ev.type) {
      case 'session.updated':
      case 'transcription_session.updated':
        if (openedAt && !setupSeen) {
          sessionSetup.add(now - openedAt);
          setupSeen = true;
        }
        {
          const p = findNumber(ev.session, 'prefix_padding_ms');
          if (p !== null) paddingMs = p;
        }
        break;
      case 'input_audio_buffer.speech_started':
        it.startedAt = now;
        // the VAD heard speech begin prefix_padding_ms after audio_start_ms
        if (typeof ev.audio_start_ms === 'number') it.onsetMs = ev.audio_start_ms + paddingMs;
        break;
      case 'input_audio_buffer.speech_stopped':
        it.stoppedAt = now;
        break;
      case 'input_audio_buffer.committed':
        if (!it.stoppedAt) it.stoppedAt = now;
        break;
      case 'conversation.item.input_audio_transcription.delta':
        if (!it.gotDelta) {
          it.gotDelta = true;
          const from = onsetSentAt(it);
          if (from) firstDelta.add(now - from);
        }
        break;
      case 'conversation.item.input_audio_transcription.completed':
        if (!it.done) {
          it.done = true;
          completedCount.add(1);
          if (it.stoppedAt) finalLatency.add(now - it.stoppedAt);
          const secs = ev.usage && typeof ev.usage.seconds === 'number' ? ev.usage.seconds : 0;
          if (typeof ev.processing_ms === 'number' && secs > 0) finalRtf.add(ev.processing_ms / (secs * 1000));
          if (ev.transcript) transcripts.push(ev.transcript);
        }
        maybeFinish();
        break;
      case 'conversation.item.input_audio_transcription.failed':
        if (!it.done) {
          it.done = true;
          failedCount.add(1);
        }
        maybeFinish();
        break;
      case 'error':
        errorEvents.add(1);
        hadError = true;
        console.warn(`VU ${exec.vu.idInTest}: error event ${JSON.stringify(ev.error)}`);
        break;
      default:
        break;
    }
  };

  ws.onerror = (e) => {
    hadError = true;
    console.warn(`VU ${exec.vu.idInTest}: websocket error: ${e.error}`);
    if (!openedAt && !closed) {
      // handshake failed (refused, 401, ...): count it and back off 1 s instead of hot-looping
      closed = true;
      clearTimeout(hardStop);
      sessionsOk.add(false);
      setTimeout(() => {}, 1000);
    }
  };

  ws.onclose = () => {
    if (!closed) {
      // server closed on us before we were done
      hadError = true;
      closed = true;
      if (pacer) clearInterval(pacer);
      if (tailTimer) clearTimeout(tailTimer);
      clearTimeout(hardStop);
      sessionsOk.add(false);
    }
  };
}
