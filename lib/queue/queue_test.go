package queue

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailctl/lib/deliver"
	"mailctl/lib/smtpout/smtptest"
	"mailctl/lib/spool"
)

var mxZone = []string{
	"example.net. MX 10 mx.example.net.",
	"mx.example.net. A 127.0.0.2",
}

func TestDirectDelivery(t *testing.T) {
	e := newEnv(t, mxZone...)
	mx := e.mx("127.0.0.2", smtptest.Options{})
	e.enqueue("alice@example.org", "", "bob@example.net", "carol@example.net")
	st := e.runOnce(e.runner(nil, nil))
	if st.Done != 1 || st.Attempted != 1 {
		t.Errorf("stats %+v", st)
	}
	got := mx.Messages()
	if len(got) != 1 || len(got[0].To) != 2 || got[0].From != "alice@example.org" || !strings.Contains(string(got[0].Data), "Subject: hello there") {
		t.Fatalf("MX got %+v", got)
	}
	e.expectEmpty()
	if !strings.Contains(e.logs(), "path=direct") {
		t.Errorf("log does not name the path:\n%s", e.logs())
	}
}

func TestTemporaryFailureThenRetry(t *testing.T) {
	e := newEnv(t, mxZone...)
	var tries atomic.Int32
	mx := e.mx("127.0.0.2", smtptest.Options{Rcpt: func(string) error {
		if tries.Add(1) == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, come back later"}
		}
		return nil
	}})
	r := e.runner(nil, nil)
	id := e.enqueue("alice@example.org", "", "bob@example.net")
	if st := e.runOnce(r); st.Deferred != 1 {
		t.Fatalf("stats %+v", st)
	}
	es := e.entries(spool.Deferred)
	if len(es) != 1 || es[0].ID != id || es[0].Attempts != 1 || !es[0].NextAttempt.Equal(e.clock.now().Add(5*time.Minute)) ||
		es[0].LastError != "451 4.7.1 greylisted, come back later" || es[0].Recipients[0].LastError != es[0].LastError {
		t.Fatalf("deferred entry %+v", es)
	}
	if st := e.runOnce(r); st.Attempted != 0 {
		t.Errorf("retried before it was due: %+v", st)
	}
	e.clock.add(5 * time.Minute)
	if st := e.runOnce(r); st.Done != 1 {
		t.Fatalf("second try: %+v\n%s", st, e.logs())
	}
	if len(mx.Messages()) != 1 {
		t.Errorf("MX got %d messages", len(mx.Messages()))
	}
	e.expectEmpty()
}

func TestBackoff(t *testing.T) {
	r := &Runner{opts: Options{RetryInitial: 5 * time.Minute, RetryMax: 4 * time.Hour}}
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute, 160 * time.Minute, 4 * time.Hour, 4 * time.Hour}
	for i, w := range want {
		if got := r.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := r.backoff(500); got != 4*time.Hour {
		t.Errorf("backoff(500) = %v", got)
	}
}

func TestPermanentFailureBouncesToLocalSender(t *testing.T) {
	e := newEnv(t, mxZone...)
	e.mx("127.0.0.2", smtptest.Options{Rcpt: func(to string) error {
		if strings.HasPrefix(to, "gone") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no mailbox by that name"}
		}
		return nil
	}})
	e.enqueue("alice@example.org", "", "gone@example.net", "bob@example.net")
	e.runOnce(e.runner(nil, nil))
	got := e.local.messages()
	if len(got) != 1 || got[0].to[0].String() != "alice@example.org" || !got[0].from.IsZero() {
		t.Fatalf("local deliveries %+v\n%s", got, e.logs())
	}
	d := parseDSN(t, got[0].data)
	if d.header.Get("Auto-Submitted") != "auto-replied" || !strings.Contains(d.header.Get("From"), "MAILER-DAEMON@mx.example.org") {
		t.Errorf("DSN header %v", d.header)
	}
	for _, want := range []string{"Final-Recipient: rfc822; gone@example.net", "Action: failed", "Status: 5.1.1", "Remote-MTA: dns; mx.example.net", "Diagnostic-Code: smtp; 550 5.1.1 no mailbox by that name", "Reporting-MTA: dns; mx.example.org"} {
		if !strings.Contains(d.status, want) {
			t.Errorf("delivery-status lacks %q:\n%s", want, d.status)
		}
	}
	if strings.Contains(d.status, "bob@example.net") {
		t.Error("the delivered recipient is in the bounce")
	}
	if !strings.Contains(d.text, "550 5.1.1 no mailbox by that name") || !strings.Contains(d.headers, "Subject: hello there") {
		t.Errorf("text:\n%s\nheaders:\n%s", d.text, d.headers)
	}
	e.expectEmpty()
}

func TestBounceToRemoteSenderBySMTP(t *testing.T) {
	e := newEnv(t, append(mxZone, "example.com. MX 10 mx.example.com.", "mx.example.com. A 127.0.0.3")...)
	e.mx("127.0.0.2", smtptest.Options{Rcpt: func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "unknown"}
	}})
	sender := e.mx("127.0.0.3", smtptest.Options{})
	e.enqueue("zed@example.com", "", "bob@example.net")
	e.runOnce(e.runner(nil, nil))
	got := sender.Messages()
	if len(got) != 1 || got[0].From != "" || got[0].To[0] != "zed@example.com" {
		t.Fatalf("sender's MX got %+v\n%s", got, e.logs())
	}
	parseDSN(t, got[0].Data)
	e.expectEmpty()
}

func TestNullMXBouncesAtOnce(t *testing.T) {
	e := newEnv(t, "nomail.example. MX 0 .")
	e.enqueue("alice@example.org", "", "x@nomail.example")
	e.runOnce(e.runner(nil, nil))
	got := e.local.messages()
	if len(got) != 1 {
		t.Fatalf("no bounce: %+v", got)
	}
	if d := parseDSN(t, got[0].data); !strings.Contains(d.status, "Status: 5.1.10") || !strings.Contains(d.status, "Diagnostic-Code: X-mailctl; 556 5.1.10") {
		t.Errorf("status:\n%s", d.status)
	}
	e.expectEmpty()
}

func TestNeverBounceToNullSender(t *testing.T) {
	e := newEnv(t, mxZone...)
	e.mx("127.0.0.2", smtptest.Options{Rcpt: func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "unknown"}
	}})
	r := e.runner(nil, nil)
	e.enqueue("", "", "bob@example.net") // a bounce we relay, failing
	e.runOnce(r)
	got := e.local.messages()
	if len(got) != 1 || got[0].to[0].String() != "postmaster@example.org" || !got[0].from.IsZero() {
		t.Fatalf("local deliveries %+v", got)
	}
	if d := parseDSN(t, got[0].data); !strings.Contains(d.header.Get("Subject"), "Postmaster Copy") {
		t.Errorf("subject %q", d.header.Get("Subject"))
	}
	e.expectEmpty()

	// A report to the postmaster that fails goes nowhere else.
	e.local.setFail("postmaster@example.org", &deliver.Error{Kind: deliver.KindUnknownUser, Msg: "no such user"})
	e.enqueue("", "", "bob@example.net")
	e.runOnce(r)
	if n := len(e.local.messages()); n != 1 {
		t.Errorf("%d local deliveries, want still 1", n)
	}
	if !strings.Contains(e.logs(), "report to the postmaster could not be delivered") {
		t.Errorf("log:\n%s", e.logs())
	}
	e.expectEmpty()
}

func TestFailedBounceGoesToPostmaster(t *testing.T) {
	e := newEnv(t, mxZone...)
	e.mx("127.0.0.2", smtptest.Options{Rcpt: func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "unknown"}
	}})
	e.local.setFail("ghost@example.org", &deliver.Error{Kind: deliver.KindUnknownUser, Msg: "no such user"})
	e.enqueue("ghost@example.org", "", "bob@example.net")
	e.runOnce(e.runner(nil, nil))
	got := e.local.messages()
	if len(got) != 1 || got[0].to[0].String() != "postmaster@example.org" {
		t.Fatalf("local deliveries %+v\n%s", got, e.logs())
	}
	if d := parseDSN(t, got[0].data); !strings.Contains(d.status, "Final-Recipient: rfc822; ghost@example.org") || !strings.Contains(d.status, "Status: 5.1.1") {
		t.Errorf("postmaster report:\n%s", d.status)
	}
	e.expectEmpty()
}

func TestLocalRecipientRetried(t *testing.T) {
	e := newEnv(t)
	e.local.setFail("dave@example.org", &deliver.Error{Kind: deliver.KindTemporary, Msg: "mailbox full"})
	r := e.runner(nil, nil)
	e.enqueue("zed@example.com", "", "local:dave@example.org")
	if st := e.runOnce(r); st.Deferred != 1 {
		t.Fatalf("stats %+v", st)
	}
	if es := e.entries(spool.Deferred); len(es) != 1 || !strings.HasPrefix(es[0].LastError, "451 4.3.0") {
		t.Fatalf("entry %+v", es)
	}
	e.local.setFail("dave@example.org", nil)
	e.clock.add(5 * time.Minute)
	if st := e.runOnce(r); st.Done != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := e.local.messages(); len(got) != 1 || got[0].from.String() != "zed@example.com" {
		t.Errorf("local %+v", got)
	}
	e.expectEmpty()
}

func TestExpiryAndDelayWarning(t *testing.T) {
	e := newEnv(t, mxZone...)
	e.mx("127.0.0.2", smtptest.Options{Rcpt: func(string) error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"}
	}})
	r := e.runner(nil, nil)
	e.enqueue("alice@example.org", "", "bob@example.net")
	e.runOnce(r)
	if n := len(e.local.messages()); n != 0 {
		t.Fatalf("%d reports after the first try", n)
	}
	e.clock.add(4*time.Hour + time.Minute)
	e.runOnce(r)
	got := e.local.messages()
	if len(got) != 1 {
		t.Fatalf("%d reports after 4 hours, want a delay warning", len(got))
	}
	d := parseDSN(t, got[0].data)
	if !strings.Contains(d.status, "Action: delayed") || !strings.Contains(d.status, "Status: 4.2.0") || !strings.Contains(d.header.Get("Subject"), "Delayed") {
		t.Errorf("warning:\n%s", d.status)
	}
	e.clock.add(4 * time.Hour)
	e.runOnce(r)
	if n := len(e.local.messages()); n != 1 {
		t.Fatalf("warned again: %d reports", n)
	}
	e.clock.add(5 * 24 * time.Hour)
	e.runOnce(r)
	got = e.local.messages()
	if len(got) != 2 {
		t.Fatalf("%d reports after 5 days", len(got))
	}
	if d := parseDSN(t, got[1].data); !strings.Contains(d.status, "Action: failed") || !strings.Contains(d.status, "Status: 4.2.0") || !strings.Contains(d.status, "gave up after") {
		t.Errorf("expiry:\n%s", d.status)
	}
	e.expectEmpty()
}

func TestSmarthostFallback(t *testing.T) {
	e := newEnv(t,
		"refused.example. MX 10 mx.refused.example.", "mx.refused.example. A 127.0.0.3",
		"blocks.example. MX 10 mx.blocks.example.", "mx.blocks.example. A 127.0.0.2",
		"unknown.example. MX 10 mx.unknown.example.", "mx.unknown.example. A 127.0.0.4",
	)
	e.mx("127.0.0.2", smtptest.Options{Rcpt: func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Service unavailable; client host blocked"}
	}})
	e.mx("127.0.0.4", smtptest.Options{Rcpt: func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}})
	relay, rc := e.relay(smtptest.Options{})
	r := e.runner(func(o *Options) { o.Mode = ModeDirectThenSmarthost }, rc)
	e.enqueue("alice@example.org", "", "a@refused.example", "b@blocks.example", "c@unknown.example")
	if st := e.runOnce(r); st.Done != 2 { // the message and its bounce
		t.Fatalf("stats %+v\n%s", st, e.logs())
	}
	got := relay.Messages()
	if len(got) != 1 || strings.Join(got[0].To, ",") != "a@refused.example,b@blocks.example" || got[0].AuthUser != "me@example.org" || !got[0].TLS {
		t.Fatalf("relay got %+v\n%s", got, e.logs())
	}
	// The unknown user is a real bounce, not a reason for the relay.
	if rep := e.local.messages(); len(rep) != 1 || !strings.Contains(parseDSN(t, rep[0].data).status, "c@unknown.example") {
		t.Errorf("bounces %+v", rep)
	}
	if !strings.Contains(e.logs(), "path=smarthost") || !strings.Contains(e.logs(), "trying the smarthost now") {
		t.Errorf("log:\n%s", e.logs())
	}
	e.expectEmpty()
}

func TestSmarthostHourlyCap(t *testing.T) {
	e := newEnv(t)
	relay, rc := e.relay(smtptest.Options{})
	r := e.runner(func(o *Options) { o.Mode = ModeSmarthost; o.RelayPerHour = 2 }, rc)
	for range 3 {
		e.enqueue("alice@example.org", "", "x@anywhere.example")
	}
	st := e.runOnce(r)
	if st.Done != 2 || st.Deferred != 1 || len(relay.Messages()) != 2 {
		t.Fatalf("stats %+v, relay took %d\n%s", st, len(relay.Messages()), e.logs())
	}
	es := e.entries(spool.Deferred)
	if len(es) != 1 || es[0].Attempts != 0 || !es[0].NextAttempt.Equal(e.clock.now().Add(time.Hour)) || !strings.Contains(es[0].LastError, "relay limit reached") {
		t.Fatalf("deferred %+v", es)
	}
	if len(e.local.messages()) != 0 {
		t.Fatal("a bounce for a paced message")
	}
	e.clock.add(30 * time.Minute)
	if st := e.runOnce(r); st.Attempted != 0 {
		t.Errorf("tried before the window opened: %+v", st)
	}
	e.clock.add(30 * time.Minute)
	if st := e.runOnce(r); st.Done != 1 || len(relay.Messages()) != 3 {
		t.Fatalf("after an hour: %+v, relay %d", st, len(relay.Messages()))
	}
	e.expectEmpty()
}

func TestSmarthostMaxSize(t *testing.T) {
	e := newEnv(t)
	relay, rc := e.relay(smtptest.Options{})
	r := e.runner(func(o *Options) { o.Mode = ModeSmarthost; o.RelayMaxSize = 100 }, rc)
	e.enqueue("alice@example.org", "Subject: big\r\n\r\n"+strings.Repeat("x", 200)+"\r\n", "x@anywhere.example")
	e.runOnce(r)
	if len(relay.Messages()) != 0 {
		t.Fatal("relay took an oversized message")
	}
	if rep := e.local.messages(); len(rep) != 1 || !strings.Contains(parseDSN(t, rep[0].data).status, "Status: 5.3.4") {
		t.Fatalf("bounces %+v", rep)
	}
}

func TestRequeueActiveAtStart(t *testing.T) {
	e := newEnv(t, mxZone...)
	mx := e.mx("127.0.0.2", smtptest.Options{})
	id := e.enqueue("alice@example.org", "", "bob@example.net")
	if _, err := e.sp.Claim(context.Background(), id, spool.Incoming); err != nil { // a runner that died
		t.Fatal(err)
	}
	e.runOnce(e.runner(nil, nil))
	if len(mx.Messages()) != 1 {
		t.Fatal("message left in active/ was not delivered")
	}
	e.expectEmpty()
}

func TestOneRunnerAtATime(t *testing.T) {
	e := newEnv(t, mxZone...)
	mx := e.mx("127.0.0.2", smtptest.Options{})
	r := e.runner(func(o *Options) { o.Poll = 20 * time.Millisecond; o.Now = time.Now }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	e.enqueue("alice@example.org", "", "bob@example.net")
	mx.WaitMessages(t, 1)
	if _, err := e.runner(nil, nil).RunOnce(context.Background()); !errors.Is(err, ErrBusy) {
		t.Errorf("second runner: %v, want ErrBusy", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	waitEmpty(t, e)
}

func waitEmpty(t *testing.T, e *env) {
	t.Helper()
	for i := 0; len(e.entries()) > 0; i++ {
		if i > 200 {
			t.Fatalf("queue not empty: %+v", e.entries())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFlushAndDelete(t *testing.T) {
	e := newEnv(t, mxZone...)
	var refuse atomic.Bool
	refuse.Store(true)
	mx := e.mx("127.0.0.2", smtptest.Options{Rcpt: func(string) error {
		if refuse.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 0, 0}, Message: "later"}
		}
		return nil
	}})
	r := e.runner(nil, nil)
	keep := e.enqueue("alice@example.org", "", "bob@example.net")
	drop := e.enqueue("alice@example.org", "", "carol@example.net")
	e.runOnce(r)
	if err := Delete(context.Background(), e.sp, drop); err != nil {
		t.Fatal(err)
	}
	if err := Delete(context.Background(), e.sp, drop); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	refuse.Store(false)
	n, err := Flush(context.Background(), e.sp)
	if err != nil || n != 1 {
		t.Fatalf("flush: %d, %v", n, err)
	}
	e.runOnce(r) // the clock has not moved: only the flush makes it due
	if got := mx.Messages(); len(got) != 1 || got[0].To[0] != "bob@example.net" {
		t.Fatalf("MX got %+v (kept %s)", got, keep)
	}
	e.expectEmpty()

	id := e.enqueue("alice@example.org", "", "bob@example.net")
	e.sp.Claim(context.Background(), id, spool.Incoming)
	if err := Delete(context.Background(), e.sp, id); !errors.Is(err, ErrActive) {
		t.Errorf("delete of an active message: %v", err)
	}
}

func TestSignerSeesFinalBytes(t *testing.T) {
	e := newEnv(t, mxZone...)
	mx := e.mx("127.0.0.2", smtptest.Options{No8BitMIME: true})
	s := &fakeSigner{}
	r := e.runner(func(o *Options) { o.Signer = s }, nil)
	e.enqueue("bounce-handler@lists.example.org", "From: Alice <alice@example.org>\r\nSubject: x\r\n\r\nGrüße\r\n", "bob@example.net")
	e.runOnce(r)
	got := mx.Messages()
	if len(got) != 1 || !strings.HasPrefix(string(got[0].Data), "X-Signed: example.org\r\n") {
		t.Fatalf("MX got %+v", got)
	}
	if s.domain.Load() != "example.org" || strings.Contains(s.signed.Load().(string), "Grüße") {
		t.Errorf("signed for %v: %q", s.domain.Load(), s.signed.Load())
	}
}

// TestForwardedMailNotSigned: mail that came in from outside (smtpd) and
// leaves through an alias keeps its own signatures and gets none of ours.
func TestForwardedMailNotSigned(t *testing.T) {
	e := newEnv(t, mxZone...)
	mx := e.mx("127.0.0.2", smtptest.Options{})
	s := &fakeSigner{}
	r := e.runner(func(o *Options) { o.Signer = s }, nil)
	id := e.enqueue("", "From: Forger <ceo@example.org>\r\nSubject: x\r\n\r\nhi\r\n", "bob@example.net")
	if err := e.sp.Move(context.Background(), id, spool.Incoming, spool.Incoming, func(en *spool.Envelope) { en.Origin = "smtpd" }); err != nil {
		t.Fatal(err)
	}
	e.runOnce(r)
	got := mx.Messages()
	if len(got) != 1 {
		t.Fatalf("MX got %d messages", len(got))
	}
	if strings.HasPrefix(string(got[0].Data), "X-Signed:") || s.domain.Load() != nil {
		t.Errorf("forwarded mail was signed: %q", got[0].Data[:40])
	}
}

type fakeSigner struct {
	domain, signed atomic.Value
}

func (f *fakeSigner) Sign(msg []byte, domain string) ([]byte, error) {
	f.domain.Store(domain)
	f.signed.Store(string(msg))
	return append([]byte("X-Signed: "+domain+"\r\n"), msg...), nil
}

func TestCheckpointBetweenDomains(t *testing.T) {
	e := newEnv(t, "fast.example. MX 10 mx.fast.example.", "mx.fast.example. A 127.0.0.2",
		"slow.example. MX 10 mx.slow.example.", "mx.slow.example. A 127.0.0.3")
	e.mx("127.0.0.2", smtptest.Options{})
	inData, release := make(chan struct{}), make(chan struct{})
	e.mx("127.0.0.3", smtptest.Options{Data: func(*smtptest.Message) error {
		close(inData)
		<-release
		return nil
	}})
	id := e.enqueue("alice@example.org", "", "a@fast.example", "b@slow.example")
	done := make(chan Stats)
	go func() { done <- e.runOnce(e.runner(nil, nil)) }()
	<-inData
	en, err := e.sp.Get(id)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if en.State != spool.Active || en.Recipients[0].Status != spool.StatusSent || en.Recipients[1].Status != spool.StatusPending {
		t.Errorf("while the second domain is being delivered: %+v", en)
	}
	if st := <-done; st.Done != 1 {
		t.Errorf("stats %+v", st)
	}
	e.expectEmpty()
}
