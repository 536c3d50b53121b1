package resolver

import (
	"context"
	"errors"
	"net"
)

// Texts of the errors, as the standard library words them where it has one.
const (
	errNoSuchHost   = "no such host"
	errNoSuchRecord = "no such record"
	errServFail     = "server misbehaving"
	errTimeout      = "i/o timeout"
)

func notFound(name, server, text string) error {
	return &net.DNSError{Err: text, Name: name, Server: server, IsNotFound: true}
}

func temporary(name, server, text string, cause error) error {
	return &net.DNSError{Err: text, Name: name, Server: server, IsTemporary: true, UnwrapErr: cause}
}

func permanent(name, text string) error {
	return &net.DNSError{Err: text, Name: name}
}

// transportError turns a failed exchange with server into a DNSError.
func transportError(name, server string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &net.DNSError{Err: errTimeout, Name: name, Server: server, IsTimeout: true, IsTemporary: true, UnwrapErr: err}
	case errors.Is(err, context.Canceled):
		return &net.DNSError{Err: "operation was canceled", Name: name, Server: server, IsTemporary: true, UnwrapErr: err}
	}
	return temporary(name, server, err.Error(), err)
}

// IsNotFound reports whether err says the name or its records of the asked
// type don't exist (NXDOMAIN or NODATA): a permanent answer.
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// IsTemporary reports whether err may go away if the lookup is tried later:
// SERVFAIL, a timeout, an unreachable server, a cancelled context.
func IsTemporary(err error) bool {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTemporary || de.IsTimeout
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
