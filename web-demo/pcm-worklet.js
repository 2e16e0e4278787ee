// AudioWorklet processor: mixes the microphone to mono, downsamples it to 24 kHz and
// posts little-endian PCM16 chunks (ArrayBuffer) plus a level reading to the page.
//
// Downsampling: each output sample is the mean of the input samples that fall into its
// 1/24000 s window (a box low-pass + decimation), which is plenty for speech recognition
// and avoids the aliasing of plain sample dropping. If the context runs below 24 kHz
// (unusual) it falls back to linear interpolation.
//
// Options (processorOptions): { targetRate: 24000, chunkMs: 40 }

class PcmDownsampler extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.targetRate = opts.targetRate || 24000;
    this.chunkSamples = Math.max(1, Math.round((this.targetRate * (opts.chunkMs || 40)) / 1000));
    this.ratio = sampleRate / this.targetRate; // input samples per output sample
    this.out = new Int16Array(this.chunkSamples);
    this.outLen = 0;
    // box-filter state (ratio >= 1)
    this.acc = 0;
    this.accN = 0;
    this.pos = 0; // fractional position inside the current output window, in input samples
    // interpolation state (ratio < 1)
    this.prev = 0;
    this.t = 0;
    // level
    this.peak = 0;
    this.sumSq = 0;
    this.levelN = 0;
    this.running = true;
    this.port.onmessage = (e) => {
      if (e.data && e.data.type === 'stop') this.running = false;
    };
  }

  emit(sample) {
    let v = sample;
    if (v > 1) v = 1;
    else if (v < -1) v = -1;
    this.out[this.outLen++] = v < 0 ? Math.round(v * 0x8000) : Math.round(v * 0x7fff);
    if (this.outLen === this.chunkSamples) {
      // Explicit little-endian encoding, independent of platform endianness.
      const buf = new ArrayBuffer(this.chunkSamples * 2);
      const dv = new DataView(buf);
      for (let i = 0; i < this.chunkSamples; i++) dv.setInt16(i * 2, this.out[i], true);
      const rms = this.levelN ? Math.sqrt(this.sumSq / this.levelN) : 0;
      this.port.postMessage({ type: 'pcm', buffer: buf, peak: this.peak, rms }, [buf]);
      this.outLen = 0;
      this.peak = 0;
      this.sumSq = 0;
      this.levelN = 0;
    }
  }

  process(inputs) {
    if (!this.running) return false;
    const input = inputs[0];
    if (!input || input.length === 0 || !input[0]) return true;
    const channels = input.length;
    const frames = input[0].length;
    for (let i = 0; i < frames; i++) {
      let s = 0;
      for (let c = 0; c < channels; c++) s += input[c][i];
      s /= channels;
      const a = s < 0 ? -s : s;
      if (a > this.peak) this.peak = a;
      this.sumSq += s * s;
      this.levelN++;

      if (this.ratio >= 1) {
        // Box filter: this input sample covers [pos, pos+1) of the output window [0, ratio).
        const room = this.ratio - this.pos;
        if (room >= 1) {
          this.acc += s;
          this.accN += 1;
          this.pos += 1;
          if (this.pos >= this.ratio) {
            this.emit(this.acc / this.accN);
            this.acc = 0;
            this.accN = 0;
            this.pos = 0;
          }
        } else {
          // Split the sample between the finishing window and the next one.
          this.acc += s * room;
          this.accN += room;
          this.emit(this.acc / this.accN);
          const rest = 1 - room;
          this.acc = s * rest;
          this.accN = rest;
          this.pos = rest;
        }
      } else {
        // Upsampling: linear interpolation between prev and s.
        while (this.t < 1) {
          this.emit(this.prev + (s - this.prev) * this.t);
          this.t += this.ratio;
        }
        this.t -= 1;
        this.prev = s;
      }
    }
    return true;
  }
}

registerProcessor('pcm-downsampler', PcmDownsampler);
