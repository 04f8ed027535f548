# Sourced by the suites that overlap work (tests/suites/cpp.sh, python-install.sh): jobs run in
# the background by name, each in its own process group so that stopping it stops its children
# (compilers, pip) too.
#
#   background NAME DIR FUNCTION   runs the shell function with `set -euo pipefail` in the
#                                  background, its output in DIR/NAME.log; the variables and other
#                                  functions it uses must be exported (export, export -f)
#   await NAME                     waits for the job; when it failed, prints its log's last 40
#                                  lines to stderr and returns 1 (the caller fails the suite)
#   background_stop                kills the jobs still running (for the suite's EXIT trap)
declare -A bg_pid=() bg_log=()

background() {
  setsid bash -c "set -euo pipefail; $(declare -f "$3"); $3" >"$2/$1.log" 2>&1 &
  bg_pid[$1]=$!
  bg_log[$1]="$2/$1.log"
}

await() {
  local rc=0
  wait "${bg_pid[$1]}" || rc=$?
  unset "bg_pid[$1]"
  [ "$rc" -eq 0 ] || { tail -40 "${bg_log[$1]}" >&2; return 1; }
}

background_stop() {
  local pid
  for pid in "${bg_pid[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
