// Helpers shared by the browser tests: word error rate with the tests' normalization, and 16-bit
// PCM WAV reading and writing.
import assert from 'node:assert/strict';
import fs from 'node:fs';

// ---- WER -----------------------------------------------------------------------------------------
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Thai}]/u;

/** Lower-case, NFKC, punctuation/symbols stripped; CJK/Thai text is split into characters. */
export function tokens(text) {
  const clean = String(text).normalize('NFKC').toLowerCase().replace(/[\p{P}\p{S}]+/gu, ' ');
  const out = [];
  for (const w of clean.split(/\s+/).filter(Boolean)) {
    if (CJK.test(w)) out.push(...Array.from(w));
    else out.push(w);
  }
  return out;
}

/** Word error rate of hypothesis vs reference (Levenshtein on tokens / reference length). */
export function wer(reference, hypothesis) {
  const r = tokens(reference);
  const h = tokens(hypothesis);
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

// ---- WAV -----------------------------------------------------------------------------------
/** Reads a PCM16 WAV; returns {rate, channels, pcm: Buffer}. */
export function readWav(file) {
  const b = fs.readFileSync(file);
  assert.equal(b.toString('ascii', 0, 4), 'RIFF', `${file}: not a RIFF file`);
  assert.equal(b.toString('ascii', 8, 12), 'WAVE', `${file}: not a WAVE file`);
  let off = 12, fmt = null, data = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    let size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'data' && (size === 0 || size === 0xffffffff || body + size > b.length)) size = b.length - body;
    if (id === 'fmt ') {
      fmt = { format: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), rate: b.readUInt32LE(body + 4), bits: b.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      data = b.subarray(body, body + size);
    }
    off = body + size + (size & 1);
  }
  assert.ok(fmt && data, `${file}: missing fmt or data chunk`);
  assert.ok((fmt.format === 1 || fmt.format === 0xfffe) && fmt.bits === 16, `${file}: need 16-bit PCM WAV (format ${fmt.format}, ${fmt.bits} bit)`);
  return { rate: fmt.rate, channels: fmt.channels, pcm: data };
}

export function writeWav(file, rate, channels, pcm) {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + pcm.length, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(pcm.length, 40);
  fs.writeFileSync(file, Buffer.concat([h, pcm]));
}

