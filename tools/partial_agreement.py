"""How far live deltas agree with the final transcript, over a real realtime session.

Streams each WAV (16 kHz mono PCM16) at real-time pace into /v1/realtime with server VAD,
collects per item the concatenated `…transcription.delta` texts and the `…completed` transcript,
and reports how many of the final's words the deltas covered and how many delta words differ
from the final's prefix of the same length (word-level edit distance), and each item's first
delta latency: its arrival minus the moment the client sent the audio where the VAD heard the
item's speech begin, `speech_started.audio_start_ms` plus the session's `prefix_padding_ms` (the
loadtest's definition; until the thirty-fifth session the padding was left in), and its
final latency: the `…completed` arrival minus the moment the client sent the audio at the
item's `speech_stopped.audio_end_ms` (the loadtest's "speech_stopped → completed"). With
`GLOSSARY=glossary.json` in the environment the session sends that glossary (the extension
`glossary` of the transcription settings); with `DELAY=low` (`minimal` … `xhigh`) it sends
OpenAI's `delay`. Used in docs/benchmarks.md, sections 2 and 7:

    [GLOSSARY=G.json] [DELAY=medium] python tools/partial_agreement.py http://127.0.0.1:PORT KEY OUT.json A.wav [B.wav ...]

Needs the `websockets` package (tests/.venv has it).
"""
import asyncio, json, os, sys, wave, time, re
import websockets
base, key, out = sys.argv[1], sys.argv[2], sys.argv[3]
clips = sys.argv[4:]
transcription = {"model": "auto", "language": "en"}
if os.environ.get('DELAY'):
    transcription["delay"] = os.environ['DELAY']
if os.environ.get('GLOSSARY'):
    transcription["glossary"] = json.load(open(os.environ['GLOSSARY']))
def words(t): return re.findall(r"[a-z0-9']+", t.lower())
def lev(a, b):
    d = list(range(len(b)+1))
    for i, x in enumerate(a, 1):
        p, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            p, d[j] = d[j], min(d[j]+1, d[j-1]+1, p+(x != y))
    return d[-1]
async def one(path):
    w = wave.open(path); assert w.getframerate() == 16000 and w.getnchannels() == 1
    pcm = w.readframes(w.getnframes())
    async with websockets.connect(base.replace('http', 'ws') + '/v1/realtime?intent=transcription',
                                  additional_headers={'Authorization': 'Bearer ' + key}, max_size=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "transcription",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000},
            "transcription": transcription,
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}}))
        deltas, finals, starts, first, ends, final_ms = {}, {}, {}, {}, {}, {}
        t0 = None
        pad = [0.3]   # the session's prefix_padding_ms, seconds, from session.updated
        async def reader():
            async for m in ws:
                ev = json.loads(m)
                t = ev.get('type', '')
                if t.endswith('session.updated'):
                    td = ev.get('session', {}).get('audio', {}).get('input', {}).get('turn_detection') or {}
                    pad[0] = td.get('prefix_padding_ms', 1000 * pad[0]) / 1000
                elif t.endswith('speech_started'):
                    starts[ev['item_id']] = ev['audio_start_ms'] / 1000 + pad[0]
                elif t.endswith('speech_stopped'):
                    ends[ev['item_id']] = ev['audio_end_ms'] / 1000
                elif t.endswith('transcription.delta'):
                    if ev['item_id'] in starts and ev['item_id'] not in first:
                        first[ev['item_id']] = time.monotonic() - t0 - starts[ev['item_id']]
                    deltas[ev['item_id']] = deltas.get(ev['item_id'], '') + ev['delta']
                elif t.endswith('transcription.completed'):
                    finals[ev['item_id']] = ev['transcript']
                    if ev['item_id'] in ends:
                        final_ms[ev['item_id']] = 1000 * (time.monotonic() - t0 - ends[ev['item_id']])
        step = 1280
        t0 = time.monotonic()
        r = asyncio.create_task(reader())
        for k, i in enumerate(range(0, len(pcm), step)):
            await ws.send(pcm[i:i+step])
            await asyncio.sleep(max(0, t0 + (k+1)*0.04 - time.monotonic()))
        await ws.send(b'\x00\x00' * 16000 * 2)
        await asyncio.sleep(6)
        r.cancel()
        return deltas, finals, first, final_ms
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float('nan')
async def main():
    errs = ref = covered = 0
    rows, lat, fin = [], [], []
    for c in clips:
        d, f, first, final_ms = await one(c)
        lat += [1000 * first[i] for i in f if i in first]
        fin += [final_ms[i] for i in f if i in final_ms]
        for item, final in f.items():
            fw, dw = words(final), words(d.get(item, ''))
            # agreement: the deltas against the same number of the final's first words
            e = lev(dw, fw[:len(dw)])
            errs += e; ref += len(dw); covered += len(dw)
            rows.append((c.split('/')[-1], len(fw), len(dw), e, first.get(item), d.get(item, ''), final,
                         final_ms.get(item)))
    tot = sum(r[1] for r in rows)
    json.dump({"rows": rows, "first_delta_ms": lat, "final_ms": fin}, open(out, 'w'))
    print(f"items {len(rows)}, final words {tot}, delta words {covered} ({100*covered/max(tot,1):.0f} % of the final), "
          f"delta words that disagree with the final's prefix {errs} ({100*errs/max(ref,1):.1f} %), "
          f"first delta p50 {pct(lat, 0.5):.0f} ms, p95 {pct(lat, 0.95):.0f} ms ({len(lat)} items with a delta), "
          f"final p50 {pct(fin, 0.5):.0f} ms, p95 {pct(fin, 0.95):.0f} ms ({len(fin)} items)")
asyncio.run(main())
