#!/usr/bin/env bash
# C++ API suite (run by ./build.sh test):
#   1. `./build.sh install` into a temporary prefix; checks SONAME, links, pkg-config and CMake
#      package files;
#   2. the GoogleTest suite of bindings/cpp (CTest) against a private lkcore-devsfu, natively and
#      built with -fsanitize=address,undefined (plus a leak probe proving LeakSanitizer fires);
#   3. examples/cpp built against the installed prefix with find_package(lkcore) and with
#      pkg-config (and a C example with `pkg-config lkcore`), run against devsfu;
#   4. `./build.sh uninstall` of the prefix, which must leave nothing behind.
# Installs its Debian packages itself (compiler, cmake, pkg-config, protobuf, GoogleTest).
#
# Sanitizer options (the library contains a Go runtime, which is not instrumented):
#   ASAN_OPTIONS=detect_leaks=1:allow_user_segv_handler=1:halt_on_error=1
#     detect_leaks            LeakSanitizer checks every buffer the library hands out is
#                             released with lk_free (the leak probe shows it would be caught);
#     allow_user_segv_handler the Go runtime installs its own SIGSEGV/SIGBUS handlers (faults in
#                             Go code become recovered panics) and forwards other faults to
#                             ASan's handler, so host-side faults are still reported by ASan;
#     halt_on_error           the first report fails the run.
#   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 (the code is built with
#     -fno-sanitize-recover=undefined, so any undefined behaviour aborts).
#   Nothing had to be suppressed: the library's own allocations are plain malloc'd C memory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/build/cpp-suite"
rm -rf "$out"
mkdir -p "$out"
t0=$(date +%s)
step() { printf -- '--- %s (%ss)\n' "$*" "$(($(date +%s) - t0))"; }

missing=()
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
command -v readelf >/dev/null 2>&1 || missing+=(binutils)
[ -f /usr/include/google/protobuf/message.h ] || missing+=(libprotobuf-dev)
[ -f /usr/include/gtest/gtest.h ] || missing+=(libgtest-dev)
bash "$root/tests/lib/apt-install.sh" ${missing[@]+"${missing[@]}"}

fail() {
  echo "cpp suite: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
step "./build.sh install into a temporary prefix"
prefix="$out/prefix"
./build.sh install "$prefix" >"$out/install.log" 2>&1 || { tail -40 "$out/install.log" >&2; fail "install failed"; }
major=$(sed -n 's/^#define LK_ABI_VERSION_MAJOR \([0-9]*\).*/\1/p' include/lkcore.h)
minor=$(sed -n 's/^#define LK_ABI_VERSION_MINOR \([0-9]*\).*/\1/p' include/lkcore.h)
lib="$prefix/lib"
[ -f "$lib/liblkcore.so.$major.$minor" ] || fail "liblkcore.so.$major.$minor missing"
[ "$(readlink "$lib/liblkcore.so.$major")" = "liblkcore.so.$major.$minor" ] || fail "liblkcore.so.$major link wrong"
[ "$(readlink "$lib/liblkcore.so")" = "liblkcore.so.$major" ] || fail "liblkcore.so link wrong"
readelf -d "$lib/liblkcore.so.$major.$minor" | grep -q "SONAME.*\[liblkcore.so.$major\]" || fail "SONAME is not liblkcore.so.$major"
readelf -d "$lib/liblkcore_cpp.so" | grep -q "SONAME.*\[liblkcore_cpp.so.$major.$minor\]" || fail "liblkcore_cpp SONAME is not per ABI minor"
for f in include/lkcore.h include/lkcore.hpp lib/pkgconfig/lkcore.pc lib/pkgconfig/lkcore-cpp.pc \
  lib/cmake/lkcore/lkcoreConfig.cmake lib/cmake/lkcore/lkcoreConfigVersion.cmake share/lkcore/install_manifest.txt; do
  [ -f "$prefix/$f" ] || fail "$f not installed"
done
export PKG_CONFIG_PATH="$lib/pkgconfig"
[ "$(pkg-config --modversion lkcore)" = "$major.$minor.0" ] || fail "pkg-config version"
pkg-config --libs lkcore-cpp | grep -q -- "-llkcore_cpp" || fail "lkcore-cpp.pc libs"
# The library names the commit it was built from (GetVersionRequest.library_version), when built
# at the top of a git checkout; "(devel)" otherwise.
built=$(go version -m "$lib/liblkcore.so.$major.$minor")
if [ "$(git -C "$root" rev-parse --show-toplevel 2>/dev/null)" = "$root" ]; then
  grep -q "vcs.revision=$(git -C "$root" rev-parse HEAD)" <<<"$built" || fail "the library does not name the commit it was built from"
else
  grep -Eq "mod[[:space:]]+github.com/lkcore/lkcore[[:space:]]+\(devel\)" <<<"$built" || fail "a library built outside git has a version"
fi
echo "installed: $(grep -vc '/$' "$prefix/share/lkcore/install_manifest.txt") files, ABI $major.$minor"

step "the public header compiles alone (C++17 and C++20, -pedantic)"
printf '#include <lkcore.hpp>\nint main() { lk::Status s; return s.ok() ? 0 : 1; }\n' >"$out/header.cc"
for std in c++17 c++20; do
  c++ -std=$std -Wall -Wextra -Werror -pedantic $(pkg-config --cflags lkcore-cpp) -fsyntax-only "$out/header.cc"
done

# ---------------------------------------------------------------------------------------------
step "starting lkcore-devsfu"
go build -o "$out/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu
key=cppkey
secret=cpp-secret-cpp-secret-cpp-secret-0123
# --control: tests read its forwarding counters (lkcore-devsfu stats, Devsfu::packets_out) and
# call its control endpoints (Devsfu::control); --connection-quality-interval: it rates
# connections every 200 ms instead of 5 s, so rating changes arrive quickly;
# --speaker-update-interval: it sends speaker updates every 50 ms instead of 400 ms, so the
# active-speaker test's four level changes arrive quickly; --enable-data-blob:
# it stores data-track schema definitions (a LiveKit server does with enable_participant_data_blob);
# --region: it names a region in its join responses (ServerInfo.region, as LiveKit Cloud does), so
# tests see RoomInfo::server.region pass through (a self-hosted server without one sends "");
# --tls-ca-out: it also serves wss:// on a second loopback port ("tls_url" in its line), with a
# certificate signed by a CA it makes at start and writes to the file, for the tests of
# RoomOptions::tls_root_certificates_pem.
"$out/lkcore-devsfu" --addr 127.0.0.1:0 --key "$key" --secret "$secret" --update-batch-interval 100ms --control \
  --connection-quality-interval 200ms --speaker-update-interval 50ms --enable-data-blob --region test-region \
  --tls-ca-out "$out/devsfu-ca.pem" >"$out/devsfu.out" 2>"$out/devsfu.log" &
sfu_pid=$!
# Builds that overlap a test run (see below), by name; killed with their compilers on exit.
source "$root/tests/lib/background.sh"
cleanup() {
  background_stop
  kill -TERM "$sfu_pid" 2>/dev/null || true
  wait "$sfu_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
  [ -s "$out/devsfu.out" ] && break
  kill -0 "$sfu_pid" 2>/dev/null || { cat "$out/devsfu.log" >&2; fail "lkcore-devsfu exited"; }
  sleep 0.1
done
url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$out/devsfu.out")
[ -n "$url" ] || fail "lkcore-devsfu printed no URL"
tls_url=$(sed -n 's/.*"tls_url":"\([^"]*\)".*/\1/p' "$out/devsfu.out")
[ -n "$tls_url" ] || fail "lkcore-devsfu printed no tls_url"
[ -s "$out/devsfu-ca.pem" ] || fail "lkcore-devsfu wrote no CA to $out/devsfu-ca.pem"
export LKCORE_DEVSFU_URL="$url" LKCORE_DEVSFU_BIN="$out/lkcore-devsfu"
export LKCORE_DEVSFU_KEY="$key" LKCORE_DEVSFU_SECRET="$secret"
export LKCORE_DEVSFU_TLS_URL="$tls_url" LKCORE_DEVSFU_TLS_CA="$out/devsfu-ca.pem"
echo "devsfu at $url and $tls_url"
mint() { "$out/lkcore-devsfu" token --room "$1" --identity "$2" --key "$key" --secret "$secret"; }

# ---------------------------------------------------------------------------------------------
# The tests link against the installed C library. The native build reuses the tree `install`
# just built (the C++ library is up to date there; only the tests are compiled).
cclib="$lib/liblkcore.so.$major.$minor"
export out prefix lib cclib  # for the builds run in the background below
step "native build of the C++ tests"
cmake -S bindings/cpp -B build/cpp-install -DLKCORE_CPP_TESTS=ON -DLKCORE_C_LIBRARY="$cclib" >/dev/null
cmake --build build/cpp-install -j "$(nproc)" >"$out/native-build.log" 2>&1 || { tail -40 "$out/native-build.log" >&2; fail "native build"; }
# The test runs wait on the network far more than they compute (about 12 % of one core), so the
# next build runs beside each of them, in its own process group: the sanitizer build beside the
# native tests, the examples' builds beside the sanitizer tests. The tests do not depend on timing
# (they pass with both cores kept busy), and a failed build fails the suite when it is awaited.

asan_build() {
  cmake -S bindings/cpp -B build/cpp-asan -DCMAKE_BUILD_TYPE=Debug -DLKCORE_SANITIZE=ON -DLKCORE_CPP_TESTS=ON \
    -DLKCORE_C_LIBRARY="$cclib" >/dev/null
  cmake --build build/cpp-asan -j "$(nproc)"
}
step "C++ tests, native (the ASan/UBSan build of the C++ library and tests beside them)"
background asan-build "$out" asan_build
ctest --test-dir build/cpp-install --output-on-failure --no-tests=error
step "waiting for the ASan/UBSan build"
await asan-build || fail "sanitizer build"

examples_build() {
  cmake -S examples/cpp -B "$out/examples-cmake" -DCMAKE_PREFIX_PATH="$prefix"
  cmake --build "$out/examples-cmake" -j "$(nproc)"
  make -s -C examples/cpp OUT="$out/examples-pc"
  # A C example too, with its FFI messages from protobuf-c (generated here, as examples/c does).
  bash examples/c/deps.sh
  examples/c/protobuf-c-gen.sh "$out/cgen"
  cc -std=c11 -O2 -I"$out/cgen" -c "$out/cgen/lkcore_ffi.pb-c.c" $(pkg-config --cflags libprotobuf-c) -o "$out/cgen/lkcore_ffi.pb-c.o"
  cc -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -I"$out/cgen" examples/c/dt_publisher.c \
    "$out/cgen/lkcore_ffi.pb-c.o" $(pkg-config --cflags --libs lkcore libprotobuf-c) -Wl,-rpath,"$lib" -o "$out/c_dt_publisher"
}
step "C++ tests under ASan/UBSan (+ leak probe; the examples' builds beside them)"
background examples-build "$out" examples_build
ASAN_OPTIONS=detect_leaks=1:allow_user_segv_handler=1:halt_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/cpp-asan --output-on-failure --no-tests=error

# ---------------------------------------------------------------------------------------------
step "examples/cpp against the installed prefix: find_package(lkcore) and pkg-config, and a C example"
await examples-build || fail "building the examples against the installed prefix"
# The package version follows the ABI: another major version is refused.
mkdir -p "$out/version-check"
printf 'cmake_minimum_required(VERSION 3.16)\nproject(v LANGUAGES CXX)\nfind_package(lkcore %s REQUIRED)\n' \
  "$((major + 1)).0" >"$out/version-check/CMakeLists.txt"
if cmake -S "$out/version-check" -B "$out/version-check/b" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1; then
  fail "find_package(lkcore $((major + 1)).0) accepted ABI $major.$minor"
fi

ex_c="$out/examples-cmake" ex_p="$out/examples-pc"
# A program built against this ABI minor needs exactly its liblkcore_cpp (both builds), and the C
# library by major only.
for prog in "$ex_c/dt_subscriber" "$ex_p/dt_publisher"; do
  needed=$(readelf -d "$prog")
  grep -q "NEEDED.*\[liblkcore_cpp.so.$major.$minor\]" <<<"$needed" || fail "$prog does not need liblkcore_cpp.so.$major.$minor"
  grep -q "NEEDED.*\[liblkcore.so.$major\]" <<<"$needed" || fail "$prog does not need liblkcore.so.$major"
done
"$ex_c/dt_subscriber" --url "$url" --token "$(mint examples sub)" --publisher pub --max 10 \
  >"$out/dt_subscriber.out" 2>&1 &
sub_pid=$!
"$ex_p/dt_publisher" --url "$url" --token "$(mint examples pub)" --frames 400 --hz 100 >"$out/dt_publisher.out" 2>&1 ||
  { cat "$out/dt_publisher.out" >&2; fail "dt_publisher (pkg-config build)"; }
wait $sub_pid || { cat "$out/dt_subscriber.out" >&2; fail "dt_subscriber (find_package build)"; }
tail -1 "$out/dt_subscriber.out"
grep -q "received 10 frames" "$out/dt_subscriber.out" || fail "dt_subscriber: unexpected output"

"$ex_c/dt_subscriber" --url "$url" --token "$(mint examples-c sub)" --publisher pub --max 5 \
  >"$out/dt_subscriber_c.out" 2>&1 &
sub_pid=$!
"$out/c_dt_publisher" "$url" "$(mint examples-c pub)" sensor 300 100 >"$out/c_dt_publisher.out" 2>&1 ||
  { cat "$out/c_dt_publisher.out" >&2; fail "C dt_publisher (pkg-config lkcore)"; }
wait $sub_pid || { cat "$out/dt_subscriber_c.out" >&2; fail "dt_subscriber with the C publisher"; }
echo "C publisher (pkg-config lkcore) -> C++ subscriber: $(tail -1 "$out/dt_subscriber_c.out")"

"$ex_p/rpc_callee" --url "$url" --token "$(mint examples callee)" --calls 2 >"$out/rpc_callee.out" 2>&1 &
callee_pid=$!
"$ex_c/rpc_caller" --url "$url" --token "$(mint examples caller)" --destination callee --payload "hello from C++" |
  tee "$out/rpc_caller.out"
grep -q "response: ++C morf olleh" "$out/rpc_caller.out" || fail "rpc_caller: unexpected answer"
set +e
"$ex_c/rpc_caller" --url "$url" --token "$(mint examples caller2)" --destination callee --payload "" >"$out/rpc_caller2.out"
rc=$?
set -e
cat "$out/rpc_caller2.out"
[ $rc -eq 3 ] && grep -q "rpc error 4000: empty payload" "$out/rpc_caller2.out" || fail "rpc_caller: expected the RPC error"
wait $callee_pid || { cat "$out/rpc_callee.out" >&2; fail "rpc_callee"; }

# ---------------------------------------------------------------------------------------------
step "./build.sh uninstall"
./build.sh uninstall "$prefix"
if [ -e "$prefix" ]; then
  find "$prefix" >&2
  fail "uninstall left files behind"
fi
step "cpp suite: OK"
