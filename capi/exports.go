package main

/*
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

typedef void (*lkint_event_cb)(void *user_data, const uint8_t *event, size_t event_len);
void lkint_invoke_callback(lkint_event_cb cb, void *user_data, uint64_t client, const uint8_t *event, size_t event_len);
uint64_t lkint_current_callback_client(void);
void lkint_out_frame_info(uint64_t *ts, bool *has, uint64_t *dropped, uint64_t v, bool h, uint64_t d);
*/
import "C"

import (
	"time"
	"unsafe"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/capi/internal/ffi"
)

// The implementations of the lk_* functions: entry.c defines the public symbols, checks that
// the process was not forked since the library was loaded, and calls these. Every one
// recovers panics and reports LK_ERR_INTERNAL; none aborts the host.

//export lkint_go_client_new
func lkint_go_client_new(cb C.lkint_event_cb, userData unsafe.Pointer) (client C.uint64_t) {
	defer func() {
		if recover() != nil {
			client = 0
		}
	}()
	id, err := register(func(id uint32, buf *eventBuffer) func([]byte) {
		if cb == nil {
			return nil // pull mode
		}
		return func(ev []byte) {
			p := buf.fill(ev)
			if p == nil && len(ev) > 0 {
				return // out of memory: the event cannot be handed over
			}
			C.lkint_invoke_callback(cb, userData, C.uint64_t(id), p, C.size_t(len(ev)))
		}
	})
	if err != nil {
		return 0
	}
	return C.uint64_t(id)
}

//export lkint_go_client_close
func lkint_go_client_close(client C.uint64_t, timeoutMs C.int32_t) (st C.int32_t) {
	defer recoverStatus(&st)
	c, code := lookup(client)
	if code == ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED {
		return status(ffipb.ErrorCode_ERROR_CODE_OK) // idempotent
	}
	if c == nil {
		return status(code)
	}
	testHookTimeout("lk_client_close", int32(timeoutMs))
	fromCallback := C.lkint_current_callback_client() == client
	if err := c.Close(time.Duration(timeoutMs)*time.Millisecond, fromCallback); err != nil {
		return status(ffi.CodeOf(err)) // still registered: closing again waits again
	}
	if fromCallback {
		// The calling callback is still running: keep the client registered (every call on
		// it fails with CLIENT_CLOSED, and a close from another thread waits for the
		// dispatcher) until the dispatcher has exited.
		go func() {
			for c.Close(time.Minute, false) != nil {
			}
			unregister(c.ID())
		}()
		return status(ffipb.ErrorCode_ERROR_CODE_OK)
	}
	unregister(c.ID())
	return status(ffipb.ErrorCode_ERROR_CODE_OK)
}

//export lkint_go_request
func lkint_go_request(client C.uint64_t, req *C.uint8_t, reqLen C.size_t, resp **C.uint8_t, respLen *C.size_t) (st C.int32_t) {
	if resp == nil || respLen == nil {
		return status(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	}
	*resp, *respLen = nil, 0
	defer func() {
		if recover() != nil {
			out, code := ffi.ErrorResponse(ffi.Errorf(ffipb.ErrorCode_ERROR_CODE_INTERNAL, "internal error (panic recovered)"))
			if *resp != nil {
				C.free(unsafe.Pointer(*resp))
			}
			outBytes(resp, respLen, out)
			st = status(code)
		}
	}()
	var out []byte
	var code ffipb.ErrorCode
	switch c, lc := lookup(client); {
	case c == nil:
		msg := "client is closed"
		if lc == ffipb.ErrorCode_ERROR_CODE_INVALID_CLIENT {
			msg = "unknown client"
		}
		out, code = ffi.ErrorResponse(ffi.Errorf(lc, "%s", msg))
	case req == nil && reqLen > 0:
		out, code = ffi.ErrorResponse(ffi.Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "request pointer is NULL"))
	case reqLen > ffi.MaxRequestSize:
		out, code = ffi.ErrorResponse(ffi.Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "request exceeds %d bytes", ffi.MaxRequestSize))
	default:
		var b []byte
		if reqLen > 0 {
			b = unsafe.Slice((*byte)(unsafe.Pointer(req)), int(reqLen))
		}
		testHookBytes("lk_request", b)
		out, code = c.Request(b)
	}
	if !outBytes(resp, respLen, out) {
		return status(ffipb.ErrorCode_ERROR_CODE_INTERNAL) // out of memory
	}
	return status(code)
}

//export lkint_go_client_next_event
func lkint_go_client_next_event(client C.uint64_t, timeoutMs C.int32_t, event **C.uint8_t, eventLen *C.size_t) (st C.int32_t) {
	defer recoverStatus(&st)
	if event == nil || eventLen == nil {
		return status(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	}
	*event, *eventLen = nil, 0
	c, code := lookup(client)
	if c == nil {
		return status(code)
	}
	testHookTimeout("lk_client_next_event", int32(timeoutMs))
	b, err := c.NextEvent(time.Duration(timeoutMs) * time.Millisecond)
	if err != nil {
		return status(ffi.CodeOf(err))
	}
	if !outBytes(event, eventLen, b) {
		return status(ffipb.ErrorCode_ERROR_CODE_INTERNAL)
	}
	return status(ffipb.ErrorCode_ERROR_CODE_OK)
}

//export lkint_go_handle_drop
func lkint_go_handle_drop(client C.uint64_t, handle C.uint64_t) (st C.int32_t) {
	defer recoverStatus(&st)
	c, code := lookup(client)
	if c == nil {
		return status(code)
	}
	return status(ffi.CodeOf(c.DropHandle(uint64(handle))))
}

//export lkint_go_data_track_push
func lkint_go_data_track_push(client C.uint64_t, track C.uint64_t, data *C.uint8_t, dataLen C.size_t, userTimestamp C.uint64_t, hasUserTimestamp C.bool) (st C.int32_t) {
	defer recoverStatus(&st)
	c, b, code := pushArgs("lk_data_track_push", client, data, dataLen)
	if c == nil {
		return status(code)
	}
	return status(ffi.CodeOf(c.PushFrame(uint64(track), b, uint64(userTimestamp), bool(hasUserTimestamp))))
}

//export lkint_go_data_track_push_paced
func lkint_go_data_track_push_paced(client C.uint64_t, track C.uint64_t, data *C.uint8_t, dataLen C.size_t, userTimestamp C.uint64_t, hasUserTimestamp C.bool) (st C.int32_t) {
	defer recoverStatus(&st)
	c, b, code := pushArgs("lk_data_track_push_paced", client, data, dataLen)
	if c == nil {
		return status(code)
	}
	return status(ffi.CodeOf(c.PushFramePaced(uint64(track), b, uint64(userTimestamp), bool(hasUserTimestamp))))
}

// pushArgs checks the arguments of lk_data_track_push and lk_data_track_push_paced: the client
// and the frame, borrowed from host memory for the call. A nil client comes with the status to
// return.
func pushArgs(name string, client C.uint64_t, data *C.uint8_t, dataLen C.size_t) (*ffi.Client, []byte, ffipb.ErrorCode) {
	if data == nil && dataLen > 0 {
		return nil, nil, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT
	}
	if dataLen > ffi.MaxRequestSize {
		return nil, nil, ffipb.ErrorCode_ERROR_CODE_PAYLOAD_TOO_LARGE
	}
	c, code := lookup(client)
	if c == nil {
		return nil, nil, code
	}
	var b []byte
	if dataLen > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(data)), int(dataLen))
	}
	testHookBytes(name, b)
	return c, b, ffipb.ErrorCode_ERROR_CODE_OK
}

//export lkint_go_data_track_read_frame
func lkint_go_data_track_read_frame(client C.uint64_t, subscription C.uint64_t, timeoutMs C.int32_t, frame **C.uint8_t, frameLen *C.size_t, userTimestamp *C.uint64_t, hasUserTimestamp *C.bool, droppedBefore *C.uint64_t) (st C.int32_t) {
	defer recoverStatus(&st)
	if frame == nil || frameLen == nil {
		return status(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	}
	*frame, *frameLen = nil, 0
	C.lkint_out_frame_info(userTimestamp, hasUserTimestamp, droppedBefore, 0, false, 0)
	c, code := lookup(client)
	if c == nil {
		return status(code)
	}
	testHookTimeout("lk_data_track_read", int32(timeoutMs))
	f, err := c.ReadFrame(uint64(subscription), time.Duration(timeoutMs)*time.Millisecond)
	if err != nil {
		return status(ffi.CodeOf(err))
	}
	if !outBytes(frame, frameLen, f.Payload) {
		return status(ffipb.ErrorCode_ERROR_CODE_INTERNAL)
	}
	C.lkint_out_frame_info(userTimestamp, hasUserTimestamp, droppedBefore, C.uint64_t(f.UserTimestamp), C.bool(f.HasUserTimestamp), C.uint64_t(f.DroppedBefore))
	return status(ffipb.ErrorCode_ERROR_CODE_OK)
}
