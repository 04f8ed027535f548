//go:build lkcore_testhook

package main

/*
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lkcore.h"
*/
import "C"

import "unsafe"

// Go-typed calls of the public C entry points (entry.c, then exports.go) for the tests (test
// files cannot use cgo). Test build only.

func cBytes(b []byte) (*C.uint8_t, func()) {
	if len(b) == 0 {
		return nil, func() {}
	}
	p := C.CBytes(b)
	return (*C.uint8_t)(p), func() { C.free(p) }
}

func callClientNew() uint64 { return uint64(C.lk_client_new(nil, nil)) }

func callClientClose(client uint64, timeoutMs int32) int32 {
	return int32(C.lk_client_close(C.uint64_t(client), C.int32_t(timeoutMs)))
}

func callRequest(client uint64, req []byte) (int32, []byte) {
	p, free := cBytes(req)
	defer free()
	var out *C.uint8_t
	var n C.size_t
	st := C.lk_request(C.uint64_t(client), p, C.size_t(len(req)), &out, &n)
	if out == nil {
		return int32(st), nil
	}
	defer C.lk_free(unsafe.Pointer(out))
	return int32(st), C.GoBytes(unsafe.Pointer(out), C.int(n))
}

func callNextEvent(client uint64, timeoutMs int32) (int32, []byte) {
	var out *C.uint8_t
	var n C.size_t
	st := C.lk_client_next_event(C.uint64_t(client), C.int32_t(timeoutMs), &out, &n)
	if out == nil {
		return int32(st), nil
	}
	defer C.lk_free(unsafe.Pointer(out))
	return int32(st), C.GoBytes(unsafe.Pointer(out), C.int(n))
}

func callPush(client, track uint64, data []byte) int32 {
	p, free := cBytes(data)
	defer free()
	return int32(C.lk_data_track_push(C.uint64_t(client), C.uint64_t(track), p, C.size_t(len(data)), 0, false))
}

func callRead(client, sub uint64, timeoutMs int32) int32 {
	var out *C.uint8_t
	var n C.size_t
	var ts C.uint64_t
	var has C.bool
	st := C.lk_data_track_read(C.uint64_t(client), C.uint64_t(sub), C.int32_t(timeoutMs), &out, &n, &ts, &has)
	if out != nil {
		C.lk_free(unsafe.Pointer(out))
	}
	return int32(st)
}
