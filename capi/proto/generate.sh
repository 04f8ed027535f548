#!/usr/bin/env bash
# Regenerates capi/ffipb (package ffipb) from capi/proto/lkcore_ffi.proto.
#
# protoc comes from Debian's protobuf-compiler; protoc-gen-go is the version pinned by go.mod's
# tool directive (same pattern as core/lkpb/generate.sh). Never edit capi/ffipb by hand: change
# the .proto and run this script (or ./build.sh gen), then commit both.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

command -v protoc >/dev/null || { echo "protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

bin="$root/build/bin"
mkdir -p "$bin"
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go

pkg=github.com/lkcore/lkcore/capi/ffipb
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
protoc --plugin=protoc-gen-go="$bin/protoc-gen-go" -I "$here" \
  --go_out="$out" --go_opt=module="$pkg" lkcore_ffi.proto

dst="$root/capi/ffipb"
mkdir -p "$dst"
find "$dst" -name '*.pb.go' -delete
cp -r "$out"/. "$dst"/
echo "capi/ffipb regenerated from capi/proto/lkcore_ffi.proto"
