package ffi

import "runtime/debug"

// ABI version (see capi/README.md for the compatibility rule). The major version changes only
// with an incompatible change of the C functions or the schema (which then also gets a new
// package, lkcore.ffi.v2); the minor version grows with every addition. include/lkcore.h
// repeats these numbers as LK_ABI_VERSION_MAJOR/MINOR and a test keeps them equal.
const (
	ABIVersionMajor = 1
	ABIVersionMinor = 30
	// ABIVersion is the value of lk_abi_version(): major << 16 | minor.
	ABIVersion = ABIVersionMajor<<16 | ABIVersionMinor
	// Schema is the protobuf package of the FFI messages.
	Schema = "lkcore.ffi.v1"
)

// LibraryVersion returns the module version the library was built from ("(devel)" for a
// build from a work tree), informational only.
func LibraryVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
