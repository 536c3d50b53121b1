package imapd

import (
	"context"
	"strings"
	"sync"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/maildir"
)

// registry shares open Maildirs and folders between the sessions of one
// process. A maildir.Folder holds the folder's whole state (a few hundred
// bytes per message); one per session would cost megabytes per connection
// on a big folder, one per process costs it once. Sessions keep only a
// pointer to an immutable Snapshot.
//
// Entries nobody uses stay open for linger, so a client that logs in
// again soon (most do) finds its folder synced: a re-SELECT is then three
// stat calls.
type registry struct {
	store  *maildir.Store
	linger time.Duration

	mu    sync.Mutex
	users map[string]*userRef
}

type userRef struct {
	u       *maildir.User
	key     string
	refs    int
	idle    time.Time // when refs dropped to 0
	folders map[string]*folderRef
}

type folderRef struct {
	f    *maildir.Folder
	user *userRef
	name string
	refs int
	idle time.Time
	gone bool // deleted or renamed: not handed out again
}

// maxIdleFolders bounds the folders kept open for nobody.
const maxIdleFolders = 256

func newRegistry(store *maildir.Store, linger time.Duration) *registry {
	return &registry{store: store, linger: linger, users: map[string]*userRef{}}
}

// user returns the open Maildir of a, opening (and creating) it if needed.
// quota applies from now on unless other sessions of the user are active
// (maildir.User.Quota is read without a lock by their appends).
func (r *registry) user(a addr.Address, quota int64) (*userRef, error) {
	key := a.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked(time.Now())
	if ur := r.users[key]; ur != nil {
		if ur.refs == 0 {
			ur.u.Quota = maildir.Quota{Bytes: quota}
		}
		ur.refs++
		return ur, nil
	}
	if !r.store.UserExists(a) {
		// A user added by hand to the users file: make the Maildir.
		if err := r.store.CreateUser(context.Background(), a); err != nil {
			return nil, err
		}
	}
	u, err := r.store.User(a)
	if err != nil {
		return nil, err
	}
	u.Quota = maildir.Quota{Bytes: quota}
	ur := &userRef{u: u, key: key, refs: 1, folders: map[string]*folderRef{}}
	r.users[key] = ur
	return ur, nil
}

func (r *registry) releaseUser(ur *userRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ur.refs--
	if ur.refs == 0 {
		ur.idle = time.Now()
	}
	r.sweepLocked(time.Now())
}

// folder returns the shared Folder of an open user.
func (r *registry) folder(ur *userRef, name string) (*folderRef, error) {
	norm, err := maildir.NormalizeName(name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if fr := ur.folders[norm]; fr != nil && !fr.gone {
		fr.refs++
		return fr, nil
	}
	f, err := ur.u.Folder(norm)
	if err != nil {
		return nil, err
	}
	fr := &folderRef{f: f, user: ur, name: norm, refs: 1}
	ur.folders[norm] = fr
	ur.refs++ // a folder keeps its user open
	return fr, nil
}

func (r *registry) releaseFolder(fr *folderRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fr.refs--
	if fr.refs > 0 {
		return
	}
	fr.idle = time.Now()
	if fr.gone {
		r.closeFolderLocked(fr)
	}
	r.sweepLocked(time.Now())
}

// forget marks folder name of ur and its subfolders as gone (DELETE,
// RENAME): their directories moved, so the Folders are useless; sessions
// that still hold one get errors until they select again.
func (r *registry) forget(ur *userRef, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, fr := range ur.folders {
		if n == name || strings.HasPrefix(n, name+"/") {
			fr.gone = true
			delete(ur.folders, n)
			if fr.refs == 0 {
				r.closeFolderLocked(fr)
			}
		}
	}
}

func (r *registry) closeFolderLocked(fr *folderRef) {
	fr.f.Close()
	if ur := fr.user; ur.folders[fr.name] == fr {
		delete(ur.folders, fr.name)
	}
	fr.user.refs--
	if fr.user.refs == 0 {
		fr.user.idle = time.Now()
	}
	fr.refs = -1 // closed
}

// sweepLocked closes what nobody used for linger, and the oldest idle
// folders beyond maxIdleFolders.
func (r *registry) sweepLocked(now time.Time) {
	var idle []*folderRef
	for _, ur := range r.users {
		for _, fr := range ur.folders {
			if fr.refs == 0 {
				if now.Sub(fr.idle) >= r.linger {
					r.closeFolderLocked(fr)
				} else {
					idle = append(idle, fr)
				}
			}
		}
	}
	for len(idle) > maxIdleFolders {
		oldest := 0
		for i, fr := range idle {
			if fr.idle.Before(idle[oldest].idle) {
				oldest = i
			}
		}
		r.closeFolderLocked(idle[oldest])
		idle = append(idle[:oldest], idle[oldest+1:]...)
	}
	for key, ur := range r.users {
		if ur.refs == 0 && now.Sub(ur.idle) >= r.linger {
			ur.u.Close()
			delete(r.users, key)
		}
	}
}

// close closes everything (at server shutdown).
func (r *registry) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, ur := range r.users {
		for _, fr := range ur.folders {
			fr.f.Close()
		}
		ur.u.Close()
		delete(r.users, key)
	}
}
