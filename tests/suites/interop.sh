#!/usr/bin/env bash
# Interop suite (run by ./build.sh test): lkcore's Python binding and the official LiveKit
# Python SDK — `livekit` from PyPI, pinned below, which runs the Rust SDK (livekit-ffi) — join
# the same rooms of the devsfu CLI and exchange everything both implement, in both directions:
# participants and their attributes, data packets, RPC, text and byte streams, data tracks
# (end-to-end encrypted too) and reconnections (tests/interop, docs/testing.md).
#
#   bash tests/suites/interop.sh [pytest args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/build/interop"

source "$root/tests/lib/official-sdk.sh" # the official SDK's pins and venv
source "$root/bindings/python/devenv.sh"
source "$root/tests/lib/devsfu.sh"

echo "--- building and starting lkcore-devsfu"
go build -o "$out/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu
# Started with livekit-server's defaults (participant updates batched every 3 s, and so on),
# as the official SDK meets them; --control: the reconnection tests' faults.
devsfu_start "$out/lkcore-devsfu" "$out/devsfu" --control
export LKCORE_DEVSFU_URL="$devsfu_url" LKCORE_DEVSFU_BIN="$out/lkcore-devsfu"
export LKCORE_DEVSFU_KEY="$devsfu_key" LKCORE_DEVSFU_SECRET="$devsfu_secret"
echo "devsfu at $devsfu_url"

echo "--- pyflakes (tests/interop, tests/bench/sdkcompare)"
"$venv/bin/python" -m pyflakes tests/interop tests/bench/sdkcompare

echo "--- pytest (tests/interop)"
cd "$root/tests/interop"
"$venv/bin/python" -c 'import livekit.rtc, lkcore; print("livekit", livekit.rtc.__version__, "| lkcore", lkcore.__file__)'
"$venv/bin/pytest" -p no:cacheprovider "$@"
