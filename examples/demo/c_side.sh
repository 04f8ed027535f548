# Sourced by the cross-language demos (examples/demo/crosslang.sh, examples/kotlin/crosslang.sh):
# the end of the C half, shared by both.
#
#   c_side_finish DIR   waits (bounded) for the C subscriber ($sub) and RPC callee ($callee),
#                       which exit by themselves after FRAMES frames / CALLS calls, prints the
#                       last lines of DIR/c-sub.out and DIR/c-callee.out, and exits with the
#                       first failing exit status.
c_side_finish() {
  local dir=$1 rc=0
  for _ in $(seq 1 100); do
    kill -0 "$sub" 2>/dev/null || kill -0 "$callee" 2>/dev/null || break
    sleep 0.1
  done
  wait "$sub" || rc=$?
  wait "$callee" || rc=$?
  echo "--- C subscriber (last lines)"
  tail -n 4 "$dir/c-sub.out"
  echo "--- C RPC callee (last lines)"
  tail -n 2 "$dir/c-callee.out"
  [ "$rc" -eq 0 ] || { echo "a C program failed (exit $rc)" >&2; exit "$rc"; }
}
