#!/usr/bin/env bash
# deps.sh: installs what building the C examples needs (a C compiler, make, protobuf-c's
# compiler and library) when missing. Used by tests/suites/capi.sh and examples/demo/crosslang.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v protoc-c >/dev/null 2>&1 || missing+=(protobuf-c-compiler)
[ -f /usr/include/protobuf-c/protobuf-c.h ] || missing+=(libprotobuf-c-dev)
bash "$root/tests/lib/apt-install.sh" ${missing[@]+"${missing[@]}"}
