#!/usr/bin/env bash
# Kotlin/JVM binding suite (run by ./build.sh test): installs Maven if missing, builds a private
# liblkcore.so and the devsfu CLI, starts lkcore-devsfu on a free loopback port and runs the
# binding's JUnit tests with Maven (which downloads its own dependencies, protoc included).
#
#   bash tests/suites/kotlin.sh [extra mvn args, e.g. -Dtest=RpcTest]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source "$root/bindings/kotlin/devenv.sh"
kt_start_devsfu

# Stand-in libraries for the load-time check (LoadingTest): another ABI major version, and an
# older minor version that lacks the newest function.
cc -shared -fPIC -o "$kt_out/libfakeabi.so" "$root/bindings/kotlin/src/test/c/fake_abi.c"
cc -shared -fPIC -DLK_FAKE_ABI_1_6 -o "$kt_out/libfakeabi16.so" "$root/bindings/kotlin/src/test/c/fake_abi.c"
export LKCORE_TEST_FAKE_ABI_LIB="$kt_out/libfakeabi.so" LKCORE_TEST_OLD_ABI_LIB="$kt_out/libfakeabi16.so"

echo "--- mvn test (bindings/kotlin)"
set +e
# -Dlkcore.build.dir: the private library above is the one bundled in the jar (LoadingTest).
(cd "$root/bindings/kotlin" && kt_mvn test -Dlkcore.build.dir="$kt_out" "$@")
rc=$?
set -e
exit $rc
