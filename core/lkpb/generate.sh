#!/usr/bin/env bash
# Regenerates the Go types in core/lkpb from the .proto files of livekit/protocol.
#
# The protocol module is fetched with `go mod download` (never vendored or copied into the
# repo); protoc is the project's pinned one (tests/lib/protoc.sh) and protoc-gen-go is the version
# pinned by go.mod's tool directive. Never edit the generated files by hand: change
# PROTOCOL_VERSION or this script and run it again.
#
#   generate.sh           regenerate core/lkpb/**/*.pb.go
#   generate.sh --check   generate into a temporary directory and fail if core/lkpb differs
#                         (touches no tracked file; ./build.sh test runs this)
set -euo pipefail
check=0
[ "${1:-}" = "--check" ] && check=1

PROTOCOL_VERSION=v1.54.1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

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
"$root/tests/lib/protoc.sh" --plugin=protoc-gen-go="$bin/protoc-gen-go" -I "$src/protobufs" \
  --go_out="$out" --go_opt=module="$pkg" "${mopts[@]}" "${files[@]}"

if [ $check -eq 1 ]; then
  # Compare the generated files only (doc.go and this script live beside them).
  have=$(cd "$here" && find . -name '*.pb.go' | sort)
  want=$(cd "$out" && find . -name '*.pb.go' | sort)
  drift=0
  [ "$have" = "$want" ] || drift=1
  for f in $want; do
    cmp -s "$out/$f" "$here/$f" || { drift=1; diff -u "$here/$f" "$out/$f" 2>&1 | head -20 >&2 || true; }
  done
  if [ $drift -ne 0 ]; then
    echo "core/lkpb is out of date: run ./build.sh gen and commit the result" >&2
    exit 1
  fi
  echo "core/lkpb is up to date"
  exit 0
fi

# Replace the generated files (and only them) in core/lkpb.
find "$here" -name '*.pb.go' -delete
cp -r "$out"/. "$here"/
echo "core/lkpb regenerated from livekit/protocol ${PROTOCOL_VERSION}"
