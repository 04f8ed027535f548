#!/usr/bin/env bash
# C ABI suite: header/export consistency, the GoogleTest programs against liblkcore.so (natively
# and under valgrind memcheck) — the ABI tests and the end-to-end tests against the devsfu CLI —,
# a leak probe proving the leak check works, and the C examples.
# Installs what it needs (gcc, g++, valgrind, libgtest-dev, python3, binutils) when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/build/capi-tests"
mkdir -p "$out"

missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v nm >/dev/null 2>&1 || missing+=(binutils)
[ -f /usr/include/gtest/gtest.h ] || missing+=(libgtest-dev)
bash "$root/tests/lib/apt-install.sh" ${missing[@]+"${missing[@]}"}

echo "--- header and exports"
./tests/capi/check_header.sh # also builds build/liblkcore.so

echo "--- building the C tests"
link=(-Lbuild -llkcore "-Wl,-rpath,$root/build")
c++ -std=c++17 -Wall -Wextra -Werror -O1 -g -Iinclude tests/capi/capi_test.cc "${link[@]}" \
  -lgtest -lgtest_main -pthread -o "$out/capi_test"
c++ -std=c++17 -Wall -Wextra -Werror -O1 -g -Iinclude tests/capi/e2e_test.cc "${link[@]}" \
  -lgtest -lgtest_main -pthread -o "$out/e2e_test"
c++ -std=c++17 -Wall -Wextra -Werror -O1 -g -Iinclude tests/capi/caps_test.cc "${link[@]}" \
  -lgtest -lgtest_main -pthread -o "$out/caps_test"
cc -std=c11 -Wall -Wextra -Werror -g -Iinclude tests/capi/leak_probe.c "${link[@]}" -o "$out/leak_probe"
cc -std=c11 -Wall -Wextra -Werror -g -Iinclude tests/capi/fork_test.c "${link[@]}" -o "$out/fork_test"
c++ -std=c++17 -Wall -Wextra -Werror -O2 -Iinclude tests/capi/bench.cc "${link[@]}" -pthread -o "$out/bench"

echo "--- starting the devsfu CLI"
go build -o build/lkcore-devsfu ./tests/devsfu/cmd/lkcore-devsfu
. tests/lib/devsfu.sh
devsfu_start build/lkcore-devsfu "$out/devsfu" --update-batch-interval 20ms
export LK_URL=$devsfu_url
mint() { devsfu_mint "$@"; }
LK_TOKEN_A=$(mint capi-e2e alice) LK_TOKEN_B=$(mint capi-e2e bob)
LK_TOKEN_C=$(mint capi-e2e-2 carol) LK_TOKEN_D=$(mint capi-e2e-2 dave)
export LK_TOKEN_A LK_TOKEN_B LK_TOKEN_C LK_TOKEN_D
echo "devsfu at $LK_URL"

echo "--- capi_test"
"$out/capi_test"
echo "--- fork_test (a child forked after loading gets LK_ERR_FORKED at once)"
"$out/fork_test"
echo "--- e2e_test (against devsfu)"
"$out/e2e_test"
echo "--- caps_test (against devsfu)"
LK_TOKEN_CAPS_A=$(mint capi-caps alice) LK_TOKEN_CAPS_B=$(mint capi-caps bob) "$out/caps_test"

# Under valgrind: Go's own (memory-safe) code is suppressed, see tests/capi/valgrind.supp.
# GC and asynchronous preemption are turned off only to cut the volume of suppressed noise.
vg=(valgrind --error-exitcode=99 --suppressions=tests/capi/valgrind.supp --leak-check=full
  --show-leak-kinds=definite,possible --errors-for-leak-kinds=definite,possible --num-callers=30)
export GOGC=off GODEBUG=asyncpreemptoff=1

# Valgrind log filters (only_go_syscall_params, lkcore_leaks), checked on recorded logs first.
. tests/capi/vglog.sh
echo "--- valgrind log filters on recorded logs"
vglog_selfcheck tests/capi/testdata


echo "--- leak probe (must be caught)"
set +e
"${vg[@]}" "$out/leak_probe" >"$out/leak_probe.valgrind.log" 2>&1
rc=$?
set -e
if [ $rc -ne 99 ] || [ "$(lkcore_leaks "$out/leak_probe.valgrind.log")" -lt 1 ]; then
  echo "valgrind did not report the deliberate lkcore leak (exit $rc); see $out/leak_probe.valgrind.log" >&2
  exit 1
fi
echo "deliberate leak detected: $(lkcore_leaks "$out/leak_probe.valgrind.log") lkcore loss record(s)"

echo "--- capi_test under valgrind"
set +e
"${vg[@]}" "$out/capi_test" >"$out/capi_test.valgrind.log" 2>&1
rc=$?
set -e
grep -E "ERROR SUMMARY|definitely lost:|possibly lost:|PASSED|FAILED" "$out/capi_test.valgrind.log" || true
echo "leaks attributable to lkcore: $(lkcore_leaks "$out/capi_test.valgrind.log")"
if [ $rc -eq 99 ] && only_go_syscall_params "$out/capi_test.valgrind.log"; then
  echo "(only Go-runtime syscall parameter reports, which memcheck cannot suppress: accepted)"
  rc=0
fi
if [ $rc -ne 0 ]; then
  echo "capi_test under valgrind failed (exit $rc); log: $out/capi_test.valgrind.log" >&2
  grep -B2 -A25 -E "are (definitely|possibly) lost|Invalid|uninitialised|FAILED" "$out/capi_test.valgrind.log" | head -120 >&2 || true
  exit 1
fi
echo "--- C examples against devsfu"
bash examples/c/deps.sh # protobuf-c: the examples' FFI messages are generated at build time
make -s -C examples/c LIBDIR="$root/build" OUT="$out/examples"
ex="$out/examples"
"$ex/dt_subscriber" "$LK_URL" "$(mint examples sub)" pub sensor 20 >"$out/dt_subscriber.out" 2>&1 &
sub_pid=$!
sleep 0.5
"$ex/dt_publisher" "$LK_URL" "$(mint examples pub)" sensor 300 100 >"$out/dt_publisher.out" 2>&1 || { cat "$out/dt_publisher.out" >&2; exit 1; }
wait $sub_pid || { echo "dt_subscriber failed" >&2; cat "$out/dt_subscriber.out" >&2; exit 1; }
tail -1 "$out/dt_subscriber.out"
"$ex/rpc_callee" "$LK_URL" "$(mint examples callee)" reverse 1 >"$out/rpc_callee.out" 2>&1 &
callee_pid=$!
"$ex/rpc_caller" "$LK_URL" "$(mint examples caller)" callee reverse "hello from C" | tee "$out/rpc_caller.out"
grep -q "response: C morf olleh" "$out/rpc_caller.out" || { echo "rpc_caller: unexpected answer" >&2; exit 1; }
wait $callee_pid || { echo "rpc_callee failed" >&2; cat "$out/rpc_callee.out" >&2; exit 1; }

if [ "${LK_BENCH:-}" = 1 ]; then
  echo "--- C ABI micro-benchmarks"
  LK_TOKEN_A=$(mint bench bencher) "$out/bench"
  go build -buildmode=c-shared -trimpath -ldflags="-s -w" -o "$out/liblkcore-stripped.so" ./capi
  echo "{\"measure\":\"stripped_liblkcore_so_bytes\",\"bytes\":$(stat -c %s "$out/liblkcore-stripped.so")}"
fi

echo "--- e2e_test under valgrind"
# Fresh tokens and room: the native run's participants may still be leaving.
LK_TOKEN_A=$(mint capi-e2e-vg alice) LK_TOKEN_B=$(mint capi-e2e-vg bob)
LK_TOKEN_C=$(mint capi-e2e-vg-2 carol) LK_TOKEN_D=$(mint capi-e2e-vg-2 dave)
set +e
"${vg[@]}" "$out/e2e_test" >"$out/e2e_test.valgrind.log" 2>&1
rc=$?
set -e
grep -E "ERROR SUMMARY|definitely lost:|possibly lost:|PASSED|FAILED" "$out/e2e_test.valgrind.log" || true
echo "leaks attributable to lkcore: $(lkcore_leaks "$out/e2e_test.valgrind.log")"
if [ $rc -eq 99 ] && only_go_syscall_params "$out/e2e_test.valgrind.log"; then
  echo "(only Go-runtime syscall parameter reports, which memcheck cannot suppress: accepted)"
  rc=0
fi
if [ $rc -ne 0 ]; then
  echo "e2e_test under valgrind failed (exit $rc); log: $out/e2e_test.valgrind.log" >&2
  grep -B2 -A25 -E "are (definitely|possibly) lost|Invalid|uninitialised|FAILED" "$out/e2e_test.valgrind.log" | head -120 >&2 || true
  exit 1
fi
echo "capi suite: OK"
