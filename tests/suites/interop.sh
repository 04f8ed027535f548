#!/usr/bin/env bash
# Interop suite (run by ./build.sh test): lkcore's Python binding and the official LiveKit SDKs
# join the same rooms of the devsfu CLI and exchange everything both implement, in both
# directions: the Python SDK (`livekit` from PyPI, which runs the Rust SDK through livekit-ffi;
# pins in tests/lib/official-sdk.sh) for participants and their attributes, data packets, RPC,
# text and byte streams, data tracks (end-to-end encrypted too) and reconnections, and the JS
# client (livekit-client in headless Chromium) for packets, RPC, streams, data tracks and resumes
# (tests/interop, docs/testing.md).
#
#   bash tests/suites/interop.sh [pytest args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/build/interop"

source "$root/tests/lib/official-sdk.sh" # the official SDK's pins and venv
source "$root/bindings/python/devenv.sh"
source "$root/tests/lib/devsfu.sh"

# The official JS client: Debian's Chromium runs it; npm installs livekit-client and esbuild as
# tests/interop/js/package-lock.json pins them, esbuild bundles tests/interop/js/entry.js into a
# page that tests/interop/jsroom.py serves on loopback.
missing=()
[ -x /usr/lib/chromium/chromium ] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
bash "$root/tests/lib/apt-install.sh" ${missing[@]+"${missing[@]}"}
js="$out/js"
echo "--- bundling the JS client ($js)"
mkdir -p "$js"
cp tests/interop/js/package.json tests/interop/js/package-lock.json tests/interop/js/entry.js "$js/"
(cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
  ./node_modules/.bin/esbuild entry.js --bundle --format=iife --outfile=bundle.js --log-level=warning)
printf '<!doctype html><html><head><script src="bundle.js"></script></head><body></body></html>\n' >"$js/index.html"
export LKCORE_INTEROP_JS="$js"

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
