package pickup

import (
	"bytes"
	"strings"

	"mailctl/lib/crlf"
)

// field is one header field: its name as written and every byte of it,
// folded lines and CRLFs included.
type field struct {
	name string
	raw  []byte
}

// value is the field's body after the colon, CRLFs included.
func (f field) value() []byte {
	i := bytes.IndexByte(f.raw, ':')
	return f.raw[i+1:]
}

// message is a submitted message split into header fields and body.
type message struct {
	fields []field
	body   []byte
}

// parseMessage normalises line ends to CRLF, drops a leading mbox "From "
// line and splits the header from the body. The header ends at the first
// empty line, or at the first line that is not a field (which then
// starts the body: the empty line is added when the message is written).
func parseMessage(raw []byte) *message {
	msg := crlf.Normalize(raw)
	if bytes.HasPrefix(msg, []byte("From ")) {
		if i := bytes.Index(msg, []byte("\r\n")); i >= 0 {
			msg = msg[i+2:]
		} else {
			msg = nil
		}
	}
	m := &message{}
	for len(msg) > 0 {
		n := bytes.Index(msg, []byte("\r\n"))
		if n < 0 {
			n = len(msg)
		} else {
			n += 2
		}
		line := msg[:n]
		switch {
		case string(line) == "\r\n":
			m.body = msg[n:]
			return m
		case line[0] == ' ' || line[0] == '\t':
			if len(m.fields) == 0 {
				m.body = msg
				return m
			}
			last := &m.fields[len(m.fields)-1]
			last.raw = append(last.raw, line...)
		default:
			name, ok := fieldName(line)
			if !ok {
				m.body = msg
				return m
			}
			m.fields = append(m.fields, field{name: name, raw: append([]byte(nil), line...)})
		}
		msg = msg[n:]
	}
	return m
}

// fieldName returns the name of a header field line: printable ASCII
// other than ":" and space (RFC 5322 §2.2), perhaps followed by blanks
// before the colon (obsolete syntax).
func fieldName(line []byte) (string, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return "", false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return "", false
		}
	}
	return string(name), true
}

// count returns how many fields are named name.
func (m *message) count(name string) int {
	n := 0
	for _, f := range m.fields {
		if strings.EqualFold(f.name, name) {
			n++
		}
	}
	return n
}

// addressFields hold address lists whose unqualified addresses are
// qualified.
var addressFields = []string{"From", "Sender", "Reply-To", "To", "Cc", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc"}

func isOneOf(name string, list ...string) bool {
	for _, l := range list {
		if strings.EqualFold(name, l) {
			return true
		}
	}
	return false
}

// recipientSpecs returns the addr-specs -t takes: those of Resent-To,
// Resent-Cc and Resent-Bcc when the message has any of them (it is being
// re-sent), else those of To, Cc and Bcc.
func (m *message) recipientSpecs() []string {
	names := []string{"To", "Cc", "Bcc"}
	for _, f := range m.fields {
		if isOneOf(f.name, "Resent-To", "Resent-Cc", "Resent-Bcc") {
			names = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
			break
		}
	}
	var out []string
	for _, f := range m.fields {
		if isOneOf(f.name, names...) {
			for _, mb := range scanAddresses(f.value()) {
				out = append(out, mb.spec)
			}
		}
	}
	return out
}

// clean removes Bcc: and Resent-Bcc: (they must not reach any recipient)
// and qualifies unqualified addresses in the address fields.
func (m *message) clean(domain string) {
	kept := m.fields[:0]
	for _, f := range m.fields {
		if isOneOf(f.name, "Bcc", "Resent-Bcc") {
			continue
		}
		if isOneOf(f.name, addressFields...) {
			i := bytes.IndexByte(f.raw, ':')
			if v, changed := qualifyList(f.raw[i+1:], domain); changed {
				f.raw = append(append([]byte(nil), f.raw[:i+1]...), v...)
			}
		}
		kept = append(kept, f)
	}
	m.fields = kept
}

// bytes renders the message with top (complete CRLF-terminated fields)
// first.
func (m *message) bytes(top []byte) []byte {
	n := len(top) + len(m.body) + 2
	for _, f := range m.fields {
		n += len(f.raw)
	}
	out := make([]byte, 0, n)
	out = append(out, top...)
	for _, f := range m.fields {
		out = append(out, f.raw...)
		if !bytes.HasSuffix(f.raw, []byte("\r\n")) { // the last line had no line end
			out = append(out, '\r', '\n')
		}
	}
	out = append(out, '\r', '\n')
	return append(out, m.body...)
}

// has8bit reports whether b has a byte outside ASCII.
func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}
