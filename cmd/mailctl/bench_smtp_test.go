package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// BenchmarkSMTPInbound measures the MX end to end: `mailctl smtpd` (the
// real binary with MAILCTL_BIN, as make bench sets it; else the test
// binary) takes 10 KB messages from 20 concurrent sessions, one message
// per connection as Postfix's smtp-source sends them, and delivers each
// durably (file and directory synced) to a Maildir before its 250. It
// reports messages per second; every message is checked to be in new/.
func BenchmarkSMTPInbound(b *testing.B) {
	const sessions = 20
	e, _ := newSMTPTestEnv(b, "")
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	address := l.Addr().String()
	l.Close()
	srv := exec.Command(bin, "smtpd", "--listen", address, "--log-level", "warn")
	srv.Env = e.environ()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", address)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("smtpd did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	msgs := make([]string, 64)
	for i := range msgs {
		msgs[i] = strings.ReplaceAll(benchMessage(i), "\n", "\r\n")
	}
	before := len(e.newFiles("bob@example.test"))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	b.ResetTimer()
	start := time.Now()
	for range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if err := sendOne(address, msgs[i%int64(len(msgs))]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if got := len(e.newFiles("bob@example.test")) - before; got != b.N {
		b.Fatalf("%d messages in new/, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// sendOne delivers one message on a connection of its own.
func sendOne(address, msg string) error {
	c, err := smtp.Dial(address)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		return err
	}
	if err := c.SendMail("alice@remote.example", []string{"bob@example.test"}, strings.NewReader(msg)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return c.Quit()
}
