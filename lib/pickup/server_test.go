package pickup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/deliver"
	"mailctl/lib/spool"
)

// fakeDeliverer plays lib/deliver: unknown users fail permanently,
// "busy" ones temporarily.
type fakeDeliverer struct {
	mu    sync.Mutex
	calls []delivered
}

type delivered struct {
	env deliver.Envelope
	msg string
}

func (d *fakeDeliverer) Deliver(_ context.Context, env deliver.Envelope, r io.Reader, _ int64) []deliver.Result {
	msg, _ := io.ReadAll(r)
	d.mu.Lock()
	d.calls = append(d.calls, delivered{env, string(msg)})
	d.mu.Unlock()
	res := make([]deliver.Result, len(env.Recipients))
	for i, rc := range env.Recipients {
		res[i].Recipient = rc
		switch rc.Local {
		case "nobody-here":
			res[i].Err = &deliver.Error{Kind: deliver.KindUnknownUser, Msg: "no such user: " + rc.String()}
		case "busy":
			res[i].Err = &deliver.Error{Kind: deliver.KindTemporary, Msg: "mailbox locked"}
		}
	}
	return res
}

type fakeQueue struct {
	mu     sync.Mutex
	envs   []spool.Envelope
	msgs   []string
	broken bool
}

func (q *fakeQueue) Enqueue(_ context.Context, env spool.Envelope, r io.Reader) (string, error) {
	msg, _ := io.ReadAll(r)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.broken {
		return "", errors.New("disk full")
	}
	q.envs = append(q.envs, env)
	q.msgs = append(q.msgs, string(msg))
	return fmt.Sprintf("q%d", len(q.envs)), nil
}

type fixture struct {
	srv  *Server
	dl   *fakeDeliverer
	q    *fakeQueue
	sock string
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	f := &fixture{dl: &fakeDeliverer{}, q: &fakeQueue{}}
	opts := Options{
		Hostname:      "host.example",
		MaxSize:       1 << 20,
		MaxRecipients: 5,
		Timeout:       5 * time.Second,
		IsLocal:       func(d string) (bool, error) { return d == "host.example" || d == "example.org", nil },
		Deliverer:     f.dl,
		Queue:         f.q,
		LookupUser: func(uid int) (string, string, error) {
			switch uid {
			case 0:
				return "root", "root", nil
			case 65534:
				return "nobody", "Kernel Overflow User", nil
			}
			return "", "", fmt.Errorf("no user %d", uid)
		},
		Maildrop: filepath.Join(t.TempDir(), "maildrop"),
	}
	if mod != nil {
		mod(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.now = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
	f.srv = srv
	return f
}

// serve starts the server on a unix socket.
func (f *fixture) serve(t *testing.T) {
	t.Helper()
	f.sock = filepath.Join(t.TempDir(), "sendmail.sock")
	l, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func (f *fixture) send(t *testing.T, req Request, msg string) Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := Send(ctx, f.sock, req, []byte(msg))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return rep
}

const cronMsg = "From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@host> ls /\nContent-Type: text/plain; charset=UTF-8\n\nbin\netc\n"

func TestCronMessageDeliveredLocally(t *testing.T) {
	f := newFixture(t, nil)
	f.serve(t)
	a, err := ParseArgs(strings.Fields("-FCronDaemon -i -B8BITMIME -oem root"))
	if err != nil {
		t.Fatal(err)
	}
	rep := f.send(t, a.Request, cronMsg)
	if rep.Code != ExOK || !strings.Contains(rep.Text, "delivered to 1") {
		t.Fatalf("reply %+v", rep)
	}
	if len(f.dl.calls) != 1 || len(f.q.envs) != 0 {
		t.Fatalf("%d deliveries, %d queued", len(f.dl.calls), len(f.q.envs))
	}
	c := f.dl.calls[0]
	if c.env.Sender != addr.MustParse("root@host.example") || len(c.env.Recipients) != 1 || c.env.Recipients[0] != addr.MustParse("root@host.example") {
		t.Errorf("envelope %+v", c.env)
	}
	for _, want := range []string{
		"Received: by host.example (mailctl sendmail, from userid 0)\r\n\tid ",
		"; Thu, 02 Jan 2025 03:04:05 +0000\r\n",
		"Date: Thu, 02 Jan 2025 03:04:05 +0000\r\n",
		"@host.example>\r\n",
		"From: root@host.example (Cron Daemon)\r\n",
		"To: root@host.example\r\n",
		"\r\n\r\nbin\r\netc\r\n",
	} {
		if !strings.Contains(c.msg, want) {
			t.Errorf("message lacks %q:\n%s", want, c.msg)
		}
	}
	if strings.Count(c.msg, "\n") != strings.Count(c.msg, "\r\n") {
		t.Error("bare LF left in the message")
	}
	if strings.Count(c.msg, "From:") != 1 {
		t.Error("From: added although the message had one")
	}
}

func TestExtractRemovesBcc(t *testing.T) {
	f := newFixture(t, nil)
	f.serve(t)
	msg := "To: bob@remote.example\nCc: carol\nBcc: secret@remote.example,\n  dave@example.org\nSubject: t\n\nhi\n"
	rep := f.send(t, Request{Extract: true, FullName: "The Admin"}, msg)
	if rep.Code != ExOK || !strings.Contains(rep.Text, "queued as q1 for 2") {
		t.Fatalf("reply %+v", rep)
	}
	if len(f.dl.calls) != 1 || len(f.q.envs) != 1 {
		t.Fatalf("%d deliveries, %d queued", len(f.dl.calls), len(f.q.envs))
	}
	if got := fmt.Sprint(f.dl.calls[0].env.Recipients); got != "[carol@host.example dave@example.org]" {
		t.Errorf("local recipients %s", got)
	}
	env := f.q.envs[0]
	if env.Origin != "sendmail" || env.From != addr.MustParse("root@host.example") || len(env.Recipients) != 2 ||
		env.Recipients[0].Address != addr.MustParse("bob@remote.example") || env.Recipients[1].Address != addr.MustParse("secret@remote.example") ||
		env.Recipients[0].Local {
		t.Errorf("queued envelope %+v", env)
	}
	for _, m := range []string{f.q.msgs[0], f.dl.calls[0].msg} {
		if strings.Contains(m, "Bcc") || strings.Contains(m, "secret") || strings.Contains(m, "dave") {
			t.Errorf("Bcc leaked:\n%s", m)
		}
		if !strings.Contains(m, "From: \"The Admin\" <root@host.example>\r\n") {
			t.Errorf("From: not added with -F's name:\n%s", m)
		}
	}
	if f.q.msgs[0] != f.dl.calls[0].msg {
		t.Error("local and queued copies differ")
	}
}

func TestRefusalsAndPartialFailures(t *testing.T) {
	tests := []struct {
		name       string
		req        Request
		msg        string
		broken     bool
		code       int
		text       string
		queuedRcpt string // "" when nothing may be queued
	}{
		{"unknown local user", Request{Recipients: []string{"nobody-here"}}, "x\n", false, ExNoUser, "no such user", ""},
		{"unknown and remote", Request{Recipients: []string{"nobody-here", "a@remote.example"}}, "x\n", false, ExOK, "queued", "nobody-here@host.example"},
		{"busy mailbox", Request{Recipients: []string{"busy@example.org"}}, "x\n", false, ExOK, "queued", "busy@example.org"},
		{"queue broken", Request{Recipients: []string{"a@remote.example"}}, "x\n", true, ExTempFail, "try again later", ""},
		{"bad recipient", Request{Recipients: []string{"a@@b"}}, "x\n", false, ExDataErr, "recipient", ""},
		{"phrase only", Request{Recipients: []string{"two words"}}, "x\n", false, ExDataErr, "not an address", ""},
		{"bad sender", Request{From: "a b@c", FromSet: true, Recipients: []string{"root"}}, "x\n", false, ExDataErr, "sender", ""},
		{"too many", Request{Recipients: []string{"a,b,c,d,e,f"}}, "x\n", false, ExDataErr, "limit of 5", ""},
		{"-t without any", Request{Extract: true}, "Subject: x\n\ny\n", false, ExDataErr, "no recipients", ""},
		{"empty", Request{Recipients: []string{"root"}}, " \n", false, ExDataErr, "empty", ""},
		{"loop", Request{Recipients: []string{"root"}}, strings.Repeat("Received: x\n", 100) + "\nx", false, ExDataErr, "loop", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.q.broken = tt.broken
			tt.req.UID = 0
			rep := f.srv.Submit(context.Background(), tt.req, []byte(tt.msg), false)
			if rep.Code != tt.code || !strings.Contains(rep.Text, tt.text) {
				t.Errorf("reply %+v, want %d %q", rep, tt.code, tt.text)
			}
			var queued []string
			for _, e := range f.q.envs {
				for _, r := range e.Recipients {
					if r.Local && r.LastError == "" {
						t.Errorf("local recipient queued without its error: %+v", r)
					}
					if r.Address.String() == tt.queuedRcpt {
						queued = append(queued, r.Address.String())
					}
				}
			}
			if (tt.queuedRcpt != "") != (len(queued) == 1) {
				t.Errorf("queued %+v, want %q among them", f.q.envs, tt.queuedRcpt)
			}
		})
	}
}

func TestUntrustedUser(t *testing.T) {
	f := newFixture(t, nil)
	rep := f.srv.Submit(context.Background(), Request{UID: 65534, Recipients: []string{"a@remote.example"}}, []byte("Subject: x\n\nhi\n"), false)
	if rep.Code != ExOK {
		t.Fatalf("reply %+v", rep)
	}
	env, msg := f.q.envs[0], f.q.msgs[0]
	if env.From != addr.MustParse("nobody@host.example") {
		t.Errorf("sender %v, want the user's own address", env.From)
	}
	if !strings.Contains(msg, `From: "Kernel Overflow User" <nobody@host.example>`) || strings.Contains(msg, "X-Authentication-Warning") {
		t.Errorf("message:\n%s", msg)
	}

	// A foreign -f is kept, and flagged; root's is not flagged.
	for _, tc := range []struct {
		uid  int
		from string
		warn string
	}{
		{65534, "boss@example.org", "X-Authentication-Warning: host.example: nobody set sender to boss@example.org using -f\r\n"},
		{65534, "<>", "nobody set sender to <> using -f"},
		{65534, "nobody", ""},
		{0, "boss@example.org", ""},
	} {
		f := newFixture(t, nil)
		rep := f.srv.Submit(context.Background(), Request{UID: tc.uid, From: tc.from, FromSet: true, Recipients: []string{"a@remote.example"}}, []byte("Subject: x\n\nhi\n"), false)
		if rep.Code != ExOK {
			t.Fatalf("reply %+v", rep)
		}
		msg := f.q.msgs[0]
		if tc.warn == "" && strings.Contains(msg, "X-Authentication-Warning") || tc.warn != "" && !strings.Contains(msg, tc.warn) {
			t.Errorf("uid %d -f %s: message:\n%s", tc.uid, tc.from, msg)
		}
	}

	if rep := f.srv.Submit(context.Background(), Request{UID: 4242, Recipients: []string{"root"}}, []byte("x"), false); rep.Code != ExNoUser {
		t.Errorf("uid without passwd entry: %+v", rep)
	}
}

func TestMustAcceptQueuesPermanentFailures(t *testing.T) {
	f := newFixture(t, nil)
	rep := f.srv.Submit(context.Background(), Request{UID: 0, Recipients: []string{"nobody-here"}}, []byte("x\n"), true)
	if rep.Code != ExOK || len(f.q.envs) != 1 || !f.q.envs[0].Recipients[0].Local ||
		!strings.HasPrefix(f.q.envs[0].Recipients[0].LastError, "550 5.1.1") {
		t.Errorf("reply %+v, queued %+v", rep, f.q.envs)
	}
}

func TestSocketLimitsAndGarbage(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxSize = 1000 })
	f.serve(t)
	rep := f.send(t, Request{Recipients: []string{"root"}}, strings.Repeat("x", 5000))
	if rep.Code != ExDataErr || !strings.Contains(rep.Text, "larger than the limit") {
		t.Errorf("large message: %+v", rep)
	}
	c, err := net.Dial("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "EHLO me\r\n\r\n")
	out, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(out), magic+"\n65 not a pickup request") {
		t.Errorf("garbage: %q", out)
	}
	// Many at once.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := Send(context.Background(), f.sock, Request{Recipients: []string{fmt.Sprintf("u%d@remote.example", i)}}, []byte("x\n"))
			if err != nil || rep.Code != ExOK {
				t.Errorf("concurrent send: %+v %v", rep, err)
			}
		}()
	}
	wg.Wait()
	if len(f.q.envs) != 20 {
		t.Errorf("%d queued, want 20", len(f.q.envs))
	}
}

func TestSendUnreachable(t *testing.T) {
	dir := t.TempDir()
	_, err := Send(context.Background(), filepath.Join(dir, "none.sock"), Request{Recipients: []string{"root"}}, []byte("x"))
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("missing socket: %v", err)
	}
	// A listener that closes without answering.
	p := filepath.Join(dir, "mute.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := Send(context.Background(), p, Request{Recipients: []string{"root"}}, []byte("x")); !errors.Is(err, ErrUnreachable) {
		t.Errorf("mute daemon: %v", err)
	}
	// Nobody takes the connection (no greeting): unreachable.
	old := GreetingTimeout
	GreetingTimeout = 200 * time.Millisecond
	defer func() { GreetingTimeout = old }()
	backlog := filepath.Join(dir, "backlog.sock")
	l3, _ := net.Listen("unix", backlog)
	defer l3.Close()
	if _, err := Send(context.Background(), backlog, Request{Recipients: []string{"root"}}, []byte("x")); !errors.Is(err, ErrUnreachable) {
		t.Errorf("connection nobody accepts: %v", err)
	}

	// A daemon that greets and never answers: the context ends it, and
	// that is not "unreachable" (it may have the message).
	slow := filepath.Join(dir, "slow.sock")
	l2, _ := net.Listen("unix", slow)
	defer l2.Close()
	go func() {
		c, err := l2.Accept()
		if err == nil {
			io.WriteString(c, magic+"\n")
			io.Copy(io.Discard, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Send(ctx, slow, Request{Recipients: []string{"root"}}, []byte("x")); err == nil || errors.Is(err, ErrUnreachable) {
		t.Errorf("silent daemon: %v", err)
	}
}

func TestReadInput(t *testing.T) {
	long := strings.Repeat("y", 100<<10)
	tests := []struct {
		in         string
		ignoreDots bool
		want       string
	}{
		{"a\n.\nafter\n", false, "a\n"},
		{"a\r\n.\r\nafter", false, "a\r\n"},
		{"a\n..\nb\n", false, "a\n..\nb\n"},
		{"a\n.", false, "a\n"},
		{"a\n. \nb", false, "a\n. \nb"},
		{"a\n.\nafter\n", true, "a\n.\nafter\n"},
		{long + "\n.\nz", false, long + "\n"},
		{long + ".\nz", false, long + ".\nz"}, // a dot at the end of a long line is not a dot line
		{"", false, ""},
	}
	for _, tt := range tests {
		got, err := ReadInput(strings.NewReader(tt.in), tt.ignoreDots, 1<<20)
		if err != nil || string(got) != tt.want {
			t.Errorf("ReadInput(%.20q, %v) = %.20q, %v; want %.20q", tt.in, tt.ignoreDots, got, err, tt.want)
		}
	}
	for _, ign := range []bool{false, true} {
		if _, err := ReadInput(strings.NewReader(long), ign, 1000); !errors.Is(err, ErrTooLarge) {
			t.Errorf("ignoreDots %v: too large: %v", ign, err)
		}
		if got, err := ReadInput(strings.NewReader(long), ign, int64(len(long))); err != nil || len(got) != len(long) {
			t.Errorf("ignoreDots %v: exactly the limit: %v", ign, err)
		}
	}
}

func TestMaildrop(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaildropInterval = 20 * time.Millisecond })
	dir := f.srv.opts.Maildrop
	if _, err := WriteMaildrop(dir, Request{UID: 0, Recipients: []string{"root"}}, []byte("x")); err == nil {
		t.Fatal("WriteMaildrop into a missing directory succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.srv.RunMaildrop(ctx) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, func() bool { _, err := os.Stat(dir); return err == nil })
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("maildrop mode %v", st.Mode().Perm())
	}

	// A root file: its uid line is believed.
	p, err := WriteMaildrop(dir, Request{UID: 0, FullName: "CronDaemon", Recipients: []string{"root"}}, []byte(cronMsg))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { _, err := os.Stat(p); return err != nil })
	f.dl.mu.Lock()
	if len(f.dl.calls) != 1 || f.dl.calls[0].env.Recipients[0].String() != "root@host.example" {
		t.Errorf("maildrop message not delivered: %+v", f.dl.calls)
	}
	f.dl.mu.Unlock()

	// Another user's file: the uid line is not believed.
	p, err = WriteMaildrop(dir, Request{UID: 0, Recipients: []string{"a@remote.example"}}, []byte("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { _, err := os.Stat(p); return err != nil })
	f.q.mu.Lock()
	if len(f.q.envs) != 1 || f.q.envs[0].From.String() != "nobody@host.example" {
		t.Errorf("foreign maildrop file: queued %+v", f.q.envs)
	}
	f.q.mu.Unlock()

	// Garbage is set aside; a temporary failure leaves the file.
	junk := filepath.Join(dir, "123.1.junk")
	os.WriteFile(junk, []byte("garbage"), 0o600)
	waitUntil(t, func() bool { _, err := os.Stat(junk + ".bad"); return err == nil })
	f.q.mu.Lock()
	f.q.broken = true
	f.q.mu.Unlock()
	p, err = WriteMaildrop(dir, Request{UID: 0, Recipients: []string{"b@remote.example"}}, []byte("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(p); err != nil {
		t.Errorf("file of a message that could not be queued is gone: %v", err)
	}
	f.q.mu.Lock()
	f.q.broken = false
	f.q.mu.Unlock()
	waitUntil(t, func() bool { _, err := os.Stat(p); return err != nil })

	// Old temporary files are removed, fresh ones kept.
	old, fresh := filepath.Join(dir, tmpPrefix+"old"), filepath.Join(dir, tmpPrefix+"fresh")
	os.WriteFile(old, nil, 0o600)
	os.WriteFile(fresh, nil, 0o600)
	os.Chtimes(old, time.Time{}, f.srv.now().Add(-2*tmpAge))
	os.Chtimes(fresh, time.Time{}, f.srv.now())
	waitUntil(t, func() bool { _, err := os.Stat(old); return err != nil })
	if _, err := os.Stat(fresh); err != nil {
		t.Error("fresh temporary file removed")
	}
	if !bytes.Contains([]byte(fmt.Sprint(os.ReadDir(dir))), []byte("junk.bad")) {
		t.Error("set-aside file gone")
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
