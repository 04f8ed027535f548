//go:build !lkcore_testhook

package main

// Without the lkcore_testhook build tag (every production build) the test hooks are empty
// and inlined away: nothing a host passes can trigger them. testhook_on.go has the test
// build's versions.

func testHookBytes(string, []byte)  {}
func testHookTimeout(string, int32) {}
