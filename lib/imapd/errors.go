package imapd

import (
	"context"
	"errors"

	"github.com/emersion/go-imap/v2"

	"mailctl/lib/maildir"
	"mailctl/lib/safeio"
)

func no(code imap.ResponseCode, text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

func bad(text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: text}
}

var (
	errNoSuchMailbox = no(imap.ResponseCodeNonExistent, "No such mailbox")
	errTryCreate     = no(imap.ResponseCodeTryCreate, "No such mailbox")
	errReadOnly      = no(imap.ResponseCodeCannot, "Mailbox is read-only (EXAMINE)")
	errBadSeq        = bad("Invalid sequence number")
)

// mailboxError maps store errors to IMAP replies; the unexpected ones are
// logged and reported as a server problem without details.
func (s *session) mailboxError(op string, err error) error {
	var ie *imap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return err
	case errors.Is(err, maildir.ErrBadFolderName), errors.Is(err, maildir.ErrUnsafePath):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name")
	case errors.Is(err, maildir.ErrNoFolder):
		return errNoSuchMailbox
	case errors.Is(err, maildir.ErrFolderExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, maildir.ErrInbox):
		return no(imap.ResponseCodeCannot, "INBOX can't be deleted")
	case errors.Is(err, maildir.ErrQuotaExceeded):
		return no(imap.ResponseCodeOverQuota, "Quota exceeded")
	case errors.Is(err, maildir.ErrBadKeyword), errors.Is(err, maildir.ErrBadFlags):
		return bad("Invalid flag")
	case errors.Is(err, maildir.ErrTooManyKeywords):
		return no(imap.ResponseCodeLimit, "Too many keywords in this mailbox")
	case errors.Is(err, safeio.ErrLockTimeout), errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("imapd: "+op+": timed out", "err", err)
		return no(imap.ResponseCodeInUse, "Mailbox busy, try again")
	}
	s.log.Error("imapd: "+op, "err", err)
	return no(imap.ResponseCodeServerBug, "Internal error")
}
