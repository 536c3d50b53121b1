package pickup

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mailctl/lib/safeio"
)

const (
	tmpPrefix = ".tmp."
	badSuffix = ".bad"
	// tmpAge is when a maildrop temporary file is taken for abandoned.
	tmpAge = time.Hour
)

// WriteMaildrop leaves req and msg in the maildrop directory dir for the
// daemon to pick up, durably (file and directory fsynced), and returns the
// file's path. It fails when dir is missing or not writable for the caller.
// req.UID should be the caller's uid; when run as root, the file is given
// to the directory's owner so the daemon can read it.
func WriteMaildrop(dir string, req Request, msg []byte) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("maildrop: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("maildrop: %s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return "", fmt.Errorf("maildrop: %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("maildrop: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("maildrop: %w", err)
	}
	if os.Geteuid() == 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 {
			if err := f.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
				return fail(err)
			}
		}
	}
	req.Size = int64(len(msg))
	bw := bufio.NewWriter(f)
	if err := WriteRequest(bw, req); err != nil {
		return fail(err)
	}
	bw.Write(msg)
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	final := filepath.Join(dir, fmt.Sprintf("%d.%d.%s", time.Now().UnixNano(), os.Getpid(), hex.EncodeToString(rnd[:])))
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("maildrop: %w", err)
	}
	if err := safeio.SyncDir(dir); err != nil {
		return "", fmt.Errorf("maildrop: %w", err)
	}
	return final, nil
}

// RunMaildrop creates the maildrop directory (0700) if needed and picks it
// up at once and every MaildropInterval until ctx is done.
func (s *Server) RunMaildrop(ctx context.Context) error {
	dir := s.opts.Maildrop
	if dir == "" {
		<-ctx.Done()
		return nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pickup: maildrop: %w", err)
	}
	t := time.NewTicker(s.opts.MaildropInterval)
	defer t.Stop()
	for {
		if _, err := s.ScanMaildrop(ctx); err != nil {
			s.log.Error("maildrop", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ScanMaildrop processes every file in the maildrop directory once and
// returns how many messages it delivered or queued. A file stays when its
// message could not be taken for a temporary reason, and is renamed to
// NAME.bad when it cannot be parsed.
func (s *Server) ScanMaildrop(ctx context.Context) (int, error) {
	dir := s.opts.Maildrop
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("pickup: maildrop: %w", err)
	}
	done := 0
	for _, e := range ents {
		if ctx.Err() != nil {
			break
		}
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			if fi, err := e.Info(); err == nil && s.now().Sub(fi.ModTime()) > tmpAge {
				os.Remove(path) // a writer that died half-way
			}
			continue
		case strings.HasPrefix(name, ".") || strings.HasSuffix(name, badSuffix) || !e.Type().IsRegular():
			continue
		}
		if s.pickFile(ctx, path) {
			done++
		}
	}
	return done, nil
}

// pickFile processes one maildrop file; it reports whether the message
// was taken.
func (s *Server) pickFile(ctx context.Context, path string) bool {
	log := s.log.With("maildrop", filepath.Base(path))
	req, msg, err := s.readMaildrop(path)
	if err != nil {
		log.Error("maildrop file cannot be read: set aside", "err", err)
		if rerr := os.Rename(path, path+badSuffix); rerr != nil {
			log.Error("maildrop: cannot set aside", "err", rerr)
		}
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	rep := s.Submit(ctx, req, msg, true)
	switch {
	case rep.Code == ExOK:
	case rep.Code == ExTempFail:
		log.Warn("maildrop message not taken: retry later", "reply", rep.Text)
		return false
	default:
		// Nobody waits for this answer: the message can't go anywhere.
		log.Error("maildrop message refused: set aside", "code", rep.Code, "reply", rep.Text)
		if err := os.Rename(path, path+badSuffix); err != nil {
			log.Error("maildrop: cannot set aside", "err", err)
		}
		return false
	}
	if err := os.Remove(path); err != nil {
		// Taken already: a second pick-up would duplicate it.
		log.Error("maildrop: message taken but its file cannot be removed", "err", err)
	}
	return true
}

// readMaildrop reads a maildrop file and decides whose it is.
func (s *Server) readMaildrop(path string) (Request, []byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return Request{}, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Request{}, nil, err
	}
	owner := -1
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = int(sys.Uid)
	}
	if !fi.Mode().IsRegular() || owner < 0 {
		return Request{}, nil, errors.New("not a regular file")
	}
	r := bufio.NewReaderSize(f, 64<<10)
	req, err := ReadRequest(r, s.opts.MaxSize, 0)
	if err != nil {
		return Request{}, nil, err
	}
	msg := make([]byte, req.Size)
	if _, err := io.ReadFull(r, msg); err != nil {
		return Request{}, nil, fmt.Errorf("message shorter than its size: %w", err)
	}
	// Only root and the daemon's account can write into the directory;
	// a file of anyone else's is theirs, whatever it says.
	if owner != 0 && owner != s.euid || req.UID < 0 {
		req.UID = owner
	}
	return req, msg, nil
}
