package smtpout

import (
	"bufio"
	"bytes"

	"mailctl/lib/crlf"
)

// normalizeCRLF returns msg with every line ending CRLF (crlf.Normalize)
// and a final line end added when missing: DATA must end in CRLF before
// the terminating dot.
func normalizeCRLF(msg []byte) []byte {
	out := crlf.Normalize(msg)
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out[:len(out):len(out)], '\r', '\n')
	}
	return out
}

// writeData writes a CRLF-normalised message as the DATA payload: lines
// starting with "." get another (RFC 5321 §4.5.2), then the final ".".
func writeData(w *bufio.Writer, msg []byte) error {
	atLineStart := true
	for len(msg) > 0 {
		if atLineStart && msg[0] == '.' {
			w.WriteByte('.')
		}
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			w.Write(msg)
			atLineStart = false
			break
		}
		w.Write(msg[:i+1])
		msg = msg[i+1:]
		atLineStart = true
	}
	if !atLineStart {
		w.WriteString("\r\n")
	}
	w.WriteString(".\r\n")
	return w.Flush()
}

// has8bit reports whether b holds any byte above 127.
func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// splitHeader returns the header block (through the blank line that ends
// it, or the whole message when there is none) and the body.
func splitHeader(msg []byte) (header, body []byte) {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return msg[:2], msg[2:]
	}
	if bytes.HasPrefix(msg, []byte("\n")) {
		return msg[:1], msg[1:]
	}
	if i := bytes.Index(msg, []byte("\n\r\n")); i >= 0 {
		if j := bytes.Index(msg, []byte("\n\n")); j >= 0 && j < i {
			return msg[:j+2], msg[j+2:]
		}
		return msg[:i+3], msg[i+3:]
	}
	if j := bytes.Index(msg, []byte("\n\n")); j >= 0 {
		return msg[:j+2], msg[j+2:]
	}
	return msg, nil
}
