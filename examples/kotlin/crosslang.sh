#!/usr/bin/env bash
# Kotlin cross-language demo (part of ./build.sh demo): the devsfu CLI, a Kotlin participant
# (examples/kotlin CrossLang.kt) that publishes a data track and calls RPC `reverse`, and the C
# examples (examples/c) that subscribe to the Kotlin track and answer its calls. Prints what
# each side saw.
#
#   bash examples/kotlin/crosslang.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
FRAMES=${FRAMES:-200}
RATE=${RATE:-100}
CALLS=${CALLS:-20}

source "$root/bindings/kotlin/devenv.sh" >/dev/null
echo "--- building the Kotlin examples (Maven) and the C examples"
bash "$root/examples/kotlin/build.sh" >/dev/null
bash "$root/examples/c/deps.sh" # C compiler, make, protobuf-c
make -s -C examples/c LIBDIR="$kt_out" OUT="$kt_out/examples-c" >/dev/null
kt_start_devsfu >/dev/null
url=$LKCORE_DEVSFU_URL
tok() { "$LKCORE_DEVSFU_BIN" token --room crosslang-kt --identity "$1" --key "$LKCORE_DEVSFU_KEY" --secret "$LKCORE_DEVSFU_SECRET"; }
echo "--- devsfu at $url; Kotlin publishes and calls, C subscribes and answers RPC"

pids=()
stop_all() {
  for p in ${pids[@]+"${pids[@]}"}; do kill -TERM "$p" 2>/dev/null || true; done
  kt_stop_devsfu
}
trap stop_all EXIT
"$kt_out/examples-c/dt_subscriber" "$url" "$(tok c-sub)" kt-pub sensor "$FRAMES" >"$kt_out/c-sub.out" 2>&1 &
sub=$!
pids+=($sub)
"$kt_out/examples-c/rpc_callee" "$url" "$(tok c-callee)" reverse "$CALLS" >"$kt_out/c-callee.out" 2>&1 &
callee=$!
pids+=($callee)
sleep 0.5

java -cp "$root/examples/kotlin/target/lkcore-examples.jar" io.lkcore.examples.CrossLangKt \
  --url "$url" --token "$(tok kt-pub)" --callee c-callee --frames "$FRAMES" --rate "$RATE" --calls "$CALLS"

# The C programs exit by themselves after FRAMES frames / CALLS calls.
source "$root/examples/demo/c_side.sh"
c_side_finish "$kt_out"
echo "Kotlin cross-language demo done"
