# Sourced by the suites and benchmarks that run the devsfu CLI as a process of its own.
#
#   devsfu_start BIN OUT [FLAGS...]
#       starts BIN (a built lkcore-devsfu) on a free loopback port with FLAGS, its output in
#       OUT.out (the JSON line it prints first, then what it prints on SIGUSR1) and OUT.err;
#       waits at most 10 s for the first line (fails with its errors otherwise); sets
#       devsfu_url, devsfu_key, devsfu_secret, devsfu_pid and devsfu_out (OUT.out); an EXIT
#       trap stops it (the caller sets no EXIT trap of its own).
#   devsfu_mint ROOM IDENTITY
#       prints an access token for ROOM and IDENTITY, signed with its key.
devsfu_start() {
  devsfu_bin=$1
  devsfu_out=$2.out
  local err=$2.err
  shift 2
  rm -f "$devsfu_out"
  "$devsfu_bin" --addr 127.0.0.1:0 "$@" >"$devsfu_out" 2>"$err" &
  devsfu_pid=$!
  trap 'kill -INT $devsfu_pid 2>/dev/null || true; wait $devsfu_pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [ -s "$devsfu_out" ] && break; sleep 0.1; done
  [ -s "$devsfu_out" ] || { echo "devsfu did not start" >&2; cat "$err" >&2; exit 1; }
  read -r devsfu_url devsfu_key devsfu_secret < <(python3 -c \
    'import json,sys; d=json.loads(sys.stdin.readline()); print(d["url"], d["api_key"], d["api_secret"])' <"$devsfu_out")
}

devsfu_mint() {
  "$devsfu_bin" token --room "$1" --identity "$2" --key "$devsfu_key" --secret "$devsfu_secret"
}
