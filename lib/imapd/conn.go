package imapd

import (
	"net"
	"sync"
	"time"
)

// flushSize is how much a batch gathers before it is written.
const flushSize = 64 * 1024

// batchWriteTimeout bounds each write of a batch.
const batchWriteTimeout = 5 * time.Minute

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, flushSize+4096); return &b }}

// conn is the raw connection of a session. It always sits under TLS, never
// above it: go-imap recognises TLS with conn.(*tls.Conn).
//
// go-imap flushes its output after every response, so a FETCH of 10,000
// messages would cost 10,000 write(2) calls (and as many TLS records). A
// session brackets such commands with batch(); in between, writes gather
// here and go out 64 KiB at a time. Write deadlines set while batching
// (go-imap sets two per response) are only remembered.
//
// Read deadlines are capped at idle: go-imap waits up to 35 minutes for a
// command, we wait Options.IdleTimeout.
type conn struct {
	net.Conn
	idle   time.Duration
	closed func() // called once when the connection is closed

	mu       sync.Mutex
	batching int
	buf      *[]byte
	wdl      time.Time // the write deadline last asked for while batching
	err      error     // a failed batch write: later writes fail too

	closeOnce sync.Once
}

func newConn(c net.Conn, idle time.Duration, closed func()) *conn {
	return &conn{Conn: c, idle: idle, closed: closed}
}

func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.batching == 0 {
		return c.Conn.Write(p)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= flushSize {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *conn) flushLocked() error {
	if len(*c.buf) == 0 {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(batchWriteTimeout))
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	if err != nil {
		c.err = err
	}
	return err
}

// batch starts gathering writes; the returned function flushes them and
// ends the batch. Batches nest.
func (c *conn) batch() (end func()) {
	c.mu.Lock()
	if c.batching == 0 {
		c.buf = bufPool.Get().(*[]byte)
		c.wdl = time.Time{}
	}
	c.batching++
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.batching--
		if c.batching > 0 {
			return
		}
		c.flushLocked()
		if cap(*c.buf) <= 4*flushSize {
			bufPool.Put(c.buf)
		}
		c.buf = nil
		c.Conn.SetWriteDeadline(c.wdl)
	}
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batching > 0 {
		c.wdl = t
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	if c.idle > 0 {
		if limit := time.Now().Add(c.idle); t.IsZero() || t.After(limit) {
			t = limit
		}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		if c.closed != nil {
			c.closed()
		}
	})
	return err
}

// CloseWrite passes a half-close through (tls.Conn.CloseWrite uses it).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
