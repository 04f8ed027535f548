#!/usr/bin/env bash
# C export panic recovery: builds capi with the lkcore_testhook tag, whose hooks panic inside
# each export class (request, push, read, next_event, close) on a magic argument, and checks
# that every export returns LK_ERR_INTERNAL without aborting. Also checks that a production
# build (no tag) compiles none of the hook files.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

echo "--- production build carries no test hook"
files=$(go list -f '{{join .GoFiles " "}} {{join .CgoFiles " "}}' ./capi)
for f in testhook_on.go testcalls_on.go; do
  case " $files " in
    *" $f "*) echo "$f is part of the production build of ./capi" >&2; exit 1 ;;
  esac
done

echo "--- export panic recovery (go test -tags lkcore_testhook ./capi)"
go test -race -count=1 -tags lkcore_testhook ./capi
