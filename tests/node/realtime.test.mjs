// Live OpenAI Realtime transcription test against asr-router, using the official
// `openai` Node SDK (OpenAIRealtimeWS over `ws`). The SDK always dials wss://, so
// the server must run its TLS listener; the (self-signed) certificate is trusted
// through NODE_EXTRA_CA_CERTS set by the caller. TLS verification stays on.
//
// Env:
//   ASR_ROUTER_WSS_URL   TLS listener base URL without /v1, e.g. https://127.0.0.1:18443
//   ASR_ROUTER_API_KEY   API key the server expects
//   ASR_ROUTER_FIXTURES  dir with 16 kHz mono PCM16 WAVs (en_jfk.wav, en_librivox_sense_0870.wav)
//
// Run: NODE_EXTRA_CA_CERTS=/tmp/c.pem ASR_ROUTER_WSS_URL=https://127.0.0.1:18443 \
//      ASR_ROUTER_API_KEY=sk-test ASR_ROUTER_FIXTURES=tests/fixtures/audio node --test tests/node/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const BASE = process.env.ASR_ROUTER_WSS_URL?.replace(/\/+$/, '');
const API_KEY = process.env.ASR_ROUTER_API_KEY;
const FIXTURES = process.env.ASR_ROUTER_FIXTURES;
const SKIP =
  !BASE || !API_KEY || !FIXTURES
    ? 'set ASR_ROUTER_WSS_URL, ASR_ROUTER_API_KEY and ASR_ROUTER_FIXTURES to run'
    : false;

const RATE = 24000; // audio/pcm in the GA protocol is 24 kHz PCM16 mono
const CHUNK_MS = 40;
const TRAILING_SILENCE_MS = 1500;
const COMPLETION_WAIT_MS = 60_000;
const OPEN_TIMEOUT_MS = 10_000;

const CASES = [
  {
    file: 'en_jfk.wav',
    reference:
      'And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.',
  },
  {
    file: 'en_librivox_sense_0870.wav',
    reference:
      'and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them',
  },
];

// ---------------------------------------------------------------- audio helpers

/** Minimal RIFF/WAVE reader: PCM 16-bit, any channel count (downmixed to mono). */
export function readWav(path) {
  const buf = readFileSync(path);
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error(`${path}: not a RIFF/WAVE file`);
  }
  let fmt = null;
  let data = null;
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        rate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
      if (fmt.format === 0xfffe && size >= 26) fmt.format = buf.readUInt16LE(body + 24); // extensible
    } else if (id === 'data') {
      data = buf.subarray(body, Math.min(body + size, buf.length));
    }
    off = body + size + (size & 1);
  }
  if (!fmt || !data) throw new Error(`${path}: missing fmt or data chunk`);
  if (fmt.format !== 1 || fmt.bits !== 16) {
    throw new Error(`${path}: only PCM16 supported (format ${fmt.format}, ${fmt.bits} bits)`);
  }
  const frames = Math.floor(data.length / (2 * fmt.channels));
  const samples = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let acc = 0;
    for (let c = 0; c < fmt.channels; c++) acc += data.readInt16LE((i * fmt.channels + c) * 2);
    samples[i] = acc / fmt.channels / 32768;
  }
  return { rate: fmt.rate, samples };
}

/** Linear-interpolation resampler (mono Float32). */
export function resampleLinear(samples, fromRate, toRate) {
  if (fromRate === toRate) return samples;
  const outLen = Math.floor((samples.length * toRate) / fromRate);
  const out = new Float32Array(outLen);
  const step = fromRate / toRate;
  for (let i = 0; i < outLen; i++) {
    const pos = i * step;
    const i0 = Math.floor(pos);
    const i1 = Math.min(i0 + 1, samples.length - 1);
    const frac = pos - i0;
    out[i] = samples[i0] * (1 - frac) + samples[i1] * frac;
  }
  return out;
}

/** Float32 [-1, 1] → little-endian PCM16 bytes. */
export function toPcm16(samples) {
  const out = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    out.writeInt16LE(Math.round(s < 0 ? s * 32768 : s * 32767), i * 2);
  }
  return out;
}

// ---------------------------------------------------------------- text helpers

export function normWords(text) {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s']/gu, ' ')
    .replace(/'/g, '')
    .split(/\s+/)
    .filter(Boolean);
}

/** Word error rate: word-level Levenshtein distance / reference length. */
export function wer(hypothesis, reference) {
  const h = normWords(hypothesis);
  const r = normWords(reference);
  if (r.length === 0) return h.length === 0 ? 0 : 1;
  let prev = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const cur = [i];
    for (let j = 1; j <= h.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[h.length] / r.length;
}

/** How far the concatenated deltas are from being a prefix of the final transcript: the
 *  smallest edit distance, in letters (spaces dropped), from `prefix` to a prefix of `full`.
 *  The final is authoritative and may revise the partials (add a first word the drafts missed;
 *  "what your country" where a draft of the first second heard "what you are"), so letters,
 *  not words: one sound can be two words apart. */
export function prefixDistance(prefix, full) {
  const p = normWords(prefix).join('');
  const f = normWords(full).join('');
  if (p.length === 0) return 0;
  // row[j]: edits from the letters of `p` read so far to f[0..j]
  let row = Array.from({ length: f.length + 1 }, (_, j) => j);
  for (let i = 1; i <= p.length; i++) {
    const next = [i];
    for (let j = 1; j <= f.length; j++) {
      next.push(Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (p[i - 1] === f[j - 1] ? 0 : 1)));
    }
    row = next;
  }
  return Math.min(...row);
}

// ---------------------------------------------------------------- connection helpers

function connect(apiKey) {
  const client = new OpenAI({ apiKey, baseURL: `${BASE}/v1` });
  // openai 7.57 supports intent: 'transcription' (first shipped in 7.5.0) → ?intent=transcription
  const rt = new OpenAIRealtimeWS({ intent: 'transcription' }, client);
  const t0 = performance.now();
  const events = []; // { t (ms since connect), ev }
  const errors = []; // OpenAIRealtimeError (server `error` events and transport failures)
  let closeInfo = null;
  const closed = new Promise((resolve) => {
    rt.socket.on('close', (code, reason) => {
      closeInfo = { code, reason: reason.toString(), t: performance.now() - t0 };
      resolve(closeInfo);
    });
  });
  rt.on('event', (ev) => events.push({ t: performance.now() - t0, ev }));
  rt.on('error', (err) => errors.push(err));
  const opened = new Promise((resolve, reject) => {
    if (rt.socket.readyState === 1) return resolve();
    rt.socket.once('open', resolve);
    rt.socket.once('error', reject);
    closed.then((c) => reject(new Error(`socket closed before open: ${c.code} ${c.reason}`)));
  });
  opened.catch(() => {}); // callers that never await `opened` (wrong-key test) must not leak a rejection
  return { rt, t0, events, errors, closed, opened, close: () => closeInfo };
}

async function waitFor(pred, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function summarize(events) {
  return events
    .map(({ t, ev }) => {
      const extra =
        ev.type.endsWith('.delta') ? JSON.stringify(ev.delta)
        : ev.type.endsWith('.completed') ? JSON.stringify(ev.transcript)
        : ev.type === 'error' ? JSON.stringify(ev.error)
        : ev.item_id ? ev.item_id
        : '';
      return `${t.toFixed(0).padStart(6)} ms  ${ev.type} ${extra}`;
    })
    .join('\n');
}

// ---------------------------------------------------------------- tests

for (const { file, reference } of CASES) {
  test(`realtime transcription over wss:// with openai-node SDK: ${file}`, { skip: SKIP, timeout: 150_000 }, async (t) => {
    const wav = readWav(join(FIXTURES, file));
    const pcm = toPcm16(resampleLinear(wav.samples, wav.rate, RATE));
    const silence = Buffer.alloc(Math.round((RATE * TRAILING_SILENCE_MS) / 1000) * 2);
    const audio = Buffer.concat([pcm, silence]);
    const chunkBytes = ((RATE * CHUNK_MS) / 1000) * 2;

    const conn = connect(API_KEY);
    const { rt, events, errors } = conn;
    try {
      await withTimeout(conn.opened, OPEN_TIMEOUT_MS, 'websocket open');
      assert.match(rt.url.href, /^wss:\/\/.*\/v1\/realtime\?intent=transcription$/);

      rt.send({
        type: 'session.update',
        session: {
          type: 'transcription',
          audio: {
            input: {
              format: { type: 'audio/pcm', rate: RATE },
              transcription: { model: 'auto', language: 'en' },
              turn_detection: { type: 'server_vad', silence_duration_ms: 500 },
            },
          },
        },
      });
      await waitFor(() => events.some((e) => e.ev.type === 'session.updated') || errors.length > 0, 10_000, 'session.updated');

      // Stream at wall-clock pace against absolute deadlines (no drift).
      const start = performance.now();
      let lastAudioAt = 0;
      for (let i = 0, off = 0; off < audio.length; i++, off += chunkBytes) {
        const due = start + i * CHUNK_MS;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        if (rt.socket.readyState !== 1) throw new Error(`socket not open while streaming (state ${rt.socket.readyState})`);
        rt.send({ type: 'input_audio_buffer.append', audio: audio.subarray(off, off + chunkBytes).toString('base64') });
        lastAudioAt = performance.now() - conn.t0;
      }

      // Every item the VAD opened must get its final transcript (bounded).
      const types = () => events.map((e) => e.ev);
      const started = () => types().filter((e) => e.type === 'input_audio_buffer.speech_started').map((e) => e.item_id);
      const completedIds = () =>
        new Set(types().filter((e) => e.type === 'conversation.item.input_audio_transcription.completed').map((e) => e.item_id));
      await waitFor(
        () => {
          const done = completedIds();
          return done.size > 0 && started().every((id) => done.has(id));
        },
        COMPLETION_WAIT_MS,
        'conversation.item.input_audio_transcription.completed for every started item',
      ).catch((err) => {
        throw new Error(`${err.message}\nevents:\n${summarize(events)}`);
      });
      const firstDelta = events.find((e) => e.ev.type === 'conversation.item.input_audio_transcription.delta');
      const lastFinal = events.filter((e) => e.ev.type === 'conversation.item.input_audio_transcription.completed').at(-1);
      t.diagnostic(
        `last audio byte sent at ${lastAudioAt.toFixed(0)} ms; first delta at ${firstDelta ? firstDelta.t.toFixed(0) : '-'} ms; ` +
          `last final at ${lastFinal.t.toFixed(0)} ms (${(lastFinal.t - lastAudioAt).toFixed(0)} ms after last audio incl. ${TRAILING_SILENCE_MS} ms silence)`,
      );
      t.diagnostic('events:');
      for (const line of summarize(events).split('\n')) t.diagnostic(line);

      const evs = types();
      const dump = `\nevents:\n${summarize(events)}`;

      // Session lifecycle.
      assert.equal(evs[0]?.type, 'session.created', `first server event must be session.created${dump}`);
      assert.equal(evs[1]?.type, 'session.updated', `second server event must be session.updated${dump}`);
      assert.equal(evs[1].session?.type, 'transcription', 'session.updated.session.type');
      assert.deepEqual(errors.map((e) => e.message), [], `no error events expected${dump}`);
      assert.ok(!evs.some((e) => e.type === 'error'), `no error events expected${dump}`);

      // Per-item order: speech_started → speech_stopped → committed → completed.
      const idx = (type, id) => evs.findIndex((e) => e.type === type && e.item_id === id);
      const items = [...new Set(started())];
      assert.ok(items.length >= 1, `at least one speech_started${dump}`);
      const finals = [];
      let liveBeforeStop = 0;
      for (const id of items) {
        const iStart = idx('input_audio_buffer.speech_started', id);
        const iStop = idx('input_audio_buffer.speech_stopped', id);
        const iCommit = idx('input_audio_buffer.committed', id);
        const iDone = idx('conversation.item.input_audio_transcription.completed', id);
        assert.ok(iStart >= 0 && iStop > iStart, `${id}: speech_stopped after speech_started${dump}`);
        assert.ok(iCommit > iStop, `${id}: committed after speech_stopped${dump}`);
        assert.ok(iDone > iCommit, `${id}: completed after committed${dump}`);

        const deltaEvs = evs
          .map((e, i) => ({ e, i }))
          .filter(({ e }) => e.type === 'conversation.item.input_audio_transcription.delta' && e.item_id === id);
        if (deltaEvs.some(({ i }) => i < iStop)) liveBeforeStop++;
        const deltaText = deltaEvs.map(({ e }) => e.delta ?? '').join('');
        const transcript = evs[iDone].transcript;
        assert.equal(typeof transcript, 'string', `${id}: completed.transcript is a string`);
        finals.push(transcript);
        assert.ok(
          prefixDistance(deltaText, transcript) <= Math.max(2, 0.34 * normWords(deltaText).join('').length),
          `${id}: concatenated deltas must be close to a prefix of the final transcript\n` +
            `  deltas: ${JSON.stringify(deltaText)}\n  final:  ${JSON.stringify(transcript)}`,
        );
      }
      assert.ok(liveBeforeStop >= 1, `at least one transcription.delta must arrive before its speech_stopped (live partials)${dump}`);

      const hyp = finals.join(' ');
      const w = wer(hyp, reference);
      t.diagnostic(`items=${items.length} final=${JSON.stringify(hyp)} WER=${w.toFixed(3)}`);
      assert.ok(w <= 0.2, `WER ${w.toFixed(3)} > 0.2\n  hyp: ${hyp}\n  ref: ${reference}`);
    } finally {
      if (rt.socket.readyState <= 1) rt.close();
    }
    const c = await withTimeout(conn.closed, 5_000, 'websocket close after client close');
    t.diagnostic(`closed: code=${c.code} reason=${JSON.stringify(c.reason)}`);
    assert.equal(c.code, 1000, 'clean close (1000)');
  });
}

/** Appends `audio` unpaced (manual-commit session), commits it and resolves with the item's
 *  `completed` event; rejects on an `error` or `failed` event. */
async function commitAndWait(conn, audio) {
  const { rt, events } = conn;
  const from = events.length;
  for (let off = 0; off < audio.length; off += RATE * 2) {
    rt.send({ type: 'input_audio_buffer.append', audio: audio.subarray(off, off + RATE * 2).toString('base64') });
  }
  rt.send({ type: 'input_audio_buffer.commit' });
  const seen = () => events.slice(from).map((e) => e.ev);
  await waitFor(
    () => seen().some((e) => /transcription\.(completed|failed)$/.test(e.type) || e.type === 'error'),
    COMPLETION_WAIT_MS,
    'the committed item\'s completed',
  );
  const done = seen().find((e) => e.type.endsWith('transcription.completed'));
  assert.ok(done, `no completed: ${summarize(events.slice(from))}`);
  return done;
}

test('realtime glossary extension: the reviewed final carries the term (GA)', { skip: SKIP, timeout: 150_000 }, async (t) => {
  const wav = readWav(join(FIXTURES, 'en_jfk.wav'));
  const audio = toPcm16(resampleLinear(wav.samples, wav.rate, RATE));
  const conn = connect(API_KEY);
  const { rt, events } = conn;
  const update = (transcription) => ({
    type: 'session.update',
    session: {
      type: 'transcription',
      audio: {
        input: {
          format: { type: 'audio/pcm', rate: RATE },
          transcription: { model: 'auto', language: 'en', ...transcription },
          turn_detection: null,
        },
      },
    },
  });
  const updates = () => events.filter((e) => e.ev.type === 'session.updated').length;
  try {
    await withTimeout(conn.opened, OPEN_TIMEOUT_MS, 'websocket open');
    // What the model writes for the clip, unreviewed: the glossary is built from it, so that
    // nothing here depends on one model's output.
    rt.send(update({ review: 'none' }));
    await waitFor(() => updates() === 1, 10_000, 'session.updated');
    const plain = await commitAndWait(conn, audio);
    assert.equal(plain.raw_transcript, undefined, 'no audit trail without a review');
    const word = plain.transcript.match(/[A-Za-z]{5,}/g).reduce((a, b) => (b.length > a.length ? b : a));
    t.diagnostic(`unreviewed: ${JSON.stringify(plain.transcript)}; '${word}' becomes Zorblax`);

    rt.send(update({ review: 'glossary', glossary: [{ term: 'Zorblax', misrecognitions: [word], lang: 'en' }] }));
    await waitFor(() => updates() === 2, 10_000, 'the second session.updated');
    const echoed = events.filter((e) => e.ev.type === 'session.updated').at(-1).ev.session.audio.input.transcription;
    assert.equal(echoed.review, 'glossary');
    assert.equal(echoed.glossary, undefined, 'the inline glossary is not echoed');
    const done = await commitAndWait(conn, audio);
    t.diagnostic(`reviewed: ${JSON.stringify(done.transcript)}; edits ${JSON.stringify(done.edits)}`);
    assert.match(done.transcript, /Zorblax/);
    assert.ok(done.raw_transcript.includes(word), JSON.stringify(done));
    assert.equal(done.edits[0].to, 'Zorblax');
    assert.ok(!events.some((e) => e.ev.type === 'error'), summarize(events));
  } finally {
    if (rt.socket.readyState <= 1) rt.close();
  }
});

test('realtime connection with a wrong API key fails (no hang, no session)', { skip: SKIP, timeout: 30_000 }, async (t) => {
  const conn = connect(`${API_KEY}-wrong`);
  const { rt, events, errors } = conn;
  // Expect a handshake rejection (ws: "Unexpected server response: 401") or an
  // error event + close; either way the socket must close within the bound.
  const c = await withTimeout(conn.closed, 15_000, 'connection with a wrong key to fail');
  t.diagnostic(`errors: ${JSON.stringify(errors.map((e) => e.message))}`);
  t.diagnostic(`events: ${JSON.stringify(events.map((e) => e.ev.type))}; close ${c.code} ${JSON.stringify(c.reason)}`);
  assert.ok(
    !events.some((e) => e.ev.type === 'session.created' || e.ev.type === 'session.updated'),
    'no session may be created with a wrong key',
  );
  assert.ok(errors.length > 0 || c.code !== 1000, 'failure must be reported (error or non-normal close)');
  const handshake = errors.find((e) => /\b401\b/.test(e.message));
  const errEvent = events.find((e) => e.ev.type === 'error');
  assert.ok(handshake || errEvent, `expected HTTP 401 handshake rejection or an error event; got ${JSON.stringify(errors.map((e) => e.message))}`);
  if (rt.socket.readyState <= 1) rt.close();
});
