package deliver

import (
	"errors"
	"fmt"
	"syscall"

	"mailctl/lib/maildir"
	"mailctl/lib/safeio"
)

// Kind classifies a delivery failure so each front end can answer in its
// own terms: an SMTP/LMTP reply code, or a sysexits(3) exit code.
type Kind int

const (
	KindTemporary   Kind = iota // retry later: disk full, lock timeout, read-only store, quota (tempfail policy)
	KindUnknownUser             // no user, alias or catch-all for a local address
	KindLoop                    // Delivered-To already names the recipient, or too many Received: headers
	KindDisabled                // the account exists but is disabled
	KindOverQuota               // permanently over quota (reject policy)
	KindBadMessage              // the message can't be read or is malformed
	KindCantCreate              // the mailbox can't be created
)

// Error is a classified delivery failure for one recipient.
type Error struct {
	Kind Kind
	Msg  string // safe to show to the sender
	Err  error  // the cause, for the log only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the sender should retry.
func (e *Error) Temporary() bool { return e.Kind == KindTemporary }

// SMTP returns the reply code, enhanced status code and text for e.
func (e *Error) SMTP() (code int, enhanced [3]int, text string) {
	switch e.Kind {
	case KindUnknownUser:
		return 550, [3]int{5, 1, 1}, "No such user here"
	case KindLoop:
		return 554, [3]int{5, 4, 6}, e.Msg
	case KindDisabled:
		return 550, [3]int{5, 2, 1}, "Mailbox disabled"
	case KindOverQuota:
		return 552, [3]int{5, 2, 2}, "Mailbox full"
	case KindBadMessage:
		return 554, [3]int{5, 6, 0}, e.Msg
	case KindCantCreate:
		return 451, [3]int{4, 3, 0}, "Mailbox unavailable, try again later"
	}
	if errors.Is(e.Err, maildir.ErrQuotaExceeded) {
		return 452, [3]int{4, 2, 2}, "Mailbox full, try again later"
	}
	return 451, [3]int{4, 3, 0}, "Temporary local problem, try again later"
}

// classifyWrite turns a Maildir write error into a delivery Error. Every
// storage failure is temporary: the message is still with the sender, and
// an administrator can fix a full disk or a wrong permission.
func classifyWrite(err error, quotaPermanent bool) *Error {
	switch {
	case errors.Is(err, maildir.ErrQuotaExceeded):
		if quotaPermanent {
			return &Error{Kind: KindOverQuota, Msg: "mailbox full", Err: err}
		}
		return &Error{Kind: KindTemporary, Msg: "mailbox full", Err: err}
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return &Error{Kind: KindTemporary, Msg: "no space left on the mail store", Err: err}
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return &Error{Kind: KindTemporary, Msg: "mailbox not writable", Err: err}
	case errors.Is(err, safeio.ErrLockTimeout):
		return &Error{Kind: KindTemporary, Msg: "mailbox busy", Err: err}
	}
	return &Error{Kind: KindTemporary, Msg: "cannot write to mailbox", Err: err}
}
