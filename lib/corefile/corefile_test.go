package corefile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// words is a toy core file: one word a line, "bad" is a parse error.
type words []string

func parseWords(r io.Reader, name string) (words, error) {
	var w words
	err := Scan(r, name, func(l Line) error {
		if l.Text == "bad" {
			return errors.New("bad word")
		}
		w = append(w, l.Text)
		return nil
	})
	return w, err
}

func writeWords(w io.Writer, ws words) error {
	if err := WriteHeader(w, "words"); err != nil {
		return err
	}
	for _, s := range ws {
		if _, err := fmt.Fprintln(w, s); err != nil {
			return err
		}
	}
	return nil
}

var wordsCodec = Codec[words]{Parse: parseWords, Write: writeWords}

func TestScan(t *testing.T) {
	in := "# header\n\n# about a\n#\n#  indented\na  \r\n\t b\n\n# free\n\n#x\nc\n"
	type entry struct {
		N        int
		Text     string
		Comments []string
	}
	var got []entry
	err := Scan(strings.NewReader(in), "f", func(l Line) error {
		got = append(got, entry{l.N, l.Text, l.Comments})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []entry{
		{6, "a", []string{"about a", "", " indented"}},
		{7, "b", nil},
		{12, "c", []string{"x"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
}

func TestScanErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"fn error", "a\n# c\nbad\n", "f:3: bad word"},
		{"too long", "a\n" + strings.Repeat("x", MaxLine+1) + "\n", "f:2: line longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWords(strings.NewReader(tt.in), "f")
			var le *LineError
			if !errors.As(err, &le) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a LineError starting %q", err, tt.want)
			}
		})
	}
}

func TestCutToken(t *testing.T) {
	tests := []struct{ in, tok, rest string }{
		{"a@b c", "a@b", " c"},
		{`"x y"@b c`, `"x y"@b`, " c"},
		{`"x\" y"@b c`, `"x\" y"@b`, " c"},
		{`"unterminated c`, `"unterminated c`, ""},
		{"abc", "abc", ""},
	}
	for _, tt := range tests {
		tok, rest := CutToken(tt.in, IsBlank)
		if tok != tt.tok || rest != tt.rest {
			t.Errorf("CutToken(%q) = %q, %q; want %q, %q", tt.in, tok, rest, tt.tok, tt.rest)
		}
	}
}

func TestCommentsRoundTrip(t *testing.T) {
	var b strings.Builder
	cs := []string{"one", "", " two", "three\nfour"}
	if err := WriteComments(&b, cs); err != nil {
		t.Fatal(err)
	}
	b.WriteString("entry\n")
	var got []string
	Scan(strings.NewReader(b.String()), "f", func(l Line) error { got = l.Comments; return nil })
	want := []string{"one", "", " two", "three", "four"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("comments = %q, want %q", got, want)
	}
}

// countingCache returns a cache of path whose parses are counted.
func countingCache(path string, missingOK bool) (*Cache[words], *atomic.Int32) {
	n := new(atomic.Int32)
	return NewCache(path, func(r io.Reader, name string) (words, error) {
		n.Add(1)
		return parseWords(r, name)
	}, missingOK), n
}

func setOld(t *testing.T, path string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func mustGet(t *testing.T, c *Cache[words]) words {
	t.Helper()
	v, err := c.Get()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCacheReload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w")
	os.WriteFile(p, []byte("a\n"), 0o644)
	setOld(t, p)
	c, n := countingCache(p, false)
	if v := mustGet(t, c); !reflect.DeepEqual(v, words{"a"}) {
		t.Fatalf("first get = %v", v)
	}
	mustGet(t, c)
	if n.Load() != 1 {
		t.Fatalf("unchanged old file parsed %d times, want 1", n.Load())
	}

	// Replaced by rename (what Update does): a new inode.
	if err := Update(context.Background(), p, wordsCodec, Options{Perm: 0o644}, func(w words) (words, error) {
		return append(w, "b"), nil
	}); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, c); !reflect.DeepEqual(v, words{"a", "b"}) {
		t.Fatalf("after update = %v", v)
	}
	// Within the second after the change the file is read on every Get,
	// but the same content is not parsed again.
	before := n.Load()
	mustGet(t, c)
	mustGet(t, c)
	if n.Load() != before {
		t.Fatalf("unchanged recent file parsed %d more times", n.Load()-before)
	}

	// Edited in place to the same size within the same mtime tick: only
	// the one-second rule notices.
	mtime := time.Now()
	os.Chtimes(p, mtime, mtime)
	mustGet(t, c) // loaded right after the mtime
	before = n.Load()
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), "\nb\n", "\nc\n", 1)), 0o644)
	os.Chtimes(p, mtime, mtime)
	if v := mustGet(t, c); !reflect.DeepEqual(v, words{"a", "c"}) {
		t.Fatalf("same-size edit within a second: got %v", v)
	}
	if n.Load() == before {
		t.Fatal("a recently modified file was not parsed again")
	}

	// Once the mtime is old, an unchanged stamp means no parse at all.
	setOld(t, p)
	mustGet(t, c)
	before = n.Load()
	for range 5 {
		mustGet(t, c)
	}
	if n.Load() != before {
		t.Fatalf("old unchanged file parsed %d more times", n.Load()-before)
	}
}

func TestCacheErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "w")

	c, _ := countingCache(p, false)
	if _, err := c.Get(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file without missingOK: err = %v", err)
	}
	cm, _ := countingCache(p, true)
	if v, err := cm.Get(); err != nil || len(v) != 0 {
		t.Fatalf("missing file with missingOK = %v, %v", v, err)
	}

	os.WriteFile(p, []byte("a\nbad\n"), 0o644)
	setOld(t, p)
	for _, c := range []*Cache[words]{c, cm} {
		if _, err := c.Get(); err == nil || !strings.Contains(err.Error(), p+":2:") {
			t.Fatalf("broken file: err = %v, want %s:2", err, p)
		}
	}
	os.WriteFile(p, []byte("a\nbb\n"), 0o644)
	if v, err := c.Get(); err != nil || len(v) != 2 {
		t.Fatalf("fixed file = %v, %v", v, err)
	}
	os.Remove(p)
	if v, err := cm.Get(); err != nil || len(v) != 0 {
		t.Fatalf("removed file with missingOK = %v, %v", v, err)
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "w")
	add := func(s string) func(words) (words, error) {
		return func(w words) (words, error) { return append(w, s), nil }
	}

	if err := Update(ctx, p, wordsCodec, Options{Perm: 0o640, GID: 4242}, add("a")); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o640 {
		t.Errorf("new file mode = %v, want 0640", st.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		if gid := st.Sys().(*syscall.Stat_t).Gid; gid != 4242 {
			t.Errorf("new file gid = %d, want 4242", gid)
		}
	} else {
		t.Log("not root: the new file's group was not checked")
	}

	// fn's error is returned as it is and the file is untouched.
	errNo := errors.New("no")
	if err := Update(ctx, p, wordsCodec, Options{}, func(words) (words, error) { return nil, errNo }); err != errNo {
		t.Fatalf("fn error = %v", err)
	}
	// A value that would not parse back is refused.
	if err := Update(ctx, p, wordsCodec, Options{}, add("bad")); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("unparsable result: err = %v", err)
	}
	if v, _ := Load(p, parseWords); !reflect.DeepEqual(v, words{"a"}) {
		t.Fatalf("file after refused updates = %v", v)
	}
	// No change, no new file.
	before, _ := os.Stat(p)
	if err := Update(ctx, p, wordsCodec, Options{}, func(w words) (words, error) { return w, nil }); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(p)
	if !os.SameFile(before, after) {
		t.Error("an update without change replaced the file")
	}
	// A broken file is not overwritten.
	os.WriteFile(p, []byte("bad\n"), 0o640)
	if err := Update(ctx, p, wordsCodec, Options{}, add("x")); err == nil || !strings.Contains(err.Error(), p+":1:") {
		t.Fatalf("update of a broken file: err = %v", err)
	}
}

func TestUpdateLockTimeout(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w")
	hold := make(chan struct{})
	held := make(chan struct{})
	go Update(context.Background(), p, wordsCodec, Options{Perm: 0o644}, func(w words) (words, error) {
		close(held)
		<-hold
		return w, nil
	})
	<-held
	defer close(hold)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := Update(ctx, p, wordsCodec, Options{Perm: 0o644}, func(w words) (words, error) { return w, nil })
	if err == nil {
		t.Fatal("second update ran while the first held the lock")
	}
}
