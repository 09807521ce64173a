package engine

import "os"

// wrapErr names the syscall that failed, as package os does, keeping the
// errno reachable with errors.Is (errors.Is(err, unix.ECONNRESET)).
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return os.NewSyscallError(op, err)
}
