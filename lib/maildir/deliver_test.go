package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
)

func TestDeliverDurable(t *testing.T) {
	s, u := newUser(t)
	date := time.Date(2024, 2, 29, 12, 30, 45, 0, time.UTC)
	msg := "Subject: hi\r\nFrom: a@b\r\n\r\nline one\r\nline two\r\n"
	key := deliver(t, u, msg, DeliverOptions{Date: date})

	p := filepath.Join(userDir(s), "new", key)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatalf("delivered file: %v", err)
	}
	want := strings.ReplaceAll(msg, "\r\n", "\n")
	got, _ := os.ReadFile(p)
	if string(got) != want {
		t.Errorf("content %q, want %q", got, want)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		t.Errorf("mode %o, want 600", m)
	}
	if !st.ModTime().Equal(date) {
		t.Errorf("mtime %v, want %v", st.ModTime(), date)
	}
	size, crlf := keySizes(key)
	if size != int64(len(want)) || crlf != int64(len(msg)) {
		t.Errorf("key %q: S=%d W=%d, want S=%d W=%d", key, size, crlf, len(want), len(msg))
	}
	if !strings.HasSuffix(key, ".test.host,S="+strconv.Itoa(len(want))+",W="+strconv.Itoa(len(msg))) {
		t.Errorf("key %q lacks host and sizes", key)
	}
	if n := listDir(t, filepath.Join(userDir(s), "tmp")); len(n) != 0 {
		t.Errorf("tmp/ not empty: %v", n)
	}
}

func TestDeliverLineEnds(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\nb\r\n", "a\nb\n"},
		{"a\nb\n", "a\nb\n"},
		{"a\rb\r\n", "a\rb\n"},
		{"a\r", "a\r"},
		{"a\r\r\n", "a\r\n"},
		{"", ""},
		{"no newline", "no newline"},
		{strings.Repeat("x", 70000) + "\r\n" + strings.Repeat("y\r\n", 30000), strings.Repeat("x", 70000) + "\n" + strings.Repeat("y\n", 30000)},
	}
	for i, tt := range tests {
		for _, reader := range []struct {
			name string
			r    func(string) io.Reader
		}{
			{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
			{"bytewise", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
			{"dataerr", func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) }},
		} {
			t.Run(fmt.Sprintf("%d/%s", i, reader.name), func(t *testing.T) {
				var out bytes.Buffer
				size, crlf, err := copyLF(context.Background(), &out, reader.r(tt.in))
				if err != nil {
					t.Fatal(err)
				}
				if out.String() != tt.want {
					t.Fatalf("got %q, want %q", trim(out.String()), trim(tt.want))
				}
				if size != int64(len(tt.want)) || crlf != int64(len(tt.want)+strings.Count(tt.want, "\n")) {
					t.Fatalf("size %d crlf %d for %q", size, crlf, trim(tt.want))
				}
			})
		}
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func TestDeliverFlagsAndFolders(t *testing.T) {
	s, u := newUser(t)
	key := deliver(t, u, "m\n", DeliverOptions{Folder: "Junk", Flags: "SF"})
	if _, err := os.Stat(filepath.Join(userDir(s), ".Junk", "cur", key+":2,FS")); err != nil {
		t.Fatalf("flagged delivery not in .Junk/cur with sorted flags: %v", err)
	}
	_, err := u.Deliver(context.Background(), strings.NewReader("m\n"), DeliverOptions{Folder: "Nope"})
	if !errors.Is(err, ErrNoFolder) {
		t.Errorf("delivery to a missing folder: %v, want ErrNoFolder", err)
	}
	_, err = u.Deliver(context.Background(), strings.NewReader("m\n"), DeliverOptions{Flags: "Sx"})
	if !errors.Is(err, ErrBadFlags) {
		t.Errorf("bad flags: %v, want ErrBadFlags", err)
	}
	_, err = u.Deliver(context.Background(), strings.NewReader("m\n"), DeliverOptions{Folder: "../x"})
	if !errors.Is(err, ErrBadFolderName) {
		t.Errorf("folder ../x: %v, want ErrBadFolderName", err)
	}
}

// A reader failing halfway leaves nothing behind.
func TestDeliverReaderError(t *testing.T) {
	s, u := newUser(t)
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("Subject: x\n\n"), iotest.ErrReader(boom))
	if _, err := u.Deliver(context.Background(), r, DeliverOptions{}); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the reader's error", err)
	}
	for _, sub := range []string{"new", "cur", "tmp"} {
		if n := listDir(t, filepath.Join(userDir(s), sub)); len(n) != 0 {
			t.Errorf("%s/ not empty: %v", sub, n)
		}
	}
}

func TestDeliverQuota(t *testing.T) {
	s, u := newUser(t)
	ctx := context.Background()
	lim := DeliverOptions{QuotaBytes: 100, QuotaMessages: 3}
	msg := strings.Repeat("x", 29) + "\n" // 30 bytes
	for i := 0; i < 3; i++ {
		deliver(t, u, msg, lim)
	}
	b, n, err := u.QuotaUsage(ctx)
	if err != nil || b != 90 || n != 3 {
		t.Fatalf("usage %d bytes %d msgs %v, want 90, 3", b, n, err)
	}
	// maildirsize: the limit line, then one line per delivery.
	data, _ := os.ReadFile(filepath.Join(userDir(s), "maildirsize"))
	if string(data) != "100S,3C\n0 0\n30 1\n30 1\n30 1\n" {
		t.Errorf("maildirsize = %q", data)
	}
	if _, err := u.Deliver(ctx, strings.NewReader(msg), lim); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("4th message: %v, want ErrQuotaExceeded", err)
	}
	big := DeliverOptions{QuotaBytes: 100, QuotaMessages: 10}
	if _, err := u.Deliver(ctx, strings.NewReader(msg), big); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("120 bytes over 100: %v, want ErrQuotaExceeded", err)
	}
	if got := len(listDir(t, filepath.Join(userDir(s), "new"))); got != 3 {
		t.Fatalf("%d messages in new/, want 3", got)
	}
	if n := listDir(t, filepath.Join(userDir(s), "tmp")); len(n) != 0 {
		t.Errorf("tmp/ not empty: %v", n)
	}
	// Expunging makes room again; the file follows.
	f := mustFolder(t, u, Inbox)
	snap := mustSync(t, f)
	if err := f.Expunge(ctx, []uint32{snap.Messages[0].UID}); err != nil {
		t.Fatal(err)
	}
	if b, n, _ := u.QuotaUsage(ctx); b != 60 || n != 2 {
		t.Fatalf("after expunge: %d bytes %d msgs, want 60, 2", b, n)
	}
	deliver(t, u, msg, lim)
}

func TestQuotaRebuild(t *testing.T) {
	s, u := newUser(t)
	ctx := context.Background()
	deliver(t, u, "12345\n", DeliverOptions{})
	deliver(t, u, "123\n", DeliverOptions{Folder: "Sent", Flags: "S"})
	mf := filepath.Join(userDir(s), "maildirsize")
	for _, tc := range []struct{ name, content string }{
		{"missing", ""},
		{"garbage", "xyz\n1 1\n"},
		{"negative", "0S,0C\n-100 -5\n"},
		{"too big", "0S,0C\n" + strings.Repeat("1 1\n", 2000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(mf)
			if tc.content != "" {
				os.WriteFile(mf, []byte(tc.content), 0o600)
			}
			b, n, err := u.QuotaUsage(ctx)
			if err != nil || b != 10 || n != 2 {
				t.Fatalf("usage %d %d %v, want 10 bytes in 2 messages", b, n, err)
			}
		})
	}
	// A half-written last line is ignored, not an error.
	os.WriteFile(mf, []byte("0S,0C\n10 2\n5"), 0o600)
	if b, n, _ := u.QuotaUsage(ctx); b != 10 || n != 2 {
		t.Fatalf("with half a line: %d %d", b, n)
	}
}

func TestDeliverConcurrent(t *testing.T) {
	s, u := newUser(t)
	const n = 40
	var wg sync.WaitGroup
	keys := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := u.Deliver(context.Background(), strings.NewReader(fmt.Sprintf("Subject: %d\n\nbody\n", i)), DeliverOptions{})
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, k := range keys {
		if seen[k] {
			t.Fatalf("key %q twice", k)
		}
		seen[k] = true
		b, err := os.ReadFile(filepath.Join(userDir(s), "new", k))
		if err != nil || string(b) != fmt.Sprintf("Subject: %d\n\nbody\n", i) {
			t.Fatalf("message %d: %q %v", i, b, err)
		}
	}
}

// TestDeliverUnwritable runs deliveries as uid 65534 (through setpriv, as
// the tests run as root) into Maildirs it may not write.
func TestDeliverUnwritable(t *testing.T) {
	tests := []struct {
		name     string
		readOnly []string // made 0500
		wantErr  string
	}{
		{"writable", nil, ""},
		{"new/ read-only", []string{"new"}, "EACCES"},
		{"tmp/ read-only", []string{"tmp"}, "EACCES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := sharedTempDir(t)
			s, _ := newUserAt(t, dir, Options{UID: 65534, GID: 65534, Hostname: "h"})
			for _, d := range []string{filepath.Join(s.Dir(), "example.org"), userDir(s)} {
				os.Chmod(d, 0o755)
			}
			for _, sub := range tt.readOnly {
				if err := os.Chmod(filepath.Join(userDir(s), sub), 0o500); err != nil {
					t.Fatal(err)
				}
			}
			cmd := helperCommand(t, "deliver", true, "MAILDIR_DIR="+s.Dir())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			got := strings.TrimSpace(string(out))
			want := "ok"
			if tt.wantErr != "" {
				want = "error " + tt.wantErr
			}
			if !strings.HasPrefix(got, want) {
				t.Fatalf("helper said %q, want %q", got, want)
			}
			newFiles := listDir(t, filepath.Join(userDir(s), "new"))
			tmpFiles := listDir(t, filepath.Join(userDir(s), "tmp"))
			if tt.wantErr == "" && len(newFiles) != 1 {
				t.Fatalf("new/ = %v, want one message", newFiles)
			}
			if tt.wantErr != "" && (len(newFiles) != 0 || len(tmpFiles) != 0) {
				t.Fatalf("after a failed delivery: new/ = %v, tmp/ = %v", newFiles, tmpFiles)
			}
		})
	}
}

// helperDeliver delivers one message into bob's INBOX and prints "ok" or
// "error ERRNO <text>", the errno found with errors.Is.
func helperDeliver() error {
	s, err := Open(os.Getenv("MAILDIR_DIR"), Options{UID: -1, GID: -1})
	if err != nil {
		return err
	}
	u, err := s.User(bob)
	if err != nil {
		return err
	}
	_, err = u.Deliver(context.Background(), strings.NewReader("Subject: x\r\n\r\nx\r\n"), DeliverOptions{})
	switch {
	case err == nil:
		fmt.Println("ok")
	case errors.Is(err, syscall.EACCES):
		fmt.Println("error EACCES", err)
	case errors.Is(err, syscall.EPERM):
		fmt.Println("error EPERM", err)
	case errors.Is(err, syscall.EROFS):
		fmt.Println("error EROFS", err)
	default:
		fmt.Println("error other", err)
	}
	return nil
}

func BenchmarkDeliver(b *testing.B) {
	_, u := newUser(b)
	msg := bytes.Repeat([]byte("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 abcdefghijklmnopqrstuvwxyz\r\n"), 10240/100)
	ctx := context.Background()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := u.Deliver(ctx, bytes.NewReader(msg), DeliverOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliverParallel shows group commit: many deliveries in flight
// share directory fsyncs.
func BenchmarkDeliverParallel(b *testing.B) {
	_, u := newUser(b)
	msg := bytes.Repeat([]byte("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 abcdefghijklmnopqrstuvwxyz\r\n"), 10240/100)
	ctx := context.Background()
	b.SetBytes(int64(len(msg)))
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := u.Deliver(ctx, bytes.NewReader(msg), DeliverOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestCleanTmp(t *testing.T) {
	s, u := newUser(t)
	old := time.Now().Add(-48 * time.Hour)
	files := map[string]bool{ // path → should survive
		filepath.Join(userDir(s), "tmp", "old"):             false,
		filepath.Join(userDir(s), "tmp", "fresh"):           true,
		filepath.Join(userDir(s), ".Sent", "tmp", "old"):    false,
		filepath.Join(userDir(s), ".Sent", "cur", "old:2,"): true,
	}
	for p, keep := range files {
		os.WriteFile(p, []byte("x"), 0o600)
		if !keep || strings.Contains(p, "cur") {
			os.Chtimes(p, old, old)
		}
	}
	if err := u.CleanTmp(context.Background(), 36*time.Hour); err != nil {
		t.Fatal(err)
	}
	for p, keep := range files {
		if _, err := os.Stat(p); (err == nil) != keep {
			t.Errorf("%s: exists %v, want %v", p, err == nil, keep)
		}
	}
}
