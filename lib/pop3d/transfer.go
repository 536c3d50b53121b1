package pop3d

import (
	"bufio"
	"io"
	"sync"
)

// Messages are stored with LF line ends (files from other programs may
// have CRLF); POP3 sends CRLF, with a "." doubled at the start of a line
// and a line of "." at the end (RFC 1939 §3). writeMessage does that while
// streaming: it never holds more than one buffer of the file.

const fileBufSize = 32 * 1024

var fileReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, fileBufSize) }}

// writeMessage copies a stored message to w as the body of a multi-line
// reply, terminator included. With bodyLines >= 0 it sends only the
// header, the blank line after it and that many lines of the body (TOP).
//
// A line end is LF, or CRLF (one CR before the LF belongs to the line
// end); every other byte passes as it is. A last line without a line end
// gets one. The bytes sent before the terminator (dot-stuffing aside)
// thus number exactly the stored size with every bare LF counted as two:
// the W= size of the file name that LIST reports.
func writeMessage(w *bufio.Writer, r io.Reader, bodyLines int) error {
	br := fileReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		fileReaders.Put(br)
	}()
	var (
		lineLen   int  // bytes of the current line sent so far
		pendingCR bool // a CR at the end of a fragment, not yet sent: it may be the line end's
		inBody    bool // the blank line after the header was sent
		sent      int  // body lines sent (TOP)
	)
	for {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			if lineLen == 0 && !pendingCR {
				if bodyLines >= 0 && inBody && sent >= bodyLines {
					break
				}
				if frag[0] == '.' {
					w.WriteByte('.')
				}
			}
			if frag[len(frag)-1] == '\n' {
				content := frag[:len(frag)-1]
				if n := len(content); n > 0 && content[n-1] == '\r' {
					content = content[:n-1]
					if pendingCR {
						w.WriteByte('\r')
						lineLen++
					}
				} else if pendingCR {
					if n == 0 {
						pendingCR = false // the held CR was the line end's
					} else {
						w.WriteByte('\r')
						lineLen++
					}
				}
				pendingCR = false
				w.Write(content)
				lineLen += len(content)
				w.WriteString("\r\n")
				if inBody {
					sent++
				} else if lineLen == 0 {
					inBody = true
				}
				lineLen = 0
			} else {
				if pendingCR {
					w.WriteByte('\r')
					lineLen++
				}
				content := frag
				pendingCR = content[len(content)-1] == '\r'
				if pendingCR {
					content = content[:len(content)-1]
				}
				w.Write(content)
				lineLen += len(content)
			}
		}
		if err == io.EOF {
			if pendingCR {
				w.WriteByte('\r')
				lineLen++
			}
			if lineLen > 0 {
				w.WriteString("\r\n")
			}
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
	}
	_, err := w.WriteString(".\r\n")
	return err
}

// crlfSize is the number of octets writeMessage sends for a whole message,
// dot-stuffing and terminator aside: every line with a CRLF line end, a
// last line without one given one.
func crlfSize(r io.Reader) (int64, error) {
	br := fileReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		fileReaders.Put(br)
	}()
	var n int64
	var prev byte = '\n' // the last byte seen
	for {
		frag, err := br.ReadSlice('\n')
		n += int64(len(frag))
		if k := len(frag); k > 0 {
			if frag[k-1] == '\n' {
				before := prev
				if k > 1 {
					before = frag[k-2]
				}
				if before != '\r' {
					n++ // a bare LF becomes CRLF
				}
			}
			prev = frag[k-1]
		}
		if err == io.EOF {
			if prev != '\n' {
				n += 2 // a line end for the last line
			}
			return n, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return 0, err
		}
	}
}
