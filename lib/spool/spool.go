package spool

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Errors.
var (
	// ErrNotFound: no such message in that state — it never existed, was
	// removed, or another process claimed or moved it first.
	ErrNotFound = errors.New("spool: message not found")
	// ErrCorrupt: the envelope could not be parsed; it was moved to corrupt/.
	ErrCorrupt = errors.New("spool: corrupt envelope")
)

// Options configure a Spool.
type Options struct {
	// UID and GID own every file and directory the spool creates; 0 or
	// -1 leaves that one to the running process (root never needs to give
	// a file to root, so the zero Options work as root and as anyone).
	UID, GID int
	// Logger receives warnings (corrupt envelopes, orphans removed); nil
	// discards them.
	Logger *slog.Logger
	// OrphanAge is how old a file in tmp/ or content without an envelope
	// must be before Recover removes it; 0 means one minute.
	OrphanAge time.Duration
}

// Spool is an open spool directory. It is safe for concurrent use, and any
// number of processes may open the same directory.
type Spool struct {
	dir      string
	opts     Options
	log      *slog.Logger
	chown    bool
	uid, gid int              // for Chown; -1 leaves that one unchanged
	now      func() time.Time // tests move the clock
}

// Entry is a message as List and Get see it.
type Entry struct {
	Envelope
	State State
	Size  int64 // of the content in bytes; -1 when the content is missing
}

var subdirs = []string{"msg", "tmp", string(Incoming), string(Active), string(Deferred), string(Hold), string(Corrupt)}

// Open opens the spool at dir, creating it and its subdirectories (0700,
// owned by Options.UID/GID) where missing.
func Open(dir string, opts Options) (*Spool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %s: %w", dir, err)
	}
	s := &Spool{
		dir:  abs,
		opts: opts,
		log:  opts.Logger,
		uid:  max(opts.UID, -1),
		gid:  max(opts.GID, -1),
		now:  time.Now,
	}
	if s.uid == 0 {
		s.uid = -1
	}
	if s.gid == 0 {
		s.gid = -1
	}
	s.chown = s.uid >= 0 && s.uid != os.Geteuid() || s.gid >= 0 && s.gid != os.Getegid()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.opts.OrphanAge <= 0 {
		s.opts.OrphanAge = time.Minute
	}
	if err := s.mkdir(abs); err != nil {
		return nil, err
	}
	for _, d := range subdirs {
		if err := s.mkdir(filepath.Join(abs, d)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// mkdir creates one directory 0700 (owned as configured) unless it exists.
func (s *Spool) mkdir(p string) error {
	if st, err := os.Stat(p); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("spool: %s is not a directory", p)
		}
		return nil
	}
	if err := os.MkdirAll(p, 0o700); err != nil {
		return fmt.Errorf("spool: create %s: %w", p, err)
	}
	if s.chown {
		if err := os.Lchown(p, s.uid, s.gid); err != nil {
			return fmt.Errorf("spool: chown %s: %w", p, err)
		}
	}
	return nil
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

func (s *Spool) msgPath(id string) string { return filepath.Join(s.dir, "msg", id) }

func (s *Spool) envPath(st State, id string) string {
	return filepath.Join(s.dir, string(st), id)
}

func (s *Spool) stateDir(st State) string { return filepath.Join(s.dir, string(st)) }

// checkArgs validates an id and states given by a caller before they touch
// a path.
func checkArgs(id string, states ...State) error {
	if !validID(id) {
		return fmt.Errorf("%w: bad id %q", ErrNotFound, id)
	}
	for _, st := range states {
		if !st.valid() {
			return fmt.Errorf("spool: unknown state %q", st)
		}
	}
	return nil
}
