package mailview

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Limits that keep a hostile message from costing too much.
const (
	maxDepth = 20   // nesting of multiparts
	maxParts = 1000 // parts in one message
)

// node is one MIME entity of the message, parsed without decoding its body.
type node struct {
	path      string // IMAP part path; "" for the message itself
	header    header
	mediaType string // lower case, "text/plain" when absent or unusable
	params    map[string]string
	body      []byte // still transfer-encoded; nil for a multipart
	children  []*node
}

// part is the IMAP part number of the node's own body: "1" for a message
// that is not multipart.
func (n *node) part() string {
	if n.path == "" {
		return "1"
	}
	return n.path
}

func (n *node) isMultipart() bool { return len(n.children) > 0 }

// where names the node in a problem.
func (n *node) where() string {
	if n.path == "" {
		return "message"
	}
	return "part " + n.path
}

// parser keeps what the whole parse shares: the problems found and a count
// of parts against maxParts.
type parser struct {
	problems []string
	parts    int
}

func (p *parser) problem(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	for _, old := range p.problems {
		if old == s {
			return
		}
	}
	if len(p.problems) < 50 {
		p.problems = append(p.problems, s)
	}
}

// entity parses one entity (a header, a blank line and a body). defType is
// the type assumed without a Content-Type (message/rfc822 in a digest).
func (p *parser) entity(data []byte, path string, depth int, defType string) *node {
	hdr, body := splitHeader(data)
	n := &node{path: path, header: p.parseHeader(hdr, path)}
	n.mediaType, n.params = parseParams(n.header.get("Content-Type"))
	if n.mediaType == "" || !strings.Contains(n.mediaType, "/") {
		if n.header.get("Content-Type") != "" {
			p.problem("%s: unusable Content-Type %q, shown as text", n.where(), clip(n.header.get("Content-Type")))
			n.mediaType = "text/plain"
		} else {
			n.mediaType = defType
		}
	}
	if !strings.HasPrefix(n.mediaType, "multipart/") {
		n.body = body
		return n
	}
	boundary := n.params["boundary"]
	if boundary == "" {
		if boundary = guessBoundary(body); boundary != "" {
			p.problem("%s: %s without boundary, guessed %q", n.where(), n.mediaType, clip(boundary))
		}
	}
	switch {
	case boundary == "":
		p.problem("%s: %s without boundary, shown as text", n.where(), n.mediaType)
	case depth >= maxDepth:
		p.problem("%s: multiparts nested too deeply, offered as a file", n.where())
		n.mediaType, n.body = "application/octet-stream", body
		return n
	default:
		parts, closed := splitMultipart(body, boundary)
		if !closed {
			p.problem("%s: %s has no closing boundary (truncated?)", n.where(), n.mediaType)
		}
		childType := "text/plain"
		if n.mediaType == "multipart/digest" {
			childType = "message/rfc822"
		}
		for i, raw := range parts {
			if p.parts >= maxParts {
				p.problem("more than %d parts, the rest is not shown", maxParts)
				break
			}
			p.parts++
			n.children = append(n.children, p.entity(raw, childPath(path, i+1), depth+1, childType))
		}
		if len(n.children) > 0 {
			return n
		}
		p.problem("%s: %s without any part, shown as text", n.where(), n.mediaType)
	}
	n.mediaType, n.params = "text/plain", map[string]string{"charset": n.params["charset"]}
	n.body = body
	return n
}

func childPath(parent string, i int) string {
	if parent == "" {
		return strconv.Itoa(i)
	}
	return parent + "." + strconv.Itoa(i)
}

// splitHeader cuts data at the first empty line. Data that does not start
// with a header field is all body (a part whose header was lost).
func splitHeader(data []byte) (hdr, body []byte) {
	if !startsWithField(data) {
		if len(data) > 0 && (data[0] == '\n' || bytes.HasPrefix(data, []byte("\r\n"))) {
			return nil, data[bytes.IndexByte(data, '\n')+1:]
		}
		return nil, data
	}
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		if end < 0 {
			return data, nil
		}
		line := data[pos : pos+end]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return data[:pos], data[pos+end+1:]
		}
		pos += end + 1
	}
	return data, nil
}

// startsWithField reports whether data begins with "Name:".
func startsWithField(data []byte) bool {
	for i, c := range data {
		if c == ':' {
			return i > 0
		}
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return false
}

// splitMultipart returns the parts between "--boundary" lines and whether
// the closing "--boundary--" was seen. The line break before a delimiter
// belongs to the delimiter (RFC 2046 5.1.1). LF and CRLF are both accepted.
func splitMultipart(body []byte, boundary string) (parts [][]byte, closed bool) {
	dash := []byte("--" + boundary)
	start := -1
	for pos := 0; pos < len(body); {
		next := len(body)
		if end := bytes.IndexByte(body[pos:], '\n'); end >= 0 {
			next = pos + end + 1
		}
		line := body[pos:next]
		if bytes.HasPrefix(line, dash) {
			rest := line[len(dash):]
			isClose := bytes.HasPrefix(rest, []byte("--"))
			if isClose {
				rest = rest[2:]
			}
			if len(bytes.Trim(rest, " \t\r\n")) == 0 {
				if start >= 0 {
					parts = append(parts, trimEOL(body[start:pos]))
				}
				if isClose {
					return parts, true
				}
				start = next
			}
		}
		pos = next
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts, false
}

// guessBoundary takes the first line that looks like a delimiter, for a
// multipart whose Content-Type lost its boundary parameter.
func guessBoundary(body []byte) string {
	for _, line := range bytes.SplitN(body, []byte("\n"), 200) {
		line = bytes.TrimRight(line, " \t\r")
		if len(line) > 2 && len(line) <= 72 && bytes.HasPrefix(line, []byte("--")) && !bytes.ContainsAny(line, " \t") {
			return string(bytes.TrimSuffix(line[2:], []byte("--")))
		}
	}
	return ""
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// find returns the node with the given part path, descending into
// message/rfc822 parts as IMAP does.
func (p *parser) find(root *node, path string) *node {
	n := root
	rest := path
	rootBody := false // path "1" of a single-part message was taken
	for rest != "" {
		var seg string
		seg, rest, _ = strings.Cut(rest, ".")
		i, err := strconv.Atoi(seg)
		if err != nil || i < 1 {
			return nil
		}
		switch {
		case n.isMultipart():
			if i > len(n.children) {
				return nil
			}
			n = n.children[i-1]
		case n.mediaType == "message/rfc822" && n != root:
			inner := p.entity(decodeBody(n, p), n.path, 0, "text/plain")
			if !inner.isMultipart() {
				// The body of a single-part message is its part 1.
				if i != 1 {
					return nil
				}
				inner.path = n.path + ".1"
				n = inner
				continue
			}
			if i > len(inner.children) {
				return nil
			}
			n = inner.children[i-1]
		default:
			// A single-part message has only part 1: its body.
			if i != 1 || n != root || rootBody {
				return nil
			}
			rootBody = true
		}
	}
	if n == root && root.isMultipart() {
		return nil
	}
	return n
}

// clip shortens untrusted text quoted in a problem.
func clip(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}
