#!/usr/bin/env bash
# Cross-architecture suite (run by ./build.sh test): the library built for another Linux
# architecture works there, end to end. For each target it cross-compiles liblkcore.so with
# `./build.sh lib TARGET` (Debian's cross compiler), builds GoogleTest and the C ABI tests
# (tests/capi/capi_test.cc, e2e_test.cc, caps_test.cc) with the same cross compiler, and runs
# them under qemu's user-mode emulation against the native devsfu CLI over loopback: the
# emulated process is a real client (signalling, ICE, DTLS, SCTP, data tracks, RPC, streams).
# Before that, every Go package and test must compile for 32-bit ARM (go vet, GOARCH=arm),
# where int is 32 bits, and the Go tests of every package but core/room run as programs of each
# target under qemu (`go test -exec`): codecs, packetisers, budgets and the FFI layer where int is
# 32 bits and a 64-bit atomic needs 8-byte alignment. core/room's end-to-end tests (more than two
# minutes emulated) are left to the C ABI tests below, which run the same room code in the
# emulated library.
#
#   bash tests/suites/cross.sh [TARGET...]   TARGET: linux-armv7 (default), linux-arm64
#
# ./build.sh test runs linux-armv7, the 32-bit target, where the code differs most from the
# x86-64 machine the other suites run on; linux-arm64 was run the same way (docs/testing.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux-armv7)

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[ -f /usr/src/googletest/CMakeLists.txt ] || missing+=(googletest)
for t in "${targets[@]}"; do
  case "$t" in
    linux-armv7)
      command -v arm-linux-gnueabihf-g++ >/dev/null 2>&1 || missing+=(g++-arm-linux-gnueabihf)
      command -v qemu-arm >/dev/null 2>&1 || missing+=(qemu-user) ;;
    linux-arm64)
      command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || missing+=(g++-aarch64-linux-gnu)
      command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user) ;;
    *) echo "cross.sh: unknown target '$t' (linux-armv7, linux-arm64)" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] || bash tests/lib/apt-install.sh $(printf '%s\n' "${missing[@]}" | sort -u)

echo "--- go vet, 32-bit ARM (GOARCH=arm): every package and test compiles where int is 32 bits"
GOARCH=arm CGO_ENABLED=0 go vet ./...

for t in "${targets[@]}"; do
  case "$t" in
    linux-armv7) goenv=(GOARCH=arm GOARM=7) qemu=qemu-arm ;;
    linux-arm64) goenv=(GOARCH=arm64) qemu=qemu-aarch64 ;;
  esac
  echo "--- Go tests for $t under $qemu (every package but core/room)"
  # Static programs (no cgo): qemu needs no C library for them.
  # shellcheck disable=SC2046 # the package list is one word per package
  env "${goenv[@]}" CGO_ENABLED=0 go test -exec "$qemu" -count=1 -timeout 10m \
    $(go list ./core/... ./capi/internal/... ./tests/... | grep -v '/core/room$')
done

echo "--- starting the devsfu CLI (native)"
out="$root/build/cross"
mkdir -p "$out"
go build -o "$out/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu
. tests/lib/devsfu.sh
devsfu_start "$out/lkcore-devsfu" "$out/devsfu" --update-batch-interval 20ms
export LK_URL=$devsfu_url
mint() { devsfu_mint "$@"; }

for t in "${targets[@]}"; do
  case "$t" in
    linux-armv7) triplet=arm-linux-gnueabihf qemu=qemu-arm ;;
    linux-arm64) triplet=aarch64-linux-gnu qemu=qemu-aarch64 ;;
  esac
  tout="$out/$t"
  mkdir -p "$tout"
  ./build.sh lib "$t" # build/$t/liblkcore.so

  echo "--- GoogleTest for $t"
  if [ ! -f "$tout/gtest/lib/libgtest.a" ]; then
    cmake -S /usr/src/googletest -B "$tout/gtest-build" -DCMAKE_SYSTEM_NAME=Linux \
      -DCMAKE_C_COMPILER="$triplet-gcc" -DCMAKE_CXX_COMPILER="$triplet-g++" -DBUILD_GMOCK=OFF \
      -DCMAKE_INSTALL_PREFIX="$tout/gtest" >"$tout/gtest.log" 2>&1 &&
      cmake --build "$tout/gtest-build" -j "$(nproc)" >>"$tout/gtest.log" 2>&1 &&
      cmake --install "$tout/gtest-build" >>"$tout/gtest.log" 2>&1 ||
      { tail -30 "$tout/gtest.log" >&2; exit 1; }
  fi

  echo "--- the C ABI tests for $t"
  for prog in capi_test e2e_test caps_test; do
    "$triplet-g++" -std=c++17 -Wall -Wextra -Werror -O1 -Iinclude -I"$tout/gtest/include" \
      "tests/capi/$prog.cc" -L"build/$t" -llkcore -Wl,-rpath,"$root/build/$t" \
      "$tout/gtest/lib/libgtest.a" "$tout/gtest/lib/libgtest_main.a" -pthread -o "$tout/$prog"
  done

  # -L: the target's C library and loader from the cross toolchain's sysroot. LD_LIBRARY_PATH
  # keeps them together on a machine that also has Debian's own libraries for that architecture
  # installed (multiarch, e.g. libc6:armhf): the loader would find those first through the
  # machine's /etc/ld.so.cache, load another build of the C library and crash.
  run() { "$qemu" -L "/usr/$triplet" -E LD_LIBRARY_PATH="/usr/$triplet/lib" "$@"; }
  echo "--- $t under $qemu: capi_test"
  run "$tout/capi_test"
  echo "--- $t under $qemu: e2e_test (against devsfu)"
  LK_TOKEN_A=$(mint "$t-e2e" alice) LK_TOKEN_B=$(mint "$t-e2e" bob) \
    LK_TOKEN_C=$(mint "$t-e2e-2" carol) LK_TOKEN_D=$(mint "$t-e2e-2" dave) run "$tout/e2e_test"
  echo "--- $t under $qemu: caps_test (against devsfu)"
  LK_TOKEN_CAPS_A=$(mint "$t-caps" alice) LK_TOKEN_CAPS_B=$(mint "$t-caps" bob) run "$tout/caps_test"
done
echo "--- cross suite: OK (${targets[*]})"
