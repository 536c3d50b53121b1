package maildir

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DeliverOptions tune one delivery.
type DeliverOptions struct {
	Folder string    // IMAP folder name; "" is INBOX
	Flags  string    // system flag letters (DFPRST): the file goes to cur/ with them; "" puts it in new/
	Date   time.Time // INTERNALDATE (the file's mtime); zero is now
	// Maildir++ limits checked before the message is stored; 0 is unlimited.
	QuotaBytes, QuotaMessages int64
}

// Deliver stores a message durably and returns its key. The message is
// converted to LF line ends while it is written to tmp/; the file is
// fsynced, renamed into new/ (cur/ with flags) and that directory fsynced
// before Deliver returns. Concurrent deliveries share directory fsyncs.
// On error nothing is left in new/ or cur/. Delivery takes no lock and
// assigns no UID: readers do that when they sync.
func (u *User) Deliver(ctx context.Context, msg io.Reader, opts DeliverOptions) (key string, err error) {
	folder := opts.Folder
	if folder == "" {
		folder = Inbox
	}
	dir, err := folderDir(folder)
	if err != nil {
		return "", err
	}
	if err := checkFlags(opts.Flags); err != nil {
		return "", err
	}
	lim := Quota{Bytes: opts.QuotaBytes, Messages: opts.QuotaMessages}
	limited := lim != Quota{}
	var q quotaFile
	if limited {
		// Refuse at once when already full, before reading the message.
		if q, err = u.checkQuota(ctx, lim, 1, 1); err != nil {
			return "", u.deliverErr(folder, err)
		}
	}
	t, err := u.writeTmp(ctx, dir, msg, opts.Date)
	if err != nil {
		return "", u.deliverErr(folder, err)
	}
	if limited && q.exceeds(lim, t.size, 1) {
		u.root.Remove(t.path)
		return "", u.deliverErr(folder, fmt.Errorf("%w: %s: message of %d bytes over the limit of %d bytes, %d messages",
			ErrQuotaExceeded, u.addr, t.size, lim.Bytes, lim.Messages))
	}
	key = t.key()
	sub, name := "new", key
	if opts.Flags != "" {
		sub, name = "cur", curName(key, sortLetters(opts.Flags))
	}
	final := path.Join(dir, sub, name)
	if err := u.root.Rename(t.path, final); err != nil {
		u.root.Remove(t.path)
		return "", u.deliverErr(folder, err)
	}
	if err := u.syncDir(ctx, path.Join(dir, sub)); err != nil {
		u.root.Remove(final)
		return "", u.deliverErr(folder, err)
	}
	u.addQuota(t.size, 1)
	return key, nil
}

func (u *User) deliverErr(folder string, err error) error {
	return fmt.Errorf("maildir: deliver to %s %s: %w", u.addr, folder, err)
}

// tmpMessage is a message written and fsynced in tmp/.
type tmpMessage struct {
	path           string // relative to the user's Maildir
	base           string
	size, crlfSize int64
}

func (t tmpMessage) key() string { return withSizes(t.base, t.size, t.crlfSize) }

// writeTmp writes r into dir/tmp/ with LF line ends, mode 0600, owned by
// Options.UID, mtime date (now if zero), and fsyncs it. On error the file
// is removed.
func (u *User) writeTmp(ctx context.Context, dir string, r io.Reader, date time.Time) (t tmpMessage, err error) {
	now := time.Now()
	if date.IsZero() {
		date = now
	}
	t.base = u.s.uniqueName(now)
	t.path = path.Join(dir, "tmp", t.base)
	f, err := u.root.OpenFile(t.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		if _, serr := u.root.Stat(path.Join(dir, "tmp")); serr != nil && dir != "." {
			return t, fmt.Errorf("%w: %v", ErrNoFolder, err)
		}
		return t, err
	}
	defer func() {
		if err != nil {
			f.Close()
			u.root.Remove(t.path)
		}
	}()
	if err = u.s.chownFile(f); err != nil {
		return t, err
	}
	if t.size, t.crlfSize, err = copyLF(ctx, f, r); err != nil {
		return t, fmt.Errorf("write %s: %w", t.path, err)
	}
	tv := []unix.Timeval{unix.NsecToTimeval(date.UnixNano()), unix.NsecToTimeval(date.UnixNano())}
	if err = unix.Futimes(int(f.Fd()), tv); err != nil {
		return t, fmt.Errorf("set mtime of %s: %w", t.path, err)
	}
	if err = f.Sync(); err != nil {
		return t, fmt.Errorf("fsync %s: %w", t.path, err)
	}
	if err = f.Close(); err != nil {
		return t, fmt.Errorf("close %s: %w", t.path, err)
	}
	return t, nil
}

// copyLF copies r to w turning CRLF into LF (a lone CR stays). It returns
// the bytes written and the size the message has with CRLF line ends.
func copyLF(ctx context.Context, w io.Writer, r io.Reader) (size, crlfSize int64, err error) {
	buf := make([]byte, 64*1024)
	pendingCR := false // the previous chunk ended in CR
	var lines int64
	for {
		if err := ctx.Err(); err != nil {
			return size, 0, err
		}
		// Read after one spare byte, where a pending CR can be put back.
		n, rerr := r.Read(buf[1:])
		out := buf[:0]
		if pendingCR && (n > 0 || rerr != nil) {
			pendingCR = false
			if n == 0 || buf[1] != '\n' {
				out = append(out, '\r') // a lone CR after all
			}
		}
		chunk := buf[1 : 1+n]
		// Compact in place: out never overtakes chunk.
		for len(chunk) > 0 {
			i := bytes.IndexByte(chunk, '\r')
			if i < 0 {
				out = append(out, chunk...)
				break
			}
			out = append(out, chunk[:i]...)
			switch {
			case i+1 == len(chunk):
				pendingCR = true // decide with the next chunk
			case chunk[i+1] != '\n':
				out = append(out, '\r')
			}
			chunk = chunk[i+1:]
		}
		if len(out) > 0 {
			lines += int64(bytes.Count(out, []byte{'\n'}))
			if _, err := w.Write(out); err != nil {
				return size, 0, err
			}
			size += int64(len(out))
		}
		if rerr == io.EOF {
			if pendingCR { // the message ends in a lone CR
				if _, err := w.Write([]byte{'\r'}); err != nil {
					return size, 0, err
				}
				size++
			}
			return size, size + lines, nil
		}
		if rerr != nil {
			return size, 0, rerr
		}
	}
}
