package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"mailctl/lib/safeio"
)

// Exit codes follow sysexits(3), so mail programs (Postfix's
// mailbox_command, procmail-style callers, scripts) can tell a permanent
// failure from one worth retrying. Each command's help lists the ones it uses.
const (
	exitOK          = 0
	exitFailure     = 1  // anything not covered below
	exitUsage       = 64 // EX_USAGE: bad flags or arguments
	exitDataErr     = 65 // EX_DATAERR: bad input (address, message, value)
	exitNoInput     = 66 // EX_NOINPUT: an input file is missing
	exitNoUser      = 67 // EX_NOUSER: no such user or address
	exitNoHost      = 68 // EX_NOHOST: the domain is not local
	exitUnavailable = 69 // EX_UNAVAILABLE: a module is disabled, a service is refused
	exitSoftware    = 70 // EX_SOFTWARE: internal error
	exitCantCreat   = 73 // EX_CANTCREAT: cannot create (already exists, cannot write the mailbox)
	exitIOErr       = 74 // EX_IOERR: I/O error
	exitTempFail    = 75 // EX_TEMPFAIL: try again later (disk full, lock timeout, quota)
	exitNoPerm      = 77 // EX_NOPERM: permission denied
	exitConfig      = 78 // EX_CONFIG: the configuration is wrong
)

// exitError carries the exit code a failure should end the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode attaches an exit code to err (nil stays nil).
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func errorf(code int, format string, a ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, a...)}
}

// exitCode picks the exit code for err: an explicit one wins, then common
// system conditions.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, safeio.ErrLockTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return exitTempFail
	case errors.Is(err, os.ErrPermission):
		return exitNoPerm
	}
	return exitFailure
}

// reportError prints err for a human (the log may be elsewhere).
func reportError(w io.Writer, err error) {
	fmt.Fprintf(w, "mailctl: %v\n", err)
}
