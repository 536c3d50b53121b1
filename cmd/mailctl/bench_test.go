package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

// benchMessage is a 10 KB message with realistic headers.
func benchMessage(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from mx.remote.example (mx.remote.example [192.0.2.7])\n\tby mx.example.test with ESMTPS; Thu, 26 Nov 2026 10:00:00 +0000\n")
	fmt.Fprintf(&b, "From: Alice <alice@remote.example>\nTo: bob@example.test\nSubject: message %d\n", i)
	fmt.Fprintf(&b, "Message-ID: <%d.bench@remote.example>\nDate: Thu, 26 Nov 2026 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n", i)
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	for b.Len() < 10*1024 {
		for range 12 {
			b.WriteString([]string{"mail ", "server ", "quota ", "deliver ", "the ", "of ", "a "}[rng.IntN(7)])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// BenchmarkDeliverProcess measures one `mailctl deliver` process per 10 KB
// message, start to exit, fsyncs included — how inetd and Postfix's
// mailbox_command run it. Set MAILCTL_BIN to the real binary (make bench
// does); otherwise the test binary stands in. It reports the median
// start-to-exit time and messages per second.
func BenchmarkDeliverProcess(b *testing.B) {
	e := newTestEnv(b, "")
	bin := e.bin
	if p := os.Getenv("MAILCTL_BIN"); p != "" {
		bin = p
	}
	setup := exec.Command(bin, "useradd", "bob@example.test", "--password-stdin")
	setup.Env = e.environ()
	setup.Stdin = strings.NewReader("a password long enough\n")
	if out, err := setup.CombinedOutput(); err != nil {
		b.Fatalf("useradd: %v %s", err, out)
	}
	msgs := make([]string, 64)
	for i := range msgs {
		msgs[i] = benchMessage(i)
	}
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		c := exec.Command(bin, "deliver", "bob@example.test")
		c.Env = e.environ()
		c.Stdin = strings.NewReader(msgs[i%len(msgs)])
		t0 := time.Now()
		if out, err := c.CombinedOutput(); err != nil {
			b.Fatalf("deliver: %v %s", err, out)
		}
		durs = append(durs, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
