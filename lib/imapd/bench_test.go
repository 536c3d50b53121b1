package imapd

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The benchmarks mirror ../shared/bench/imap-bench.py on a folder like
// its gen-maildir.py makes: 10,000 messages of 5–20 KB with realistic
// headers (Received, DKIM-Signature, …) and a multipart/alternative body,
// written straight into cur/ with ",S=" but no ",W=" (as Postfix or
// Dovecot leave them). A raw client reads the replies without parsing, so
// the figures are the server's.

var benchWords = strings.Fields("the of and to in is for on that with as by this be are from at or an it was " +
	"report meeting budget quarterly invoice project release server mail queue delivery index cache storage " +
	"latency throughput review draft schedule team customer order shipping account update security patch")

func benchMessage(i int, rng *rand.Rand) []byte {
	word := func() string { return benchWords[rng.IntN(len(benchWords))] }
	para := func(n int) string {
		w := make([]string, n)
		for k := range w {
			w[k] = word()
		}
		return strings.Join(w, " ")
	}
	ts := time.Unix(1700000000+int64(i)*60, 0).UTC().Format(time.RFC1123Z)
	subj := para(3 + rng.IntN(6))
	if i%100 == 0 {
		subj += " quarterly-needle"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <alice.%d@x.test>\nDelivered-To: u2@bench.test\n", i%50)
	fmt.Fprintf(&b, "Received: from mail.x.test (mail.x.test [127.0.0.1])\n\tby mx.bench.test (Postfix) with ESMTPS id %08X\n\tfor <u2@bench.test>; %s\n", rng.Uint32(), ts)
	fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.test; s=sel1;\n\th=from:to:subject:date:message-id; bh=%x=;\n\tb=%x\n\t%x\n", rng.Uint64(), rng.Uint64(), rng.Uint64())
	fmt.Fprintf(&b, "Message-ID: <%d.%08x@x.test>\nDate: %s\nFrom: \"Alice X\" <alice.%d@x.test>\nTo: u2@bench.test\n", i, rng.Uint32(), ts, i%50)
	if i%3 == 0 {
		b.WriteString("Cc: Bob <bob@corp.test>\n")
	}
	fmt.Fprintf(&b, "Subject: %s\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"=_b%d\"\n\n", subj, i)
	target := 5*1024 + rng.IntN(15*1024)
	var text strings.Builder
	for text.Len() < target/2 {
		text.WriteString(para(20+rng.IntN(60)) + ".\n\n")
	}
	fmt.Fprintf(&b, "--=_b%d\nContent-Type: text/plain; charset=utf-8\n\n%s\n--=_b%d\nContent-Type: text/html; charset=utf-8\n\n<p>%s</p>\n--=_b%d--\n",
		i, text.String(), i, text.String()[:text.Len()*2/3], i)
	return []byte(b.String())
}

// benchFolder fills bob's INBOX with n messages (once per directory).
func benchFolder(b *testing.B, ts *testServer, n int) {
	b.Helper()
	cur := filepath.Join(ts.dir, "mail", "example.org", "bob", "cur")
	rng := rand.New(rand.NewPCG(42, 42))
	for i := range n {
		data := benchMessage(i, rng)
		name := fmt.Sprintf("%d.M%dP1.bench,S=%d:2,", 1700000000+i*60, i, len(data))
		p := filepath.Join(cur, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			b.Fatal(err)
		}
		t := time.Unix(1700000000+int64(i)*60, 0)
		os.Chtimes(p, t, t)
	}
}

// benchClient is a raw IMAP client that counts reply bytes and no more.
type benchClient struct {
	b    *testing.B
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func newBenchClient(b *testing.B, addr string) *benchClient {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c := &benchClient{b: b, conn: conn, r: bufio.NewReaderSize(conn, 64*1024)}
	c.r.ReadString('\n')
	c.do("LOGIN %s %q", bob.String(), testPassword)
	return c
}

// do sends a command and reads to its tagged reply.
func (c *benchClient) do(format string, args ...any) {
	c.n++
	tag := fmt.Sprintf("b%d", c.n)
	fmt.Fprintf(c.conn, tag+" "+format+"\r\n", args...)
	for {
		line, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			c.b.Fatal(err)
		}
		if len(line) > len(tag) && string(line[:len(tag)+1]) == tag+" " {
			if string(line[len(tag)+1:len(tag)+3]) != "OK" {
				c.b.Fatalf("%s: %s", fmt.Sprintf(format, args...), line)
			}
			return
		}
		// Skip literals.
		if l := len(line); l > 3 && line[l-3] == '}' {
			if i := strings.LastIndexByte(string(line), '{'); i >= 0 {
				var size int
				fmt.Sscanf(string(line[i+1:l-3]), "%d", &size)
				c.r.Discard(size)
			}
		}
	}
}

func (c *benchClient) close() {
	c.do("LOGOUT")
	c.conn.Close()
}

const benchMessages = 10000

func setupBench(b *testing.B) *testServer {
	b.Helper()
	ts := newTestServer(b)
	benchFolder(b, ts, benchMessages)
	c := newBenchClient(b, ts.addr)
	c.do("SELECT INBOX") // UIDs assigned, sizes learnt
	c.do("FETCH 1:* (ENVELOPE)")
	c.close()
	return ts
}

func BenchmarkIMAP(b *testing.B) {
	ts := setupBench(b)
	c := newBenchClient(b, ts.addr)
	defer c.close()
	c.do("SELECT INBOX")
	time.Sleep(100 * time.Millisecond) // past the folder's settle window
	b.ResetTimer()
	run := func(name, cmd string) {
		b.Run(name, func(b *testing.B) {
			c.b = b
			for range b.N {
				c.do("%s", cmd)
			}
		})
	}
	b.Run("LoginSelect", func(b *testing.B) {
		for range b.N {
			c2 := newBenchClient(b, ts.addr)
			c2.do("SELECT INBOX")
			c2.conn.Close()
		}
	})
	run("UIDFetchFlags", "UID FETCH 1:* (FLAGS)")
	run("FetchEnvelope", "FETCH 1:* (ENVELOPE)")
	run("FetchBody1000", "FETCH 1:1000 BODY.PEEK[]")
	run("UIDSearchHeader", `UID SEARCH HEADER Subject "quarterly-needle"`)
	b.Run("Store", func(b *testing.B) {
		c.b = b
		for range b.N {
			c.do(`STORE 1:* +FLAGS (\Seen)`)
			c.do(`STORE 1:* -FLAGS.SILENT (\Seen)`)
		}
	})
}

// BenchmarkFetchEnvelopeCold parses every message again (the cache file
// removed before each run; the page cache stays warm).
func BenchmarkFetchEnvelopeCold(b *testing.B) {
	ts := setupBench(b)
	c := newBenchClient(b, ts.addr)
	defer c.close()
	c.do("SELECT INBOX")
	cache := filepath.Join(ts.dir, "mail", "example.org", "bob", "mailctl-msgcache")
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		os.Remove(cache)
		b.StartTimer()
		c.do("FETCH 1:* (ENVELOPE)")
	}
}
