package maildir

import (
	"errors"
	"io/fs"
)

// Errors callers test for with errors.Is. System call errors (ENOSPC,
// EROFS, EACCES, EDQUOT, …) are wrapped, never replaced, so errors.Is
// works for them too.
var (
	ErrQuotaExceeded   = errors.New("maildir: quota exceeded")
	ErrNoFolder        = errors.New("maildir: no such folder")
	ErrFolderExists    = errors.New("maildir: folder exists")
	ErrBadFolderName   = errors.New("maildir: invalid folder name")
	ErrInbox           = errors.New("maildir: INBOX can't be deleted")
	ErrNoUser          = errors.New("maildir: no such user")
	ErrUnsafePath      = errors.New("maildir: unsafe path")
	ErrNoMessage       = errors.New("maildir: no such message")
	ErrBadFlags        = errors.New("maildir: invalid flags")
	ErrBadKeyword      = errors.New("maildir: invalid keyword")
	ErrTooManyKeywords = errors.New("maildir: more than 26 keywords in folder")
	ErrCorrupt         = errors.New("maildir: corrupt state file")
)

// errIsNotExist is errors.Is(err, fs.ErrNotExist), for brevity.
func errIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
