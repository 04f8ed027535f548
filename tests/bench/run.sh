#!/usr/bin/env bash
# Benchmarks in one run (called by ./build.sh bench): the Go benchmarks (room end to end through
# the in-process devsfu, plus the micro benchmarks of datatrack, e2ee, rpc, datastream and the
# FFI dispatch layer), then the Python binding's data-track, RPC and FFI benchmarks and the C ABI
# micro benchmark against the devsfu CLI, and finally one markdown summary comparing Python and
# Go, with the multi-process data-track table (tests/bench/mp.sh) and the comparison of the Python
# binding with the official Python SDK (tests/bench/sdkcompare). About 9 minutes on 2 cores. Raw outputs are kept under build/bench/.
#
#   bash tests/bench/run.sh [extra go test flags...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/build/bench"
mkdir -p "$out"
gobench="$out/go-bench.txt"
: >"$gobench"

# gob <benchtime> <bench regexp> <packages...>: one go test run, output appended to $gobench.
gob() {
  local bt=$1 re=$2
  shift 2
  echo "--- go test -bench '$re' -benchtime $bt $*"
  # A failing group is reported and the run goes on (its rows show n/a); exit status 1 at the end.
  go test -run '^$' -bench "$re" -benchmem -count=1 -benchtime "$bt" -timeout 10m "$@" \
    ${EXTRA_GO_FLAGS[@]+"${EXTRA_GO_FLAGS[@]}"} 2>&1 | tee -a "$gobench" || {
    echo "!!! go benchmarks '$re' failed in $*" >&2
    failed+=("go:$re")
  }
}
EXTRA_GO_FLAGS=("$@")
failed=()

echo "=== Go benchmarks"
# End to end through devsfu (loopback). The slow ones get a fixed iteration count.
gob 20000x 'DataTrackThroughput1KB$' ./core/room
gob 500x 'DataTrackThroughput100KB$' ./core/room
gob 5000x 'DataTrackLatency$' ./core/room          # 256 B at 500 Hz: 10 s
gob 60x 'DataTrack100KBAt20Hz$' ./core/room        # 20 Hz: 3 s
gob 1s 'DataTrackPushAllocs$|ReliableThroughput$|RoundTrip$' ./core/room
gob 3000x 'RPCRoundTrip100B$' ./core/room
gob 5x 'RPC1MB$' ./core/room
gob 3x 'ByteStream$' ./core/room
# Micro benchmarks (no network but datastream's loopback pair).
gob 1s . ./core/datatrack ./core/e2ee ./core/rpc ./capi/internal/ffi
gob 3x . ./core/datastream
gob 1s 'UDPSend$' ./core/udpbatch   # one datagram per system call vs batched (Linux)
gob 20x . ./core/internal/deflate         # Decoder and HuffmanWriter vs compress/flate, 1 MiB

echo "=== Multi-process data tracks (tests/bench/mp.sh)"
bash tests/bench/mp.sh 5 || failed+=("mp")

echo "=== Python binding (devsfu CLI)"
# devenv.sh builds a private liblkcore.so into $out, installs the package into the venv and sets
# $py and LKCORE_LIB.
source "$root/bindings/python/devenv.sh"
cd "$root"

echo "--- stripped liblkcore.so"
command -v strip >/dev/null 2>&1 || {
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq binutils >/dev/null
}
cp "$LKCORE_LIB" "$out/liblkcore-stripped.so"
strip "$out/liblkcore-stripped.so"
printf '{"unstripped_bytes": %s, "stripped_bytes": %s}\n' \
  "$(stat -c %s "$LKCORE_LIB")" "$(stat -c %s "$out/liblkcore-stripped.so")" | tee "$out/size.json"

echo "--- starting the devsfu CLI"
go build -o "$out/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu
sfu_out="$out/devsfu.out"
rm -f "$sfu_out"
"$out/lkcore-devsfu" --addr 127.0.0.1:0 --update-batch-interval 20ms >"$sfu_out" 2>"$out/devsfu.err" &
sfu_pid=$!
trap 'kill -INT $sfu_pid 2>/dev/null || true; wait $sfu_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$sfu_out" ] && break; sleep 0.1; done
[ -s "$sfu_out" ] || { echo "devsfu did not start" >&2; cat "$out/devsfu.err" >&2; exit 1; }
read -r LK_URL LK_KEY LK_SECRET < <("$py" -c 'import json,sys; d=json.loads(sys.stdin.readline()); print(d["url"], d["api_key"], d["api_secret"])' <"$sfu_out")
mint() { "$out/lkcore-devsfu" token --room "$1" --identity "$2" --key "$LK_KEY" --secret "$LK_SECRET"; }
echo "devsfu at $LK_URL"

echo "--- data_track_bench.py"
"$py" bindings/python/benchmarks/data_track_bench.py --url "$LK_URL" \
  --pub-token "$(mint py-dt pub)" --sub-token "$(mint py-dt sub)" --seconds 5 | tee "$out/py-datatrack.json"
echo "--- rpc_bench.py"
"$py" bindings/python/benchmarks/rpc_bench.py --url "$LK_URL" \
  --caller-token "$(mint py-rpc caller)" --callee-token "$(mint py-rpc callee)" \
  --callee-identity callee -n 2000 | tee "$out/py-rpc.json"
echo "--- ffi_bench.py"
"$py" bindings/python/benchmarks/ffi_bench.py | tee "$out/py-ffi.json"

: >"$out/c-bench.jsonl"
if command -v c++ >/dev/null 2>&1 && [ -f include/lkcore.h ]; then
  echo "--- C ABI micro benchmark (tests/capi/bench.cc)"
  libdir=$(dirname "$LKCORE_LIB")
  if c++ -std=c++17 -O2 -Iinclude tests/capi/bench.cc -L"$libdir" -llkcore "-Wl,-rpath,$libdir" \
    -pthread -o "$out/capi-bench"; then
    LK_URL="$LK_URL" LK_TOKEN_A="$(mint c-bench bencher)" "$out/capi-bench" | tee "$out/c-bench.jsonl" ||
      echo "C bench failed (figures left out)" >&2
  else
    echo "C bench did not build (figures left out)" >&2
  fi
else
  echo "--- no C++ compiler: C ABI micro benchmark skipped"
fi

echo "=== Kotlin binding (devsfu CLI; examples/kotlin Bench.kt)"
: >"$out/kt-bench.json"
(
  source "$root/bindings/kotlin/devenv.sh" >/dev/null # Maven and a JDK if missing; LKCORE_LIB
  bash "$root/examples/kotlin/build.sh" >/dev/null
  java -cp "$root/examples/kotlin/target/lkcore-examples.jar" io.lkcore.examples.BenchKt --url "$LK_URL" \
    --token-a "$(mint kt-bench pub)" --token-b "$(mint kt-bench sub)" --seconds 5 --calls 2000 | tee "$out/kt-bench.json"
) || { echo "!!! Kotlin benchmark failed" >&2; failed+=("kotlin"); }
cd "$root"

echo "=== lkcore's Python binding vs the official Python SDK (tests/bench/sdkcompare)"
: >"$out/sdkcompare.md"
bash tests/bench/sdkcompare/run.sh 1 || { echo "!!! SDK comparison failed" >&2; failed+=("sdkcompare"); }

echo
echo "=== Summary"
"$py" tests/bench/summary.py "$out" | tee "$out/summary.md"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed benchmark groups: ${failed[*]}" >&2
  exit 1
fi
