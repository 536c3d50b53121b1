package maildir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"

	"mailctl/lib/addr"
	"mailctl/lib/safeio"
)

// Options configure a Store.
type Options struct {
	// UID and GID own every file and directory the store creates; -1
	// leaves ownership to the running process.
	UID, GID int
	// Hostname goes into message file names; "" means os.Hostname().
	Hostname string
	// Logger receives warnings about foreign files; nil discards them.
	Logger *slog.Logger
}

// Store is the tree of all users' Maildirs. It is safe for concurrent use;
// a process should open one Store per tree so that group commit and the
// in-process side of the folder locks are shared.
type Store struct {
	dir   string
	root  *os.Root
	opts  Options
	log   *slog.Logger
	host  string
	pid   int
	chown bool

	counter atomic.Uint64

	mu     sync.Mutex
	groups map[string]*safeio.SyncGroup // group commit per directory
	sems   map[string]chan struct{}     // in-process side of folder locks
}

// Open opens the tree at dir, creating it (0700, owned by Options.UID) if
// missing.
func Open(dir string, opts Options) (*Store, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("maildir: create %s: %w", dir, err)
		}
		if opts.UID >= 0 {
			if err := os.Lchown(dir, opts.UID, opts.GID); err != nil {
				return nil, fmt.Errorf("maildir: chown %s: %w", dir, err)
			}
		}
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("maildir: open %s: %w", dir, err)
	}
	host := opts.Hostname
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			host = "localhost"
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{
		dir:    dir,
		root:   r,
		opts:   opts,
		log:    log,
		host:   sanitizeHost(host),
		pid:    os.Getpid(),
		chown:  opts.UID >= 0 && (opts.UID != os.Geteuid() || (opts.GID >= 0 && opts.GID != os.Getegid())),
		groups: map[string]*safeio.SyncGroup{},
		sems:   map[string]chan struct{}{},
	}, nil
}

// Close releases the tree's directory handle. Users opened from the store
// stay usable until they are closed.
func (s *Store) Close() error { return s.root.Close() }

// Dir returns the tree's directory.
func (s *Store) Dir() string { return s.dir }

func userPath(a addr.Address) (string, error) {
	if !addr.PathSafe(a.Domain) || !addr.PathSafe(a.Local) {
		return "", fmt.Errorf("%w: address %q", ErrUnsafePath, a.String())
	}
	return path.Join(a.Domain, a.Local), nil
}

// CreateUser makes the user's Maildir and default folders. It is
// idempotent: what exists is kept, what is missing is created, and the
// directories are (re)owned by Options.UID/GID.
func (s *Store) CreateUser(ctx context.Context, a addr.Address) error {
	p, err := userPath(a)
	if err != nil {
		return err
	}
	for _, d := range []string{a.Domain, p} {
		if err := s.mkdirOwned(s.root, d); err != nil {
			return fmt.Errorf("maildir: create user %s: %w", a, err)
		}
	}
	u, err := s.User(a)
	if err != nil {
		return err
	}
	defer u.Close()
	if err := u.initFolderDir("."); err != nil {
		return fmt.Errorf("maildir: create user %s: %w", a, err)
	}
	for _, name := range DefaultFolders {
		dir, _ := folderDir(name)
		if err := u.initFolderDir(dir); err != nil {
			return fmt.Errorf("maildir: create user %s: folder %s: %w", a, name, err)
		}
	}
	return ctx.Err()
}

// RemoveUser deletes the user's Maildir and everything in it. The
// directory is first renamed aside so that a crash never leaves half a
// mailbox under the user's name.
func (s *Store) RemoveUser(ctx context.Context, a addr.Address) error {
	p, err := userPath(a)
	if err != nil {
		return err
	}
	if !s.UserExists(a) {
		return fmt.Errorf("%w: %s", ErrNoUser, a)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	// A leading dot can't be a user (addr.PathSafe refuses it).
	aside := path.Join(a.Domain, ".removed-"+hex.EncodeToString(rnd[:]))
	if err := s.root.Rename(p, aside); err != nil {
		return fmt.Errorf("maildir: remove user %s: %w", a, err)
	}
	if err := s.syncDirAt(s.root, a.Domain); err != nil {
		return fmt.Errorf("maildir: remove user %s: %w", a, err)
	}
	if err := s.root.RemoveAll(aside); err != nil {
		return fmt.Errorf("maildir: remove user %s: %w", a, err)
	}
	return ctx.Err()
}

// UserExists reports whether the user has a Maildir.
func (s *Store) UserExists(a addr.Address) bool {
	p, err := userPath(a)
	if err != nil {
		return false
	}
	st, err := s.root.Lstat(p)
	return err == nil && st.IsDir()
}

// User opens the user's Maildir. Neither the domain nor the user directory
// may be a symlink; below it, the returned User's os.Root keeps every path
// inside.
func (s *Store) User(a addr.Address) (*User, error) {
	p, err := userPath(a)
	if err != nil {
		return nil, err
	}
	dom, err := openRootNoLink(s.root, a.Domain)
	if err != nil {
		return nil, s.userErr(a, err)
	}
	defer dom.Close()
	r, err := openRootNoLink(dom, a.Local)
	if err != nil {
		return nil, s.userErr(a, err)
	}
	return &User{s: s, addr: a, root: r, key: p}, nil
}

func (s *Store) userErr(a addr.Address, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNoUser, a)
	}
	return fmt.Errorf("maildir: open user %s: %w", a, err)
}

// openRootNoLink opens name below r as a Root, refusing a symlink: the
// entry is checked with Lstat, then the opened directory must be that very
// entry (same device and inode), so a swap in between is caught too.
func openRootNoLink(r *os.Root, name string) (*os.Root, error) {
	lst, err := r.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !lst.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrUnsafePath, name)
	}
	sub, err := r.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	st, err := sub.Stat(".")
	if err != nil {
		sub.Close()
		return nil, err
	}
	if !os.SameFile(lst, st) {
		sub.Close()
		return nil, fmt.Errorf("%w: %s changed while opening", ErrUnsafePath, name)
	}
	return sub, nil
}

// mkdirOwned creates a 0700 directory (keeping an existing one) and gives
// it to Options.UID/GID.
func (s *Store) mkdirOwned(r *os.Root, name string) error {
	if err := r.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if s.opts.UID >= 0 {
		if err := r.Lchown(name, s.opts.UID, s.opts.GID); err != nil {
			return err
		}
	}
	return nil
}

// chownFile gives a file the store created to Options.UID/GID.
func (s *Store) chownFile(f *os.File) error {
	if !s.chown {
		return nil
	}
	if err := f.Chown(s.opts.UID, s.opts.GID); err != nil {
		return fmt.Errorf("maildir: chown %s: %w", f.Name(), err)
	}
	return nil
}

// syncDirAt fsyncs directory name below r.
func (s *Store) syncDirAt(r *os.Root, name string) error {
	d, err := r.Open(name)
	if err != nil {
		return fmt.Errorf("maildir: open dir %s: %w", name, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("maildir: fsync dir %s: %w", name, err)
	}
	return nil
}

// group returns the group-commit state for one directory.
func (s *Store) group(key string) *safeio.SyncGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[key]
	if g == nil {
		g = &safeio.SyncGroup{}
		s.groups[key] = g
	}
	return g
}

// sem returns the in-process semaphore for one lock file.
func (s *Store) sem(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.sems[key]
	if c == nil {
		c = make(chan struct{}, 1)
		s.sems[key] = c
	}
	return c
}

// writeAtomic replaces name (below r) with data: temp file in the same
// directory, fsync, rename, and — when durable — fsync of the directory.
// Temporary names never start with a dot (that would be a folder).
func (s *Store) writeAtomic(r *os.Root, name string, data []byte, durable bool) error {
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := name + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("maildir: write %s: %w", name, err)
	}
	fail := func(err error) error {
		f.Close()
		r.Remove(tmp)
		return fmt.Errorf("maildir: write %s: %w", name, err)
	}
	if err := s.chownFile(f); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if durable {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		r.Remove(tmp)
		return fmt.Errorf("maildir: write %s: %w", name, err)
	}
	if err := r.Rename(tmp, name); err != nil {
		r.Remove(tmp)
		return fmt.Errorf("maildir: write %s: %w", name, err)
	}
	if durable {
		return s.syncDirAt(r, path.Dir(name))
	}
	return nil
}
