package imapd

import (
	"bytes"
	"io"

	"mailctl/lib/maildir"
)

// Messages are stored with LF line ends; IMAP speaks CRLF, and every size
// it reports (RFC822.SIZE, literal lengths, BODYSTRUCTURE) counts CRLF.
// Everything below works on the CRLF form.

// appendCRLF appends src to dst with every bare LF turned into CRLF.
func appendCRLF(dst, src []byte) []byte {
	prevCR := false
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			return append(dst, src...)
		}
		cr := (i > 0 && src[i-1] == '\r') || (i == 0 && prevCR)
		dst = append(dst, src[:i]...)
		if !cr {
			dst = append(dst, '\r')
		}
		dst = append(dst, '\n')
		prevCR = false
		src = src[i+1:]
	}
	return dst
}

// loader reads one message at most once per command, into buffers reused
// from message to message.
type loader struct {
	f       *maildir.Folder
	raw     []byte // file contents
	out     []byte // CRLF form
	m       *maildir.Message
	full    bool // out holds the whole message, not just the header
	hdrOnly bool // out holds the header
	err     error
}

func (l *loader) reset(m *maildir.Message) {
	l.m, l.full, l.hdrOnly, l.err = m, false, false, nil
}

// message returns the whole message in CRLF form.
func (l *loader) message() ([]byte, error) {
	if l.full || l.err != nil {
		return l.out, l.err
	}
	rc, err := l.f.Open(*l.m)
	if err != nil {
		l.err = err
		return nil, err
	}
	defer rc.Close()
	size := l.m.Size
	if size < 0 {
		size = 64 * 1024
	}
	l.raw, err = readAllInto(l.raw[:0], rc, int(size))
	if err != nil {
		l.err = err
		return nil, err
	}
	l.out = appendCRLF(l.out[:0], l.raw)
	l.full, l.hdrOnly = true, true
	return l.out, nil
}

// header returns the message's header with its blank line, in CRLF form,
// reading no more of the file than it needs.
func (l *loader) header() ([]byte, error) {
	if l.hdrOnly || l.err != nil {
		if l.err != nil {
			return nil, l.err
		}
		return l.out[:headerEnd(l.out)], nil
	}
	rc, err := l.f.Open(*l.m)
	if err != nil {
		l.err = err
		return nil, err
	}
	defer rc.Close()
	l.raw = l.raw[:0]
	chunk := 8 * 1024
	for {
		if cap(l.raw)-len(l.raw) < chunk {
			l.raw = append(l.raw, make([]byte, chunk)...)[:len(l.raw)]
		}
		n, err := rc.Read(l.raw[len(l.raw):cap(l.raw)])
		start := max(0, len(l.raw)-3)
		l.raw = l.raw[:len(l.raw)+n]
		if bytes.Contains(l.raw[start:], []byte("\n\n")) || bytes.Contains(l.raw[start:], []byte("\n\r\n")) || bytes.HasPrefix(l.raw, []byte("\n")) {
			break
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			l.err = err
			return nil, err
		}
	}
	l.out = appendCRLF(l.out[:0], l.raw)
	l.out = l.out[:headerEnd(l.out)]
	l.hdrOnly = true
	return l.out, nil
}

func readAllInto(b []byte, r io.Reader, hint int) ([]byte, error) {
	if cap(b) < hint+512 {
		b = make([]byte, 0, hint+512)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// headerEnd returns the length of the header of a CRLF message, its blank
// line included (the whole message when there is no body).
func headerEnd(msg []byte) int {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return 2
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(msg)
}

// filterHeader returns the fields of header h whose names are (keep) or
// are not (!keep) in names, compared case-insensitively, followed by the
// blank line: BODY[HEADER.FIELDS (...)] and BODY[HEADER.FIELDS.NOT (...)].
func filterHeader(dst, h []byte, names []string, keep bool) []byte {
	forEachField(h, func(name, raw []byte) {
		in := false
		for _, n := range names {
			if equalFold(name, n) {
				in = true
				break
			}
		}
		if in == keep {
			dst = append(dst, raw...)
		}
	})
	return append(dst, '\r', '\n')
}

// forEachField calls fn with the name and the raw lines (continuations
// included) of each field of a CRLF header (blank line optional). A line
// that is neither a field nor a continuation comes with an empty name.
// The slices point into h.
func forEachField(h []byte, fn func(name, raw []byte)) {
	start := -1 // start of the current field in h
	var name []byte
	pos := 0
	flush := func(end int) {
		if start >= 0 {
			fn(name, h[start:end])
		}
	}
	for pos < len(h) {
		end := bytes.Index(h[pos:], []byte("\r\n"))
		if end < 0 {
			end = len(h)
		} else {
			end += pos + 2
		}
		line := h[pos:end]
		if len(line) == 2 && line[0] == '\r' {
			break // the blank line
		}
		if (line[0] == ' ' || line[0] == '\t') && start >= 0 {
			pos = end
			continue
		}
		flush(pos)
		start, name = pos, nil
		if c := bytes.IndexByte(line, ':'); c > 0 {
			name = bytes.TrimRight(line[:c], " \t")
		}
		pos = end
	}
	flush(pos)
}

// equalFold compares an ASCII field name with a string, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// containsFold reports whether hay contains needle (already lower case,
// ASCII), ignoring the case of ASCII letters in hay.
func containsFold(hay []byte, needle string) bool {
	if len(needle) == 0 {
		return true
	}
	first := needle[0]
	for i := 0; i+len(needle) <= len(hay); i++ {
		if lowerASCII(hay[i]) != first {
			continue
		}
		j := 1
		for j < len(needle) && lowerASCII(hay[i+j]) == needle[j] {
			j++
		}
		if j == len(needle) {
			return true
		}
	}
	return false
}
