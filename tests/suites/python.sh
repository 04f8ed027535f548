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
venv="$root/build/python-venv"
mkdir -p "$out"

# Pinned Python tooling (reproducible generated code and test runs).
PIP_PKGS=(protobuf==7.36.2 grpcio-tools==1.85.1 setuptools==84.2.1 pytest==9.2.0 pytest-asyncio==1.5.0)

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "--- python venv ($venv)"
stamp="$venv/.lkcore-pins"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${PIP_PKGS[*]}" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "${PIP_PKGS[@]}"
  echo "${PIP_PKGS[*]}" >"$stamp"
fi
py="$venv/bin/python"

echo "--- building liblkcore.so"
# A private copy: other suites rebuilding build/liblkcore.so must not pull it from under us.
go build -buildmode=c-shared -trimpath -o "$out/liblkcore.so" ./capi
rm -f "$out/liblkcore.h"
export LKCORE_LIB="$out/liblkcore.so"

echo "--- generating and installing the lkcore package"
PYTHON="$py" bindings/python/generate.sh
"$py" -m pip install -q --no-build-isolation --no-deps --force-reinstall ./bindings/python
rm -rf bindings/python/build

sfu_pid=""
cleanup() {
  if [ -n "$sfu_pid" ] && kill -0 "$sfu_pid" 2>/dev/null; then
    kill -TERM "$sfu_pid" 2>/dev/null || true
    wait "$sfu_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if compgen -G "tests/devsfu/cmd/lkcore-devsfu/*.go" >/dev/null; then
  echo "--- building and starting lkcore-devsfu"
  go build -o "$root/build/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  key=pykey
  secret=py-secret-py-secret-py-secret-0123
  fifo="$out/devsfu.out"
  rm -f "$fifo"
  # --control: fault-injection endpoints (reconnect tests); a short participant-update batch
  # period keeps the suite fast (livekit-server batches every 3 s).
  "$root/build/lkcore-devsfu" --addr "127.0.0.1:$port" --key "$key" --secret "$secret" \
    --control --update-batch-interval 100ms >"$fifo" 2>"$out/devsfu.log" &
  sfu_pid=$!
  for _ in $(seq 1 100); do
    [ -s "$fifo" ] && break
    kill -0 "$sfu_pid" 2>/dev/null || { cat "$out/devsfu.log" >&2; echo "lkcore-devsfu exited" >&2; exit 1; }
    sleep 0.1
  done
  line=$(head -n1 "$fifo")
  [ -n "$line" ] || { echo "lkcore-devsfu printed nothing" >&2; exit 1; }
  url=$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["url"])' "$line")
  export LKCORE_DEVSFU_URL="$url" LKCORE_DEVSFU_BIN="$root/build/lkcore-devsfu"
  export LKCORE_DEVSFU_KEY="$key" LKCORE_DEVSFU_SECRET="$secret" LKCORE_DEVSFU_CONTROL=1
  echo "devsfu at $url"
else
  echo "--- tests/devsfu/cmd/lkcore-devsfu not present: server tests are skipped"
fi

echo "--- pytest"
# pytest's console script does not put the working directory on sys.path, so the installed
# package (not the source folder) is imported; the header line shows which.
cd "$root/bindings/python"
set +e
"$venv/bin/pytest" -p no:cacheprovider "$@"
rc=$?
set -e
exit $rc
