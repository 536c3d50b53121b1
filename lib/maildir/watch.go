package maildir

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Watcher tells sessions that a folder may have changed (a delivery, a
// flag change or an expunge by any process), so that IDLE needs no busy
// polling. One Watcher per process shares one inotify instance among all
// watched folders: the kernel allows only 128 instances per user, and
// under inetd every connection is a process of its own.
//
// A notification is only a hint: the receiver syncs the folder to learn
// what changed. Where inotify is unavailable or its watch limit is
// reached, folders are polled instead, every PollInterval.
type Watcher struct {
	log  *slog.Logger
	poll time.Duration

	mu      sync.Mutex
	file    *os.File // the inotify descriptor; nil: polling only
	fd      int      // its number (file.Fd would make it blocking)
	byWD    map[int32]*watchedDir
	byPath  map[string]*watchedDir
	polling map[*Watch]struct{}
	closed  bool
	stop    chan struct{}
	done    sync.WaitGroup
}

type watchedDir struct {
	wd   int32
	path string
	subs map[*Watch]struct{}
}

// Watch is one subscription; C receives a value (coalesced) after a
// change. Close it when done.
type Watch struct {
	C <-chan struct{}
	c chan struct{}
	w *Watcher
	// dirs are the inotify watches it uses; empty when polled.
	dirs []*watchedDir
}

// WatcherOptions tune a Watcher.
type WatcherOptions struct {
	// PollInterval is how often folders without an inotify watch are
	// signalled; 0 means 2 seconds.
	PollInterval time.Duration
	// DisableInotify forces polling (for tests, or file systems where
	// inotify misses changes by other hosts).
	DisableInotify bool
	Logger         *slog.Logger
}

const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW

// NewWatcher starts a watcher. It never fails: without inotify it polls.
func NewWatcher(o WatcherOptions) *Watcher {
	w := &Watcher{
		log:     o.Logger,
		poll:    o.PollInterval,
		byWD:    map[int32]*watchedDir{},
		byPath:  map[string]*watchedDir{},
		polling: map[*Watch]struct{}{},
		stop:    make(chan struct{}),
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.poll <= 0 {
		w.poll = 2 * time.Second
	}
	if !o.DisableInotify {
		fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
		if err != nil {
			w.log.Warn("maildir: inotify unavailable, polling folders instead", "err", err, "interval", w.poll)
		} else {
			// Non-blocking: reads go through the runtime poller, and
			// Close wakes the reader.
			w.file, w.fd = os.NewFile(uintptr(fd), "inotify"), fd
			w.done.Add(1)
			go w.read()
		}
	}
	w.done.Add(1)
	go w.ticker()
	return w
}

// Watch subscribes to changes of folder f (its new/ and cur/).
func (w *Watcher) Watch(f *Folder) *Watch {
	c := make(chan struct{}, 1)
	wt := &Watch{C: c, c: c, w: w}
	base := filepath.Join(f.u.s.dir, filepath.FromSlash(f.u.key), f.dir)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return wt
	}
	if w.file != nil {
		for _, sub := range []string{"new", "cur"} {
			d, err := w.addLocked(filepath.Join(base, sub))
			if err != nil {
				w.log.Warn("maildir: inotify watch failed, polling this folder", "folder", f.name, "err", err)
				w.dropLocked(wt)
				wt.dirs = nil
				break
			}
			d.subs[wt] = struct{}{}
			wt.dirs = append(wt.dirs, d)
		}
	}
	if len(wt.dirs) == 0 {
		w.polling[wt] = struct{}{}
	}
	return wt
}

func (w *Watcher) addLocked(p string) (*watchedDir, error) {
	if d := w.byPath[p]; d != nil {
		return d, nil
	}
	wd, err := unix.InotifyAddWatch(w.fd, p, watchMask)
	if err != nil {
		return nil, err
	}
	// The kernel returns the same wd for the same inode: a directory
	// renamed and watched again under its new path shares the entry.
	if d := w.byWD[int32(wd)]; d != nil {
		delete(w.byPath, d.path)
		d.path = p
		w.byPath[p] = d
		return d, nil
	}
	d := &watchedDir{wd: int32(wd), path: p, subs: map[*Watch]struct{}{}}
	w.byWD[d.wd] = d
	w.byPath[p] = d
	return d, nil
}

// dropLocked removes wt from its directories, removing watches nobody
// needs any more.
func (w *Watcher) dropLocked(wt *Watch) {
	for _, d := range wt.dirs {
		delete(d.subs, wt)
		if len(d.subs) == 0 {
			if w.file != nil && !w.closed {
				unix.InotifyRmWatch(w.fd, uint32(d.wd))
			}
			delete(w.byWD, d.wd)
			delete(w.byPath, d.path)
		}
	}
	delete(w.polling, wt)
}

// Close ends the subscription.
func (wt *Watch) Close() {
	w := wt.w
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropLocked(wt)
	wt.dirs = nil
}

func (wt *Watch) signal() {
	select {
	case wt.c <- struct{}{}:
	default:
	}
}

// read turns inotify events into signals.
func (w *Watcher) read() {
	defer w.done.Done()
	buf := make([]byte, 64*1024)
	for {
		n, err := w.file.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.log.Warn("maildir: inotify read failed, polling every folder", "err", err)
				w.degrade()
			}
			return
		}
		w.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				for _, d := range w.byWD {
					for s := range d.subs {
						s.signal()
					}
				}
				continue
			}
			d := w.byWD[ev.Wd]
			if d == nil {
				continue
			}
			for s := range d.subs {
				s.signal()
			}
			if ev.Mask&unix.IN_IGNORED != 0 {
				// The directory is gone (folder deleted or renamed): its
				// watchers fall back to polling.
				delete(w.byWD, d.wd)
				delete(w.byPath, d.path)
				for s := range d.subs {
					w.dropLocked(s)
					s.dirs = nil
					w.polling[s] = struct{}{}
				}
			}
		}
		w.mu.Unlock()
	}
}

// degrade moves every subscription to polling.
func (w *Watcher) degrade() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range w.byWD {
		for s := range d.subs {
			s.dirs = nil
			w.polling[s] = struct{}{}
			s.signal()
		}
	}
	w.byWD = map[int32]*watchedDir{}
	w.byPath = map[string]*watchedDir{}
}

// ticker signals the polled subscriptions.
func (w *Watcher) ticker() {
	defer w.done.Done()
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			for s := range w.polling {
				s.signal()
			}
			w.mu.Unlock()
		}
	}
}

// Inotify reports whether the watcher uses inotify (for logs and tests).
func (w *Watcher) Inotify() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.file != nil
}

// Close stops the watcher; subscriptions stop receiving signals.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.stop)
	f := w.file
	w.mu.Unlock()
	var err error
	if f != nil {
		err = f.Close()
	}
	w.done.Wait()
	return err
}
