package pop3d

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"mailctl/lib/maildir"
)

// benchMessage is a 5–20 KB message with realistic headers.
func benchMessage(i int) string {
	rng := rand.New(rand.NewPCG(uint64(i), 3))
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <alice@remote.example>\nDelivered-To: bob@example.test\n")
	fmt.Fprintf(&b, "Received: from mx.remote.example (mx.remote.example [192.0.2.7])\n\tby mx.example.test with ESMTPS id %x; Thu, 26 Nov 2026 10:00:00 +0000\n", rng.Uint64())
	fmt.Fprintf(&b, "From: Alice <alice@remote.example>\nTo: Bob <bob@example.test>\nSubject: benchmark message %d\n", i)
	fmt.Fprintf(&b, "Message-ID: <%d.%x@remote.example>\nDate: Thu, 26 Nov 2026 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n", i, rng.Uint64())
	size := 5*1024 + rng.IntN(15*1024)
	words := []string{"mail ", "server ", "quota ", "deliver ", "the ", "of ", "a ", "POP3 "}
	for b.Len() < size {
		if rng.IntN(20) == 0 {
			b.WriteString(".")
		}
		for range 10 {
			b.WriteString(words[rng.IntN(len(words))])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// BenchmarkRETR measures one POP3 session downloading a 2,000-message
// box: login, STAT, UIDL, RETR of every message, QUIT (no deletions) —
// what the shared harness's pop3-bench.py does, with a lean Go client.
func BenchmarkRETR(b *testing.B) {
	const n = 2000
	ts := newTestServer(b, nil)
	u := ts.user(bob)
	var total int64
	for i := range n {
		msg := benchMessage(i)
		total += int64(len(crlf(msg)))
		if _, err := u.Deliver(b.Context(), strings.NewReader(msg), maildir.DeliverOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(total)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		conn, err := net.Dial("tcp", ts.addr)
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReaderSize(conn, 64*1024)
		w := bufio.NewWriter(conn)
		status := func(cmd string) {
			if cmd != "" {
				w.WriteString(cmd + "\r\n")
				w.Flush()
			}
			l, err := r.ReadSlice('\n')
			if err != nil || !bytes.HasPrefix(l, []byte("+OK")) {
				b.Fatalf("%s: %q %v", cmd, l, err)
			}
		}
		body := func() (octets int64) {
			for {
				l, err := r.ReadSlice('\n')
				if err != nil {
					b.Fatal(err)
				}
				if len(l) == 3 && l[0] == '.' {
					return octets
				}
				octets += int64(len(l))
			}
		}
		status("")
		status("USER " + bob)
		status("PASS " + testPassword)
		status("STAT")
		status("UIDL")
		body()
		var got int64
		for i := 1; i <= n; i++ {
			status("RETR " + itoa(i))
			got += body()
		}
		status("QUIT")
		conn.Close()
		if got < total {
			b.Fatalf("retrieved %d octets, want at least %d", got, total)
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(n*b.N)/el.Seconds(), "msgs/s")
	b.ReportMetric(el.Seconds()*1000/float64(b.N), "ms/box")
}

// BenchmarkWriteMessage is the LF → CRLF, dot-stuffing copy alone.
func BenchmarkWriteMessage(b *testing.B) {
	msg := benchMessage(1)
	var out bytes.Buffer
	w := bufio.NewWriterSize(&out, 32*1024)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		out.Reset()
		w.Reset(&out)
		if err := writeMessage(w, strings.NewReader(msg), -1); err != nil {
			b.Fatal(err)
		}
		w.Flush()
	}
}
