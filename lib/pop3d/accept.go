package pop3d

import (
	"errors"
	"syscall"
)

// isTemporaryAccept reports accept errors that pass: out of descriptors,
// out of buffers, a connection reset before it was accepted.
func isTemporaryAccept(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
