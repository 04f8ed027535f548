#!/usr/bin/env bash
# Cross-language demo (the second half of ./build.sh demo): the devsfu CLI, a Python publisher
# and RPC caller (bindings/python), and C programs (examples/c, linked against liblkcore.so)
# that subscribe to the Python data track and answer its RPC calls. Prints what each side saw.
#
#   bash examples/demo/crosslang.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/build/demo"
FRAMES=${FRAMES:-200}
RATE=${RATE:-100}
CALLS=${CALLS:-20}

source "$root/bindings/python/devenv.sh" >/dev/null

echo "--- building the C examples and the devsfu CLI"
bash "$root/examples/c/deps.sh" # C compiler, make, protobuf-c
make -s -C examples/c LIBDIR="$out" OUT="$out/examples-c" >/dev/null
go build -o "$out/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
key=demokey
secret=demo-secret-demo-secret-demo-0123
"$out/lkcore-devsfu" --addr "127.0.0.1:$port" --key "$key" --secret "$secret" \
  --update-batch-interval 200ms >"$out/devsfu.out" 2>"$out/devsfu.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$out/devsfu.out" ] && break; sleep 0.1; done
url="ws://127.0.0.1:$port"
tok() { "$out/lkcore-devsfu" token --room crosslang --identity "$1" --key "$key" --secret "$secret"; }
echo "--- devsfu at $url; Python publishes, C subscribes and answers RPC"

"$out/examples-c/dt_subscriber" "$url" "$(tok c-sub)" py-pub sensor "$FRAMES" >"$out/c-sub.out" 2>&1 &
sub=$!
pids+=($sub)
"$out/examples-c/rpc_callee" "$url" "$(tok c-callee)" reverse "$CALLS" >"$out/c-callee.out" 2>&1 &
callee=$!
pids+=($callee)
sleep 0.5

"$py" examples/demo/python_side.py --url "$url" --token "$(tok py-pub)" --callee c-callee \
  --frames "$FRAMES" --rate "$RATE" --calls "$CALLS"

# The C programs exit by themselves after FRAMES frames / CALLS calls.
source "$root/examples/demo/c_side.sh"
c_side_finish "$out"
echo "cross-language demo done"
