//go:build lkcore_testhook

package main

import "fmt"

// Test build only (go test -tags lkcore_testhook ./capi): each export class calls a hook
// that panics on a magic argument, so the test can prove the export recovers (typed
// LK_ERR_INTERNAL, no abort). The hooks are stateless.

// testPanicPayload, as a request or a pushed frame, makes the export panic.
const testPanicPayload = "\x00lkcore-test-hook: panic\x00"

// testPanicTimeout, as a timeout_ms, makes next_event, read and close panic.
const testPanicTimeout = -0x7ffffff0

func testHookBytes(class string, b []byte) {
	if string(b) == testPanicPayload {
		panic(fmt.Sprintf("lkcore test hook: panic in %s", class))
	}
}

func testHookTimeout(class string, timeoutMs int32) {
	if timeoutMs == testPanicTimeout {
		panic(fmt.Sprintf("lkcore test hook: panic in %s", class))
	}
}
