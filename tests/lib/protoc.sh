#!/usr/bin/env bash
# The project's one protoc, used for every generated file (Go: core/lkpb, capi/ffipb; Python:
# bindings/python/lkcore/_proto): the protoc bundled with a pinned grpcio-tools release, installed
# from PyPI into a build-local venv (build/protoc-venv) the first time it is needed.
#
#   tests/lib/protoc.sh ARGS...      run protoc; the well-known types (google/protobuf/*.proto)
#                                  are on the include path
#   tests/lib/protoc.sh --python     print the venv's python (it has grpc_tools and protobuf)
#   tests/lib/protoc.sh --pin        print the pinned grpcio-tools version
#
# The Go output embeds this protoc's version (`// protoc vX.Y.Z`), so changing the pin changes
# the generated Go files: run ./build.sh gen and commit them. The pin is also written in
# bindings/python (lkcore_build.py, pyproject.toml, devenv.sh); ./build.sh test fails when
# those copies differ from the one here.
set -euo pipefail

# The pin: grpcio-tools and the two packages it pulls in, all exact.
GRPCIO_TOOLS_VERSION=1.85.1
PINS=("grpcio-tools==$GRPCIO_TOOLS_VERSION" grpcio==1.85.3 protobuf==7.36.2)

root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/build/protoc-venv"
py="$venv/bin/python"

if [ "${1:-}" = "--pin" ]; then
  echo "$GRPCIO_TOOLS_VERSION"
  exit 0
fi

ensure_venv() {
  local stamp="$venv/.lkcore-pins"
  if [ -x "$py" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${PINS[*]}" ]; then
    return 0
  fi
  local missing=()
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
  fi
  bash "$root/tests/lib/apt-install.sh" ${missing[@]+"${missing[@]}"}
  echo "installing protoc (grpcio-tools $GRPCIO_TOOLS_VERSION) into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$root/build"
  python3 -m venv "$venv"
  "$py" -m pip install -q --disable-pip-version-check "${PINS[@]}" >&2
  echo "${PINS[*]}" >"$stamp"
}

ensure_venv
if [ "${1:-}" = "--python" ]; then
  echo "$py"
  exit 0
fi
wkt=$("$py" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
exec "$py" -m grpc_tools.protoc -I "$wkt" "$@"
