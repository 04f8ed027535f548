#!/usr/bin/env bash
# protobuf-c-gen.sh OUTDIR: generates the protobuf-c code for the FFI schema (capi/proto/*.proto,
# one package split per domain) into OUTDIR. Called by the Makefile; nothing generated is
# checked in. Consumers include lkcore_ffi.pb-c.h (it includes the other files' headers) and
# compile lkcore_ffi.pb-c.c only: the other files' .c are appended to it by #include, so one
# object carries the whole schema.
#
# Debian's protobuf-c (1.4.x) predates proto3 `optional`, so the schema is first copied with
# every `optional T name = N;` written as the equivalent one-member oneof
# `oneof _name { T name = N; }` — exactly how protoc itself represents proto3 optional fields,
# and identical on the wire. In C the presence of such a field is then `<msg>->_name_case`.
# lkcore_ffi_options.proto declares schema options only (nothing on the wire) and needs
# google/protobuf/descriptor.proto, which protobuf-c does not ship: the copy leaves it out,
# with its import and the `[(request_mode) = ...]` annotations.
set -euo pipefail
out=${1:?usage: protobuf-c-gen.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
protodir="$here/../../capi/proto"
command -v protoc-c >/dev/null || { echo "protoc-c not found (Debian: protobuf-c-compiler)" >&2; exit 1; }
mkdir -p "$out"
files=()
for proto in "$protodir"/*.proto; do
  name=$(basename "$proto")
  [ "$name" = lkcore_ffi_options.proto ] && continue
  sed -E -e 's/^([[:space:]]*)optional[[:space:]]+([A-Za-z0-9_.]+)[[:space:]]+([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+)[[:space:]]*;/\1oneof _\3 { \2 \3 = \4; }/' \
    -e '/^import "lkcore_ffi_options.proto";/d' \
    -e 's/[[:space:]]*\[\(request_mode\)[[:space:]]*=[[:space:]]*[A-Z_]+\]//' \
    "$proto" >"$out/$name"
  if grep -Eq '^[[:space:]]*optional[[:space:]]|\[\(request_mode\)' "$out/$name"; then
    echo "protobuf-c-gen.sh: $name: an optional field or a request_mode option was not rewritten" >&2
    exit 1
  fi
  files+=("$name")
done
(cd "$out" && protoc-c -I . --c_out=. "${files[@]}")
for name in "${files[@]}"; do
  [ "$name" = lkcore_ffi.proto ] && continue
  echo "#include \"${name%.proto}.pb-c.c\"" >>"$out/lkcore_ffi.pb-c.c"
done
