#!/usr/bin/env bash
# lkcore build driver.
#
#   ./build.sh lib     build build/liblkcore.so (+ header copy) with -buildmode=c-shared
#   ./build.sh demo    build everything and run the demo on the embedded dev SFU
#   ./build.sh test    install what is needed and run every test suite (what CI runs)
#   ./build.sh bench   run the benchmarks and print their figures
#   ./build.sh gen     regenerate generated code (core/lkpb, capi/proto bindings)
#   ./build.sh install [PREFIX]    install the C library, lkcore.h, the C++ API (liblkcore_cpp),
#                      pkg-config and CMake package files under PREFIX (default /usr/local;
#                      DESTDIR honoured); the installed files are listed in
#                      PREFIX/share/lkcore/install_manifest.txt
#   ./build.sh uninstall [PREFIX]  remove exactly what that manifest lists
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
  # SONAME liblkcore.so.<ABI major>: hosts linked against it keep working with any later
  # library of the same major version (the compatibility rule of capi/README.md).
  go build -buildmode=c-shared -trimpath \
    -ldflags "-extldflags -Wl,-soname,liblkcore.so.$(abi_version major)" \
    -o "$BUILD/liblkcore.so" ./capi
  ln -sfn liblkcore.so "$BUILD/liblkcore.so.$(abi_version major)" # what programs linked here load
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

# abi_version major|minor: the ABI version include/lkcore.h declares.
abi_version() {
  local name
  name=$(echo "$1" | tr '[:lower:]' '[:upper:]')
  sed -n "s/^#define LK_ABI_VERSION_${name} \([0-9][0-9]*\).*/\1/p" "$ROOT/include/lkcore.h"
}

# install_prefix [PREFIX]: the absolute install prefix (default /usr/local).
install_prefix() {
  local p=${1:-/usr/local}
  case "$p" in
    /*) ;;
    *) p="$(pwd)/$p" ;;
  esac
  echo "${p%/}"
}

install_cmd() {
  # Builds the C library (lib) and the C++ API (bindings/cpp, CMake) and installs both with
  # their pkg-config and CMake package files. The files written are listed, relative to
  # PREFIX, in PREFIX/share/lkcore/install_manifest.txt, which `uninstall` reads.
  local prefix dest manifest bdir rel d
  prefix=$(install_prefix "${1:-}")
  dest="${DESTDIR:-}$prefix"
  lib
  apt_install cmake cmake c++ g++ pkg-config pkg-config
  [ -f /usr/include/google/protobuf/message.h ] || bash "$ROOT/tests/lib/apt-install.sh" libprotobuf-dev
  log "building the C++ API (bindings/cpp)"
  bdir="$BUILD/cpp-install"
  cmake -S bindings/cpp -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DLKCORE_C_LIBRARY="$BUILD/liblkcore.so" -DLKCORE_CPP_TESTS=OFF >/dev/null
  cmake --build "$bdir" -j "$(nproc)"
  log "installing into ${DESTDIR:+DESTDIR=$DESTDIR }$prefix"
  # Directories this install creates are recorded too, so uninstall removes them again.
  manifest="$dest/share/lkcore/install_manifest.txt"
  local created=()
  [ -d "$dest" ] || created+=("./")
  for d in lib lib/pkgconfig lib/cmake lib/cmake/lkcore include share share/lkcore; do
    [ -d "$dest/$d" ] || created+=("$d/")
  done
  if [ -f "$manifest" ]; then
    while IFS= read -r rel; do
      case "$rel" in */) created+=("$rel") ;; esac
    done <"$manifest"
  fi
  rm -f "$bdir/install_manifest.txt"
  cmake --install "$bdir" # honours DESTDIR itself
  mkdir -p "$dest/share/lkcore"
  {
    sed -e "s|^${DESTDIR:-}$prefix/||" -e "s|^$prefix/||" "$bdir/install_manifest.txt"
    echo # cmake's manifest has no final newline
    echo "share/lkcore/install_manifest.txt"
    printf '%s\n' ${created[@]+"${created[@]}"} | sort -u -r
  } | sed '/^$/d' >"$manifest.tmp"
  mv "$manifest.tmp" "$manifest"
  echo "installed $(grep -vc '/$' "$manifest") files; list: $manifest"
}

uninstall_cmd() {
  # Removes every file listed in PREFIX/share/lkcore/install_manifest.txt, then the
  # directories the install created (if empty).
  local prefix dest manifest rel
  prefix=$(install_prefix "${1:-}")
  dest="${DESTDIR:-}$prefix"
  manifest="$dest/share/lkcore/install_manifest.txt"
  [ -f "$manifest" ] || { echo "no lkcore installation under $dest ($manifest missing)" >&2; exit 1; }
  local entries=()
  mapfile -t entries <"$manifest"
  for rel in ${entries[@]+"${entries[@]}"}; do
    case "$rel" in
      "" | /* | *..*) echo "skipping suspicious manifest entry: $rel" >&2 ;;
      */) ;;
      *) rm -f "$dest/$rel" ;;
    esac
  done
  # Directories last, deepest first (the manifest lists them in that order), if empty.
  for rel in ${entries[@]+"${entries[@]}"}; do
    case "$rel" in
      /* | *..*) ;;
      ./) rmdir "$dest" 2>/dev/null || true ;; # the prefix itself, if the install created it
      */) rmdir "$dest/$rel" 2>/dev/null || true ;;
    esac
  done
  echo "lkcore removed from $dest"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  lib) lib ;;
  demo) demo "$@" ;;
  test) test_all ;;
  bench) bench "$@" ;;
  gen) gen ;;
  install) install_cmd "$@" ;;
  uninstall) uninstall_cmd "$@" ;;
  *) echo "usage: $0 {lib|demo|test|bench|gen|install [PREFIX]|uninstall [PREFIX]}" >&2; exit 2 ;;
esac
