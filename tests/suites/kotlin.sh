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

# The jar bundles the ARM builds when they exist (./build.sh lib linux-arm64 / linux-armv7): the
# suite bundles the same ones, linux-armv7 always (built here; in ./build.sh test the cross suite
# built it already). BundledLibrariesTest checks each lies in the folder JNA searches on its
# machine; Armv7JvmTest runs the binding in a 32-bit ARM JVM under qemu with the linux-arm one.
# Resources left in target/classes by an earlier run would be bundled too: removed first.
echo "--- the armv7 library and a 32-bit ARM JVM (tests/lib/armhf-root.sh)"
./build.sh lib linux-armv7 >"$kt_out/lib-armv7.log" 2>&1 || { tail -20 "$kt_out/lib-armv7.log" >&2; exit 1; }
source "$root/tests/lib/armhf-root.sh"
# Debian's headless JVM and the libraries it loads (no fonts, printing or sound).
armhf_root "$kt_out/armhf-jvm" openjdk-17-jre-headless libc6 libgcc-s1 libstdc++6 zlib1g
export LKCORE_TEST_ARMHF_ROOT="$ARMHF_ROOT" LKCORE_TEST_ARMHF_JAVA="$ARMHF_ROOT/usr/lib/jvm/java-17-openjdk-armhf/bin/java"
[ -x "$LKCORE_TEST_ARMHF_JAVA" ] || { echo "no armhf java at $LKCORE_TEST_ARMHF_JAVA" >&2; exit 1; }
rm -rf "$root/bindings/kotlin/target/classes"/linux-*
bundled=linux-x86-64
for t in linux-arm64:linux-aarch64 linux-armv7:linux-arm; do
  rm -rf "${kt_out:?}/${t%%:*}"
  if [ -f "$root/build/${t%%:*}/liblkcore.so" ]; then
    mkdir -p "$kt_out/${t%%:*}"
    cp "$root/build/${t%%:*}/liblkcore.so" "$kt_out/${t%%:*}/"
    bundled+=",${t#*:}"
  fi
done
export LKCORE_TEST_BUNDLED="$bundled"
echo "--- bundled in the jar: $bundled"

echo "--- mvn test (bindings/kotlin)"
set +e
# -Dlkcore.build.dir: the private library above is the one bundled in the jar (LoadingTest).
(cd "$root/bindings/kotlin" && kt_mvn test -Dlkcore.build.dir="$kt_out" "$@")
rc=$?
set -e
exit $rc
