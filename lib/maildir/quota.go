package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"syscall"
	"time"
)

const (
	maildirsizeName  = "maildirsize"
	maildirsizeLimit = 5120             // Maildir++: rebuild when the file grows past this
	quotaStaleAfter  = 15 * time.Minute // Maildir++: re-check an over-quota verdict this old
)

// quotaFile is a parsed maildirsize.
type quotaFile struct {
	limit       Quota
	bytes, msgs int64
	size        int64
	modTime     time.Time
	fresh       bool // just rebuilt from the tree
}

// parseMaildirsize parses the file; a last line without newline (a writer
// died mid-append) is ignored.
func parseMaildirsize(b []byte) (quotaFile, error) {
	var q quotaFile
	first := true
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		line := string(b[:i])
		b = b[i+1:]
		if first {
			first = false
			l, err := parseQuotaDef(line)
			if err != nil {
				return q, err
			}
			q.limit = l
			continue
		}
		var sz, n int64
		if _, err := fmt.Sscanf(line, "%d %d", &sz, &n); err != nil {
			return q, fmt.Errorf("line %q: %w", line, err)
		}
		q.bytes += sz
		q.msgs += n
	}
	if first {
		return q, errors.New("empty")
	}
	if q.bytes < 0 || q.msgs < 0 {
		return q, errors.New("negative usage")
	}
	return q, nil
}

// parseQuotaDef parses "<bytes>S,<count>C" (either part may be missing).
func parseQuotaDef(s string) (Quota, error) {
	var q Quota
	if s == "" {
		return q, nil
	}
	for _, part := range bytes.Split([]byte(s), []byte(",")) {
		if len(part) < 2 {
			return q, fmt.Errorf("quota definition %q", s)
		}
		v, err := strconv.ParseInt(string(part[:len(part)-1]), 10, 64)
		if err != nil || v < 0 {
			return q, fmt.Errorf("quota definition %q", s)
		}
		switch part[len(part)-1] {
		case 'S':
			q.Bytes = v
		case 'C':
			q.Messages = v
		default:
			return q, fmt.Errorf("quota definition %q", s)
		}
	}
	return q, nil
}

func formatQuotaDef(q Quota) string {
	return strconv.FormatInt(q.Bytes, 10) + "S," + strconv.FormatInt(q.Messages, 10) + "C"
}

// readQuota reads maildirsize and rebuilds it when it is missing, broken,
// too big, or — with want != nil — written for other limits.
func (u *User) readQuota(ctx context.Context, want *Quota) (quotaFile, error) {
	q, usable, err := u.loadMaildirsize()
	if err != nil {
		return q, err
	}
	if usable && (want == nil || q.limit == *want) {
		return q, nil
	}
	limit := q.limit // kept from a file we could not use otherwise
	if want != nil {
		limit = *want
	}
	return u.rebuildQuota(ctx, limit)
}

// loadMaildirsize parses maildirsize. usable is false when the file is
// missing, too big or unparsable; q.limit is still set when the first line
// could be read.
func (u *User) loadMaildirsize() (q quotaFile, usable bool, err error) {
	f, err := u.root.Open(maildirsizeName)
	if errors.Is(err, fs.ErrNotExist) {
		return q, false, nil
	}
	if err != nil {
		return q, false, fmt.Errorf("maildir: %s/%s: %w", u.key, maildirsizeName, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maildirsizeLimit+1))
	if err != nil {
		return q, false, fmt.Errorf("maildir: %s/%s: %w", u.key, maildirsizeName, err)
	}
	if line, _, ok := bytes.Cut(b, []byte("\n")); ok {
		q.limit, _ = parseQuotaDef(string(line))
	}
	if len(b) > maildirsizeLimit {
		return q, false, nil
	}
	parsed, perr := parseMaildirsize(b)
	if perr != nil {
		u.s.log.Warn("maildir: rebuilding maildirsize", "user", u.key, "err", perr)
		return q, false, nil
	}
	st, err := f.Stat()
	if err != nil {
		return q, false, fmt.Errorf("maildir: %s/%s: %w", u.key, maildirsizeName, err)
	}
	parsed.size, parsed.modTime = st.Size(), st.ModTime()
	return parsed, true, nil
}

// rebuildQuota counts every message in every folder and writes a fresh
// maildirsize (temp file, then rename: readers see the old or the new).
func (u *User) rebuildQuota(ctx context.Context, limit Quota) (quotaFile, error) {
	dirs := []string{"."}
	ents, err := u.readRootDir()
	if err != nil {
		return quotaFile{}, err
	}
	for _, e := range ents {
		if n := e.Name(); len(n) > 1 && n[0] == '.' && n != ".." && e.IsDir() {
			dirs = append(dirs, n)
		}
	}
	q := quotaFile{limit: limit, fresh: true}
	for _, dir := range dirs {
		for _, sub := range []string{"cur", "new"} {
			if err := ctx.Err(); err != nil {
				return q, err
			}
			d := path.Join(dir, sub)
			names, err := u.readNames(d)
			if err != nil {
				continue // not a Maildir folder
			}
			for _, n := range names {
				key, _ := splitName(n)
				size, _ := keySizes(key)
				if size < 0 {
					st, err := u.root.Stat(path.Join(d, n))
					if err != nil {
						continue
					}
					size = st.Size()
				}
				q.bytes += size
				q.msgs++
			}
		}
	}
	content := fmt.Sprintf("%s\n%d %d\n", formatQuotaDef(limit), q.bytes, q.msgs)
	if err := u.s.writeAtomic(u.root, maildirsizeName, []byte(content), false); err != nil {
		return q, err
	}
	q.size, q.modTime = int64(len(content)), time.Now()
	return q, nil
}

// readNames lists the message files of a directory.
func (u *User) readNames(dir string) ([]string, error) {
	d, err := u.root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if validFileName(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// exceeds reports whether adding bytes/msgs would break the limit.
func (q quotaFile) exceeds(lim Quota, bytes, msgs int64) bool {
	return (lim.Bytes > 0 && q.bytes+bytes > lim.Bytes) ||
		(lim.Messages > 0 && q.msgs+msgs > lim.Messages)
}

// checkQuota returns the usage, or ErrQuotaExceeded when adding
// bytes/msgs would go over lim. An over-quota verdict from a file older
// than 15 minutes is re-checked against the tree first.
func (u *User) checkQuota(ctx context.Context, lim Quota, bytes, msgs int64) (quotaFile, error) {
	q, err := u.readQuota(ctx, &lim)
	if err != nil {
		return q, err
	}
	if q.exceeds(lim, bytes, msgs) && !q.fresh && time.Since(q.modTime) > quotaStaleAfter {
		if q, err = u.rebuildQuota(ctx, lim); err != nil {
			return q, err
		}
	}
	if q.exceeds(lim, bytes, msgs) {
		return q, fmt.Errorf("%w: %s uses %d bytes in %d messages (limit %d bytes, %d messages)",
			ErrQuotaExceeded, u.addr, q.bytes, q.msgs, lim.Bytes, lim.Messages)
	}
	return q, nil
}

// QuotaUsage returns the bytes and messages the user stores, from
// maildirsize (rebuilt from the tree when needed).
func (u *User) QuotaUsage(ctx context.Context) (bytes, messages int64, err error) {
	q, err := u.readQuota(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	return q.bytes, q.msgs, nil
}

// addQuota appends a "<bytes> <count>" line to maildirsize if the file
// exists. Failure is only logged: the file is rebuilt when it disagrees.
func (u *User) addQuota(bytes, msgs int64) {
	if bytes == 0 && msgs == 0 {
		return
	}
	f, err := u.root.OpenFile(maildirsizeName, os.O_WRONLY|os.O_APPEND|syscall.O_CLOEXEC, 0)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			u.s.log.Warn("maildir: update maildirsize", "user", u.key, "err", err)
		}
		return
	}
	defer f.Close()
	line := strconv.AppendInt(nil, bytes, 10)
	line = append(line, ' ')
	line = strconv.AppendInt(line, msgs, 10)
	line = append(line, '\n')
	if _, err := f.Write(line); err != nil {
		u.s.log.Warn("maildir: update maildirsize", "user", u.key, "err", err)
	}
}
