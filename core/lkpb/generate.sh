#!/usr/bin/env bash
# Regenerates the Go types in core/lkpb from the .proto files of livekit/protocol.
#
# The protocol module is fetched with `go mod download` (never vendored or copied into the
# repo); protoc comes from Debian's protobuf-compiler and protoc-gen-go is the version pinned
# by go.mod's tool directive. Never edit the generated files by hand: change PROTOCOL_VERSION
# or this script and run it again. `./build.sh test` runs it and fails on any drift.
set -euo pipefail

PROTOCOL_VERSION=v1.54.0
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

command -v protoc >/dev/null || { echo "protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

src=$(go mod download -json "github.com/livekit/protocol@${PROTOCOL_VERSION}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src/protobufs" ] || { echo "could not download livekit/protocol ${PROTOCOL_VERSION}" >&2; exit 1; }

bin="$root/build/bin"
mkdir -p "$bin"
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go

pkg=github.com/lkcore/lkcore/core/lkpb
files=(livekit_models.proto livekit_rtc.proto livekit_metrics.proto logger/options.proto)
mopts=()
for f in "${files[@]}"; do
  case "$f" in
    logger/*) mopts+=("--go_opt=M$f=$pkg/loggerpb;loggerpb") ;;
    *) mopts+=("--go_opt=M$f=$pkg;lkpb") ;;
  esac
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
protoc --plugin=protoc-gen-go="$bin/protoc-gen-go" -I "$src/protobufs" \
  --go_out="$out" --go_opt=module="$pkg" "${mopts[@]}" "${files[@]}"

# Replace the generated files (and only them) in core/lkpb.
find "$here" -name '*.pb.go' -delete
cp -r "$out"/. "$here"/
echo "core/lkpb regenerated from livekit/protocol ${PROTOCOL_VERSION}"
