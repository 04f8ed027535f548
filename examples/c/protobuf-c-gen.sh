#!/usr/bin/env bash
# protobuf-c-gen.sh OUTDIR: generates the protobuf-c code for capi/proto/lkcore_ffi.proto into
# OUTDIR (lkcore_ffi.pb-c.h, lkcore_ffi.pb-c.c). Called by the Makefile; nothing generated is
# checked in.
#
# Debian's protobuf-c (1.4.x) predates proto3 `optional`, so the schema is first copied with
# every `optional T name = N;` written as the equivalent one-member oneof
# `oneof _name { T name = N; }` — exactly how protoc itself represents proto3 optional fields,
# and identical on the wire. In C the presence of such a field is then `<msg>->_name_case`.
set -euo pipefail
out=${1:?usage: protobuf-c-gen.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
proto="$here/../../capi/proto/lkcore_ffi.proto"
command -v protoc-c >/dev/null || { echo "protoc-c not found (Debian: protobuf-c-compiler)" >&2; exit 1; }
mkdir -p "$out"
sed -E 's/^([[:space:]]*)optional[[:space:]]+([A-Za-z0-9_.]+)[[:space:]]+([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+)[[:space:]]*;/\1oneof _\3 { \2 \3 = \4; }/' \
  "$proto" >"$out/lkcore_ffi.proto"
if grep -Eq '^[[:space:]]*optional[[:space:]]' "$out/lkcore_ffi.proto"; then
  echo "protobuf-c-gen.sh: an optional field was not rewritten" >&2
  exit 1
fi
protoc-c -I "$out" --c_out="$out" "$out/lkcore_ffi.proto"
