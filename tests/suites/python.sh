#!/usr/bin/env bash
# Python binding suite (run by ./build.sh test): installs what it needs on a fresh Debian
# machine, builds liblkcore.so and the devsfu CLI, generates the protobuf modules, installs the
# lkcore package into a venv under build/, starts lkcore-devsfu on a free loopback port and
# runs pytest against it.
#
#   bash tests/suites/python.sh [pytest args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/build/python"

source "$root/bindings/python/devenv.sh"

sfu_pid=""
cleanup() {
  if [ -n "$sfu_pid" ] && kill -0 "$sfu_pid" 2>/dev/null; then
    kill -TERM "$sfu_pid" 2>/dev/null || true
    wait "$sfu_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if ! compgen -G "tests/devsfu/cmd/lkcore-devsfu/*.go" >/dev/null; then
  # The server tests need it: a missing command is a failure, never a reason to skip them.
  echo "tests/devsfu/cmd/lkcore-devsfu not found: cannot run the server tests" >&2
  exit 1
fi
{
  echo "--- building and starting lkcore-devsfu"
  go build -o "$root/build/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  key=pykey
  secret=py-secret-py-secret-py-secret-0123
  fifo="$out/devsfu.out"
  rm -f "$fifo"
  # --control: fault-injection endpoints (reconnect tests); a short participant-update batch
  # period and connection-quality ratings every 200 ms keep the suite fast (livekit-server
  # batches every 3 s and rates every 5 s); --enable-data-blob: it stores data-track schema
  # definitions (as livekit-server with enable_participant_data_blob); --region: the region it
  # sends in the join's ServerInfo (livekit-server's region setting; LiveKit Cloud names its
  # regions there), which the tests expect back in Room.server.region (without it: "");
  # --speaker-update-interval 50ms: speaker updates (active speakers) every 50 ms instead of
  # livekit-server's 400 ms, the same messages sooner; --tls-ca-out: the same server also serves
  # wss:// on a second loopback port ("tls_url"), its certificate signed by a CA made at start
  # whose PEM goes to that file (RoomOptions.tls_root_certificates tests).
  ca="$out/devsfu-ca.pem"
  rm -f "$ca"
  "$root/build/lkcore-devsfu" --addr "127.0.0.1:$port" --key "$key" --secret "$secret" \
    --control --update-batch-interval 100ms --connection-quality-interval 200ms --enable-data-blob \
    --speaker-update-interval 50ms --region test-region --tls-ca-out "$ca" >"$fifo" 2>"$out/devsfu.log" &
  sfu_pid=$!
  for _ in $(seq 1 100); do
    [ -s "$fifo" ] && break
    kill -0 "$sfu_pid" 2>/dev/null || { cat "$out/devsfu.log" >&2; echo "lkcore-devsfu exited" >&2; exit 1; }
    sleep 0.1
  done
  line=$(head -n1 "$fifo")
  [ -n "$line" ] || { echo "lkcore-devsfu printed nothing" >&2; exit 1; }
  url=$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["url"])' "$line")
  # A line without tls_url leaves it empty: the tests that need it then fail (never skip).
  tls_url=$("$py" -c 'import json,sys; print(json.loads(sys.argv[1]).get("tls_url", ""))' "$line")
  export LKCORE_DEVSFU_URL="$url" LKCORE_DEVSFU_BIN="$root/build/lkcore-devsfu"
  export LKCORE_DEVSFU_KEY="$key" LKCORE_DEVSFU_SECRET="$secret" LKCORE_DEVSFU_CONTROL=1
  export LKCORE_DEVSFU_TLS_URL="$tls_url" LKCORE_DEVSFU_TLS_CA="$ca"
  echo "devsfu at $url and $tls_url (CA $ca)"
}

echo "--- mypy (the installed package: it ships py.typed, so these are the types users' checkers see)"
(cd "$out" && "$py" -m mypy --config-file "$root/bindings/python/pyproject.toml" -p lkcore)

echo "--- pytest"
# pytest's console script does not put the working directory on sys.path, so the installed
# package (not the source folder) is imported; the header line shows which.
cd "$root/bindings/python"
set +e
"$venv/bin/pytest" -p no:cacheprovider "$@"
rc=$?
set -e
exit $rc
