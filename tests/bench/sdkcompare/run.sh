#!/usr/bin/env bash
# lkcore's Python binding against the official LiveKit Python SDK (tests/lib/official-sdk.sh),
# process against process through the devsfu CLI (with livekit-server's congestion gate, as
# tests/bench/mp.sh): RPC, byte streams and data tracks for each pair of SDKs (peer.py, run.py).
# Part of ./build.sh bench; about two and a half minutes per round on 2 cores.
#
#   bash tests/bench/sdkcompare/run.sh [ROUNDS]     (default 1; table in build/bench/sdkcompare.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
rounds=${1:-1}
out="$root/build/bench/sdkcompare"
mkdir -p "$out"

source "$root/tests/lib/official-sdk.sh"
source "$root/bindings/python/devenv.sh"
source "$root/tests/lib/devsfu.sh"
cd "$root"

go build -o "$out/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu
devsfu_start "$out/lkcore-devsfu" "$out/devsfu" --update-batch-interval 20ms --dt-target-latency 100ms
echo "devsfu at $devsfu_url; $rounds round(s)"
"$py" tests/bench/sdkcompare/run.py "$rounds" "$out/lkcore-devsfu" "$devsfu_url" "$devsfu_key" "$devsfu_secret" \
  "$root/build/bench/sdkcompare.jsonl" | tee "$root/build/bench/sdkcompare.md"
