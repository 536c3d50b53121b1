package spool

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	ctx := ctxT(t)
	s := openSpool(t)
	body := "Subject: hi\r\n\r\nhello\r\n"
	id := enqueue(t, s, body)

	// Files and directories are private.
	for _, p := range []string{s.msgPath(id), s.envPath(Incoming, id)} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	for _, d := range subdirs {
		st, err := os.Stat(filepath.Join(s.dir, d))
		if err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want 0700", d, st.Mode(), err)
		}
	}
	if n := dirNames(t, s, "tmp"); len(n) != 0 {
		t.Errorf("tmp/ not empty: %v", n)
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].State != Incoming || list[0].Size != int64(len(body)) {
		t.Fatalf("List = %+v", list)
	}
	want := testEnvelope()
	got := list[0].Envelope
	if got.From != want.From || len(got.Recipients) != 2 || got.Recipients[1] != want.Recipients[1] ||
		got.Origin != "submitd" || got.AuthUser != want.AuthUser || !got.EightBit || got.SMTPUTF8 || got.Received.IsZero() {
		t.Fatalf("envelope = %+v", got)
	}

	env, err := s.Claim(ctx, id, Incoming)
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != id {
		t.Fatalf("claimed %q", env.ID)
	}
	if _, err := s.Claim(ctx, id, Incoming); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second claim: %v, want ErrNotFound", err)
	}
	r, err := s.OpenMessage(id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != body {
		t.Fatalf("content %q", b)
	}

	next := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	err = s.Move(ctx, id, Active, Deferred, func(e *Envelope) {
		e.Attempts++
		e.NextAttempt = next
		e.LastError = "451 4.4.1 no answer"
		e.Recipients[1].Status = StatusSent
		e.ID = "tries to rename"
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != Deferred || e.Attempts != 1 || !e.NextAttempt.Equal(next) || e.LastError != "451 4.4.1 no answer" ||
		e.Recipients[1].Status != StatusSent || e.ID != id || len(e.Pending()) != 1 {
		t.Fatalf("after move: %+v", e)
	}
	if _, err := s.Claim(ctx, id, Incoming); !errors.Is(err, ErrNotFound) {
		t.Fatalf("claim from the wrong state: %v", err)
	}
	// Plain moves, and a move of something that is not there.
	if err := s.Move(ctx, id, Deferred, Hold, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(ctx, id, Deferred, Incoming, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("move from wrong state: %v", err)
	}
	if err := s.Move(ctx, id, Hold, Hold, func(e *Envelope) { e.Attempts = 7 }); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Get(id); e.State != Hold || e.Attempts != 7 {
		t.Fatalf("in-place update: %+v", e)
	}
	if l, _ := s.List(ctx, Hold); len(l) != 1 {
		t.Fatalf("List(hold) = %+v", l)
	}
	if l, _ := s.List(ctx, Incoming, Deferred, Active); len(l) != 0 {
		t.Fatalf("List(others) = %+v", l)
	}

	if err := s.Remove(ctx, id, Deferred); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove from wrong state: %v", err)
	}
	if err := s.Remove(ctx, id, Hold); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after remove: %v", err)
	}
	if _, err := s.OpenMessage(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenMessage after remove: %v", err)
	}
	for _, d := range subdirs {
		if n := dirNames(t, s, d); len(n) != 0 {
			t.Errorf("%s/ left: %v", d, n)
		}
	}
}

func TestBadArguments(t *testing.T) {
	ctx := ctxT(t)
	s := openSpool(t)
	id := enqueue(t, s, "x")
	for _, bad := range []string{"", "../../etc/passwd", strings.ToUpper(id), id + "0", "msg"} {
		if _, err := s.Get(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v", bad, err)
		}
		if _, err := s.Claim(ctx, bad, Incoming); !errors.Is(err, ErrNotFound) {
			t.Errorf("Claim(%q) = %v", bad, err)
		}
	}
	if _, err := s.Claim(ctx, id, State("../msg")); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Claim with a bad state = %v", err)
	}
	if _, err := s.List(ctx, State("tmp")); err == nil {
		t.Error("List(tmp) accepted")
	}
	for _, env := range []Envelope{
		{},
		{Recipients: []Recipient{{}}},
		{Recipients: []Recipient{{Address: testEnvelope().From, Status: "maybe"}}},
		{Recipients: testEnvelope().Recipients, Attempts: -1},
	} {
		if _, err := s.Enqueue(ctx, env, strings.NewReader("x")); err == nil {
			t.Errorf("Enqueue(%+v) accepted", env)
		}
	}
	if n := dirNames(t, s, "msg"); len(n) != 1 {
		t.Errorf("refused enqueues left content: %v", n)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	r.n--
	return copy(p, "data"), nil
}

func TestEnqueueReadErrorLeavesNothing(t *testing.T) {
	s := openSpool(t)
	if _, err := s.Enqueue(ctxT(t), testEnvelope(), &failingReader{n: 3}); err == nil {
		t.Fatal("Enqueue succeeded with a failing reader")
	}
	for _, d := range subdirs {
		if n := dirNames(t, s, d); len(n) != 0 {
			t.Errorf("%s/ left: %v", d, n)
		}
	}
}

func TestListOrderAndIDs(t *testing.T) {
	s := openSpool(t)
	var ids []string
	for range 20 {
		ids = append(ids, enqueue(t, s, "m"))
	}
	if !slices.IsSorted(ids) {
		t.Errorf("IDs not increasing: %v", ids)
	}
	l, err := s.List(ctxT(t), Incoming)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range l {
		got = append(got, e.ID)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("List order %v, want %v", got, ids)
	}
	tm, ok := IDTime(ids[0])
	if !ok || time.Since(tm) > time.Minute || time.Since(tm) < 0 {
		t.Errorf("IDTime = %v %v", tm, ok)
	}
}

func TestCorruptEnvelope(t *testing.T) {
	ctx := ctxT(t)
	s := openSpool(t)
	good := enqueue(t, s, "good")
	bad := enqueue(t, s, "bad")
	if _, err := s.Claim(ctx, bad, Incoming); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(ctx, bad, Active, Deferred, nil); err != nil {
		t.Fatal(err)
	}
	// Truncate the envelope as a broken disk (or an editor) would.
	p := s.envPath(Deferred, bad)
	data, _ := os.ReadFile(p)
	if err := os.WriteFile(p, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := s.List(ctx, Incoming, Deferred)
	if err != nil {
		t.Fatalf("List broke on a corrupt envelope: %v", err)
	}
	if len(l) != 1 || l[0].ID != good {
		t.Fatalf("List = %+v", l)
	}
	if _, err := os.Stat(s.envPath(Corrupt, bad)); err != nil {
		t.Fatalf("not moved to corrupt/: %v", err)
	}
	l, err = s.List(ctx, Corrupt)
	if err != nil || len(l) != 1 || l[0].ID != bad || l[0].State != Corrupt || l[0].LastError == "" || l[0].Size != 3 {
		t.Fatalf("List(corrupt) = %+v, %v", l, err)
	}
	e, err := s.Get(bad)
	if err != nil || e.State != Corrupt {
		t.Fatalf("Get = %+v, %v", e, err)
	}

	// A corrupt envelope met by Claim: moved, reported.
	other := enqueue(t, s, "x")
	if err := os.WriteFile(s.envPath(Incoming, other), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, other, Incoming); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Claim of garbage: %v", err)
	}
	if _, err := os.Stat(s.envPath(Corrupt, other)); err != nil {
		t.Fatalf("claimed garbage not in corrupt/: %v", err)
	}
	// An envelope naming another ID is corrupt too.
	third := enqueue(t, s, "y")
	if err := os.WriteFile(s.envPath(Incoming, third), []byte(strings.Replace(string(data), bad, good, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.List(ctx, Incoming); len(l) != 1 || l[0].ID != good {
		t.Fatalf("List with a misnamed envelope = %+v", l)
	}
	// Foreign names in a state directory are ignored.
	os.WriteFile(filepath.Join(s.dir, "incoming", "README"), []byte("hi"), 0o600)
	if l, err := s.List(ctx, Incoming); err != nil || len(l) != 1 {
		t.Fatalf("List with a foreign file = %+v, %v", l, err)
	}
}

func TestRecover(t *testing.T) {
	ctx := ctxT(t)
	s := openSpool(t)
	keep := enqueue(t, s, "keep")
	noContent := enqueue(t, s, "lost")
	os.Remove(s.msgPath(noContent))
	orphan := enqueue(t, s, "orphan")
	os.Remove(s.envPath(Incoming, orphan))
	young := newID(time.Now())
	os.WriteFile(s.msgPath(young), []byte("being enqueued"), 0o600)
	os.WriteFile(filepath.Join(s.dir, "tmp", keep+".msg.123"), []byte("half"), 0o600)

	// Everything is young: only the envelope without content is handled.
	st, err := s.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st != (RecoverStats{Corrupted: 1}) {
		t.Fatalf("first Recover: %+v", st)
	}
	if e, err := s.Get(noContent); err != nil || e.State != Corrupt || e.Size != -1 {
		t.Fatalf("envelope without content: %+v %v", e, err)
	}

	// A minute later the orphans go; the rest stays.
	s.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	st, err = s.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st != (RecoverStats{TempRemoved: 1, OrphansRemoved: 2}) {
		t.Fatalf("second Recover: %+v", st)
	}
	if got := dirNames(t, s, "msg"); len(got) != 1 || got[0] != keep {
		t.Fatalf("msg/ = %v, want only %s", got, keep)
	}
	if e, err := s.Get(keep); err != nil || e.State != Incoming {
		t.Fatalf("kept message: %+v %v", e, err)
	}
}

func TestRequeueActive(t *testing.T) {
	ctx := ctxT(t)
	s := openSpool(t)
	a, b := enqueue(t, s, "a"), enqueue(t, s, "b")
	for _, id := range []string{a, b} {
		if _, err := s.Claim(ctx, id, Incoming); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.RequeueActive(ctx)
	if err != nil || n != 2 {
		t.Fatalf("RequeueActive = %d, %v", n, err)
	}
	if l, _ := s.List(ctx, Incoming); len(l) != 2 {
		t.Fatalf("incoming after requeue: %+v", l)
	}
}

// TestOwnership needs root: files and directories get Options.UID/GID.
func TestOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown (CI runs as root)")
	}
	dir := t.TempDir() + "/queue"
	s, err := Open(dir, Options{UID: 65534, GID: 65534})
	if err != nil {
		t.Fatal(err)
	}
	id := enqueue(t, s, "owned")
	if err := s.Move(ctxT(t), id, Incoming, Deferred, func(e *Envelope) { e.Attempts = 1 }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, dir + "/msg", dir + "/deferred", s.msgPath(id), s.envPath(Deferred, id)} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != 65534 || sys.Gid != 65534 {
			t.Errorf("%s owned by %d:%d", p, sys.Uid, sys.Gid)
		}
	}
}

// TestGroupCommit runs many Enqueue calls at once with a slow directory
// fsync: they must share fsyncs (far fewer than two per message), and
// none may return before an fsync that began after its rename.
func TestGroupCommit(t *testing.T) {
	s := openSpool(t)
	const n = 40
	var fsyncs atomic.Int32
	var mu sync.Mutex
	synced := map[string]time.Time{} // dir -> start of the last completed fsync
	for _, d := range []string{filepath.Join(s.dir, "msg"), s.stateDir(Incoming)} {
		groupFor(d).SetFsync(func(f *os.File) error {
			start := time.Now()
			fsyncs.Add(1)
			time.Sleep(20 * time.Millisecond)
			err := f.Sync()
			mu.Lock()
			synced[f.Name()] = start
			mu.Unlock()
			return err
		})
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.Enqueue(context.Background(), testEnvelope(), strings.NewReader("m"))
			if err != nil {
				errs <- err
				return
			}
			// The envelope's rename happened before Enqueue returned; the
			// last fsync of incoming/ must have started after it.
			fi, err := os.Stat(s.envPath(Incoming, id))
			if err != nil {
				errs <- err
				return
			}
			ctime := time.Unix(fi.Sys().(*syscall.Stat_t).Ctim.Unix())
			mu.Lock()
			start := synced[s.stateDir(Incoming)]
			mu.Unlock()
			if start.Before(ctime.Add(-10 * time.Millisecond)) { // ctime is coarse
				errs <- errors.New("Enqueue returned before an fsync that covers its rename")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := fsyncs.Load(); got >= 2*n*3/4 || got < 2 {
		t.Errorf("%d directory fsyncs for %d messages: not shared", got, n)
	}
	if l, _ := s.List(ctxT(t), Incoming); len(l) != n {
		t.Errorf("%d messages listed, want %d", len(l), n)
	}
}

func TestSyncGroupCancelled(t *testing.T) {
	s := openSpool(t)
	g := groupFor(s.stateDir(Incoming))
	release := make(chan struct{})
	g.SetFsync(func(f *os.File) error { <-release; return nil })
	dir := s.stateDir(Incoming)
	open := func() (*os.File, error) { return os.Open(dir) }
	go g.Sync(context.Background(), open) // holds the running round
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Sync(ctx, open); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sync under a done context = %v", err)
	}
	close(release)
	if err := g.Sync(context.Background(), open); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverSparesFilesInUse: a file whose writer still holds its lock is
// never removed, however old it looks.
func TestRecoverSparesFilesInUse(t *testing.T) {
	ctx := ctxT(t)
	s := openSpool(t)
	f, err := s.writeTemp(newID(time.Now())+".msg", func(w io.Writer) error { _, err := w.Write([]byte("slow client")); return err })
	if err != nil {
		t.Fatal(err)
	}
	// An Enqueue between renaming its content and its envelope.
	g, err := s.writeTemp(newID(time.Now())+".msg", func(w io.Writer) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	id := filepath.Base(g.Name())[:idLen]
	if err := os.Rename(g.Name(), s.msgPath(id)); err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	if st, err := s.Recover(ctx); err != nil || st != (RecoverStats{}) {
		t.Fatalf("Recover with files in use: %+v, %v", st, err)
	}
	f.Close()
	g.Close()
	if st, err := s.Recover(ctx); err != nil || st != (RecoverStats{TempRemoved: 1, OrphansRemoved: 1}) {
		t.Fatalf("Recover after the writers closed: %+v, %v", st, err)
	}
}

func TestMoveBadUpdateChangesNothing(t *testing.T) {
	ctx := ctxT(t)
	s := openSpool(t)
	id := enqueue(t, s, "x")
	err := s.Move(ctx, id, Incoming, Deferred, func(e *Envelope) { e.Recipients = nil; e.Attempts = 5 })
	if err == nil {
		t.Fatal("Move with an update that empties the recipients succeeded")
	}
	e, err := s.Get(id)
	if err != nil || e.State != Incoming || e.Attempts != 0 || len(e.Recipients) != 2 {
		t.Fatalf("after a failed Move: %+v, %v", e, err)
	}
}

func TestListReportsNewCorruptOnce(t *testing.T) {
	ctx := ctxT(t)
	s := openSpool(t)
	id := enqueue(t, s, "x")
	os.WriteFile(s.envPath(Incoming, id), []byte("junk"), 0o600)
	for _, states := range [][]State{{Incoming, Corrupt}, {Corrupt, Incoming}, nil} {
		l, err := s.List(ctx, states...)
		if err != nil || len(l) != 1 || l[0].State != Corrupt || l[0].ID != id {
			t.Fatalf("List(%v) = %+v, %v", states, l, err)
		}
		// Put it back for the next round.
		os.Rename(s.envPath(Corrupt, id), s.envPath(Incoming, id))
	}
}
