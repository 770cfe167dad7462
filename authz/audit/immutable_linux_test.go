package audit_test

import (
	"os"
	"syscall"
	"unsafe"
)

// From linux/fs.h.
const (
	fsIOCGetFlags   = 0x80086601
	fsIOCSetFlags   = 0x40086602
	fsImmutableFlag = 0x00000010
)

// setImmutable sets or clears the immutable attribute of dir (chattr +i):
// no entry can then be created, renamed or removed in it, by root either.
// It needs CAP_LINUX_IMMUTABLE and a file system that keeps the attribute
// (ext4, xfs, btrfs, tmpfs since Linux 6.0).
func setImmutable(dir string, on bool) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	var flags int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIOCGetFlags, uintptr(unsafe.Pointer(&flags))); errno != 0 {
		return errno
	}
	if on {
		flags |= fsImmutableFlag
	} else {
		flags &^= fsImmutableFlag
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIOCSetFlags, uintptr(unsafe.Pointer(&flags))); errno != 0 {
		return errno
	}
	return nil
}
