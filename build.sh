#!/usr/bin/env bash
# lkcore build driver.
#
#   ./build.sh lib     build build/liblkcore.so (+ header copy) with -buildmode=c-shared
#   ./build.sh demo    build everything and run the demo on the embedded dev SFU
#   ./build.sh test    install what is needed and run every test suite (what CI runs)
#   ./build.sh bench   run the benchmarks and print their figures
#   ./build.sh gen     regenerate generated code (core/lkpb, capi/proto bindings)
#   ./build.sh mutate  mutation testing (gremlins) of the counting/logging promises (not in test)
#
# Every command installs what it needs itself (Debian packages, Go modules, pip packages),
# so it works on a fresh machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
cd "$ROOT"
BUILD="$ROOT/build"
mkdir -p "$BUILD"

log() { printf '\n==> %s\n' "$*"; }

apt_install() {
  # apt_install <command> <package>: install a Debian package if its command is missing.
  local missing=()
  while [ $# -gt 0 ]; do
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
    shift 2
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  bash "$ROOT/tests/lib/apt-install.sh" "${missing[@]}"
}

deps() {
  apt_install protoc protobuf-compiler
  go mod download
}

gen() {
  deps
  ./core/lkpb/generate.sh
  if [ -x capi/proto/generate.sh ]; then ./capi/proto/generate.sh; fi
}

check_generated() {
  log "checking generated code is up to date"
  gen
  if ! git diff --exit-code --stat -- core/lkpb capi/proto capi/ffipb >/dev/null 2>&1 || \
     [ -n "$(git ls-files --others --exclude-standard -- core/lkpb capi/proto capi/ffipb)" ]; then
    git --no-pager diff --stat -- core/lkpb capi/proto capi/ffipb || true
    git ls-files --others --exclude-standard -- core/lkpb capi/proto capi/ffipb || true
    echo "generated code drifted: run ./build.sh gen and commit the result" >&2
    exit 1
  fi
}

lib() {
  deps
  log "building build/liblkcore.so"
  go build -buildmode=c-shared -trimpath -o "$BUILD/liblkcore.so" ./capi
  rm -f "$BUILD/liblkcore.h" # cgo's generated header; include/lkcore.h is the ABI
}

devsfu_cli() {
  go build -o "$BUILD/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu
}

demo() {
  deps
  apt_install cc gcc make make
  log "building"
  devsfu_cli
  go build -o "$BUILD/lkcore-demo" ./examples/go/demo
  log "Go demo: two participants on the embedded dev SFU (data packets, a data track, RPC)"
  "$BUILD/lkcore-demo" "$@"
  log "cross-language demo: devsfu CLI, a Python publisher/RPC caller, C subscriber/RPC callee"
  bash examples/demo/crosslang.sh
}

test_go() {
  log "go vet"
  go vet ./...
  log "go test -race"
  go test -race -count=1 -timeout 15m ./...
}

test_all() {
  deps
  check_generated
  test_go
  for suite in tests/suites/*.sh; do
    [ -e "$suite" ] || continue
    log "suite $(basename "$suite")"
    bash "$suite"
  done
}

bench() {
  # Go benchmarks, the Python binding's and the C ABI's against the devsfu CLI, then a markdown
  # summary (Python vs Go, FFI cost, library size); raw outputs in build/bench/.
  # Extra arguments go to every `go test` run.
  deps
  log "benchmarks (tests/bench/run.sh)"
  bash tests/bench/run.sh "$@"
}

# Mutation testing with gremlins v0.6.0 (fetched by `go run`, not a module dependency).
# Targets are "package|files|tests": files (space-separated basenames, empty = every file) are
# the only ones mutated, tests (a -run pattern, empty = all) the only ones run per mutant.
# Restricted so it finishes on a 2-core machine: core/datatrack to its receive path, ffi to
# its frame and log delivery, core/room to its event queue. Extra arguments go to every
# gremlins run (e.g. --workers 2). Results: build/mutate/*.txt and *.json.
MUTATE_TARGETS=(
  "core/rpc||"
  "core/e2ee||"
  "core/datatrack|remote.go queue.go depacketizer.go pipeline.go|"
  "capi/internal/ffi|datatrack.go log.go|^(TestE2EDataTrack|TestLogForwarding|TestFastPath|TestReadFrame|TestQueueFrames)"
  "core/room|events.go|^(TestEventQueue.*|TestSlowConsumerDoesNotBlockSignalling)$"
)
GREMLINS=github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0

mutate() {
  deps
  local out="$BUILD/mutate"
  mkdir -p "$out"
  local summary="$out/summary.txt"
  : >"$summary"
  local t pkg files tests name f b
  for t in "${MUTATE_TARGETS[@]}"; do
    IFS='|' read -r pkg files tests <<<"$t"
    name=${pkg//\//-}
    local excl=()
    if [ -n "$files" ]; then
      for f in "$pkg"/*.go; do
        b=$(basename "$f")
        case "$b" in *_test.go) continue ;; esac
        case " $files " in *" $b "*) continue ;; esac
        excl+=(-E "^${b//./\\.}\$")
      done
    fi
    log "gremlins: $pkg${files:+ ($files)}${tests:+, tests $tests}"
    GOFLAGS=${tests:+-run=$tests} go run "$GREMLINS" unleash --workers 1 --test-cpu 1 --timeout-coefficient 10 \
      -o "$out/$name.json" ${excl[@]+"${excl[@]}"} "$@" "./$pkg" | tee "$out/$name.txt"
    printf '%-22s %s\n' "$pkg" "$(grep -E '^(Killed|Timed out|Mutator coverage|Test efficacy)' "$out/$name.txt" | tr '\n' ' ')" >>"$summary"
  done
  log "mutation testing summary (build/mutate/summary.txt)"
  cat "$summary"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  lib) lib ;;
  demo) demo "$@" ;;
  test) test_all ;;
  bench) bench "$@" ;;
  gen) gen ;;
  mutate) mutate "$@" ;;
  *) echo "usage: $0 {lib|demo|test|bench|gen|mutate}" >&2; exit 2 ;;
esac
