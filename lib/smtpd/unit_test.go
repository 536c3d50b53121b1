package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"mailctl/lib/addr"
)

func TestParseMailbox(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"bob@example.test", "bob@example.test"},
		{"Bob@Example.TEST", "bob@example.test"},
		{"bob@remote.test@example.test", `"bob@remote.test"@example.test`}, // was "bob@remote.test"@example.test
		{"a b@example.test", `"a b"@example.test`},
		{"user%remote@example.test", "user%remote@example.test"},
		{"bob@[127.0.0.1]", ""},
		{"bob@", ""},
		{"@example.test", ""},
		{"bob", ""},
		{"a\\b@example.test", ""},
	} {
		a, err := parseMailbox(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("parseMailbox(%q) = %v, want an error", tt.in, a)
			}
			continue
		}
		if err != nil || a.String() != tt.want {
			t.Errorf("parseMailbox(%q) = %v, %v; want %s", tt.in, a, err, tt.want)
		}
	}
}

func TestContentScan(t *testing.T) {
	for _, tt := range []struct {
		in     string
		dotted bool
		n      int
		end    bool
		bad    bool
	}{
		{"a\r\nb\r\n", true, 6, false, false},
		{"a\r\n.\r\nMAIL", true, 6, true, false},
		{".\r\n", true, 3, true, false},
		{"..\r\n", true, 4, false, false},
		{"a\n", true, 1, false, true},
		{"a\rb", true, 2, false, true},
		{"a\r\n.\n", true, 4, false, true},
		{"a\r\n.\r\n", false, 6, false, false}, // BDAT: a dot line is content
		{"a\r", false, 2, false, false},        // the LF may come in the next chunk
	} {
		s := contentScan{dotted: tt.dotted, lineStart: true}
		n, end, err := s.check([]byte(tt.in))
		if n != tt.n || end != tt.end || (err != nil) != tt.bad {
			t.Errorf("check(%q, dotted=%v) = %d, %v, %v; want %d, %v, bad=%v", tt.in, tt.dotted, n, end, err, tt.n, tt.end, tt.bad)
		}
	}
	// State carries across calls: CR at the end of one read, LF next.
	s := contentScan{dotted: true, lineStart: true}
	if _, _, err := s.check([]byte("x\r")); err != nil {
		t.Fatal(err)
	}
	if n, end, err := s.check([]byte("\n.\r\n")); err != nil || !end || n != 4 {
		t.Errorf("split CRLF: %d %v %v", n, end, err)
	}
}

func TestParseBDAT(t *testing.T) {
	for _, tt := range []struct {
		in       string
		size     int64
		last, ok bool
	}{
		{"BDAT 10", 10, false, true},
		{"bdat 0 last", 0, true, true},
		{"BDAT 10 MORE", 0, false, false},
		{"BDAT", 0, false, false},
		{"BDAT -1", 0, false, false},
		{"BDAT 99999999999", 0, false, false},
		{"BDATX 1", 0, false, false},
	} {
		size, last, ok := parseBDAT(tt.in)
		if size != tt.size || last != tt.last || ok != tt.ok {
			t.Errorf("parseBDAT(%q) = %d %v %v", tt.in, size, last, ok)
		}
	}
}

func TestReceivedFormat(t *testing.T) {
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
	for _, tt := range []struct {
		ri   receivedInfo
		want string
	}{
		{receivedInfo{helo: "c.test", remote: netip.MustParseAddr("192.0.2.1"), host: "mx.test", id: "ID", esmtp: true, received: date},
			"Received: from c.test ([192.0.2.1])\r\n\tby mx.test (mailctl) with ESMTP id ID; Fri, 02 Jan 2026 03:04:05 +0000\r\n"},
		{receivedInfo{helo: "bad name(", remote: netip.MustParseAddr("2001:db8::1"), host: "mx.test", id: "ID", esmtp: true,
			authed: true, tls: st, rcpt: addr.MustParse("bob@example.test"), received: date},
			"Received: from invalid ([IPv6:2001:db8::1])\r\n\tby mx.test (mailctl) with ESMTPSA id ID\r\n\t(using TLS 1.3 with cipher TLS_AES_128_GCM_SHA256)\r\n\tfor <bob@example.test>; Fri, 02 Jan 2026 03:04:05 +0000\r\n"},
		{receivedInfo{helo: "", host: "mx.test", id: "ID", utf8: true, esmtp: true, tls: st, received: date},
			"Received: from unknown (unknown)\r\n\tby mx.test (mailctl) with UTF8SMTPS id ID\r\n\t(using TLS 1.3 with cipher TLS_AES_128_GCM_SHA256); Fri, 02 Jan 2026 03:04:05 +0000\r\n"},
		{receivedInfo{helo: "old.test", remote: netip.MustParseAddr("192.0.2.1"), host: "mx.test", id: "ID", received: date},
			"Received: from old.test ([192.0.2.1])\r\n\tby mx.test (mailctl) with SMTP id ID; Fri, 02 Jan 2026 03:04:05 +0000\r\n"},
	} {
		if got := string(tt.ri.format()); got != tt.want {
			t.Errorf("got\n%q\nwant\n%q", got, tt.want)
		}
	}
}

func TestScanHeader(t *testing.T) {
	m := "Received: a\r\nreceived: b\r\n\tfolded\r\nFrom: Bob\r\n <bob@example.test>\r\nDate: x\r\n\r\nReceived: in body\r\nMessage-ID: <x>\r\n"
	h := scanHeader([]byte(m))
	if h.received != 2 || len(h.from) != 1 || h.from[0] != "Bob <bob@example.test>" || !h.date || h.messageID {
		t.Errorf("scanHeader = %+v", h)
	}
	// A line that is no field ends the header.
	h = scanHeader([]byte("Received: a\r\nnot a header\r\nReceived: b\r\n"))
	if h.received != 1 {
		t.Errorf("received = %d, want 1", h.received)
	}
}

func TestSendLimitsWindow(t *testing.T) {
	l, err := NewSendLimits(t.TempDir(), 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	bob := addr.MustParse("bob@example.test")
	for range 2 {
		if err := l.Check(bob, 1, 0); err != nil {
			t.Fatal(err)
		}
		if err := l.Record(context.Background(), bob, 1, 1000); err != nil {
			t.Fatal(err)
		}
	}
	var le *LimitError
	if err := l.Check(bob, 1, 0); !errors.As(err, &le) || le.Recipients {
		t.Fatalf("third message: %v, want the message limit", err)
	}
	if err := l.Check(addr.MustParse("carol@example.test"), 1, 0); err != nil {
		t.Errorf("carol is limited by bob's mail: %v", err)
	}
	now = now.Add(61 * time.Minute)
	if err := l.Check(bob, 1, 5000); err != nil {
		t.Errorf("an hour later: %v", err)
	}
	if !strings.Contains((&LimitError{Limit: 2}).Error(), "2 messages per hour") {
		t.Error("LimitError text")
	}
}
