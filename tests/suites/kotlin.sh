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

echo "--- mvn test (bindings/kotlin)"
set +e
(cd "$root/bindings/kotlin" && kt_mvn test "$@")
rc=$?
set -e
exit $rc
