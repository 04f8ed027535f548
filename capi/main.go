// Command capi is lkcore's C ABI, built with -buildmode=c-shared into liblkcore.so. It is a
// thin shell: every export converts C arguments, recovers panics, and calls the plain-Go
// implementation in capi/internal/ffi. The ABI is declared and documented in
// include/lkcore.h, the messages in capi/proto/lkcore_ffi.proto.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdint.h>
#include <stdlib.h>
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/capi/internal/ffi"
)

func main() {}

// registry maps C client ids to clients. It is the only package-level mutable state of the
// library. Ids are never reused, so a closed client's id is told apart from one never issued.
var registry = struct {
	mu      sync.Mutex
	last    uint32
	clients map[uint32]*ffi.Client
}{clients: make(map[uint32]*ffi.Client)}

func lookup(id C.uint64_t) (*ffi.Client, ffipb.ErrorCode) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if id == 0 || uint64(id) > uint64(registry.last) {
		return nil, ffipb.ErrorCode_ERROR_CODE_INVALID_CLIENT
	}
	c := registry.clients[uint32(id)]
	if c == nil {
		return nil, ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED
	}
	return c, ffipb.ErrorCode_ERROR_CODE_OK
}

func register(deliver func(id uint32) func([]byte)) (uint32, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.last >= ffi.MaxClientID {
		return 0, ffi.Errorf(ffipb.ErrorCode_ERROR_CODE_LIMIT_REACHED, "client ids exhausted")
	}
	id := registry.last + 1
	c, err := ffi.NewClient(ffi.Options{ID: id, Deliver: deliver(id)})
	if err != nil {
		return 0, err
	}
	registry.last = id
	registry.clients[id] = c
	return id, nil
}

func unregister(id uint32) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(registry.clients, id)
}

func status(code ffipb.ErrorCode) C.int32_t { return C.int32_t(code) }

// recoverStatus turns a panic into LK_ERR_INTERNAL. Use as: defer recoverStatus(&st).
func recoverStatus(st *C.int32_t) {
	if r := recover(); r != nil {
		*st = status(ffipb.ErrorCode_ERROR_CODE_INTERNAL)
	}
}

// cBytes copies b into memory from C.malloc (at least one byte, so a successful call always
// returns a non-NULL pointer for lk_free).
func cBytes(b []byte) (*C.uint8_t, C.size_t) {
	n := len(b)
	p := C.malloc(C.size_t(max(n, 1)))
	if p == nil {
		return nil, 0
	}
	if n > 0 {
		copy(unsafe.Slice((*byte)(p), n), b)
	}
	return (*C.uint8_t)(p), C.size_t(n)
}
