package pickup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// ErrTooLarge: the input is larger than the limit.
var ErrTooLarge = errors.New("pickup: message too large")

// ReadInput reads a message the way sendmail does: to the end of input,
// or — unless ignoreDots (-i, -oi) — to a line holding a single "."
// (which is not part of the message). More than max bytes is ErrTooLarge.
func ReadInput(r io.Reader, ignoreDots bool, max int64) ([]byte, error) {
	if ignoreDots {
		msg, err := io.ReadAll(io.LimitReader(r, max+1))
		if err != nil {
			return nil, fmt.Errorf("pickup: read message: %w", err)
		}
		if int64(len(msg)) > max {
			return nil, ErrTooLarge
		}
		return msg, nil
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var msg []byte
	lineStart := true
	for {
		chunk, err := br.ReadSlice('\n')
		if lineStart && isDotLine(chunk, err) {
			return msg, nil
		}
		msg = append(msg, chunk...)
		if int64(len(msg)) > max {
			return nil, ErrTooLarge
		}
		switch {
		case err == nil:
			lineStart = true
		case errors.Is(err, bufio.ErrBufferFull):
			lineStart = false // the rest of a long line
		case errors.Is(err, io.EOF):
			return msg, nil
		default:
			return nil, fmt.Errorf("pickup: read message: %w", err)
		}
	}
}

// isDotLine: ".\n", ".\r\n", or "." at the end of input.
func isDotLine(chunk []byte, err error) bool {
	s := string(chunk)
	return s == ".\n" || s == ".\r\n" || s == "." && errors.Is(err, io.EOF)
}

// GreetingTimeout is how long Send waits for a daemon to take the
// connection.
var GreetingTimeout = 30 * time.Second

// ErrUnreachable: the daemon was not there to take the message (nothing
// listens, the socket is missing or refused us, or the connection broke
// before any answer), so it certainly does not have it.
var ErrUnreachable = errors.New("pickup daemon unreachable")

// Send hands req and msg to the daemon listening on the unix socket at
// path and returns its reply. req.Size is set from msg. Errors wrap
// ErrUnreachable when the daemon did not get the message.
func Send(ctx context.Context, path string, req Request, msg []byte) (Reply, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return Reply{}, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReader(c)
	// No greeting in time: no daemon took the connection (it is down, or
	// all its workers are stuck), and it never sees the message.
	c.SetReadDeadline(time.Now().Add(GreetingTimeout))
	if line, err := readLine(br, maxReplyLine); err != nil || line != magic {
		if err == nil {
			err = fmt.Errorf("unexpected greeting %q", clip(line))
		}
		return Reply{}, fmt.Errorf("%w: no greeting: %w", ErrUnreachable, err)
	}
	c.SetReadDeadline(time.Time{})
	if ctx.Err() != nil {
		return Reply{}, fmt.Errorf("pickup: %w", ctx.Err())
	}

	req.Size = int64(len(msg))
	req.UID = -1
	var head bytes.Buffer
	if err := WriteRequest(&head, req); err != nil {
		return Reply{}, err
	}
	bw := bufio.NewWriterSize(c, 64<<10)
	bw.Write(head.Bytes())
	bw.Write(msg)
	werr := bw.Flush()
	// Even when writing failed, the daemon may have refused the request
	// early (too large) and said why before closing: read its answer.
	rep, rerr := ReadReply(br)
	if rerr == nil {
		return rep, nil
	}
	if ctx.Err() != nil {
		return Reply{}, fmt.Errorf("pickup: no answer from the daemon: %w", ctx.Err())
	}
	if werr != nil {
		return Reply{}, fmt.Errorf("%w: sending: %w", ErrUnreachable, werr)
	}
	if errors.Is(rerr, io.ErrUnexpectedEOF) || errors.Is(rerr, io.EOF) || errors.Is(rerr, syscall.ECONNRESET) {
		return Reply{}, fmt.Errorf("%w: the connection closed without an answer", ErrUnreachable)
	}
	return Reply{}, fmt.Errorf("pickup: reading the answer: %w", rerr)
}
