package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// clamdChunk is the INSTREAM chunk size; clamd's default StreamMaxLength
// bounds the total, not the chunks.
const clamdChunk = 64 << 10

// Clamd scans through clamd's INSTREAM command (zINSTREAM, chunks with a
// 4-byte big-endian length, a zero-length chunk to end) on a unix socket
// ("unix:/path") or TCP ("host:port").
type Clamd struct {
	Address string
	// Timeout bounds one scan when ctx has no earlier deadline; 0 is 60s.
	Timeout time.Duration
}

// ErrClamdUnreachable wraps every failure to reach or talk to clamd.
var ErrClamdUnreachable = errors.New("clamd unreachable")

// Name implements Engine.
func (c *Clamd) Name() string { return "clamav" }

// Scan implements Engine: a virus is a Result with Virus set; "stream:
// OK" is clean. A size-limit answer is an error: unscanned is not clean.
func (c *Clamd) Scan(ctx context.Context, msg []byte) (Result, error) {
	reply, err := c.instream(ctx, msg)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrClamdUnreachable, err)
	}
	reply = strings.TrimSpace(strings.TrimRight(reply, "\x00"))
	body, _ := strings.CutPrefix(reply, "stream: ")
	switch {
	case body == "OK":
		return Result{Check: c.Name(), Result: "clean"}, nil
	case strings.HasSuffix(body, " FOUND"):
		v := strings.TrimSuffix(body, " FOUND")
		return Result{Check: c.Name(), Result: "virus", Detail: v, Virus: v}, nil
	}
	return Result{}, fmt.Errorf("%w: clamd says %q", ErrClamdUnreachable, reply)
}

func (c *Clamd) instream(ctx context.Context, msg []byte) (string, error) {
	conn, done, err := dialEngine(ctx, c.Address, c.Timeout)
	if err != nil {
		return "", err
	}
	defer done()

	w := bufio.NewWriterSize(conn, clamdChunk+4)
	w.WriteString("zINSTREAM\x00")
	var n [4]byte
	for rest := msg; len(rest) > 0; {
		chunk := rest[:min(len(rest), clamdChunk)]
		rest = rest[len(chunk):]
		binary.BigEndian.PutUint32(n[:], uint32(len(chunk)))
		w.Write(n[:])
		w.Write(chunk)
	}
	binary.BigEndian.PutUint32(n[:], 0)
	w.Write(n[:])
	if err := w.Flush(); err != nil {
		// clamd closes early when the stream is over its limit; its reply
		// may still be readable.
		if reply, rerr := readReply(conn); rerr == nil && reply != "" {
			return reply, nil
		}
		return "", err
	}
	return readReply(conn)
}

func readReply(conn net.Conn) (string, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(bufioLimit(conn))
	if err != nil && buf.Len() == 0 {
		return "", err
	}
	if buf.Len() == 0 {
		return "", errors.New("empty reply")
	}
	return buf.String(), nil
}

// bufioLimit bounds clamd's reply: one line.
func bufioLimit(conn net.Conn) *limitedReader { return &limitedReader{conn: conn, left: 4096} }

type limitedReader struct {
	conn net.Conn
	left int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errors.New("reply too long")
	}
	p = p[:min(len(p), l.left)]
	n, err := l.conn.Read(p)
	l.left -= n
	if i := bytes.IndexByte(p[:n], 0); i >= 0 { // z-commands end with NUL
		return i + 1, io.EOF
	}
	return n, err
}
