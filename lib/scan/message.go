package scan

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"

	"encoding/base64"
)

// Limits of the MIME walk on untrusted input.
const (
	maxDepth    = 8
	maxParts    = 200
	maxTextSize = 1 << 20 // bytes of decoded text kept for the rules
)

// message is what the rules need from a parsed message.
type message struct {
	header   mail.Header // nil when the header could not be parsed
	hasPlain bool
	hasHTML  bool
	text     []byte // decoded text parts, truncated at maxTextSize
	parts    int
	// attachments are the parts with a file name or a non-text type,
	// decoded up to maxInspect bytes in all.
	attachments []attachment
	inspected   int
}

// attachment is one such part.
type attachment struct {
	name, mediaType string
	data            []byte
	truncated       bool // data is only the start of the content
}

// maxInspect bounds the decoded attachment bytes kept per message.
const maxInspect = 32 << 20

func (m *message) attach(name, mt string, h textproto.MIMEHeader, body io.Reader) {
	left := maxInspect - m.inspected
	data, _ := io.ReadAll(io.LimitReader(decode(h.Get("Content-Transfer-Encoding"), body), int64(left)+1))
	a := attachment{name: name, mediaType: mt, data: data}
	if len(data) > left {
		a.data, a.truncated = data[:left], true
	}
	m.inspected += len(a.data)
	m.attachments = append(m.attachments, a)
}

// partName is the part's file name: Content-Disposition's filename, else
// Content-Type's name (RFC 2231 and encoded words decoded by mime).
func partName(h textproto.MIMEHeader, ctParams map[string]string) string {
	if _, p, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && p["filename"] != "" {
		return decodeWord(p["filename"])
	}
	return decodeWord(ctParams["name"])
}

func decodeWord(s string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// parseMessage reads the header and walks the MIME tree. It never fails:
// what cannot be parsed is left out, and the raw body counts as text.
func parseMessage(raw []byte) *message {
	m := &message{}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.text = truncate(raw)
		return m
	}
	m.header = msg.Header
	m.walk(textproto.MIMEHeader(msg.Header), msg.Body, 0)
	return m
}

// walk visits one entity and, for multiparts, its children.
func (m *message) walk(h textproto.MIMEHeader, body io.Reader, depth int) {
	m.parts++
	if m.parts > maxParts || depth > maxDepth {
		return
	}
	ct := h.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		if params["boundary"] == "" {
			return
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			m.walk(p.Header, p, depth+1)
		}
	}
	name := partName(h, params)
	if name != "" || (mt != "text/plain" && mt != "text/html") {
		m.attach(name, mt, h, body)
		return
	}
	if mt == "text/plain" {
		m.hasPlain = true
	} else {
		m.hasHTML = true
	}
	data, _ := io.ReadAll(io.LimitReader(decode(h.Get("Content-Transfer-Encoding"), body), maxTextSize))
	m.text = truncate(append(m.text, data...))
}

func decode(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &stripSpace{r: bufio.NewReader(r)})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// stripSpace drops the line breaks that base64 bodies carry.
type stripSpace struct{ r *bufio.Reader }

func (s *stripSpace) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := s.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c == '\r' || c == '\n' || c == ' ' || c == '\t' {
			continue
		}
		p[n] = c
		n++
	}
	return n, nil
}

func truncate(b []byte) []byte {
	if len(b) > maxTextSize {
		return b[:maxTextSize]
	}
	return b
}

// fromDomain is the domain of the single From: address, lower-case, or "".
func (m *message) fromDomain() string {
	if m.header == nil || len(m.header["From"]) != 1 {
		return ""
	}
	list, err := mail.ParseAddressList(m.header.Get("From"))
	if err != nil || len(list) != 1 {
		return ""
	}
	at := strings.LastIndexByte(list[0].Address, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(list[0].Address[at+1:])
}

// subject is the decoded Subject.
func (m *message) subject() string {
	if m.header == nil {
		return ""
	}
	s := m.header.Get("Subject")
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// stripAuthResults removes Authentication-Results fields whose authserv-id
// is host (case-insensitive): only we may claim results for our name. It
// returns the message unchanged and 0 when there is none.
func stripAuthResults(msg []byte, host string) ([]byte, int) {
	var out bytes.Buffer
	n, i := 0, 0
	for i < len(msg) {
		// One field: a line and its continuation lines.
		end := i
		for {
			nl := bytes.IndexByte(msg[end:], '\n')
			if nl < 0 {
				end = len(msg)
				break
			}
			end += nl + 1
			if end >= len(msg) || (msg[end] != ' ' && msg[end] != '\t') {
				break
			}
		}
		field := msg[i:end]
		if len(bytes.TrimRight(field, "\r\n")) == 0 { // end of header
			break
		}
		if claimsHost(field, host) {
			n++
		} else {
			out.Write(field)
		}
		i = end
	}
	if n == 0 {
		return msg, 0
	}
	out.Write(msg[i:])
	return out.Bytes(), n
}

func claimsHost(field []byte, host string) bool {
	name, value, ok := bytes.Cut(field, []byte(":"))
	if !ok || !strings.EqualFold(strings.TrimSpace(string(name)), "Authentication-Results") {
		return false
	}
	v := strings.TrimSpace(string(value))
	if semi := strings.IndexByte(v, ';'); semi >= 0 {
		v = v[:semi]
	}
	f := strings.Fields(v)
	// A version after the authserv-id is allowed ("host 1").
	return len(f) > 0 && strings.EqualFold(strings.TrimSuffix(f[0], "."), strings.TrimSuffix(host, "."))
}
