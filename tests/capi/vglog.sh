# Valgrind log filters used by tests/suites/capi.sh (sourced), and their self-check on the
# recorded logs in tests/capi/testdata (vg-*.log): every filter must accept what it is meant to
# accept and reject the rest, or the suite stops before it trusts them.

# only_go_syscall_params LOG: true when every error context of a valgrind log is a syscall
# parameter check of the Go runtime's own raw syscall on Go memory (see valgrind.supp: memcheck
# cannot suppress these), so nothing else — host errors, leaks — was reported. Memcheck calls such
# a buffer unaddressable or, for Go-heap bytes it did not see being written (Go zeroes all memory
# it hands out, so no Go value is really uninitialised), uninitialised — also a scalar argument
# (sendto's len) computed from such bytes; all count, and only with a Go syscall frame on top:
# the runtime's generic Syscall6 or one of its own assembly stubs (runtime.futex.abi0 in
# sys_linux_amd64.s, whose futex word lives in Go memory).
only_go_syscall_params() {
  local contexts go
  contexts=$(sed -n 's/.*ERROR SUMMARY: [0-9]* errors from \([0-9]*\) contexts.*/\1/p' "$1" | tail -1)
  go=$(awk '/Syscall param .* (points to (unaddressable|uninitialised) byte\(s\)|contains uninitialised byte\(s\))/{p=1; next} p && /at 0x[0-9A-F]+: (internal\/runtime\/syscall\/linux\.Syscall6 |runtime\.[a-z0-9_]+\.abi0 \(sys_linux_[a-z0-9]+\.s:)/{n++} {p=0} END{print n+0}' "$1")
  [ -n "$contexts" ] && [ "$contexts" -gt 0 ] && [ "$contexts" -eq "$go" ]
}

# Loss records whose allocation went through liblkcore (lkint_out in capi/memout.c, or cgo's
# C.malloc wrapper).
lkcore_leaks() { awk '/are (definitely|possibly) lost/{rec=1; hit=0} rec && /_Cfunc__Cmalloc|lkint_out|lk_[a-z_]+ \(/{hit=1} rec && /^==[0-9]+== $/{if (hit) n++; rec=0} END{print n+0}' "$1"; }

# vglog_selfcheck DIR: vg-go-syscalls.log (only Go runtime syscall reports: Syscall6 and the
# futex stub) must be accepted, vg-host-param.log (the same report with a host frame on top) and
# vg-host-invalid.log (an invalid read next to a Go syscall report) rejected; vg-leak.log must
# count one lkcore loss record and vg-go-syscalls.log none.
vglog_selfcheck() {
  local d=$1
  only_go_syscall_params "$d/vg-go-syscalls.log" || { echo "vglog: Go syscall log not accepted" >&2; return 1; }
  if only_go_syscall_params "$d/vg-host-param.log"; then echo "vglog: host syscall param accepted" >&2; return 1; fi
  if only_go_syscall_params "$d/vg-host-invalid.log"; then echo "vglog: invalid read accepted" >&2; return 1; fi
  [ "$(lkcore_leaks "$d/vg-leak.log")" -eq 1 ] || { echo "vglog: lkcore leak not counted" >&2; return 1; }
  [ "$(lkcore_leaks "$d/vg-go-syscalls.log")" -eq 0 ] || { echo "vglog: leak counted in a clean log" >&2; return 1; }
  echo "valgrind log filters: OK"
}
