// Command capi is lkcore's C ABI, built with -buildmode=c-shared into liblkcore.so. It is a
// thin shell: the public lk_* functions (entry.c) refuse calls in a forked child, then call
// the cgo exports (exports.go), which convert C arguments, recover panics, and call the
// plain-Go implementation in capi/internal/ffi. The ABI is declared and documented in
// include/lkcore.h, the messages in capi/proto/*.proto.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

bool lkint_out(uint8_t **out, size_t *out_len, const uint8_t *src, size_t n);
void lkint_copy(uint8_t *dst, const uint8_t *src, size_t n);
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
	buffers map[uint32]*eventBuffer
}{clients: make(map[uint32]*ffi.Client), buffers: make(map[uint32]*eventBuffer)}

// eventBuffer is the C memory a callback client's events are copied into before the callback
// sees them: the host reads ordinary malloc'd memory (which memory checkers such as valgrind
// and ASan understand), never the Go heap. Used only by the client's dispatcher goroutine;
// freed when the client is unregistered, after the dispatcher has exited.
type eventBuffer struct {
	p   unsafe.Pointer
	cap int
}

// fill copies ev into the buffer (growing it) and returns it, or nil when out of memory.
func (b *eventBuffer) fill(ev []byte) *C.uint8_t {
	if len(ev) > b.cap || b.p == nil {
		n := max(len(ev), 2*b.cap, 4096)
		p := C.malloc(C.size_t(n))
		if p == nil {
			return nil
		}
		C.free(b.p)
		b.p, b.cap = p, n
	}
	if len(ev) > 0 {
		C.lkint_copy((*C.uint8_t)(b.p), (*C.uint8_t)(unsafe.Pointer(&ev[0])), C.size_t(len(ev)))
	}
	return (*C.uint8_t)(b.p)
}

func (b *eventBuffer) free() {
	C.free(b.p)
	b.p, b.cap = nil, 0
}

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

func register(deliver func(id uint32, buf *eventBuffer) func([]byte)) (uint32, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.last >= ffi.MaxClientID {
		return 0, ffi.Errorf(ffipb.ErrorCode_ERROR_CODE_LIMIT_REACHED, "client ids exhausted")
	}
	id := registry.last + 1
	buf := &eventBuffer{}
	c, err := ffi.NewClient(ffi.Options{ID: id, Deliver: deliver(id, buf), HostEnv: hostGetenv})
	if err != nil {
		return 0, err
	}
	registry.last = id
	registry.clients[id] = c
	registry.buffers[id] = buf
	return id, nil
}

// unregister forgets a closed client whose dispatcher has exited and frees its event buffer.
func unregister(id uint32) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(registry.clients, id)
	if b := registry.buffers[id]; b != nil {
		b.free()
		delete(registry.buffers, id)
	}
}

func status(code ffipb.ErrorCode) C.int32_t { return C.int32_t(code) }

// recoverStatus turns a panic into LK_ERR_INTERNAL. Use as: defer recoverStatus(&st).
func recoverStatus(st *C.int32_t) {
	if r := recover(); r != nil {
		*st = status(ffipb.ErrorCode_ERROR_CODE_INTERNAL)
	}
}

// outBytes hands a copy of b to the host through out/outLen (memory from malloc, at least one
// byte, so success is never NULL; see memout.c). It reports false when out of memory.
func outBytes(out **C.uint8_t, outLen *C.size_t, b []byte) bool {
	var src *C.uint8_t
	if len(b) > 0 {
		src = (*C.uint8_t)(unsafe.Pointer(&b[0]))
	}
	return bool(C.lkint_out(out, outLen, src, C.size_t(len(b))))
}
