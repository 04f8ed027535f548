//go:build !unix

package ffi

import "github.com/lkcore/lkcore/capi/ffipb"

func writeNotifyFd(int) {}

func checkNotifyFd(int) error {
	return Errorf(ffipb.ErrorCode_ERROR_CODE_UNIMPLEMENTED, "event notify descriptors are not supported on this platform")
}
