#!/usr/bin/env bash
# Builds examples/kotlin/target/lkcore-examples.jar: installs the Kotlin binding into the local
# Maven repository (tests skipped; tests/suites/kotlin.sh runs them), then packages the examples
# with everything they need. Expects Maven and a JDK (bindings/kotlin/devenv.sh installs them).
#
#   bash examples/kotlin/build.sh
#   java -cp examples/kotlin/target/lkcore-examples.jar io.lkcore.examples.DemoKt --url URL --token-a T1 --token-b T2
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# Bundle the library LKCORE_LIB names (e.g. bindings/kotlin/devenv.sh's private build), else
# build/liblkcore.so if it exists.
bundle=()
if [ -n "${LKCORE_LIB:-}" ] && [ "$(basename "$LKCORE_LIB")" = liblkcore.so ]; then
  bundle=(-Dlkcore.build.dir="$(cd "$(dirname "$LKCORE_LIB")" && pwd)")
fi
mvn -B -ntp -q -f "$root/bindings/kotlin/pom.xml" install -DskipTests ${bundle[@]+"${bundle[@]}"}
mvn -B -ntp -q -f "$root/examples/kotlin/pom.xml" package
echo "built $root/examples/kotlin/target/lkcore-examples.jar"
