package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-message/mail"

	"mailctl/lib/testenv"
)

// startBrowser launches headless Chromium (installed from Debian's package
// when missing) with a fresh profile and returns a context for one tab.
// Every action under it ends by the deadline; the browser is killed in
// Cleanup, before the profile directory is removed.
func startBrowser(t *testing.T, deadline time.Duration) context.Context {
	t.Helper()
	exe := testenv.NeedCommand(t, "chromium", "chromium")
	profile := t.TempDir()
	var out testenv.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	// Only these flags: chromedp's DefaultExecAllocatorOptions are not used,
	// so nothing else (enable-features, metrics …) reaches the command line.
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(&out),
	)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		bcancel()
		acancel() // kills the browser and waits for it
		cancel()
		if t.Failed() {
			t.Logf("chromium output (without D-Bus noise):\n%s", withoutDBus(out.String()))
		}
	})
	if err := chromedp.Do(bctx); err != nil { // start it now, under the deadline
		t.Fatalf("starting %s: %v", exe, err)
	}
	return bctx
}

// withoutDBus drops the lines a headless Chromium logs because there is no
// D-Bus in a container.
func withoutDBus(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "dbus/") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// bwDo runs browser actions and fails the test on the first error.
func bwDo(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// bwGet runs one browser action that returns a value.
func bwGet[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// bwEval evaluates JavaScript in the tab's page and decodes its value.
func bwEval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	return bwGet(t, ctx, "evaluating "+firstLine(js), chromedp.Evaluate[T](js))
}

// bwClick clicks and waits until the page it leads to has loaded (a
// form POST and its redirect included); it returns the final URL.
func bwClick(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	r, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
	if r == nil || r.Status != http.StatusOK {
		t.Fatalf("clicking %s: response %+v", sel, r)
	}
	return r.URL
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// artifactDir is $MAILCTL_TEST_ARTIFACTS, or test-artifacts/ at the repo
// root (the directory holding go.mod).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MAILCTL_TEST_ARTIFACTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "test-artifacts")
				break
			}
			if filepath.Dir(d) == d {
				t.Fatalf("no go.mod above %s", wd)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the tab's viewport as a PNG artifact.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := bwGet(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot())
	path := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// hitServer is a loopback HTTP server that counts requests by path: the
// "remote" server of a hostile message's images and beacons.
type hitServer struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newHitServer(t *testing.T) *hitServer {
	h := &hitServer{hits: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.hits[r.URL.Path]++
		h.mu.Unlock()
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	}))
	t.Cleanup(h.Close)
	return h
}

// count is the number of requests for path, or for every path but the
// given ones when path is "" (the beacons a script would send).
func (h *hitServer) count(path string, except ...string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for p, c := range h.hits {
		if p == path || path == "" && !slices.Contains(except, p) {
			n += c
		}
	}
	return n
}

func (h *hitServer) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s []string
	for p, c := range h.hits {
		s = append(s, p+"="+strconv.Itoa(c))
	}
	sort.Strings(s)
	return "[" + strings.Join(s, " ") + "]"
}

// storedMail is a message file parsed as a mail reader would.
type storedMail struct {
	Header      mail.Header
	Text        string
	Attachments map[string][]byte // by file name, transfer encoding undone
}

func readStoredMail(t *testing.T, path string) storedMail {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := mail.CreateReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m := storedMail{Header: r.Header, Attachments: map[string][]byte{}}
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch h := p.Header.(type) {
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			m.Attachments[name] = body
		case *mail.InlineHeader:
			m.Text += string(body)
		}
	}
	return m
}

// messageFiles lists the message files of a Maildir folder directory
// (new/ and cur/).
func messageFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		m, err := filepath.Glob(filepath.Join(dir, sub, "*"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}
