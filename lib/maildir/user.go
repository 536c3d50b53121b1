package maildir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/safeio"
)

// User is one open Maildir. It is safe for concurrent use; Close it when
// done (Folders obtained from it stop working then).
type User struct {
	s    *Store
	addr addr.Address
	root *os.Root
	key  string // DOMAIN/LOCAL, names the user in the store's maps

	// Quota limits Append, CopyTo and MoveTo (IMAP); zero fields mean
	// unlimited. Deliver takes its limits in DeliverOptions instead.
	Quota Quota
}

// Quota is a Maildir++ limit; 0 means unlimited.
type Quota struct {
	Bytes, Messages int64
}

// Close releases the Maildir's directory handle.
func (u *User) Close() error { return u.root.Close() }

// Address returns the user's address.
func (u *User) Address() addr.Address { return u.addr }

// initFolderDir makes (or completes) a folder: cur/ new/ tmp/, and for a
// Maildir++ subfolder the empty "maildirfolder" marker Courier and Dovecot
// expect.
func (u *User) initFolderDir(dir string) error {
	if dir != "." {
		if err := u.s.mkdirOwned(u.root, dir); err != nil {
			return err
		}
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := u.s.mkdirOwned(u.root, path.Join(dir, sub)); err != nil {
			return err
		}
	}
	if dir == "." {
		return nil
	}
	f, err := u.root.OpenFile(path.Join(dir, "maildirfolder"), os.O_WRONLY|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	return u.s.chownFile(f)
}

// Folders lists the user's folders by IMAP name: INBOX first, then the
// others sorted. Directories whose names are not in canonical form are
// skipped (and logged).
func (u *User) Folders() ([]string, error) {
	ents, err := u.readRootDir()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if len(n) < 2 || n[0] != '.' || n == ".." || !e.IsDir() {
			continue
		}
		name, err := folderName(n)
		if err != nil {
			u.s.log.Warn("maildir: skipping folder directory", "user", u.key, "dir", n, "err", err)
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return append([]string{Inbox}, names...), nil
}

func (u *User) readRootDir() ([]os.DirEntry, error) {
	d, err := u.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("maildir: %s: %w", u.key, err)
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("maildir: %s: %w", u.key, err)
	}
	return ents, nil
}

// CreateFolder makes a new folder. Parents are not created: in Maildir++
// "a/b" is a directory of its own, and an IMAP client sees "a" as a
// \NoSelect parent.
func (u *User) CreateFolder(name string) error {
	dir, err := folderDir(name)
	if err != nil {
		return err
	}
	if dir == "." {
		return fmt.Errorf("%w: %s", ErrFolderExists, Inbox)
	}
	if _, err := u.root.Lstat(dir); err == nil {
		return fmt.Errorf("%w: %s", ErrFolderExists, name)
	}
	if err := u.initFolderDir(dir); err != nil {
		return fmt.Errorf("maildir: create folder %s: %w", name, err)
	}
	return nil
}

// DeleteFolder deletes a folder and its messages; its subfolders stay (they
// are directories of their own). The directory is renamed aside first, so
// a crash can't leave a half-deleted folder under its name.
func (u *User) DeleteFolder(name string) error {
	dir, err := folderDir(name)
	if err != nil {
		return err
	}
	if dir == "." {
		return ErrInbox
	}
	if _, err := u.root.Lstat(dir); err != nil {
		return fmt.Errorf("%w: %s", ErrNoFolder, name)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	aside := "mailctl-deleting-" + hex.EncodeToString(rnd[:])
	if err := u.root.Rename(dir, aside); err != nil {
		return fmt.Errorf("maildir: delete folder %s: %w", name, err)
	}
	if err := u.s.syncDirAt(u.root, "."); err != nil {
		return fmt.Errorf("maildir: delete folder %s: %w", name, err)
	}
	if err := u.root.RemoveAll(aside); err != nil {
		return fmt.Errorf("maildir: delete folder %s: %w", name, err)
	}
	return nil
}

// RenameFolder renames a folder and its subfolders, keeping their UIDs and
// UIDVALIDITY. Renaming INBOX moves its messages into a new folder and
// leaves INBOX empty (RFC 3501 §6.3.5).
func (u *User) RenameFolder(oldName, newName string) error {
	od, err := folderDir(oldName)
	if err != nil {
		return err
	}
	nd, err := folderDir(newName)
	if err != nil {
		return err
	}
	if nd == "." {
		return fmt.Errorf("%w: %s", ErrFolderExists, Inbox)
	}
	if od == "." {
		return u.renameInbox(newName)
	}
	if _, err := u.root.Lstat(od); err != nil {
		return fmt.Errorf("%w: %s", ErrNoFolder, oldName)
	}
	ents, err := u.readRootDir()
	if err != nil {
		return err
	}
	moves := [][2]string{{od, nd}}
	for _, e := range ents {
		if rest, ok := strings.CutPrefix(e.Name(), od+"."); ok {
			moves = append(moves, [2]string{e.Name(), nd + "." + rest})
		}
	}
	for _, m := range moves {
		if len(m[1]) > maxDirName {
			return fmt.Errorf("%w: %s: too long", ErrBadFolderName, newName)
		}
		if _, err := u.root.Lstat(m[1]); err == nil {
			return fmt.Errorf("%w: %s", ErrFolderExists, m[1])
		}
	}
	for _, m := range moves {
		if err := u.root.Rename(m[0], m[1]); err != nil {
			return fmt.Errorf("maildir: rename folder %s: %w", oldName, err)
		}
	}
	return u.s.syncDirAt(u.root, ".")
}

func (u *User) renameInbox(newName string) error {
	ctx, cancel := context.WithTimeout(context.Background(), safeio.LockTimeout)
	defer cancel()
	if err := u.CreateFolder(newName); err != nil {
		return err
	}
	inbox, err := u.Folder(Inbox)
	if err != nil {
		return err
	}
	dst, err := u.Folder(newName)
	if err != nil {
		return err
	}
	snap, err := inbox.Sync(ctx)
	if err != nil {
		return err
	}
	uids := make([]uint32, len(snap.Messages))
	for i, m := range snap.Messages {
		uids[i] = m.UID
	}
	_, err = inbox.MoveTo(ctx, uids, dst)
	return err
}

// Folder opens a folder for IMAP-style access.
func (u *User) Folder(name string) (*Folder, error) {
	norm, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	dir, err := folderDir(norm)
	if err != nil {
		return nil, err
	}
	if st, err := u.root.Stat(path.Join(dir, "cur")); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: %s", ErrNoFolder, name)
	}
	return &Folder{u: u, name: norm, dir: dir}, nil
}

const uidvalidityName = "mailctl-uidvalidity"

// nextUIDValidity hands out UIDVALIDITY values for new UID lists: the
// current time, but always above any value given before, so a folder
// re-created within a second still gets a new one.
func (u *User) nextUIDValidity(ctx context.Context) (uint32, error) {
	l, err := u.lock(ctx, uidvalidityName+".lock")
	if err != nil {
		return 0, err
	}
	defer l.unlock()
	var last uint64
	b, err := u.root.ReadFile(uidvalidityName)
	switch {
	case err == nil:
		last, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: %s/%s: %v", ErrCorrupt, u.key, uidvalidityName, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("maildir: %s/%s: %w", u.key, uidvalidityName, err)
	}
	v := uint64(time.Now().Unix()) & 0xffffffff
	if v <= last {
		v = last + 1
	}
	if v > 0xffffffff {
		v = 1
	}
	if err := u.s.writeAtomic(u.root, uidvalidityName, strconv.AppendUint(nil, v, 10), true); err != nil {
		return 0, err
	}
	return uint32(v), nil
}

// CleanTmp removes files older than age from the tmp/ of every folder:
// leftovers of writers that crashed (the Maildir spec suggests 36 hours).
func (u *User) CleanTmp(ctx context.Context, age time.Duration) error {
	ents, err := u.readRootDir()
	if err != nil {
		return err
	}
	dirs := []string{"tmp"}
	for _, e := range ents {
		if n := e.Name(); len(n) > 1 && n[0] == '.' && n != ".." && e.IsDir() {
			dirs = append(dirs, path.Join(n, "tmp"))
		}
	}
	cutoff := time.Now().Add(-age)
	for _, dir := range dirs {
		names, err := u.readNames(dir)
		if err != nil {
			continue // not a Maildir folder
		}
		for _, n := range names {
			if err := ctx.Err(); err != nil {
				return err
			}
			p := path.Join(dir, n)
			if st, err := u.root.Lstat(p); err == nil && st.Mode().IsRegular() && st.ModTime().Before(cutoff) {
				if err := u.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("maildir: clean %s/%s: %w", u.key, p, err)
				}
			}
		}
	}
	return nil
}
