#!/usr/bin/env bash
# Runs the k6 script (loadtest/realtime.js) with a real k6 against the server started by
# scripts/test ($ASR_ROUTER_URL, $ASR_ROUTER_API_KEY): 2 virtual users, 30 s, thresholds on.
# Latency thresholds are set out of reach here (speed is measured in docs/benchmarks.md, not
# asserted in tests); it fails when k6 fails, a session fails, or no transcript completed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${ASR_ROUTER_TEST_OUTPUT:-test-output}
k6=tests/.venv/bin/k6
ref=$(python3 -c "import json;print([json.loads(l)['text'] for l in open('tests/fixtures/audio/manifest.jsonl') if 'en_jfk' in l][0])")
$k6 run -q --summary-export "$out/k6-summary.json" \
    -e ASR_ROUTER_URL="$ASR_ROUTER_URL" -e ASR_ROUTER_API_KEY="$ASR_ROUTER_API_KEY" \
    -e AUDIO="$PWD/tests/fixtures/audio/en_jfk.wav" -e LANGUAGE=en -e EXPECTED_TEXT="$ref" \
    -e VUS=2 -e DURATION=30s -e P95_FINAL_MS=600000 -e P95_FIRST_DELTA_MS=600000 loadtest/realtime.js
python3 - "$out/k6-summary.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
done = m["transcripts_completed"]["count"]
print(f"k6: {done} finals, final_latency p95 {m['final_latency_ms'].get('p(95)')} ms, "
      f"first_delta p95 {m.get('first_delta_ms', {}).get('p(95)')} ms, wer avg {m.get('wer', {}).get('avg')}")
assert done > 0, "k6 completed no transcript"
PY
