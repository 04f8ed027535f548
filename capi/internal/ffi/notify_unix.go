//go:build unix

package ffi

import (
	"syscall"

	"github.com/lkcore/lkcore/capi/ffipb"
)

func writeNotifyFd(fd int) {
	_, _ = syscall.Write(fd, []byte{1}) // EAGAIN: the pipe is full, the host is woken anyway
}

func checkNotifyFd(fd int) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "event notify fd %d: %v", fd, err)
	}
	return nil
}
