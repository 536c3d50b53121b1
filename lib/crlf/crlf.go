// Package crlf normalises line ends. Messages are stored with LF ends
// (Maildir), arrive from sendmail with LF ends, and must leave over SMTP
// and be signed (DKIM) with CRLF ends; a bare CR on the wire is how SMTP
// smuggling starts. Every package that needs CRLF form calls Normalize.
package crlf

// Normalize turns every line end of msg — CRLF, a bare LF or a bare CR —
// into CRLF. It returns msg itself when nothing needs changing, so the
// common clean case costs one scan and no copy.
func Normalize(msg []byte) []byte {
	clean := true
	for i := 0; clean && i < len(msg); i++ {
		switch msg[i] {
		case '\n':
			clean = i > 0 && msg[i-1] == '\r'
		case '\r':
			clean = i+1 < len(msg) && msg[i+1] == '\n'
		}
	}
	if clean {
		return msg
	}
	out := make([]byte, 0, len(msg)+len(msg)/32+2)
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}
