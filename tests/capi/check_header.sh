#!/usr/bin/env bash
# Checks that include/lkcore.h and liblkcore.so agree:
#  1. builds build/liblkcore.so (go build -buildmode=c-shared ./capi);
#  2. compiles a C11 and a C++17 program including lkcore.h with -Wall -Wextra -Werror
#     -pedantic, taking every function with its declared type, links it against the .so and
#     runs it (ABI version check);
#  3. every lk_* symbol exported by the .so (nm -D) is declared in lkcore.h, and vice versa;
#  4. the declared prototypes match the ones cgo generates for the //export functions.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/build/capi-check"
mkdir -p "$out"

go build -buildmode=c-shared -o build/liblkcore.so ./capi
mv -f build/liblkcore.h "$out/cgo_exports.h" # cgo's header is only used for the comparison

CC=${CC:-cc}
CXX=${CXX:-c++}
link=(-Lbuild -llkcore "-Wl,-rpath,$root/build")
"$CC" -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude tests/capi/header_check.c "${link[@]}" -o "$out/header_check_c"
"$CXX" -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -x c++ tests/capi/header_check.c -x none "${link[@]}" -o "$out/header_check_cxx"
"$out/header_check_c"
"$out/header_check_cxx"

exported=$(nm -D --defined-only build/liblkcore.so | awk '{print $3}' | grep '^lk_' | sort -u)
declared=$(python3 tests/capi/compare_prototypes.py --names include/lkcore.h | sort -u)
if [ "$exported" != "$declared" ]; then
  echo "exported lk_ symbols and lkcore.h declarations differ (< exported, > declared):" >&2
  diff <(echo "$exported") <(echo "$declared") >&2 || true
  exit 1
fi
echo "symbols: $(echo "$exported" | wc -l) lk_ functions exported and declared"

python3 tests/capi/compare_prototypes.py include/lkcore.h "$out/cgo_exports.h"
echo "check_header: OK"
