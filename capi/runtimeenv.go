package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"os"
	"unsafe"

	"github.com/lkcore/lkcore/capi/internal/ffi"
)

// init applies GOGC and GOMEMLIMIT as the host's C environment has them when the library is
// loaded: the Go runtime only saw the environment the process started with.
func init() {
	ffi.ApplyHostRuntimeEnv(hostGetenv, os.LookupEnv)
}

// hostGetenv reads the C library's current environment (getenv), which reflects setenv and
// putenv calls the host made after start-up.
func hostGetenv(name string) (string, bool) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	v := C.getenv(cs)
	if v == nil {
		return "", false
	}
	return C.GoString(v), true
}
