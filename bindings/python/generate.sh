#!/usr/bin/env bash
# Generates bindings/python/lkcore/_proto (git-ignored) from capi/proto/*.proto.
#
#   PYTHON=/path/to/python bindings/python/generate.sh
#
# The Python must have grpcio-tools==1.85.1 installed (the project's pinned protoc, see
# tests/lib/protoc.sh; lkcore_build.py checks the version). Without PYTHON, the build-local venv of
# tests/lib/protoc.sh is used (created on first use), i.e. the same protoc that generates the Go
# code. `pip install ./bindings/python` runs the same generator itself, so this script is only
# needed for working from the source tree.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-}
[ -n "$python" ] || python=$("$here/../../tests/lib/protoc.sh" --python)
exec "$python" "$here/lkcore_build.py"
