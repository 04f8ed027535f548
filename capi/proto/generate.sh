#!/usr/bin/env bash
# Regenerates capi/ffipb (package ffipb) from every capi/proto/*.proto file (one package,
# lkcore.ffi.v1, split per domain; lkcore_ffi.proto holds the envelopes).
#
# protoc is the project's pinned one (tests/lib/protoc.sh); protoc-gen-go is the version pinned by
# go.mod's tool directive (same pattern as core/lkpb/generate.sh). Never edit capi/ffipb by hand: change
# the .proto and run this script (or ./build.sh gen), then commit both.
#
#   generate.sh           regenerate capi/ffipb
#   generate.sh --check   generate into a temporary directory and fail if capi/ffipb differs
#                         (touches no tracked file; ./build.sh test runs this)
set -euo pipefail
check=0
[ "${1:-}" = "--check" ] && check=1

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

bin="$root/build/bin"
mkdir -p "$bin"
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go

pkg=github.com/lkcore/lkcore/capi/ffipb
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$root/tests/lib/protoc.sh" --plugin=protoc-gen-go="$bin/protoc-gen-go" -I "$here" \
  --go_out="$out" --go_opt=module="$pkg" $(cd "$here" && ls *.proto)

dst="$root/capi/ffipb"
if [ $check -eq 1 ]; then
  if ! diff -r "$out" "$dst" >/dev/null; then
    diff -ru "$dst" "$out" | head -40 >&2 || true
    echo "capi/ffipb is out of date: run ./build.sh gen and commit the result" >&2
    exit 1
  fi
  echo "capi/ffipb is up to date"
  exit 0
fi
mkdir -p "$dst"
find "$dst" -name '*.pb.go' -delete
cp -r "$out"/. "$dst"/
echo "capi/ffipb regenerated from capi/proto/*.proto"
