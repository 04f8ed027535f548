#!/usr/bin/env bash
# Generates bindings/python/lkcore/_proto (git-ignored) from capi/proto/lkcore_ffi.proto.
#
#   PYTHON=/path/to/python bindings/python/generate.sh
#
# The Python must have grpcio-tools==1.85.1 installed (pinned in lkcore_build.py; the test
# suite tests/suites/python.sh sets up such a venv under build/). `pip install ./bindings/python`
# runs the same generator itself, so this script is only needed for working from the source tree.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" "$here/lkcore_build.py"
