// README: end-to-end test of the /demo/ live-captions page in headless Debian Chromium with a fake
// microphone that plays a real recording. Run (server already started by the caller):
//   cd tests/browser && npm ci && \
//   ASR_ROUTER_URL=http://127.0.0.1:18081 ASR_ROUTER_FAKE_AUDIO=/abs/speech-16k-mono.wav \
//   ASR_ROUTER_EXPECTED_TEXT="what the recording says" [ASR_ROUTER_TEST_OUTPUT=test-output] \
//   [CHROMIUM=/usr/bin/chromium] [ASR_ROUTER_MAX_WER=0.35] [ASR_ROUTER_CAPTION_TIMEOUT_MS=60000] \
//   [ASR_ROUTER_DEMO_PARAMS="lang=en&model=whisper-tiny.en"] \
//   node --test captions.test.mjs
// The page gets its ephemeral secret from POST /v1/realtime/client_secrets. With ASR_ROUTER_API_KEY
// set (the server has a key), the test first checks that the page gets nothing without the key
// (it stops and shows the key field), then types the key into that field and starts again. Skips (does not fail) when ASR_ROUTER_URL is unset. Writes captions.png,
// captions.json, console.log and the padded fake-audio WAV to $ASR_ROUTER_TEST_OUTPUT/browser/
// (relative paths are taken from the repository root; default <repo>/test-output/browser/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { readWav, wer, writeWav } from './lib.mjs';

export { tokens, wer } from './lib.mjs';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const BASE_URL = (process.env.ASR_ROUTER_URL || '').replace(/\/+$/, '');
const FAKE_AUDIO = process.env.ASR_ROUTER_FAKE_AUDIO || '';
const EXPECTED = process.env.ASR_ROUTER_EXPECTED_TEXT || '';
// A relative ASR_ROUTER_TEST_OUTPUT is taken from the repository root (not the cwd).
const OUT_DIR = path.resolve(REPO_ROOT, process.env.ASR_ROUTER_TEST_OUTPUT || 'test-output', 'browser');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MAX_WER = Number(process.env.ASR_ROUTER_MAX_WER || 0.35);
const TIMEOUT_MS = Number(process.env.ASR_ROUTER_CAPTION_TIMEOUT_MS || 60000);
const DEMO_PARAMS = process.env.ASR_ROUTER_DEMO_PARAMS || ''; // extra page query, e.g. "lang=en&model=whisper-tiny.en"
const API_KEY = process.env.ASR_ROUTER_API_KEY || '';
const PAD_SILENCE_S = 1.5;

/** Best WER over single finals and runs of consecutive finals (VAD may split one utterance). */
function bestMatch(finals, expected) {
  let best = { wer: Infinity, text: '', from: -1, to: -1 };
  for (let i = 0; i < finals.length; i++) {
    let joined = '';
    for (let j = i; j < Math.min(finals.length, i + 4); j++) {
      joined = joined ? joined + ' ' + finals[j] : finals[j];
      const w = wer(expected, joined);
      if (w < best.wer) best = { wer: w, text: joined, from: i, to: j };
    }
  }
  return best;
}

/** Copies the recording with PAD_SILENCE_S of trailing silence so server VAD ends the turn before the file loops. */
function padWav(src, dst) {
  const { rate, channels, pcm } = readWav(src);
  const silence = Buffer.alloc(Math.round(rate * PAD_SILENCE_S) * channels * 2);
  writeWav(dst, rate, channels, Buffer.concat([pcm.subarray(0, pcm.length - (pcm.length % (channels * 2))), silence]));
  return { rate, channels, seconds: pcm.length / (rate * channels * 2) };
}

// ---- the test --------------------------------------------------------------------------------------
test('WER helper', () => {
  assert.equal(wer('Hello, world!', 'hello world'), 0);
  assert.equal(wer('a b c d', 'a x c'), 0.5);
  assert.equal(wer('今天天气', '今天天汽'), 0.25);
});

test('live captions from a fake microphone', { skip: !BASE_URL && 'ASR_ROUTER_URL is not set', timeout: TIMEOUT_MS + 60000 }, async () => {
  assert.ok(FAKE_AUDIO, 'ASR_ROUTER_FAKE_AUDIO must name a 16 kHz mono WAV');
  assert.ok(EXPECTED, 'ASR_ROUTER_EXPECTED_TEXT must hold the expected transcript');
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found (apt-get install chromium)`);
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const padded = path.join(OUT_DIR, 'fake-audio-padded.wav');
  const info = padWav(path.resolve(FAKE_AUDIO), padded);
  if (info.rate !== 16000 || info.channels !== 1) {
    console.warn(`note: ${FAKE_AUDIO} is ${info.rate} Hz x${info.channels}, expected 16 kHz mono`);
  }

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'asr-router-chromium-'));
  const consoleLines = [];
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 420, height: 860 }, // phone-ish width
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${padded}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  let snapshot = null;
  const page = context.pages()[0] || (await context.newPage());
  try {
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    page.on('websocket', (ws) => {
      consoleLines.push(`[websocket] open ${ws.url()}`);
      ws.on('close', () => consoleLines.push(`[websocket] closed ${ws.url()}`));
    });
    const url = `${BASE_URL}/demo/?autostart=1${DEMO_PARAMS ? '&' + DEMO_PARAMS.replace(/^[?&]/, '') : ''}`;
    const resp = await page.goto(url, { waitUntil: 'load', timeout: 20000 });
    assert.ok(resp && resp.ok(), `GET ${url} -> ${resp && resp.status()}`);
    if (API_KEY) {
      // no key typed yet: the server must refuse the page a secret, and the page must ask for the key
      await page.waitForFunction(
        () => window.__captions && window.__captions.state === 'stopped' && !document.getElementById('key-field').hidden,
        null, { timeout: 20000 });
      const refused = await page.evaluate(() => ({ errors: window.__captions.errors.slice(), opened: window.__captions.events.length }));
      assert.ok(refused.errors.some((e) => /API key/.test(e)), `expected an API-key error, got ${JSON.stringify(refused.errors)}`);
      assert.equal(refused.opened, 0, 'no session may open without the key');
      await page.fill('#api-key', API_KEY);
      await page.dispatchEvent('#api-key', 'change');
      await page.click('#start');
    }

    const deadline = Date.now() + TIMEOUT_MS;
    let match = null;
    while (Date.now() < deadline) {
      snapshot = await page.evaluate(() => {
        const c = window.__captions;
        return c && {
          finals: c.finals.slice(), partialsSeen: c.partialsSeen, events: c.events.slice(),
          errors: (c.errors || []).slice(), state: c.state, session: c.session,
          status: document.getElementById('status').textContent,
        };
      });
      if (snapshot && snapshot.finals.length) {
        const m = bestMatch(snapshot.finals, EXPECTED);
        if (m.wer <= MAX_WER) { match = m; break; }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    // Stop (mic off, socket closed after at most ~5 s of draining) so the screenshot is stable.
    await page.click('#stop').catch(() => {});
    await page.waitForFunction(() => window.__captions.state === 'stopped', null, { timeout: 8000 }).catch(() => {});
    assert.ok(snapshot, 'window.__captions was never defined (app.js did not load?)');
    assert.ok(match, `no final matched within ${TIMEOUT_MS} ms (WER <= ${MAX_WER}).\n` +
      `expected: ${EXPECTED}\nfinals: ${JSON.stringify(snapshot.finals)}\n` +
      `best: ${JSON.stringify({ ...bestMatch(snapshot.finals, EXPECTED), wer: undefined })} WER ${bestMatch(snapshot.finals, EXPECTED).wer}\nstatus: ${snapshot.status}\n` +
      `errors: ${JSON.stringify(snapshot.errors)}\nevent types: ${[...new Set(snapshot.events)].join(', ')}`);
    console.log(`matched final(s) #${match.from}..#${match.to} with WER ${match.wer.toFixed(3)}: ${match.text}`);

    const firstDelta = snapshot.events.indexOf('conversation.item.input_audio_transcription.delta');
    const firstFinal = snapshot.events.indexOf('conversation.item.input_audio_transcription.completed');
    assert.ok(snapshot.partialsSeen > 0, `no delta (partial) events before the first final; events: ${snapshot.events.slice(0, 40).join(', ')}`);
    assert.ok(firstDelta >= 0 && firstDelta < firstFinal, 'first delta must arrive before the first completed');
    assert.ok(snapshot.events.includes('session.updated') || snapshot.events.includes('session.created'), 'no session.created/updated event');
    // the page's live-words setting (?delay=) reached the session as OpenAI's transcription.delay
    const delay = new URLSearchParams(DEMO_PARAMS).get('delay');
    if (delay) {
      const transcription = snapshot.session && snapshot.session.audio.input.transcription;
      assert.equal(transcription && transcription.delay, delay, `session: ${JSON.stringify(snapshot.session)}`);
    }
  } finally {
    try {
      // show the whole transcript, not just the scrolled tail of the captions box
      await page.evaluate(() => { document.getElementById('captions').style.maxHeight = 'none'; });
      await page.screenshot({ path: path.join(OUT_DIR, 'captions.png'), fullPage: true });
    } catch (e) {
      consoleLines.push(`[test] screenshot failed: ${e.message}`);
    }
    fs.writeFileSync(path.join(OUT_DIR, 'captions.json'), JSON.stringify(snapshot, null, 2));
    fs.writeFileSync(path.join(OUT_DIR, 'console.log'), consoleLines.join('\n') + '\n');
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
});
