// README: end-to-end test of the /demo/meeting page in headless Debian Chromium. It composes the
// two-speaker recording of the Rust tests (the LibriVox reader, JFK, the reader again, JFK again,
// 1 s apart; tests/common two_speaker_recording) from the fixtures, uploads it through the page's
// file field, waits for the job, and checks the speaker timeline (two bars, blocks in two
// colours), the reviewed transcript (a paragraph per turn with the right words, alternating
// between the two speakers),
// that a block scrolls to its paragraph, and the five outputs offered as downloads. With
// ASR_ROUTER_API_KEY set it first uploads without the key: the page must show the 401, not hang.
// Run (server already started by the caller):
//   cd tests/browser && npm ci && ASR_ROUTER_URL=http://127.0.0.1:18081 [ASR_ROUTER_API_KEY=…] \
//   [CHROMIUM=/usr/bin/chromium] [ASR_ROUTER_MEETING_TIMEOUT_MS=300000] node --test meeting.test.mjs
// Skips when ASR_ROUTER_URL is unset. Writes meeting.png, meeting.json and meeting-console.log to
// $ASR_ROUTER_TEST_OUTPUT/browser/ (default <repo>/test-output/browser/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { readWav, wer, writeWav } from './lib.mjs';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = path.join(REPO_ROOT, 'tests', 'fixtures', 'audio');
const BASE_URL = (process.env.ASR_ROUTER_URL || '').replace(/\/+$/, '');
const OUT_DIR = path.resolve(REPO_ROOT, process.env.ASR_ROUTER_TEST_OUTPUT || 'test-output', 'browser');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const API_KEY = process.env.ASR_ROUTER_API_KEY || '';
const TIMEOUT_MS = Number(process.env.ASR_ROUTER_MEETING_TIMEOUT_MS || 300000);

const PARTS = [['en_librivox_sense_0870', 0], ['en_jfk', 1], ['en_librivox_sense_0880', 0], ['en_jfk', 1]];

function reference(id) {
  for (const line of fs.readFileSync(path.join(FIXTURES, 'manifest.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const row = JSON.parse(line);
    if (row.id === id) return row.text;
  }
  throw new Error(`no fixture ${id}`);
}

/** Writes the composed recording to `file`; returns the reference turns {start, end, speaker, text}. */
function composeMeeting(file) {
  const gap = Buffer.alloc(16000 * 2);
  const chunks = [];
  const turns = [];
  let samples = 0;
  PARTS.forEach(([id, speaker], i) => {
    if (i > 0) { chunks.push(gap); samples += 16000; }
    const { rate, channels, pcm } = readWav(path.join(FIXTURES, `${id}.wav`));
    assert.equal(rate, 16000);
    assert.equal(channels, 1);
    const start = samples / 16000;
    chunks.push(pcm);
    samples += pcm.length / 2;
    turns.push({ start, end: samples / 16000, speaker, text: reference(id) });
  });
  writeWav(file, 16000, 1, Buffer.concat(chunks));
  return turns;
}

test('meeting page: upload, stages, speaker timeline and transcript', { skip: !BASE_URL && 'ASR_ROUTER_URL is not set', timeout: TIMEOUT_MS + 120000 }, async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found (apt-get install chromium)`);
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const wav = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'asr-router-meeting-')), 'two-speakers.wav');
  const turns = composeMeeting(wav);

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'asr-router-chromium-'));
  const consoleLines = [];
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || (await context.newPage());
  let snapshot = null;
  const requests = [];
  try {
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    const resp = await page.goto(`${BASE_URL}/demo/meeting`, { waitUntil: 'load', timeout: 20000 });
    assert.ok(resp && resp.ok(), `GET /demo/meeting -> ${resp && resp.status()}`);
    await page.waitForFunction(() => window.__meeting && window.__meeting.state === 'idle', null, { timeout: 10000 });

    if (API_KEY) {
      // no key: the upload is refused and the page says so (state 'error'), it does not hang
      await page.fill('#api-key', '');
      await page.setInputFiles('#file', wav);
      await page.click('#upload');
      await page.waitForFunction(() => window.__meeting.state === 'error', null, { timeout: 20000 });
      const refused = await page.evaluate(() => ({ errors: window.__meeting.errors.slice(), job: window.__meeting.jobId,
        status: document.getElementById('status').textContent }));
      assert.ok(refused.errors.some((e) => /401/.test(e) && /API key/.test(e)), `expected a 401 error, got ${JSON.stringify(refused)}`);
      assert.match(refused.status, /401/);
      assert.equal(refused.job, null, 'no job without the key');
      await page.fill('#api-key', API_KEY);
    }

    await page.setInputFiles('#file', wav);
    await page.selectOption('#language', 'en');
    await page.click('#upload');
    // progress by stage while it runs
    await page.waitForFunction(() => window.__meeting.jobId && document.querySelectorAll('#stages .stage').length === 7,
      null, { timeout: 20000 });
    await page.waitForFunction(() => ['completed', 'failed', 'error'].includes(window.__meeting.state), null, { timeout: TIMEOUT_MS });
    snapshot = await page.evaluate(() => {
      const m = window.__meeting;
      return {
        state: m.state, errors: m.errors.slice(), stagesSeen: m.stagesSeen.slice(), outputs: m.outputs,
        status: document.getElementById('status').textContent,
        stagesDone: document.querySelectorAll('#stages .stage.is-done').length,
        lanes: [...document.querySelectorAll('#timeline .lane')].map((l) => ({
          speaker: l.dataset.speaker,
          blocks: [...l.querySelectorAll('.block')].map((b) => ({ segment: Number(b.dataset.segment), color: getComputedStyle(b).backgroundColor })),
        })),
        paras: [...document.querySelectorAll('#transcript .para')].map((p) => ({ id: p.id, speaker: p.dataset.speaker, text: p.querySelector('.text').textContent })),
        links: [...document.querySelectorAll('#outputs a')].map((a) => ({ name: a.dataset.output, href: a.href, download: a.download })),
        timeline: m.timeline,
      };
    });
    assert.equal(snapshot.state, 'completed', `job did not complete: ${JSON.stringify({ state: snapshot.state, errors: snapshot.errors, status: snapshot.status })}`);
    assert.equal(snapshot.stagesDone, 7, 'every stage shown as done');
    assert.ok(snapshot.stagesSeen.length >= 1, 'at least one stage was seen running');

    // two speaker bars, blocks in two colours, every segment on its speaker's bar
    assert.equal(snapshot.lanes.length, 2, `two speaker bars: ${JSON.stringify(snapshot.lanes)}`);
    for (const l of snapshot.lanes) assert.ok(l.blocks.length >= 1, `a bar without blocks: ${JSON.stringify(l)}`);
    const colors = snapshot.lanes.map((l) => new Set(l.blocks.map((b) => b.color)));
    assert.ok(colors.every((c) => c.size === 1), 'one colour per speaker');
    assert.notEqual([...colors[0]][0], [...colors[1]][0], 'speakers in different colours');
    assert.equal(snapshot.lanes.reduce((n, l) => n + l.blocks.length, 0), snapshot.timeline.segments.length);

    // the transcript: reader, JFK, reader, JFK, with the right words
    assert.equal(snapshot.paras.length, turns.length, `a paragraph per turn: ${JSON.stringify(snapshot.paras)}`);
    const [p0, p1] = snapshot.paras;
    snapshot.paras.forEach((p, i) => {
      const first = turns.findIndex((t) => t.speaker === turns[i].speaker);
      assert.equal(p.speaker, snapshot.paras[first].speaker, `one voice, one speaker: ${JSON.stringify(snapshot.paras)}`);
    });
    assert.notEqual(p0.speaker, p1.speaker, 'JFK is another speaker');
    assert.match(p1.text.toLowerCase(), /fellow americans/);
    snapshot.paras.forEach((p, i) => {
      const w = wer(turns[i].text, p.text);
      assert.ok(w <= 0.35, `paragraph ${i} WER ${w.toFixed(2)}: ${p.text}`);
    });

    // clicking one of JFK's blocks scrolls to his paragraph
    const jfkLane = snapshot.lanes.find((l) => l.speaker === p1.speaker);
    await page.click(`#timeline .block[data-segment="${jfkLane.blocks[0].segment}"]`);
    await page.waitForFunction((id) => window.__meeting.target === id && document.getElementById(id).classList.contains('is-target'),
      p1.id, { timeout: 5000 });
    const inView = await page.evaluate((id) => {
      const r = document.getElementById(id).getBoundingClientRect();
      const box = document.getElementById('transcript').getBoundingClientRect();
      return r.bottom > box.top && r.top < box.bottom;
    }, p1.id);
    assert.ok(inView, 'the paragraph is scrolled into view');

    // the five outputs as downloads (blob: links, fetched with the key; no key in any URL)
    assert.deepEqual(snapshot.links.map((l) => l.name).sort(),
      ['subtitles.srt', 'summary.md', 'timeline.json', 'transcript.md', 'transcript.txt']);
    for (const l of snapshot.links) {
      assert.ok(l.href.startsWith('blob:'), `${l.name}: ${l.href}`);
      assert.equal(l.download, l.name);
      assert.ok(snapshot.outputs[l.name] > 0, `${l.name} is empty`);
    }
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#outputs a[data-output="transcript.md"]')]);
    const md = fs.readFileSync(await download.path(), 'utf8');
    assert.ok(md.startsWith('# Meeting transcript'), md.slice(0, 200));
    if (API_KEY) assert.ok(requests.every((u) => !u.includes(API_KEY)), 'the key never goes into a URL');
  } finally {
    try {
      await page.screenshot({ path: path.join(OUT_DIR, 'meeting.png'), fullPage: true });
    } catch (e) {
      consoleLines.push(`[test] screenshot failed: ${e.message}`);
    }
    fs.writeFileSync(path.join(OUT_DIR, 'meeting.json'), JSON.stringify(snapshot, null, 2));
    fs.writeFileSync(path.join(OUT_DIR, 'meeting-console.log'), consoleLines.join('\n') + '\n');
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
    fs.rmSync(path.dirname(wav), { recursive: true, force: true });
  }
});
