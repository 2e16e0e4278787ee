#!/usr/bin/env bash
# Runs the k6 script (loadtest/realtime.js) with a real k6 against the server started by
# scripts/test ($ASR_ROUTER_URL, $ASR_ROUTER_API_KEY): 2 virtual users, 30 s, thresholds on.
# Latency and RTF thresholds are set out of reach here (speed is measured in docs/benchmarks.md,
# not asserted in tests); it fails when k6 fails, a session fails, no transcript completed, or the
# summary lacks the real-time factors (per final from `completed.processing_ms`, server-wide from
# /metrics) or the partial refresh p95 (from the server's histogram in /metrics).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${ASR_ROUTER_TEST_OUTPUT:-test-output}
k6=tests/.venv/bin/k6
ref=$(python3 -c "import json;print([json.loads(l)['text'] for l in open('tests/fixtures/audio/manifest.jsonl') if 'en_jfk' in l][0])")
$k6 run -q --summary-export "$out/k6-summary.json" \
    -e ASR_ROUTER_URL="$ASR_ROUTER_URL" -e ASR_ROUTER_API_KEY="$ASR_ROUTER_API_KEY" \
    -e AUDIO="$PWD/tests/fixtures/audio/en_jfk.wav" -e LANGUAGE=en -e EXPECTED_TEXT="$ref" \
    -e VUS=2 -e DURATION=30s -e P95_FINAL_MS=600000 -e P95_FIRST_DELTA_MS=600000 \
    -e P95_FINAL_RTF=1000 -e MAX_SERVER_RTF=1000 -e P95_PARTIAL_REFRESH_MS=600000 loadtest/realtime.js
python3 - "$out/k6-summary.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
done = m["transcripts_completed"]["count"]
print(f"k6: {done} finals, final_latency p95 {m['final_latency_ms'].get('p(95)')} ms, "
      f"first_delta p95 {m.get('first_delta_ms', {}).get('p(95)')} ms, wer avg {m.get('wer', {}).get('avg')}")
assert done > 0, "k6 completed no transcript"
rtf, srv = m.get("final_rtf", {}), m.get("server_rtf", {})
print(f"k6: final RTF p95 {rtf.get('p(95)')} avg {rtf.get('avg')}, server RTF {srv.get('max')}, "
      f"compute {m.get('server_compute_s', {}).get('count')} s for {m.get('audio_sent_s', {}).get('count')} s streamed")
# every final carries processing_ms, so there is one RTF per final, each a positive ratio
assert rtf.get("min", 0) > 0 and rtf.get("max", 0) > 0, f"no per-final RTF in the summary: {rtf}"
assert srv.get("max", 0) > 0, f"no server RTF in the summary: {srv}"
assert m["server_compute_s"]["count"] > 0 and m["audio_sent_s"]["count"] > 0
# the server's partial refresh histogram moved, and k6 read its p95 from it
ref = m.get("partial_refresh_p95_ms", {})
print(f"k6: partial refresh p95 {ref.get('max')} ms over {m.get('partial_refreshes', {}).get('count')} partials")
assert m.get("partial_refreshes", {}).get("count", 0) > 0, "no partial refresh counted in /metrics"
assert ref.get("max", 0) > 0, f"no partial refresh p95 in the summary: {ref}"
PY
